"""Throughput of pagestream per runner and worker count, and cost against input size.

    python benchmarks/scaling.py workers [--repeat 3] [--shards 8]
    python benchmarks/scaling.py size [--sizes 1000 5000 10000] [--direct_num_workers 2]
        [--pipeline-arg=--wave_pages=0 ...]
    python benchmarks/scaling.py size --sizes 50000 --generate-only DIR   # only write the corpus

``workers``: pages/s of ``extraction-dev/pages.jsonl.gz`` (436 real pages), split into ``--shards``
JSON Lines files (one file is one task on Dask), on the DirectRunner with 1 and 2 processes
(``multi_processing``) and on a local Dask cluster (scheduler + 2 single-thread workers); median
of ``--repeat`` runs, each a fresh ``pagestream run`` process (interpreter start included).

``size``: one ``pagestream run`` per size N over the corpus ``size_corpus.write_corpus`` builds
(real HTML of the extraction-dev pages with new main text, ~8 % exact and ~8 % near copies
planted; described in ``size_corpus.py``). Per size it prints pages, seconds, pages/s, CPU
seconds and peak RSS of the run's whole process tree (``common.run_measured``), input MB (gzip
on disk and JSON Lines), the planted counts and duplicate rate, and what the run found
(``size_corpus.found_duplicates``).

Results are printed as JSON lines. The machine may be shared: note what else was running.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATA, build_corpus, run_measured  # noqa: E402
from size_corpus import CorpusConfig, found_duplicates, write_corpus  # noqa: E402

__all__ = ["bench_size", "bench_workers", "split_jsonl", "start_dask", "stop_dask"]

EXTRACTION_DEV = DATA / "extraction-dev"
DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"


def _part(stack: ExitStack, folder: Path, i: int):
    return stack.enter_context(open(folder / f"part-{i:03d}.jsonl", "w", encoding="utf-8"))


def split_jsonl(source: Path, folder: Path, shards: int) -> Path:
    """Splits a JSON Lines file round-robin into ``shards`` files."""
    folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack, gzip.open(source, "rt", encoding="utf-8") as lines:
        handles = [_part(stack, folder, i) for i in range(shards)]
        for n, line in enumerate(lines):
            handles[n % shards].write(line)
    return folder


def start_dask(workdir: Path, workers: int = 2) -> tuple[str, list[subprocess.Popen]]:
    workdir.mkdir(parents=True, exist_ok=True)
    scheduler_file = workdir / "scheduler.json"
    processes = []

    def start(args, log):
        with open(workdir / log, "w") as handle:  # the child keeps its own copy of the descriptor
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "dask", *args],
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
           "--scheduler-file", str(scheduler_file)], "scheduler.log")  # fmt: skip
    deadline = time.monotonic() + 90
    while not scheduler_file.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("dask scheduler did not start")
        time.sleep(0.1)
    address = json.loads(scheduler_file.read_text())["address"]
    for n in range(workers):
        start(["worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-dashboard",
               "--name", f"w{n}"], f"worker-{n}.log")  # fmt: skip
    from distributed import Client

    with Client(address, timeout=90) as client:
        client.wait_for_workers(workers, timeout=90)
    return address, processes


def stop_dask(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        process.wait(timeout=30)


def _measured_run(data: Path, output: Path, run_id: str, beam_args: list[str]):
    """One measured ``pagestream run`` on ``data``: ``(common.Measured, its manifest)``."""
    argv = [sys.executable, "-m", "pagestream.cli", "run", "--input", str(data),
            "--output", str(output), "--run_id", run_id, "--logical_date", "2024-05-01", "--quiet",
            *beam_args]  # fmt: skip
    run = run_measured(argv)
    if not run.ok:
        raise SystemExit(f"pagestream run {run_id} failed (stderr above)")
    return run, json.loads((output / "_runs" / f"{run_id}.json").read_text())


def bench_workers(
    repeat: int, shards: int, npartitions: int, pages: int = 0, settings: tuple[str, ...] = ()
) -> None:
    """DirectRunner with 1 and 2 processes, Dask with 1 and 2 workers, on the same input (the
    436 extraction-dev pages, or a ``build_corpus`` of ``pages`` in ``shards`` JSON Lines
    files); one JSON line per setting (median of ``repeat`` runs). Each repeat runs every
    setting once, so the ratios compare runs made minutes apart on the same machine."""
    settings = settings or ("direct-1", "direct-2", "dask-1", "dask-2")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if pages:
            build_corpus(tmp / "in", pages, shards=shards, warcs=False)
            data = tmp / "in"
        else:
            data = split_jsonl(EXTRACTION_DEV / "pages.jsonl.gz", tmp / "in", shards)
        two = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]
        clusters = {}
        results: dict[str, list[dict]] = {}
        try:
            for workers in (1, 2):
                if f"dask-{workers}" in settings:
                    clusters[workers] = start_dask(tmp / f"dask-{workers}", workers)
            for i in range(repeat):
                for name in settings:
                    if name.startswith("dask"):
                        address = clusters[int(name[-1])][0]
                        args = [f"--runner={DASK_RUNNER}", f"--dask_client_address={address}",
                                f"--dask_npartitions={npartitions}"]  # fmt: skip
                    else:
                        args = two if name == "direct-2" else []
                    run, manifest = _measured_run(data, tmp / f"out-{name}", f"{name}-{i}", args)
                    results.setdefault(name, []).append(run)
        finally:
            for _, processes in clusters.values():
                stop_dask(processes)
        pages = manifest["counts"]["records_read"]  # the same input in every run
        for name, runs in results.items():
            seconds = statistics.median(r.wall_s for r in runs)
            print(json.dumps({"setting": name, "pages": pages, "median_s": round(seconds, 1),
                              "pages_per_s": round(pages / seconds, 2),
                              "cpu_s": round(statistics.median(r.cpu_s for r in runs), 1),
                              "peak_rss_mib": round(max(r.peak_rss_mib for r in runs)),
                              "runs_s": [round(r.wall_s, 1) for r in runs],
                              "loads": [r.load for r in runs]}))  # fmt: skip
            sys.stdout.flush()


def bench_size(
    sizes: list[int],
    beam_args: list[str],
    shards: int = 8,
    config: CorpusConfig | None = None,
    generate_only: Path | None = None,
) -> None:
    """Per size: writes the corpus, runs ``pagestream run`` on it, prints one JSON line.

    With ``generate_only``, writes each corpus to ``generate_only/pages-N`` and runs nothing.
    """
    config = config or CorpusConfig()
    with tempfile.TemporaryDirectory() as tmp:
        root = generate_only or Path(tmp)
        for size in sizes:
            corpus = root / f"pages-{size}"
            started = time.perf_counter()
            cpu = time.process_time()
            summary = write_corpus(size, corpus, shards, config)
            generated = {"generate_s": round(time.perf_counter() - started, 1),
                         "generate_cpu_s": round(time.process_time() - cpu, 1)}  # fmt: skip
            if generate_only is not None:
                print(json.dumps({**summary, **generated, "corpus": str(corpus)}))
                continue
            output = Path(tmp) / f"out-{size}"
            run, manifest = _measured_run(corpus, output, f"size-{size}", beam_args)
            print(json.dumps({
                "pages": size, "seconds": round(run.wall_s, 1),
                "pages_per_s": round(size / run.wall_s, 2), "cpu_s": round(run.cpu_s, 1),
                "peak_rss_mib": round(run.peak_rss_mib), "load": run.load,
                "input_mb": summary["input_mb"], "jsonl_mb": summary["jsonl_mb"],
                "planted": summary["planted"], "planted_dup_rate": summary["planted_dup_rate"],
                **found_duplicates(output, corpus), **generated,
                "counts": manifest["counts"],
            }))  # fmt: skip
            sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    workers = sub.add_parser("workers")
    workers.add_argument("--repeat", type=int, default=3)
    workers.add_argument("--shards", type=int, default=8)
    workers.add_argument("--npartitions", type=int, default=4)
    workers.add_argument(
        "--pages",
        type=int,
        default=0,
        help="a generated corpus of this many pages (default: extraction-dev)",
    )
    workers.add_argument("--settings", default="direct-1,direct-2,dask-1,dask-2")
    size = sub.add_parser("size")
    size.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000])
    size.add_argument("--direct_num_workers", type=int, default=2)
    size.add_argument("--shards", type=int, default=8)
    size.add_argument("--seed", type=int, default=CorpusConfig.seed)
    size.add_argument(
        "--pipeline-arg",
        action="append",
        default=[],
        help="passed to pagestream run (e.g. --pipeline-arg=--wave_pages=0)",
    )
    size.add_argument(
        "--generate-only", type=Path, metavar="DIR",
        help="only write each corpus to DIR/pages-N (kept) and print its summary",
    )  # fmt: skip
    args = parser.parse_args()
    if args.what == "workers":
        settings = tuple(args.settings.split(","))
        bench_workers(args.repeat, args.shards, args.npartitions, args.pages, settings)
        return
    beam = ["--direct_num_workers", str(args.direct_num_workers),
            "--direct_running_mode", "multi_processing"]  # fmt: skip
    bench_size(
        args.sizes,
        (beam if args.direct_num_workers > 1 else []) + args.pipeline_arg,
        args.shards,
        CorpusConfig(seed=args.seed),
        args.generate_only,
    )


if __name__ == "__main__":
    main()
