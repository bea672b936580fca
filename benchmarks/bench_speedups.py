"""What each extraction speed-up still buys, and what the killable child costs (A/B, one run).

    python benchmarks/bench_speedups.py [--pages 436] [--repeats 5] [--json OUT.json]

On the extraction-dev pages, in every repeat and in rotating order (so a change of machine
load hits every variant alike):

* ``stock``: ``extract_html`` inline, trafilatura as shipped: no ``lxml_speedups``, and the
  metadata through ``bare_extraction(with_metadata=True)`` instead of ``html_meta``;
* ``lxml_speedups``: the same with ``lxml_speedups`` installed;
* ``html_meta``: the same with title/author/date from ``html_meta`` (no speed-ups);
* ``both``: both, which is what ``pagestream run`` extracts with;
* ``child``: ``BoundedExtractor`` with both, every page through its child process.

Inline variants report CPU ms/page of this process; ``child`` reports this process's CPU plus
the child's (``psutil``), and wall ms/page for it and for ``both`` (the round trip's cost).
Medians over repeats; ``saving`` is 1 - variant / stock CPU.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import statistics
import time
from pathlib import Path

import psutil

from pagestream.transforms.extract import lxml_speedups
from pagestream.transforms.extract import metadata as html_meta
from pagestream.transforms.extract.bounded import BoundedExtractor
from pagestream.transforms.extract.config import ExtractConfig
from pagestream.transforms.extract.html import extract_html

DATA = Path(
    os.environ.get(
        "PAGESTREAM_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
    )
)
CONFIG = ExtractConfig(latest_date="2024-01-01")
INLINE = {  # variant -> (lxml_speedups installed, html_meta used)
    "stock": (False, False),
    "lxml_speedups": (True, False),
    "html_meta": (False, True),
    "both": (True, True),
}


def _inline(pages: list[dict], speedups: bool, meta: bool) -> tuple[float, float]:
    """(CPU ms/page, wall ms/page) of ``extract_html`` over ``pages`` in this process."""
    (lxml_speedups.install if speedups else lxml_speedups.uninstall)()
    html_meta.available.cache_clear()
    original = html_meta.available
    html_meta.available = (lambda: original()) if meta else (lambda: False)
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        for page in pages:
            extract_html(page["html"], page["url"], CONFIG)
        n = len(pages)
        return (time.process_time() - cpu) / n * 1000, (time.perf_counter() - wall) / n * 1000
    finally:
        html_meta.available = original
        lxml_speedups.uninstall()


def _child(pages: list[dict], extractor: BoundedExtractor) -> tuple[float, float]:
    """(CPU ms/page of this process and the child, wall ms/page) through ``extractor``."""
    child = psutil.Process(extractor.child_pid)
    before = sum(child.cpu_times()[:2])
    cpu, wall = time.process_time(), time.perf_counter()
    for page in pages:
        extractor.extract(page["html"], page["url"])
    n = len(pages)
    spent = time.process_time() - cpu + sum(child.cpu_times()[:2]) - before
    return spent / n * 1000, (time.perf_counter() - wall) / n * 1000


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=436)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    logging.disable(logging.WARNING)  # trafilatura warns on every page it discards
    path = DATA / "extraction-dev" / "pages.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        pages = [json.loads(line) for line in handle][: args.pages]
    cpu: dict[str, list[float]] = {name: [] for name in [*INLINE, "child"]}
    wall: dict[str, list[float]] = {name: [] for name in cpu}
    with BoundedExtractor(CONFIG, speedups=True) as extractor:
        extractor.extract(pages[0]["html"], pages[0]["url"])  # the child is ready
        _inline(pages[:5], True, True)  # trafilatura's lazy resources are loaded
        names = list(cpu)
        for repeat in range(args.repeats):
            for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
                if name == "child":
                    c, w = _child(pages, extractor)
                else:
                    c, w = _inline(pages, *INLINE[name])
                cpu[name].append(c)
                wall[name].append(w)
                print(f"repeat {repeat} {name:14s} cpu {c:6.1f} wall {w:6.1f} ms/page", flush=True)
    stock = statistics.median(cpu["stock"])
    result = {
        name: {
            "cpu_ms_per_page": round(statistics.median(cpu[name]), 2),
            "wall_ms_per_page": round(statistics.median(wall[name]), 2),
            "saving_vs_stock": round(1 - statistics.median(cpu[name]) / stock, 3),
            "cpu_per_repeat": [round(x, 1) for x in cpu[name]],
        }
        for name in cpu
    }
    result["pages"], result["repeats"] = len(pages), args.repeats
    result["load_1_5_15"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
