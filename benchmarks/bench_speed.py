"""Whole pipeline vs the hand-written loop, side by side on the same pages.

    python benchmarks/bench_speed.py [--pages 2000] [--repeats 3] [--json OUT.json]
        [--workdir DIR] [--pipeline-arg=--flag ...]

Builds a corpus (``common.build_corpus``: the extraction-dev pages repeated with perturbed
copies, plus the two shared WARCs) and runs, in every repeat and in alternating order so a
change of machine load hits both sides alike:

* ``pipeline-1w``: ``pagestream run`` on the DirectRunner, one worker, all stages, Parquet
  written and committed;
* ``loop-1``: ``hand_loop.py`` over all files in one process;
* ``pipeline-2w``: the same run with ``--direct_num_workers 2 --direct_running_mode
  multi_processing``;
* ``loop-2``: two ``hand_loop.py`` processes at once, each on every other page of all files
  (``--part 0/2``, ``--part 1/2``): the machine's real two-process capacity;
* ``pair-1w``: ``pipeline-1w`` and ``loop-1`` started at the same moment, one per core, so
  both see the same machine: on a shared machine whose speed drifts by a third within
  minutes, the ratio of a concurrent pair is steadier than a ratio of medians.

Each run is a fresh subprocess (imports and Beam start-up included, as a user pays them).
Reported per variant: median wall seconds, pages/s, CPU seconds, peak RSS of the process
tree, and the load average at each start. ``speed_ratio`` = loop wall / pipeline wall
(>= 1 means the pipeline is faster than the loop); ``per_repeat`` has the same ratios within
each repeat (back-to-back runs). Pipeline runs also give the manifest's per-stage ms (sum of
per-page times).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    PYTHON,
    Measured,
    build_corpus,
    load_average,
    machine_info,
    median,
    run_measured,
    run_parallel_measured,
)

HERE = Path(__file__).resolve().parent
PAGESTREAM = [PYTHON, "-m", "pagestream.cli"]
TWO_WORKERS = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]


def pipeline_command(files: list[Path], out: Path, run_id: str, extra: list[str]) -> list[str]:
    """The ``pagestream run`` command line of one measured run."""
    inputs = [str(f) for f in files]
    return [*PAGESTREAM, "run", "--input", *inputs, "--output", str(out), "--quiet",
            "--run_id", run_id, "--logical_date", "2026-01-01", *extra]  # fmt: skip


def loop_command(files: list[Path], out: Path, part: str | None = None) -> list[str]:
    """The ``hand_loop.py`` command line; ``part`` is ``K/N`` for one of N concurrent loops."""
    parts = ["--part", part] if part else []
    return [PYTHON, str(HERE / "hand_loop.py"), str(out), *parts, *[str(f) for f in files]]


def _manifest(out: Path, run_id: str) -> dict:
    path = out / "_runs" / f"{run_id}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _record(measured: Measured, **extra) -> dict:
    return {
        "wall_s": round(measured.wall_s, 2),
        "cpu_s": round(measured.cpu_s, 2),
        "peak_rss_mib": round(measured.peak_rss_mib, 1),
        "load": measured.load,
        "ok": measured.ok,
        **extra,
    }


def run_variant(name: str, files: list[Path], work: Path, rep: int, extra: list[str]) -> dict:
    """One measured run of variant ``name``; returns its record."""
    if name.startswith("pipeline"):
        out = work / f"out-{name}-{rep}"
        shutil.rmtree(out, ignore_errors=True)
        run_id = f"bench-{name}-{rep}"
        args = extra + (TWO_WORKERS if name == "pipeline-2w" else [])
        measured = run_measured(pipeline_command(files, out, run_id, args))
        manifest = _manifest(out, run_id)
        shutil.rmtree(out, ignore_errors=True)
        return _record(
            measured,
            pages=manifest.get("counts", {}).get("pages"),
            records=manifest.get("counts", {}).get("records_read"),
            timings_ms=manifest.get("timings_ms", {}),
            duration_s=manifest.get("duration_s"),
        )
    if name == "loop-1":
        measured = run_measured(loop_command(files, work / "loop.parquet"))
    else:
        measured = run_parallel_measured(
            [
                loop_command(files, work / "loop-a.parquet", "0/2"),
                loop_command(files, work / "loop-b.parquet", "1/2"),
            ]
        )
    reports = [json.loads(out.strip().splitlines()[-1]) for out in measured.stdout if out.strip()]
    return _record(
        measured,
        pages=sum(r["with_text"] for r in reports),
        records=sum(r["pages"] for r in reports),
        loop_seconds=[round(r["seconds"], 2) for r in reports],
    )


def run_pair(files: list[Path], work: Path, rep: int, extra: list[str]) -> dict:
    """``pipeline-1w`` and ``loop-1`` started together; each one's own wall time."""
    out = work / f"out-pair-{rep}"
    shutil.rmtree(out, ignore_errors=True)
    measured = run_parallel_measured(
        [
            pipeline_command(files, out, f"bench-pair-{rep}", extra),
            loop_command(files, work / "loop-pair.parquet"),
        ]
    )
    shutil.rmtree(out, ignore_errors=True)
    pipeline_s, loop_s = measured.walls_s
    return {
        "pipeline_wall_s": round(pipeline_s, 2),
        "loop_wall_s": round(loop_s, 2),
        "ratio": round(loop_s / pipeline_s, 3),
        "load": measured.load,
        "ok": measured.ok,
    }


