"""The pipeline on a real local Dask cluster (a scheduler and two single-thread worker processes)
gives the DirectRunner's rows, and both workers run pipeline tasks.

Offline: the cluster listens on 127.0.0.1 on free ports, with no dashboard.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
WORKERS = 2
START_TIMEOUT_S = 90
RUN_TIMEOUT_S = 420

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")


def _compare_outputs():
    spec = importlib.util.spec_from_file_location("compare_outputs", DEPLOY / "compare_outputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _start(args: list[str], log: Path) -> subprocess.Popen:
    # The same interpreter as the tests, so the workers import this pagestream checkout.
    # A new session per process: the finalizer stops exactly these process groups (nanny + worker).
    return subprocess.Popen(
        [sys.executable, "-m", "dask", *args],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in reversed(processes):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _wait_for_file(path: Path, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the dask scheduler did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """``(address, client)`` of a scheduler with two ``--nthreads 1`` worker processes."""
    workdir = tmp_path_factory.mktemp("dask")
    scheduler_file = workdir / "scheduler.json"
    processes: list[subprocess.Popen] = []
    client = None
    try:
        log = workdir / "scheduler.log"
        processes.append(
            _start(
                ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                 "--scheduler-file", str(scheduler_file)],
                log,
            )
        )  # fmt: skip
        _wait_for_file(scheduler_file, processes[0], log)
        address = json.loads(scheduler_file.read_text())["address"]
        for n in range(WORKERS):
            processes.append(
                _start(
                    ["worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--nworkers", "1",
                     "--no-dashboard", "--name", f"worker-{n}",
                     "--local-directory", str(workdir / f"worker-{n}")],
                    workdir / f"worker-{n}.log",
                )
            )  # fmt: skip
        client = distributed.Client(address, timeout=START_TIMEOUT_S)
        client.wait_for_workers(WORKERS, timeout=START_TIMEOUT_S)
        yield address, client
    finally:
        if client is not None:
            client.close()
        _stop(processes)


def _side_input_steps(output: Path) -> list[str]:
    """Steps of the batch graph that read a side input (the DaskRunner recomputes a side input's
    whole upstream graph inside every task that reads it, re-pickling DoFns after setup())."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.pipeline import PipelineVisitor

    from pagestream.cli import _parser, main, sample_dir
    from pagestream.pipelines import batch
    from pagestream.pipelines.options import parse_run_args
    from pagestream.pipelines.plan import plan_run

    # The graph as planned for the DaskRunner, over an earlier committed run (with --state,
    # other runners filter the index with a side input; the Dask plan must not).
    first = ["run", "--input", str(SHARED / "mixed" / "feed.jsonl"), "--output", str(output),
             "--run_id", "earlier", "--quiet"]  # fmt: skip
    assert main(first) == 0
    argv = ["run", "--input", str(SHARED / "mixed"), "--output", str(output), "--run_id", "probe",
            f"--runner={DASK_RUNNER}"]  # fmt: skip
    args, rest = _parser().parse_known_args(argv)
    plan = plan_run(parse_run_args(args, rest, sample_dir()), PipelineOptions(rest))
    plan.lease.release()
    pipeline = beam.Pipeline()
    batch.build(pipeline, plan)
    found = []

    class Visitor(PipelineVisitor):
        def visit_transform(self, node):
            if node.side_inputs:
                found.append(node.full_label)

    pipeline.visit(Visitor())
    return found


def _pipeline_tasks_per_worker(task_stream: list[dict]) -> Counter:
    """Tasks that ran a Beam DoFn bundle (``apply_dofn_to_bundle``), per worker address."""
    counts: Counter = Counter()
    for task in task_stream:
        key = task["key"][0] if isinstance(task["key"], tuple) else task["key"]
        if "apply_dofn_to_bundle" in str(key):
            counts[task["worker"]] += 1
    return counts


