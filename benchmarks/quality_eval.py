"""Quality signals on real text: flag rates, script-awareness, cost, and agreement with datatrove.

Two page sets, both from ``../shared/data``:

- ``extraction``: the trafilatura text of the 436 extraction-dev pages (``baseline_predictions``),
  with their language labels: real web pages in 17 languages;
- ``lang-dev``: for each of the 51 languages of lang-dev, 10 pages of 20 sentences (sentences
  ``k, k+10, k+20, ...``: the files are sorted, neighbours often share a template), 5
  paragraphs of 4 sentences (joined without spaces for zh and ja). Correct text: a flag here
  is a false alarm, unless the page is itself repetitive.

    python benchmarks/quality_eval.py                      # pagestream's flags and cost
    /path/to/venv-with-datatrove/bin/python benchmarks/quality_eval.py --reference out.json
    python benchmarks/quality_eval.py --compare out.json   # agreement with datatrove per flag

``--reference`` needs only datatrove (not pagestream): it applies datatrove's
``GopherQualityFilter``, ``GopherRepetitionFilter`` (defaults: English tokenizer and stop
words) and ``FineWebQualityFilter``'s line-punctuation check (``c4_lines``) to the same pages.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
UNSPACED = ("zh", "ja")


def _jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def pages() -> list[dict]:
    """``{"id", "set", "language", "text"}`` for both sets."""
    out = []
    truth = {r["url"]: r["lang"] for r in _jsonl(DATA / "extraction-dev" / "truth.jsonl.gz")}
    for r in _jsonl(DATA / "extraction-dev" / "baseline_predictions.jsonl.gz"):
        if r.get("text"):
            lang = truth.get(r["url"], "und")
            out.append({"id": r["url"], "set": "extraction", "language": lang, "text": r["text"]})
    kinds = {r["url"]: r for r in _jsonl(DATA / "lang-dev" / "truth.jsonl.gz")}
    sentences = defaultdict(list)
    for r in _jsonl(DATA / "lang-dev" / "input.jsonl.gz"):
        t = kinds[r["url"]]
        if t["kind"] == "sentence":
            sentences[t["language"]].append(r["text"])
    for lang, items in sorted(sentences.items()):
        joiner = "" if lang in UNSPACED else " "
        for k in range(10):
            chunk = items[k::10][:20]
            text = "\n\n".join(joiner.join(chunk[i : i + 4]) for i in range(0, len(chunk), 4))
            code = "zh-cn" if lang == "zh" else lang
            out.append({"id": f"{lang}/{k}", "set": "lang-dev", "language": code, "text": text})
    return out


def reference(items: list[dict]) -> dict[str, list[str]]:
    """datatrove's verdicts, as pagestream flag names."""
    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    quality, repetition = GopherQualityFilter(), GopherRepetitionFilter()
    lines = FineWebQualityFilter(short_line_thr=1.0, char_duplicates_ratio=1.0, new_line_ratio=1e9)
    out = {}
    for item in items:
        doc = Document(text=item["text"], id=item["id"])
        flags = []
        for name, step in (
            ("gopher_quality", quality),
            ("gopher_repetition", repetition),
            ("c4_lines", lines),
        ):
            verdict = step.filter(doc)
            if verdict is not True and not (isinstance(verdict, tuple) and verdict[0]):
                flags.append(name)
        out[item["id"]] = flags
    return out


def ours(items: list[dict]) -> tuple[dict[str, list[str]], float]:
    from pagestream.transforms.extract.composite import word_count
    from pagestream.transforms.quality.score import assess

    out, spent = {}, 0.0
    for item in items:  # warm-up: stop lists load once per process
        assess(item["text"], item["language"], word_count(item["text"]))
    for item in items:
        start = time.process_time()
        _, flags = assess(item["text"], item["language"], word_count(item["text"]))
        spent += time.process_time() - start
        out[item["id"]] = flags
    return out, spent * 1000 / max(len(items), 1)


def _rates(items: list[dict], flags: dict[str, list[str]]) -> None:
    for name in ("extraction", "lang-dev"):
        subset = [i for i in items if i["set"] == name]
        counts = Counter(f for i in subset for f in flags[i["id"]])
        flagged = sum(bool(flags[i["id"]]) for i in subset)
        print(f"{name}: {len(subset)} pages, {flagged} flagged ({flagged / len(subset):.1%})")
        for flag, n in sorted(counts.items()):
            print(f"  {flag:18s} {n:4d} ({n / len(subset):.1%})")
        if name == "lang-dev":
            langs = Counter(i["language"] for i in subset if flags[i["id"]])
            print("  flagged pages per language:", dict(sorted(langs.items())) or "none")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", metavar="OUT", help="write datatrove's flags to OUT")
    parser.add_argument(
        "--compare", metavar="REF", help="compare with flags written by --reference"
    )
    args = parser.parse_args(argv)
    items = pages()
    if args.reference:
        flags = reference(items)
        Path(args.reference).write_text(json.dumps(flags), encoding="utf-8")
        print(f"datatrove flags of {len(flags)} pages -> {args.reference}")
        _rates(items, flags)
        return 0
    flags, ms = ours(items)
    print(f"pagestream: {ms:.2f} CPU ms/page (signals + flags + word count, one process)")
    _rates(items, flags)
    if args.compare:
        ref = json.loads(Path(args.compare).read_text(encoding="utf-8"))
        print("agreement with datatrove (extraction pages; lang-dev: datatrove's English defaults)")
        for name in ("extraction", "extraction-en", "lang-dev"):
            subset = [
                i["id"]
                for i in items
                if i["set"] == name or (name == "extraction-en" and i["set"] == "extraction"
                                        and i["language"] == "en")
            ]  # fmt: skip
            for flag in ("gopher_quality", "gopher_repetition", "c4_lines"):
                both = sum(flag in flags[i] and flag in ref[i] for i in subset)
                only_us = sum(flag in flags[i] and flag not in ref[i] for i in subset)
                only_ref = sum(flag not in flags[i] and flag in ref[i] for i in subset)
                print(
                    f"  {name:13s} {flag:18s} both {both:4d}  only pagestream {only_us:4d}"
                    f"  only datatrove {only_ref:4d}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
