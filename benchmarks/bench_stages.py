"""Per-stage cost (ms/page) and peak memory at several input sizes.

    python benchmarks/bench_stages.py [--sizes 250,750,2000] [--repeats 3] [--json OUT.json]

Two measurements per input size (corpus from ``common.build_corpus``):

The corpus is extraction-dev pages only (no WARCs), so every size has the same mix.

1. **Whole pipeline** (``pagestream run``, DirectRunner, one worker, subprocess): wall time,
   peak RSS of the process tree (psutil sampling, see ``common``), and the manifest's
   per-stage sums of per-page times (``extract``, ``language``, ``dedup`` fingerprinting,
   ``topics``). ``beam_and_grouping`` is wall time minus those sums: Beam start-up, bundle
   overhead, coders, the grouping stages, Parquet writing and the commit.
2. **One stage at a time** (``stage`` sub-command, one subprocess per stage and size): the
   pages the run above wrote are read back as ``Page`` records and pushed through a single
   composite on the in-process DirectRunner (``Create -> stage -> count``). The stage's cost
   is its wall time minus that of ``Create -> count`` on the same pages (Beam's fixed cost
   and the Create), so the grouping stages (``SiteStats``, ``MarkDuplicates``, Parquet
   writing) get a number of their own. Memory is the stage's peak RSS above the RSS before
   it ran (the pages already loaded), minus the same for ``Create -> count`` (Beam's own
   memory), per page: for ``MarkDuplicates`` this is the
   near-duplicate memory per page on one worker. The encoded bytes the dedup groupings
   shuffle per page (``RowCoder`` sizes of the ``Fingerprint`` records) are reported too.

Growth: if ms/page stays flat from the smallest to the largest size, cost is linear in pages.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil  # noqa: E402
from common import (  # noqa: E402
    PYTHON,
    build_corpus,
    load_average,
    machine_info,
    median,
    run_measured,
)

STAGES = ("create_only", "site_stats", "language", "dedup", "topics", "write")
PER_PAGE_KEYS = ("extract", "language", "dedup", "topics")


# --------------------------------------------------------------------------- stage runs


def load_pages(out_dir: Path) -> list:
    """The ``pages`` rows of a finished run as ``Page`` records, sorted by doc_id.

    Duplicate marks, language and topics are reset, so every stage sees what it would see
    in the graph (text, url, ids, fetch time).
    """
    import pyarrow as pa
    import pyarrow.dataset as ds

    from pagestream.schemas.records import Page

    part = ds.partitioning(
        pa.schema([("crawl_date", pa.string()), ("language", pa.string())]), flavor="hive"
    )
    table = ds.dataset(str(out_dir / "pages"), format="parquet", partitioning=part).to_table()
    pages = []
    for row in table.to_pylist():
        fetch = row.get("fetch_time")
        published = row.get("published_date")
        values = {name: row.get(name) for name in Page._fields if name in row}
        values.update(
            fetch_time=int(fetch.timestamp() * 1_000_000) if fetch is not None else None,
            published_date=published.isoformat() if published is not None else None,
            language="und",
            language_score=None,
            dup_status="unique",
            dup_of=None,
            dup_similarity=None,
            dup_run=None,
            topics=[],
            topic_scores=[],
            content_hash="",
            crawl_date=str(row["crawl_date"]),
        )
        pages.append(Page(**values))
    return sorted(pages, key=lambda p: p.doc_id)


def _stage_transform(stage: str, out: Path):
    import apache_beam as beam

    from pagestream.transforms.clean.site_stats import SiteStats
    from pagestream.transforms.clean.sites import site_of
    from pagestream.transforms.dedup.fingerprint import DedupConfig
    from pagestream.transforms.dedup.mark import MarkDuplicates
    from pagestream.transforms.language.detect import DetectLanguage, LanguageConfig
    from pagestream.transforms.topics.tag import TagTopics, TopicConfig
    from pagestream.transforms.write.parquet import WriteConfig, WritePartitionedParquet

    if stage == "create_only":
        return beam.Map(lambda page: page)
    if stage == "site_stats":  # what ExtractText feeds SiteStats
        return beam.Map(lambda page: (site_of(page.url, page.source), page.text)) | SiteStats(
            min_pages=3
        )
    if stage == "language":
        return DetectLanguage(LanguageConfig())
    if stage == "dedup":
        return MarkDuplicates(DedupConfig(), "bench", "2026-01-01")
    if stage == "topics":
        return TagTopics(TopicConfig())
    if stage == "write":
        return WritePartitionedParquet(str(out), "bench", WriteConfig())
    raise ValueError(f"unknown stage {stage!r}")


def _shuffle_bytes_per_page(pages: list) -> dict:
    """Encoded bytes MarkDuplicates groups per page: a member per LSH band key (without its
    band keys, ``dedup.mark.keyed_by_band``), plus the whole Fingerprint for the hash and url groups."""
    from apache_beam.coders import registry

    from pagestream.transforms.dedup.fingerprint import DedupConfig, Fingerprint, fingerprint_page
    from pagestream.transforms.dedup.mark import keyed_by_band

    coder = registry.get_coder(Fingerprint)
    sample = pages[:200]
    sizes, members, per_page = [], [], []
    for page in sample:
        fp = fingerprint_page(page, DedupConfig(), "2026-01-01")
        whole = len(coder.encode(fp))
        band = [len(coder.encode(member)) for _, member in keyed_by_band(fp)]
        sizes.append(whole)
        members.extend(band)
        per_page.append(sum(band) + whole * (1 + (1 if fp.norm_url else 0)))
    return {
        "fingerprint_bytes": round(median(sizes)),
        "band_member_bytes": round(median(members)) if members else 0,
        "bands": DedupConfig().bands,
        "shuffled_bytes_per_page": round(median(per_page)),
    }


def _run_stage(stage: str, pages: list) -> float:
    """Wall seconds of ``Create(pages) -> stage -> Count`` on the in-process DirectRunner."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    out = Path(tempfile.mkdtemp(prefix="pagestream-stage-"))
    started = time.perf_counter()
    with beam.Pipeline(options=PipelineOptions(["--direct_num_workers", "1"])) as pipeline:
        _ = (
            pipeline
            | "Create" >> beam.Create(pages, reshuffle=False)
            | "Stage" >> _stage_transform(stage, out)
            | "Count" >> beam.combiners.Count.Globally()
        )
    wall = time.perf_counter() - started
    shutil.rmtree(out, ignore_errors=True)
    return wall