def test_dask_cluster_gives_the_direct_runners_rows(dask_cluster, tmp_path):
    if not (SHARED / "mixed").is_dir():
        pytest.skip(f"development data not found at {SHARED}")
    # On the DaskRunner each task reading a side input recomputes its whole upstream graph and
    # fails to pickle DoFns after setup(): the graph planned for Dask must read none.
    assert _side_input_steps(tmp_path / "probe") == []
    from pagestream.cli import main

    address, client = dask_cluster
    common = ["--input", str(SHARED / "mixed"), "--logical_date", "2024-05-01", "--quiet"]
    direct_out, dask_out = tmp_path / "direct", tmp_path / "dask"
    assert main(["run", *common, "--output", str(direct_out), "--run_id", "direct"]) == 0

    with distributed.get_task_stream(client) as stream:
        finished = subprocess.run(
            [sys.executable, "-m", "pagestream.cli", "run", *common,
             "--output", str(dask_out), "--run_id", "dask",
             f"--runner={DASK_RUNNER}", "--dask_client_address", address,
             "--dask_npartitions", "2"],
            cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
        )  # fmt: skip
    assert finished.returncode == 0, finished.stderr[-3000:]

    compare = _compare_outputs()
    assert compare.compare_runs(str(direct_out), "direct", str(dask_out), "dask") == []
    rows, manifest = compare.load_rows(str(dask_out), "dask")
    assert manifest["runner"].endswith("DaskRunner")
    # mixed/ holds one exact and one near duplicate (its MANIFEST.md); they must be marked.
    assert Counter(row["dup_status"] for row in rows["pages"]) == {
        "unique": 12,
        "exact": 1,
        "near": 1,
    }

    per_worker = _pipeline_tasks_per_worker(stream.data)
    workers = set(client.scheduler_info()["workers"])
    assert set(per_worker) == workers, f"DoFn bundles ran on {dict(per_worker)}, workers {workers}"

    # The same run in two waves (one Dask job each, one commit): the same rows.
    waved = subprocess.run(
        [sys.executable, "-m", "pagestream.cli", "run", *common,
         "--output", str(tmp_path / "waves"), "--run_id", "dask", "--wave_pages", "7",
         f"--runner={DASK_RUNNER}", "--dask_client_address", address,
         "--dask_npartitions", "2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
    )  # fmt: skip
    assert waved.returncode == 0, waved.stderr[-3000:]
    assert compare.compare_runs(str(direct_out), "direct", str(tmp_path / "waves"), "dask") == []
    assert compare.load_rows(str(tmp_path / "waves"), "dask")[1]["waves"]["count"] == 2


def _write_pages(folder: Path, pages: list[dict], files: int = 4) -> Path:
    folder.mkdir(parents=True)
    for i in range(files):
        lines = [json.dumps(page) + "\n" for page in pages[i::files]]
        (folder / f"part-{i}.jsonl").write_text("".join(lines), encoding="utf-8")
    return folder


def test_dask_tasks_grow_with_partitions_not_pages(dask_cluster, tmp_path):
    """The same graph on 24 and 96 pages schedules the same number of tasks, and every step
    has at most --dask_npartitions partitions (Beam's own runner multiplied them at each
    Flatten: tens of thousands of shuffle tasks for any input)."""
    import gzip

    source = SHARED / "extraction-dev" / "pages.jsonl.gz"
    if not source.exists():
        pytest.skip(f"development data not found at {SHARED}")
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        pages = [json.loads(line) for _, line in zip(range(96), handle, strict=False)]
    address, client = dask_cluster
    tasks = {}
    for count in (24, 96):
        data = _write_pages(tmp_path / f"in-{count}", pages[:count])
        with distributed.get_task_stream(client) as stream:
            finished = subprocess.run(
                [sys.executable, "-m", "pagestream.cli", "run", "--input", str(data),
                 "--output", str(tmp_path / f"out-{count}"), "--no_state", "--quiet",
                 f"--runner={DASK_RUNNER}", "--dask_client_address", address,
                 "--dask_npartitions", "2"],
                cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
            )  # fmt: skip
        assert finished.returncode == 0, finished.stderr[-3000:]
        tasks[count] = len(stream.data)
    assert tasks[24] == tasks[96], tasks
    assert tasks[96] < 1000, tasks  # 11,434 with Beam's own DaskRunner and 2 partitions


def _bags(runner_class, npartitions: int) -> dict:
    """The dask bags ``runner_class`` builds for a graph with a three-way Flatten and a
    CoGroupByKey (no cluster: the graph is built, not computed)."""
    import apache_beam as beam

    pipeline = beam.Pipeline()
    parts = [
        pipeline | f"Create{i}" >> beam.Create([(k % 3, k) for k in range(10)]) for i in range(3)
    ]
    flat = parts | beam.Flatten()
    ({"a": flat, "b": parts[0]} | beam.CoGroupByKey() | beam.Map(lambda kv: kv[0]))
    from apache_beam.runners.dask.overrides import dask_overrides

    pipeline.replace_all(dask_overrides())  # as DaskRunner.run_pipeline does before translating
    visitor = runner_class.to_dask_bag_visitor({"npartitions": npartitions})
    pipeline.visit(visitor)
    return visitor.bags


def test_bounded_runner_keeps_every_step_within_npartitions():
    from apache_beam.runners.dask.dask_runner import DaskRunner

    from pagestream.pipelines.dask_runner import BoundedDaskRunner

    stock = max(bag.npartitions for bag in _bags(DaskRunner, 2).values())
    bounded = max(bag.npartitions for bag in _bags(BoundedDaskRunner, 2).values())
    assert stock > 2  # what the bound is for: Beam's Flatten adds the partitions up
    assert bounded == 2


def test_dask_runner_falls_back_to_beams_own_on_an_untested_beam(monkeypatch):
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.dask.dask_runner import DaskRunner

    from pagestream.pipelines import runner as run_runner
    from pagestream.pipelines.dask_runner import BoundedDaskRunner
    from pagestream.transforms import version_guard

    options = PipelineOptions([f"--runner={DASK_RUNNER}"])
    assert type(run_runner.new_pipeline(options).runner) is BoundedDaskRunner
    monkeypatch.setattr(version_guard, "tested", lambda feature: feature != "dask_partitions")
    assert type(run_runner.new_pipeline(options).runner) is DaskRunner
