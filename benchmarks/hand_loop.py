"""The plain Python loop a user would write by hand: the speed reference of ``bench_speed.py``.

    python benchmarks/hand_loop.py OUT.parquet [--part K/N] FILE [FILE ...]

For every HTML page of the input files (``.jsonl[.gz]`` lines with ``url`` and ``html``, and
the ``text/html`` responses of ``.warc[.gz]`` files, read with warcio):
``trafilatura.extract(html, url=url)`` with default options, langdetect (seeded, ``seed=0``)
on the first 2,000 characters of the text, and the sha1 of the normalised text (lower case,
whitespace collapsed). Pages without text are counted and skipped. The rows (url, text,
language, sha1) are written to one Parquet file at the end, as a user would keep them.
With ``--part K/N`` only every N-th page from the K-th on (0-based) is processed, so N loops
started at once share the pages evenly (pages, not files: WARC files hold few HTML pages
per byte). Prints one JSON line: ``{"pages": N, "with_text": N, "seconds": S}``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
import time
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import trafilatura
from langdetect import DetectorFactory, LangDetectException, detect
from warcio.archiveiterator import ArchiveIterator


def pages_of(path: str) -> Iterator[tuple[str, str]]:
    """``(url, html)`` of every HTML page in a JSON Lines or WARC file."""
    if ".warc" in path:
        with open(path, "rb") as handle:
            for record in ArchiveIterator(handle):
                if record.rec_type != "response" or not record.http_headers:
                    continue
                ctype = record.http_headers.get_header("Content-Type") or ""
                if ctype.split(";")[0].strip().lower() != "text/html":
                    continue
                body = record.content_stream().read()
                yield (
                    record.rec_headers.get_header("WARC-Target-URI"),
                    body.decode("utf-8", "replace"),
                )
        return
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row.get("html"):
                yield row["url"], row["html"]


def main(argv: list[str]) -> int:
    out, files = argv[0], argv[1:]
    part, parts = 0, 1
    if files and files[0] == "--part":
        part, parts = (int(x) for x in files[1].split("/"))
        files = files[2:]
    DetectorFactory.seed = 0
    started = time.perf_counter()
    rows = {"url": [], "text": [], "language": [], "sha1": []}
    pages = seen = 0
    for path in files:
        for url, html in pages_of(path):
            seen += 1
            if (seen - 1) % parts != part:
                continue
            pages += 1
            text = trafilatura.extract(html, url=url)
            if not text:
                continue
            try:
                language = detect(text[:2000])
            except LangDetectException:
                language = "und"
            normalised = " ".join(text.lower().split())
            rows["url"].append(url)
            rows["text"].append(text)
            rows["language"].append(language)
            rows["sha1"].append(hashlib.sha1(normalised.encode("utf-8")).hexdigest())
    pq.write_table(pa.table(rows), out)
    seconds = time.perf_counter() - started
    print(json.dumps({"pages": pages, "with_text": len(rows["url"]), "seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
