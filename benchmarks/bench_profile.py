"""Where the time of one ``pagestream run`` goes: a py-spy sampling profile, by category.

    python benchmarks/bench_profile.py [--pages 600] [--workers 1] [--json OUT.json]

Runs ``pagestream run`` (DirectRunner) under ``py-spy record --subprocesses`` (``pip install
py-spy``) on a ``common.build_corpus`` corpus and attributes every sample to the first
matching category below (checked in order over the whole stack, so an import inside a DoFn
counts as an import). Samples are wall-clock samples of threads that are not idle, so on a
loaded machine a runnable-but-waiting thread counts too: read the shares, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PYTHON, build_corpus, load_average  # noqa: E402

RATE = 50  # samples per second

#: (category, substrings of a collapsed stack); the first category that matches wins.
CATEGORIES = (
    ("imports (module loading)", ("<frozen importlib",)),
    ("waiting for the extraction child", ("_receive (transforms/extract/child",)),
    (
        "extraction: trafilatura metadata (title/author/date)",
        ("extract_metadata", "htmldate", "page_metadata (transforms/extract/metadata"),
    ),  # fmt: skip
    ("extraction: trafilatura text", ("trafilatura",)),
    ("extraction child: protocol, warm-up", ("_serve (transforms/extract/child",)),
    ("extraction: decoding, head scans", ("ExtractFn.process", "extract_html")),
    ("site stats + line cleaning", ("site_stats", "clean_text", "FinishTextFn")),
    ("language", ("transforms/language",)),
    ("dedup: fingerprints (MinHash)", ("dedup/fingerprint", "dedup/minhash", "dedup/normalise")),
    ("dedup: grouping, union-find, marks", ("transforms/dedup",)),
    ("topics", ("transforms/topics",)),
    ("read (JSONL/WARC)", ("transforms/read", "warcio", "fastwarc")),
    (
        "write Parquet, stats, commit",
        ("transforms/write", "pyarrow", "transforms/commit", "transforms/stats"),
    ),  # fmt: skip
    ("Beam coders / pickling", ("coders", "pickle", "dill", "cloudpickle")),
    ("Beam runner, bundles, graph", ("apache_beam",)),
)


def categorise(raw_path: Path) -> dict:
    """Sample counts per category from py-spy's ``--format raw`` (collapsed stacks) output."""
    counts: Counter = Counter()
    total = 0
    for line in raw_path.read_text().splitlines():
        if not line.strip():
            continue
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        total += samples
        for name, patterns in CATEGORIES:
            if any(pattern in stack for pattern in patterns):
                counts[name] += samples
                break
        else:
            counts["other (CLI, planning, threads)"] += samples
    return {
        "samples": total,
        "busy_thread_s": round(total / RATE, 1),
        "share": {name: round(n / total, 4) for name, n in counts.most_common()} if total else {},
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=600)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    if not Path(spy).exists():
        result = {"available": False, "note": "py-spy is not installed (pip install py-spy)"}
        print(json.dumps(result))
        return result
    work = Path(tempfile.mkdtemp(prefix="pagestream-prof-"))
    files = build_corpus(work / "corpus", args.pages, shards=4)
    raw = work / "profile.txt"
    extra = ([] if args.workers == 1 else
             ["--direct_num_workers", str(args.workers), "--direct_running_mode", "multi_processing"])  # fmt: skip
    load = load_average()
    cmd = [spy, "record", "--subprocesses", "--rate", str(RATE), "--format", "raw", "-o", str(raw),
           "--", PYTHON, "-m", "pagestream.cli", "run", "--input", *map(str, files), "--output",
           str(work / "out"), "--quiet", "--run_id", "profile", *extra]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    result = {"available": proc.returncode == 0 and raw.exists(), "pages": args.pages,
              "workers": args.workers, "load": load}  # fmt: skip
    if result["available"]:
        result.update(categorise(raw))
    else:
        result["note"] = proc.stderr[-2000:]
    shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