def stage_main(argv: list[str]) -> None:
    """``stage STAGE PAGES_DIR REPEATS``: times one stage in-process; prints one JSON line."""
    logging.getLogger().setLevel(logging.ERROR)
    stage, pages_dir, repeats = argv[0], Path(argv[1]), int(argv[2])
    pages = load_pages(pages_dir)
    me = psutil.Process()
    base_rss = me.memory_info().rss
    peak = [base_rss]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], me.memory_info().rss)
            done.wait(0.05)

    _run_stage(stage, pages[:5])  # warm-up: Beam's lazy imports and the stage's setup()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    walls = []
    for _ in range(repeats):
        walls.append(_run_stage(stage, pages))
    done.set()
    sampler.join()
    result = {
        "stage": stage,
        "pages": len(pages),
        "wall_s": walls,
        "peak_above_base_mib": round((peak[0] - base_rss) / 1024**2, 1),
        "base_rss_mib": round(base_rss / 1024**2, 1),
    }
    if stage == "dedup":
        result.update(_shuffle_bytes_per_page(pages))
    print(json.dumps(result))


# --------------------------------------------------------------------------- driver


def _pipeline_run(files: list[Path], out: Path) -> tuple[dict, dict]:
    cmd = [PYTHON, "-m", "pagestream.cli", "run", "--input", *map(str, files), "--output",
           str(out), "--quiet", "--run_id", "stages", "--logical_date", "2026-01-01"]  # fmt: skip
    measured = run_measured(cmd)
    manifest_path = out / "_runs" / "stages.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    return {
        "wall_s": measured.wall_s,
        "peak_rss_mib": measured.peak_rss_mib,
        "load": measured.load,
    }, manifest


def measure_size(size: int, repeats: int, work: Path, stages: tuple[str, ...] = STAGES) -> dict:
    """Whole-pipeline and per-stage numbers for one corpus size."""
    files = build_corpus(work / f"corpus-{size}", size, shards=4, warcs=False)
    out = work / f"out-{size}"
    runs, manifests = [], []
    for _ in range(repeats):
        shutil.rmtree(out, ignore_errors=True)
        measured, manifest = _pipeline_run(files, out)
        runs.append(measured)
        manifests.append(manifest)
    pages = manifests[-1].get("counts", {}).get("pages") or 0
    wall_ms = median([r["wall_s"] for r in runs]) * 1000
    per_page = {
        key: round(median([m["timings_ms"].get(key, 0.0) for m in manifests]) / size, 2)
        for key in PER_PAGE_KEYS
    }
    per_page_total = sum(per_page.values())
    pipeline = {
        "html_pages": size,
        "pages_written": pages,
        "wall_s": round(wall_ms / 1000, 2),
        "ms_per_input_page": round(wall_ms / size, 2),
        "per_page_stage_ms": per_page,
        "beam_and_grouping_ms_per_page": round(wall_ms / size - per_page_total, 2),
        "peak_rss_mib": round(median([r["peak_rss_mib"] for r in runs]), 1),
        "loads": [r["load"] for r in runs],
    }
    results = {}
    for stage in stages:
        cmd = [PYTHON, str(Path(__file__).resolve()), "stage", stage, str(out), str(repeats)]
        measured = run_measured(cmd)
        lines = [line for line in measured.stdout[0].splitlines() if line.startswith("{")]
        if not measured.ok or not lines:
            results[stage] = {"error": "failed", "load": measured.load}
            continue
        results[stage] = {**json.loads(lines[-1]), "load": measured.load}
    stages = results
    base = median(stages.get("create_only", {}).get("wall_s", [0.0]))
    base_mib = stages.get("create_only", {}).get("peak_above_base_mib", 0.0)
    for stage, record in stages.items():
        if "wall_s" not in record or not record["pages"]:
            continue
        wall = median(record["wall_s"])
        record["wall_median_s"] = round(wall, 3)
        if stage != "create_only":
            record["ms_per_page"] = round((wall - base) * 1000 / record["pages"], 3)
        if stage != "create_only":  # memory above what Beam and the Create alone take
            above = max(0.0, record["peak_above_base_mib"] - base_mib)
            record["kib_per_page"] = round(above * 1024 / record["pages"], 2)
    shutil.rmtree(out, ignore_errors=True)
    return {"pipeline": pipeline, "stages": stages}


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "stage":
        stage_main(argv[1:])
        return {}
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="250,750,2000", help="comma-separated page counts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--stages", default=",".join(STAGES), help="stages timed alone (create_only first)"
    )
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="pagestream-stages-"))
    result = {
        "machine": machine_info(),
        "repeats": args.repeats,
        "sizes": {},
    }
    for size in (int(s) for s in args.sizes.split(",")):
        stages = tuple(args.stages.split(","))
        result["sizes"][str(size)] = measure_size(size, args.repeats, work, stages)
        print(f"size {size}: {json.dumps(result['sizes'][str(size)]['pipeline'])}", flush=True)
    result["load_end"] = load_average()
    result["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
