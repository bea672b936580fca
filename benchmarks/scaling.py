"""Throughput of pagestream per runner and worker count, and cost against input size.

    python benchmarks/scaling.py workers [--repeat 3] [--shards 8]
    python benchmarks/scaling.py size [--sizes 1000 10000 50000]

``workers``: pages/s of ``extraction-dev/pages.jsonl.gz`` (436 real pages), split into ``--shards``
JSON Lines files (one file is one task on Dask), on the DirectRunner with 1 and 2 processes
(``multi_processing``) and on a local Dask cluster (scheduler + 2 single-thread workers); median
of ``--repeat`` runs, each a fresh ``pagestream run`` process (interpreter start included).

``size``: synthetic corpora of N pages built from the paragraphs of the 436 pages (trafilatura's
baseline texts): each page is 8 paragraphs drawn at random under a small HTML template; 10 % are
exact copies of an earlier page under a new url and 10 % near copies (one paragraph replaced).
Prints seconds, pages/s and the duplicate marks found. Deterministic (seeded).

Results are printed as JSON lines. The machine may be shared: note what else was running.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from html import escape
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
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


def synthetic_corpus(pages: int, folder: Path, shards: int = 8, seed: int = 7) -> dict:
    """Writes ``pages`` synthetic HTML pages as JSON Lines; returns the planted duplicate counts."""
    rng = random.Random(seed)
    paragraphs = []
    with gzip.open(SHARED / "extraction-dev" / "baseline_predictions.jsonl.gz", "rt") as lines:
        for line in lines:
            paragraphs += [p for p in json.loads(line)["text"].split("\n") if len(p.split()) >= 12]
    folder.mkdir(parents=True, exist_ok=True)
    stack = ExitStack()
    handles = [_part(stack, folder, i) for i in range(shards)]
    bodies: list[list[str]] = []
    planted = {"unique": 0, "exact": 0, "near": 0}
    for n in range(pages):
        roll = rng.random()
        if bodies and roll < 0.10:
            body, kind = list(rng.choice(bodies)), "exact"
        elif bodies and roll < 0.20:
            body, kind = list(rng.choice(bodies)), "near"
            body[rng.randrange(len(body))] = rng.choice(paragraphs)
        else:
            body, kind = rng.sample(paragraphs, 8), "unique"
            bodies.append(body)
        planted[kind] += 1
        html = (
            f"<html><head><title>Page {n}</title></head><body><nav>Home | News | About</nav>"
            f"<article><h1>Page {n}</h1>{''.join(f'<p>{escape(p)}</p>' for p in body)}</article>"
            "<footer>Copyright example.org</footer></body></html>"
        )
        record = {"url": f"https://site{n % 50}.example.org/a/{n}", "html": html}
        handles[n % shards].write(json.dumps(record) + "\n")
    stack.close()
    return planted


def start_dask(workdir: Path, workers: int = 2) -> tuple[str, list[subprocess.Popen]]:
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


def timed_run(
    input_dir: Path, output: Path, run_id: str, beam_args: list[str]
) -> tuple[float, dict]:
    argv = [sys.executable, "-m", "pagestream.cli", "run", "--input", str(input_dir),
            "--output", str(output), "--run_id", run_id, "--logical_date", "2024-05-01", "--quiet",
            *beam_args]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, timeout=7200)
    seconds = time.perf_counter() - started
    manifest = json.loads((output / "_runs" / f"{run_id}.json").read_text())
    return seconds, manifest


def bench_workers(repeat: int, shards: int, npartitions: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = split_jsonl(SHARED / "extraction-dev" / "pages.jsonl.gz", tmp / "in", shards)
        settings = {
            "direct-1": [],
            "direct-2": ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"],
        }
        results = {name: [] for name in [*settings, "dask-2"]}
        for i in range(repeat):
            for name, args in settings.items():
                seconds, manifest = timed_run(data, tmp / f"out-{name}", f"{name}-{i}", args)
                results[name].append((seconds, manifest["counts"]["records_read"]))
        address, processes = start_dask(tmp)
        try:
            for i in range(repeat):
                args = [f"--runner={DASK_RUNNER}", f"--dask_client_address={address}",
                        f"--dask_npartitions={npartitions}"]  # fmt: skip
                seconds, manifest = timed_run(data, tmp / "out-dask", f"dask-{i}", args)
                results["dask-2"].append((seconds, manifest["counts"]["records_read"]))
        finally:
            stop_dask(processes)
        for name, runs in results.items():
            seconds = statistics.median(s for s, _ in runs)
            pages = runs[0][1]
            print(json.dumps({"setting": name, "pages": pages, "median_s": round(seconds, 1),
                              "pages_per_s": round(pages / seconds, 2),
                              "runs_s": [round(s, 1) for s, _ in runs]}))  # fmt: skip


def bench_size(sizes: list[int], beam_args: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for size in sizes:
            planted = synthetic_corpus(size, tmp / f"in-{size}")
            seconds, manifest = timed_run(
                tmp / f"in-{size}", tmp / f"out-{size}", f"size-{size}", beam_args
            )
            print(json.dumps({"pages": size, "seconds": round(seconds, 1),
                              "pages_per_s": round(size / seconds, 2), "planted": planted,
                              "found": manifest.get("dup_status"), "counts": manifest["counts"]}))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    workers = sub.add_parser("workers")
    workers.add_argument("--repeat", type=int, default=3)
    workers.add_argument("--shards", type=int, default=8)
    workers.add_argument("--npartitions", type=int, default=4)
    size = sub.add_parser("size")
    size.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    size.add_argument("--direct_num_workers", type=int, default=2)
    args = parser.parse_args()
    if args.what == "workers":
        bench_workers(args.repeat, args.shards, args.npartitions)
    else:
        beam = [
            "--direct_num_workers",
            str(args.direct_num_workers),
            "--direct_running_mode",
            "multi_processing",
        ]
        bench_size(args.sizes, beam if args.direct_num_workers > 1 else [])


if __name__ == "__main__":
    main()
