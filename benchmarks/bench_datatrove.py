"""datatrove doing pagestream's work on the same pages, timed next to ``pagestream run``.

    python benchmarks/bench_datatrove.py [--pages 2000] [--repeats 3] [--workers 1,2]
        [--dt-python /work/venv-dt/bin/python] [--json OUT.json]

datatrove lives in its own virtualenv (its ``[processing]`` extra pins trafilatura < 1.12,
pagestream needs 2.x)::

    python -m venv /work/venv-dt
    /work/venv-dt/bin/pip install 'datatrove[processing]' pyarrow warcio langdetect==1.0.9 \\
        python-magic faust-cchardet orjson

The datatrove pipeline, as its MinHash example builds it, in five executor stages with
``LocalPipelineExecutor(tasks=W, workers=W)``:

1. ``JsonlReader`` (``html``/``url`` keys) + ``WarcReader`` -> ``Trafilatura`` extractor
   (``favour_precision=False, deduplicate=False, timeout=10``: trafilatura's defaults but no
   comments, as pagestream) -> a language step (langdetect, seeded, first 2,000 characters:
   datatrove's own ``LanguageFilter`` downloads a fastText model from the Hugging Face hub,
   which these machines cannot reach) -> ``JsonlWriter`` (intermediate);
2. ``MinhashDedupSignature`` (5-grams, 20 buckets x 6 hashes: pagestream's LSH shape; words
   split on whitespace, because datatrove's English and fallback tokenizers need spaCy);
3. ``MinhashDedupBuckets``; 4. ``MinhashDedupCluster``;
5. intermediate -> ``MinhashDedupFilter`` -> ``ParquetWriter``.

Differences that remain (stated in BENCHMARKS.md): datatrove runs every page through a
sandbox subprocess (pickling each page both ways), drops duplicates instead of marking them,
extracts no title/author/date, detects no topics, writes no partitions or manifest, and its
trafilatura is 1.11.
The ``dt`` sub-command is what runs inside the datatrove virtualenv.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_DT_PYTHON = "/work/venv-dt/bin/python"


# --------------------------------------------------------------------------- inside venv-dt


def dt_main(corpus: str, work: str, workers: int) -> None:
    """Runs the datatrove pipeline; prints one JSON line with wall seconds and counts."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.base import PipelineStep
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.readers import JsonlReader, WarcReader
    from datatrove.pipeline.writers import JsonlWriter, ParquetWriter

    class LangdetectStep(PipelineStep):
        """Seeded langdetect on the first 2,000 characters, into ``metadata["language"]``."""

        name = "langdetect"

        def run(self, data, rank: int = 0, world_size: int = 1):
            from langdetect import DetectorFactory, LangDetectException, detect

            DetectorFactory.seed = 0
            for doc in data:
                with self.track_time():
                    try:
                        language = detect(doc.text[:2000])
                    except LangDetectException:
                        language = "und"
                # one metadata shape for WARC and JSONL records (the Parquet schema is fixed)
                doc.metadata = {"url": doc.metadata.get("url", doc.id), "language": language}
                yield doc

    from datatrove.utils.word_tokenizers import WordTokenizer

    class SplitTokenizer(WordTokenizer):
        """Whitespace words: datatrove's tokenizers for English and the fallback need spaCy."""

        def word_tokenize(self, text: str) -> list[str]:
            return text.split()

        def sent_tokenize(self, text: str) -> list[str]:
            return [line for line in text.splitlines() if line.strip()]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            raise NotImplementedError

    root = Path(work)
    config = MinhashConfig(n_grams=5, num_buckets=20, hashes_per_bucket=6)
    logs = root / "logs"

    def execute(pipeline, name: str, tasks: int) -> None:
        LocalPipelineExecutor(
            pipeline=pipeline,
            tasks=tasks,
            workers=min(tasks, workers),
            logging_dir=str(logs / name),
            skip_completed=False,
        ).run()

    started = time.perf_counter()
    readers = [JsonlReader(corpus, glob_pattern="*.jsonl.gz", text_key="html", id_key="url")]
    if any(Path(corpus).glob("*.warc.gz")):  # a reader without files raises
        readers.append(WarcReader(corpus, glob_pattern="*.warc.gz"))
    execute(
        [
            *readers,
            Trafilatura(favour_precision=False, deduplicate=False, timeout=10),
            LangdetectStep(),
            JsonlWriter(str(root / "extracted")),
        ],
        "1_extract",
        workers,
    )
    extracted = time.perf_counter()
    execute(
        [
            JsonlReader(str(root / "extracted")),
            MinhashDedupSignature(
                output_folder=str(root / "sigs"), config=config, language=SplitTokenizer()
            ),
        ],
        "2_sigs",
        workers,
    )
    execute(
        [
            MinhashDedupBuckets(
                input_folder=str(root / "sigs"), output_folder=str(root / "buckets"), config=config
            )
        ],
        "3_buckets",
        config.num_buckets,
    )
    execute(
        [
            MinhashDedupCluster(
                input_folder=str(root / "buckets"),
                output_folder=str(root / "remove"),
                config=config,
            )
        ],
        "4_cluster",
        1,
    )
    execute(
        [
            JsonlReader(str(root / "extracted")),
            MinhashDedupFilter(input_folder=str(root / "remove")),
            ParquetWriter(str(root / "parquet")),
        ],
        "5_filter_write",
        workers,
    )
    finished = time.perf_counter()
    import pyarrow.parquet as pq

    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in (root / "parquet").rglob("*.parquet"))
    extracted_rows = 0
    for path in (root / "extracted").rglob("*.jsonl*"):
        import gzip

        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as handle:
            extracted_rows += sum(1 for _ in handle)
    print(json.dumps({"seconds": finished - started, "extract_stage_s": extracted - started,
                      "pages_with_text": extracted_rows, "rows_written": rows}))  # fmt: skip


