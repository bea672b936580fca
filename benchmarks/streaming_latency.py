"""Streaming latency and throughput of ``pagestream run --streaming`` (the local micro-batch loop).

Starts the real command in a subprocess, drops input files into its directory at a steady rate
(each written as ``.name.tmp`` and renamed, as uploaders do), and measures for every file the
time from its rename to the moment its rows are queryable through ``pagestream.query.connect``
(its micro-batch's manifest names it). Also reports sustained records/s over the whole run.
Repeats and prints medians.

    python benchmarks/streaming_latency.py [--files 8] [--every 2.0] [--interval 1] [--repeats 3]

Inputs: the HTML pages of ``../shared/data/extraction-dev/pages.jsonl.gz``, written as small
JSON Lines files of ``--pages_per_file`` pages each.
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
from pathlib import Path

from pagestream.query import QueryError, connect

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _pages(n: int) -> list[str]:
    lines = []
    with gzip.open(SHARED / "extraction-dev" / "pages.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            lines.append(line.strip())
            if len(lines) >= n:
                break
    return lines


def _queryable(out: Path) -> set[str]:
    """Input file names whose rows are visible through ``connect`` (committed runs)."""
    try:
        con = connect(out)
    except QueryError:
        return set()
    rows = con.execute("SELECT manifest FROM runs").fetchall()
    names = set()
    for (manifest,) in rows:
        for f in json.loads(manifest).get("streaming", {}).get("files", []):
            names.add(Path(f["path"]).name)
    return names


def one_run(args, lines: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        inp, out, state = Path(tmp, "in"), Path(tmp, "out"), Path(tmp, "state")
        inp.mkdir()
        cmd = [sys.executable, "-m", "pagestream.cli", "run", "--streaming", "--input", str(inp),
               "--output", str(out), "--state", str(state), "--run_id", "bench",
               "--trigger_interval", str(args.interval), "--quiet"]  # fmt: skip
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        time.sleep(args.warmup)
        landed: dict[str, float] = {}
        seen: dict[str, float] = {}
        start = time.monotonic()
        next_drop = start
        k = 0
        while len(seen) < args.files:
            now = time.monotonic()
            if k < args.files and now >= next_drop:
                chunk = lines[k * args.pages_per_file : (k + 1) * args.pages_per_file]
                name = f"part-{k:04d}.jsonl"
                (inp / f".{name}.tmp").write_text("\n".join(chunk) + "\n", encoding="utf-8")
                os.rename(inp / f".{name}.tmp", inp / name)
                landed[name] = time.monotonic()
                k += 1
                next_drop += args.every
            for name in _queryable(out) - set(seen):
                seen[name] = time.monotonic()
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read())
            time.sleep(0.1)
        elapsed = time.monotonic() - start
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=300)
        latencies = [seen[n] - landed[n] for n in landed]
        batches = err.count(" committed bench-")
        return {
            "latency_median_s": statistics.median(latencies),
            "latency_max_s": max(latencies),
            "records_per_s": args.files * args.pages_per_file / elapsed,
            "micro_batches": batches,
            "exit": proc.returncode,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--pages_per_file", type=int, default=5)
    parser.add_argument("--every", type=float, default=2.0, help="seconds between files")
    parser.add_argument("--interval", type=float, default=1.0, help="--trigger_interval")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before the first file")
    args = parser.parse_args()
    lines = _pages(args.files * args.pages_per_file)
    runs = [one_run(args, lines) for _ in range(args.repeats)]
    for i, run in enumerate(runs):
        print(f"repeat {i}: {json.dumps(run)}")
    print(
        json.dumps(
            {
                "files": args.files,
                "pages_per_file": args.pages_per_file,
                "every_s": args.every,
                "trigger_interval_s": args.interval,
                "median_latency_s": statistics.median(r["latency_median_s"] for r in runs),
                "median_max_latency_s": statistics.median(r["latency_max_s"] for r in runs),
                "median_records_per_s": statistics.median(r["records_per_s"] for r in runs),
                "median_micro_batches": statistics.median(r["micro_batches"] for r in runs),
                "load_avg_1m": os.getloadavg()[0],
                "cores": os.cpu_count(),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
