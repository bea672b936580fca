"""DirectRunner ``multi_processing`` workers forked from the pre-loaded zygote (local_workers)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pagestream.pipelines import local_workers, worker_zygote
from pagestream.pipelines import runner as run_runner
from pagestream.transforms import version_guard

TWO_WORKERS = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _parents_of_workers(tmp_path: Path, args: list[str]) -> set[int]:
    """Runs a small pipeline; returns the parent pids of the processes that ran its elements."""
    out = tmp_path / "parents"
    out.mkdir()

    def note_parent(x: int) -> int:
        (out / f"{os.getpid()}").write_text(str(os.getppid()))
        return x * 2

    pipeline = run_runner.new_pipeline(PipelineOptions(args))
    (
        pipeline
        | beam.Create(list(range(40)))
        | beam.Reshuffle()
        | beam.Map(note_parent)
        | beam.combiners.ToList()
        | beam.Map(lambda xs: sorted(xs) == [2 * x for x in range(40)])
        | beam.Map(lambda ok, path=str(out / "ok"): Path(path).write_text(str(ok)))
    )
    pipeline.run().wait_until_finish()
    assert (out / "ok").read_text() == "True"
    return {int(p.read_text()) for p in out.iterdir() if p.name != "ok"}


def test_only_multi_processing_with_several_workers_forks():
    assert run_runner.forks_workers(PipelineOptions(TWO_WORKERS))
    assert not run_runner.forks_workers(PipelineOptions(["--direct_num_workers", "2"]))
    assert not run_runner.forks_workers(
        PipelineOptions(["--direct_num_workers", "1", "--direct_running_mode", "multi_processing"])
    )
    runner = run_runner.new_pipeline(PipelineOptions(TWO_WORKERS)).runner
    assert isinstance(runner, local_workers.ForkingFnApiRunner)
    assert not isinstance(
        run_runner.new_pipeline(PipelineOptions([])).runner, local_workers.ForkingFnApiRunner
    )


def test_workers_are_forked_from_the_zygote(tmp_path):
    parents = _parents_of_workers(tmp_path, TWO_WORKERS)
    assert parents == {worker_zygote.shared_zygote().process.pid}


def test_workers_start_the_beam_way_when_the_zygote_cannot_fork(tmp_path, monkeypatch):
    def refuse(self, env):
        raise worker_zygote.ZygoteError("test: no zygote")

    monkeypatch.setattr(worker_zygote.Zygote, "fork", refuse)
    parents = _parents_of_workers(tmp_path, TWO_WORKERS)
    assert worker_zygote.shared_zygote().process.pid not in parents
    assert parents  # the elements did run, in Beam's own subprocess workers


def test_a_closed_zygote_ends_and_refuses_to_fork():
    zygote = worker_zygote.Zygote()
    assert zygote.alive()
    zygote.close()
    assert zygote.process.returncode == 0
    assert not zygote.alive()
    with pytest.raises(worker_zygote.ZygoteError):
        zygote.fork(dict(os.environ))


def test_a_two_worker_run_keeps_worker_logs_out_of_the_terminal(tmp_path):
    if not (SHARED / "mixed").is_dir():
        pytest.skip(f"development data not found at {SHARED}")
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "pagestream.cli", "run", "--input", str(SHARED / "mixed"),
         "--output", str(out), "--quiet", *TWO_WORKERS],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # Beam's own subprocess workers print ~20 INFO lines each ("Python sdk harness starting").
    assert "INFO:" not in done.stderr
    assert "sdk harness" not in done.stderr
    assert (out / "_runs").is_dir()


@pytest.mark.parametrize(
    "argv, starts",
    [
        (["run", *TWO_WORKERS], True),
        (["run", "--direct_num_workers=0", "--direct_running_mode=multi_processing"], True),
        (["run", "--direct_running_mode", "multi_processing"], False),  # Beam's default: 1
        (["run", "--direct_num_workers", "2"], False),  # in_memory: no processes
        (["run", "--direct_num_workers", "2", "--direct_running_mode", "multi_threading"], False),
        (["run", "--direct_running_mode"], False),
    ],
)
def test_the_command_starts_the_zygote_early_only_for_worker_processes(argv, starts):
    from pagestream.cli import _runs_local_worker_processes

    assert _runs_local_worker_processes(argv) is starts


def test_an_untested_beam_version_gets_beams_own_runner_and_workers(monkeypatch, caplog):
    real = version_guard.installed_version
    monkeypatch.setattr(
        version_guard,
        "installed_version",
        lambda name: "2.99.0" if name == "apache-beam" else real(name),
    )
    monkeypatch.setattr(version_guard, "_logged", set())
    with caplog.at_level(logging.WARNING, logger="pagestream"):
        assert not run_runner.forks_workers(PipelineOptions(TWO_WORKERS))
        for _ in range(2):
            pipeline = run_runner.new_pipeline(PipelineOptions(TWO_WORKERS))
    assert type(pipeline.runner).__name__ == "SwitchingDirectRunner"  # Beam's own choice
    assert [r.getMessage() for r in caplog.records] == [
        f"pagestream: {feature} off (stock behaviour): apache-beam 2.99.0 is not a version it "
        "was tested on (2.77.x)"
        for feature in ("forked_workers", "fn_api_runner")
    ]