# --------------------------------------------------------------------------- driver


def _dt_available(dt_python: str) -> str | None:
    import subprocess

    try:
        out = subprocess.run(
            [
                dt_python,
                "-c",
                "from importlib.metadata import version as v; "
                "print('datatrove', v('datatrove'), 'trafilatura', v('trafilatura'))",
            ],  # fmt: skip
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "dt":
        dt_main(argv[1], argv[2], int(argv[3]))
        return {}
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_speed import pipeline_command
    from common import build_corpus, load_average, machine_info, median, run_measured

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--dt-python", default=DEFAULT_DT_PYTHON)
    parser.add_argument(
        "--no-pagestream",
        action="store_true",
        help="time datatrove only (compare with bench_speed.py on the same --pages/--shards)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    versions = _dt_available(args.dt_python)
    if versions is None:
        result = {"available": False, "note": f"datatrove not importable with {args.dt_python}"}
        print(json.dumps(result))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
        return result
    work = Path(tempfile.mkdtemp(prefix="pagestream-dt-"))
    files = build_corpus(work / "corpus", args.pages, shards=args.shards)
    runs: dict[str, list[dict]] = {}
    for rep in range(args.repeats):
        for workers in (int(w) for w in args.workers.split(",")):
            dt_work = work / f"dt-{workers}-{rep}"
            cmd = [args.dt_python, str(Path(__file__).resolve()), "dt", str(work / "corpus"),
                   str(dt_work), str(workers)]  # fmt: skip
            measured = run_measured(cmd)
            lines = [x for x in measured.stdout[0].splitlines() if x.startswith("{")]
            info = json.loads(lines[-1]) if lines else {}
            runs.setdefault(f"datatrove-{workers}w", []).append(
                {
                    "wall_s": round(measured.wall_s, 2),
                    "peak_rss_mib": round(measured.peak_rss_mib, 1),
                    "load": measured.load,
                    "ok": measured.ok,
                    **info,
                }  # fmt: skip
            )
            shutil.rmtree(dt_work, ignore_errors=True)
            print(f"[rep {rep}] datatrove {workers}w: {measured.wall_s:.1f} s", flush=True)
            if args.no_pagestream:
                continue
            out = work / f"ps-{workers}-{rep}"
            extra = (["--direct_num_workers", str(workers), "--direct_running_mode",
                      "multi_processing"] if workers > 1 else [])  # fmt: skip
            measured = run_measured(pipeline_command(files, out, "dt-compare", extra))
            manifest_path = out / "_runs" / "dt-compare.json"
            manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
            runs.setdefault(f"pagestream-{workers}w", []).append(
                {
                    "wall_s": round(measured.wall_s, 2),
                    "peak_rss_mib": round(measured.peak_rss_mib, 1),
                    "load": measured.load,
                    "ok": measured.ok,
                    "pages_written": manifest.get("counts", {}).get("pages"),
                }  # fmt: skip
            )
            shutil.rmtree(out, ignore_errors=True)
    summary = {
        name: {
            "wall_s": round(median([r["wall_s"] for r in records]), 2),
            "pages_per_s": round(args.pages / median([r["wall_s"] for r in records]), 2),
            "peak_rss_mib": round(median([r["peak_rss_mib"] for r in records]), 1),
            "loads": [r["load"] for r in records],
            "ok": all(r["ok"] for r in records),
        }
        for name, records in runs.items()
    }
    result = {
        "available": True,
        "datatrove_and_trafilatura_versions": versions,
        "machine": machine_info(),
        "html_pages": args.pages,
        "shards": args.shards,
        "pagestream_interleaved": not args.no_pagestream,
        "repeats": args.repeats,
        "summary": summary,
        "runs": runs,
        "load_end": load_average(),
    }
    shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print(json.dumps(summary, indent=2))
    return result


if __name__ == "__main__":
    main()