def summarise(runs: dict[str, list[dict]], html_pages: int) -> dict:
    """Medians per variant and the pipeline/loop ratios."""
    summary = {}
    pairs = runs.get("pair-1w", [])
    for name, records in runs.items():
        if name == "pair-1w":
            continue
        good = [r for r in records if r["ok"]] or records
        wall = median([r["wall_s"] for r in good])
        summary[name] = {
            "runs": len(records),
            "wall_s": round(wall, 2),
            "pages_per_s": round(html_pages / wall, 2) if wall else None,
            "cpu_s": round(median([r["cpu_s"] for r in good]), 2),
            "peak_rss_mib": round(median([r["peak_rss_mib"] for r in good]), 1),
            "loads": [r["load"] for r in records],
            "pages_with_text": good[0].get("pages"),
        }
    ratios = {}
    for workers in ("1", "2"):
        pipe, loop = summary.get(f"pipeline-{workers}w"), summary.get(f"loop-{workers}")
        if pipe and loop and pipe["wall_s"]:
            ratios[f"{workers}_worker"] = round(loop["wall_s"] / pipe["wall_s"], 3)
    if "loop-1" in summary and "loop-2" in summary and summary["loop-2"]["wall_s"]:
        ratios["two_process_capacity"] = round(
            summary["loop-1"]["wall_s"] / summary["loop-2"]["wall_s"], 3
        )
    if "pipeline-1w" in summary and "pipeline-2w" in summary and summary["pipeline-2w"]["wall_s"]:
        ratios["pipeline_2w_speedup"] = round(
            summary["pipeline-1w"]["wall_s"] / summary["pipeline-2w"]["wall_s"], 3
        )
    for workers in ("1", "2"):
        pipe, loop = runs.get(f"pipeline-{workers}w"), runs.get(f"loop-{workers}")
        if pipe and loop:
            each = [round(b["wall_s"] / a["wall_s"], 3) for a, b in zip(pipe, loop, strict=False)]
            ratios[f"{workers}_worker_per_repeat"] = each
            ratios[f"{workers}_worker_per_repeat_median"] = round(median(each), 3)
    if pairs:
        ratios["1_worker_concurrent_pairs"] = [p["ratio"] for p in pairs]
        ratios["1_worker_concurrent"] = round(median([p["ratio"] for p in pairs]), 3)
    return {"variants": summary, "speed_ratio": ratios, "pairs": pairs}


def stage_medians(records: list[dict], pages: int) -> dict:
    """Median per-stage ms/page from the manifests of pipeline runs."""
    stages = sorted({k for r in records for k in r.get("timings_ms", {}) if k != "total_wall"})
    return {
        stage: round(
            median([r["timings_ms"][stage] for r in records if stage in r["timings_ms"]]) / pages, 2
        )
        for stage in stages
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=2000, help="HTML pages in the corpus")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shards", type=int, default=8, help="JSONL files in the corpus")
    parser.add_argument(
        "--variants",
        default="pipeline-1w,loop-1,pipeline-2w,loop-2,pair-1w",
        help="comma-separated",
    )
    parser.add_argument("--workdir", type=Path, help="keep the corpus here (default: temp)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--pipeline-arg", action="append", default=[], help="extra flag for pagestream run"
    )
    args = parser.parse_args(argv)
    variants = args.variants.split(",")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="pagestream-bench-"))
    files = build_corpus(work / "corpus", args.pages, shards=args.shards)
    html_pages = args.pages
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    for rep in range(args.repeats):
        order = variants if rep % 2 == 0 else list(reversed(variants))
        for name in order:
            if name == "pair-1w":
                record = run_pair(files, work, rep, args.pipeline_arg)
                runs[name].append(record)
                print(f"[rep {rep}] {name}: {record}", flush=True)
                continue
            record = run_variant(name, files, work, rep, args.pipeline_arg)
            runs[name].append(record)
            print(f"[rep {rep}] {name}: {record['wall_s']} s, load {record['load']}, "
                  f"rss {record['peak_rss_mib']} MiB, pages {record.get('pages')}", flush=True)  # fmt: skip
    result = {
        "machine": machine_info(),
        "corpus": {
            "html_pages": html_pages,
            "files": len(files),
            "shards": args.shards,
            "warcs": any(".warc" in f.name for f in files),
            "bytes": sum(f.stat().st_size for f in files),
        },  # fmt: skip
        "repeats": args.repeats,
        "load_end": load_average(),
        **summarise(runs, html_pages),
        "stage_ms_per_page": {
            name: stage_medians(runs[name], html_pages)
            for name in runs
            if name.startswith("pipeline")
        },
        "runs": runs,
    }
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text)
    print(
        json.dumps({"speed_ratio": result["speed_ratio"], "variants": result["variants"]}, indent=2)
    )
    return result


if __name__ == "__main__":
    main()
