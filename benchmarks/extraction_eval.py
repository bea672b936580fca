"""Extraction quality and speed on shared/data/extraction-dev, next to the trafilatura baseline.

Runs pagestream's HTML extraction (``BoundedExtractor``, or ``extract_html`` inline with
``--inline``) over ``pages.jsonl.gz``, writes ``{"url", "text"}`` predictions, scores them and
``baseline_predictions.jsonl.gz`` with the dataset's ``score.py``, and prints both side by side
with ms/page (mean, median, p95, max) and title/author/date match rates against ``meta``.

    python benchmarks/extraction_eval.py [--data DIR] [--out FILE] [--limit N]
        [--inline] [--time-baseline] [--set FIELD=VALUE ...]

``--set`` overrides an ``ExtractConfig`` field (``--set focus=precision``). ``--time-baseline``
also times ``trafilatura.extract(html, url=url)`` in this process (with ``lxml_speedups``
uninstalled, as trafilatura ships), so both timings come from the
same machine load (the machine is shared; absolute ms vary run to run).
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import logging
import re
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import trafilatura

from pagestream.transforms.extract import lxml_speedups
from pagestream.transforms.extract.bounded import BoundedExtractor
from pagestream.transforms.extract.config import ExtractConfig
from pagestream.transforms.extract.html import extract_html

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "extraction-dev"
FIELDS = ("title", "author", "date")


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def parse_overrides(pairs: list[str]) -> dict:
    """``["focus=precision", "fast=true"]`` -> typed ExtractConfig keyword arguments."""
    defaults = ExtractConfig()
    overrides = {}
    for pair in pairs:
        name, _, raw = pair.partition("=")
        current = getattr(defaults, name)
        if isinstance(current, bool):
            overrides[name] = raw.lower() in ("1", "true", "yes", "on")
        elif isinstance(current, (int, float)):
            overrides[name] = type(current)(raw)
        else:
            overrides[name] = None if raw.lower() == "none" else raw
    return overrides


def timings(ms: list[float]) -> str:
    ordered = sorted(ms)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (
        f"mean {statistics.mean(ordered):6.1f}  median {statistics.median(ordered):6.1f}  "
        f"p95 {p95:6.1f}  max {ordered[-1]:7.1f}"
    )


def score(score_py: Path, predictions: Path, truth: Path) -> dict:
    out = subprocess.run(
        [sys.executable, str(score_py), str(predictions), "--truth", str(truth), "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)["overall"]


def norm(value: str | list[str] | None) -> str:
    if isinstance(value, list):  # a few annotations list several authors
        value = "; ".join(value)
    value = unicodedata.normalize("NFKC", value or "").casefold()
    return re.sub(r"\s+", " ", value).strip(" \t\n.,;:|-–—\"'«»“”")


def meta_rates(truth: list[dict], predicted: dict[str, dict]) -> list[str]:
    """Per field, on the annotated pages: exact (normalised) and loose (one contains the other)
    match rates where a value is annotated; how often an annotated absence is predicted absent;
    and precision, the share of predicted values that match exactly (absent annotation = wrong).
    """
    lines = []
    for field in FIELDS:
        present = exact = loose = absent = absent_ok = predicted_n = 0
        for item in truth:
            if "meta" not in item:
                continue
            gold, got = norm(item["meta"].get(field)), norm(predicted[item["url"]].get(field))
            predicted_n += bool(got)
            if not gold:
                absent += 1
                absent_ok += not got
                continue
            present += 1
            exact += gold == got
            loose += bool(got) and (gold in got or got in gold)
        lines.append(
            f"  {field:7s} annotated {present:3d}: exact {exact / max(present, 1):6.1%}  "
            f"loose {loose / max(present, 1):6.1%} | annotated absent {absent:3d}: "
            f"predicted absent {absent_ok / max(absent, 1):6.1%} | "
            f"precision {exact / max(predicted_n, 1):6.1%} of {predicted_n} predicted"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, help="predictions JSONL (default: a temporary file)")
    ap.add_argument("--limit", type=int, help="only the first N pages")
    ap.add_argument("--inline", action="store_true", help="extract_html, no BoundedExtractor")
    ap.add_argument("--time-baseline", action="store_true")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    args = ap.parse_args(argv)
    logging.disable(logging.WARNING)  # trafilatura warns on every page it discards

    pages = read_jsonl(args.data / "pages.jsonl.gz")[: args.limit]
    truth = read_jsonl(args.data / "truth.jsonl.gz")[: args.limit]
    config = ExtractConfig(**parse_overrides(args.set))
    out = args.out or Path(tempfile.mkdtemp()) / "pagestream_predictions.jsonl"
    print(f"config: {dataclasses.asdict(config)}")

    if args.inline:  # as the extraction child of ``pagestream run`` does
        lxml_speedups.install()
    with BoundedExtractor(config, speedups=True) as bounded:
        run = (
            (lambda html, url: extract_html(html, url, config)) if args.inline else bounded.extract
        )
        run(pages[0]["html"], pages[0]["url"])  # warm-up: trafilatura loads its resources lazily
        ms, predicted, failures = [], {}, 0
        for page in pages:
            start = time.perf_counter()
            try:
                result = run(page["html"], page["url"])._asdict()
            except Exception as exc:  # noqa: BLE001 - count and go on, like the pipeline
                failures += 1
                print(f"failed: {page['url']}: {type(exc).__name__}: {exc}", file=sys.stderr)
                result = {"text": "", "title": None, "author": None, "published_date": None}
            ms.append((time.perf_counter() - start) * 1000)
            result["date"] = result.pop("published_date")
            predicted[page["url"]] = result
    with out.open("w", encoding="utf-8") as f:
        for url, result in predicted.items():
            f.write(json.dumps({"url": url, "text": result["text"]}, ensure_ascii=False) + "\n")

    truth_path = args.data / "truth.jsonl.gz"
    if args.limit:  # score only the pages that were run
        truth_path = out.with_name("truth_subset.jsonl")
        truth_path.write_text("".join(json.dumps(t) + "\n" for t in truth), encoding="utf-8")
    ours = score(args.data / "score.py", out, truth_path)
    base = score(args.data / "score.py", args.data / "baseline_predictions.jsonl.gz", truth_path)
    print(f"pages {len(pages)}  failures {failures}  predictions {out}")
    print(f"{'':12s}{'precision':>10s}{'recall':>10s}{'F1':>10s}{'accuracy':>10s}")
    for name, m in (("baseline", base), ("pagestream", ours)):
        print(
            f"{name:12s}{m['precision']:10.4f}{m['recall']:10.4f}{m['f1']:10.4f}"
            f"{m['accuracy']:10.4f}   tp {m['tp']} fp {m['fp']} fn {m['fn']} tn {m['tn']}"
        )
    print(f"ms/page pagestream ({'inline' if args.inline else 'bounded'}): {timings(ms)}")
    if args.time_baseline:
        lxml_speedups.uninstall()  # --inline installed them: time trafilatura as shipped
        base_ms = []
        for page in pages:
            start = time.perf_counter()
            trafilatura.extract(page["html"], url=page["url"])
            base_ms.append((time.perf_counter() - start) * 1000)
        print(f"ms/page trafilatura.extract defaults:  {timings(base_ms)}")
    print("metadata vs truth meta (normalised: NFKC, casefold, whitespace, edge punctuation):")
    print("\n".join(meta_rates(truth, predicted)))


if __name__ == "__main__":
    main()
