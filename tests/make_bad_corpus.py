"""Generates a corpus of bad inputs beside good ones, with the fate expected for every record.

    python tests/make_bad_corpus.py DIR [--shared ../shared/data] [--big_mb 30]

Deterministic: the same arguments give the same bytes. Good pages are copies of real pages from
``shared/data/mixed`` (and a seed scrape); bad inputs are made around them: broken JSON Lines,
binary files and images under text names, empty files, gzip and WARC files cut mid-record, a
WARC with garbage between records, pages in wrong or missing charsets, a huge page, a page of
100k nested ``<div>``, and odd file names (spaces, Unicode, ``#``, brackets).

The inputs go to ``DIR/input/`` (the directory to run on); ``DIR/expected.json`` (outside it:
``.json`` is an input format) maps each input file (relative to ``DIR/input``) to ``{"records": n, "fates":
[...]}``; a fate is ``{"position": "<pos>", "outcomes": ["pages" | "<table>/<stage>/<reason>",
...], "contains": "<text>"?}``: one of ``outcomes`` must happen to the record whose ``source``
is ``<absolute path>#<position>``, and its text must contain ``contains`` when given. More than
one outcome is allowed only for the bounded pages (huge, nested), where the extractor decides.
``expected.json`` also lists the files a run must skip.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import random
import shutil
import struct
import zlib
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

__all__ = ["make_bad_corpus"]

PAGE = "pages"
READ_DEAD = "dead_letter/read/"
GOOD_HTML = (  # small real pages from shared/data/mixed
    "phys.org.tool.html",
    "nationalgeographic.co.uk.goats.html",
    "salon.com.emissions.html",
)
SEED = "003_370d3b6ebcc3e755.txt"

GERMAN = (
    "Grüße aus Köln: Die Straßenbahn fährt wieder über die Brücke, und die Bürger freuen sich. "
    "Nach monatelangen Bauarbeiten hat die Stadt die Strecke am Montag für den Verkehr geöffnet. "
    "Der Oberbürgermeister sprach von einem großen Tag für die Pendler, die künftig schneller "
    "zur Arbeit kommen. Anwohner äußerten sich dennoch kritisch über den Lärm der Züge, die "
    "nachts fahren. Die Verkehrsbetriebe versprachen, die Schienen regelmäßig zu schleifen und "
    "die Geschwindigkeit in der Nähe der Wohnhäuser zu begrenzen."
)
RUSSIAN = (
    "Москва, 12 марта. Городские власти объявили о запуске новой линии метро, которая соединит "
    "северные и южные районы столицы. По словам мэра, строительство заняло почти пять лет и "
    "потребовало значительных вложений из городского бюджета. Новая линия позволит сократить "
    "время в пути для сотен тысяч жителей, которые ежедневно ездят на работу в центр. Эксперты "
    "отмечают, что нагрузка на старые станции должна заметно снизиться уже в первые месяцы. "
    "Жители окраин давно ждали этого события и приветствуют решение властей."
)
ENGLISH = (
    "The council approved the new library budget on Tuesday after a long debate about opening "
    "hours, staff numbers and the cost of repairing the old roof. Residents who spoke at the "
    "meeting asked for longer weekend hours and more computers for students. The library "
    "director said the extra money would pay for two new librarians and a reading programme "
    "for children during the summer holidays. Work on the roof is expected to start in the "
    "autumn and to last about three months, during which the library will stay open."
)


def _article(title: str, paragraphs: list[str], head: str = "") -> str:
    body = "".join(f"<p>{p}</p>\n" for p in paragraphs)
    return (
        f"<!DOCTYPE html>\n<html><head>{head}<title>{title}</title></head>\n"
        f"<body><article><h1>{title}</h1>\n{body}</article></body></html>\n"
    )


def _png(width: int = 4, height: int = 4) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + bytes([200, 30, 30]) * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _jpeg(rng: random.Random) -> bytes:
    header = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return header + bytes(rng.randrange(256) for _ in range(3000)) + b"\xff\xd9"


def _gzip_lines(lines: list[bytes]) -> tuple[bytes, list[int]]:
    """gzip with a sync flush after each line; returns the bytes and where each line starts."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    out, starts = bytearray(), []
    for line in lines:
        starts.append(len(out))
        out += compressor.compress(line) + compressor.flush(zlib.Z_SYNC_FLUSH)
    out += compressor.flush()
    return bytes(out), starts


def _warc(pages: list[tuple[str, str, int]], gz: bool) -> tuple[bytes, list[int]]:
    """A WARC of (url, html, status) responses, each after a request record; returns the bytes
    and the offset of each response record."""
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=gz)
    offsets = []
    for i, (url, html, status) in enumerate(pages):
        date = f"2020-01-{i + 1:02d}T10:00:00Z"
        request = writer.create_warc_record(
            url, "request", payload=io.BytesIO(b""),
            http_headers=StatusAndHeaders("GET / HTTP/1.1", [("Host", "x")], is_http_request=True),
            warc_headers_dict={"WARC-Date": date},
        )  # fmt: skip
        writer.write_record(request)
        offsets.append(buffer.tell())
        reason = "OK" if status == 200 else "Not Found"
        http = StatusAndHeaders(
            f"{status} {reason}",
            [("Content-Type", "text/html; charset=utf-8")],
            protocol="HTTP/1.1",
        )
        response = writer.create_warc_record(
            url, "response", payload=io.BytesIO(html.encode("utf-8")), http_headers=http,
            warc_headers_dict={"WARC-Date": date},
        )  # fmt: skip
        writer.write_record(response)
    return buffer.getvalue(), offsets


class _Corpus:
    def __init__(self, root: Path):
        self.root = root
        self.expected: dict[str, dict] = {}

    def write(self, name: str, data: bytes | str, fates: list[dict]) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        self.expected[name] = {"records": len(fates), "fates": fates}
        return path


def _fate(position: int | str, *outcomes: str, contains: str | None = None) -> dict:
    fate = {"position": str(position), "outcomes": list(outcomes) or [PAGE]}
    if contains:
        fate["contains"] = contains
    return fate


def make_bad_corpus(root: Path, shared: Path, big_mb: int = 30) -> dict:
    """Writes the corpus into ``root/input`` and returns the expectations it saves to
    ``root/expected.json``."""
    out, root = root, root / "input"
    root.mkdir(parents=True, exist_ok=True)
    mixed = shared / "mixed"
    rng = random.Random(9)
    corpus = _Corpus(root)
    html = {name: (mixed / name).read_text(encoding="utf-8") for name in GOOD_HTML}
    feed = (mixed / "feed.jsonl").read_bytes().splitlines(keepends=True)

    # --- good inputs, one per format
    corpus.write("good/feed.jsonl", b"".join(feed), [_fate(i) for i in range(1, len(feed) + 1)])
    corpus.write("good/phys.html", html[GOOD_HTML[0]], [_fate(0, contains="birch")])
    corpus.write(
        "good/goats.html.gz", gzip.compress(html[GOOD_HTML[1]].encode(), mtime=0), [_fate(0)]
    )
    corpus.write("good/seed.txt", (mixed / SEED).read_bytes(), [_fate(0)])
    responses = [(f"https://good.example/{i}", html[n], 200) for i, n in enumerate(GOOD_HTML)]
    responses.append(("https://good.example/missing", html[GOOD_HTML[0]], 404))
    data, offsets = _warc(responses, gz=True)
    fates = [_fate(o) for o in offsets[:3]] + [_fate(offsets[3], "rejected/read/http_status")]
    corpus.write("good/crawl.warc.gz", data, fates)

    # --- broken JSON Lines: one dead letter per bad line
    good_line = feed[0].rstrip(b"\n")
    surrogate = json.dumps({"url": "https://lone.example/", "text": ENGLISH + " \ud800 end."})
    lines = [
        (good_line, _fate(1)),
        (b"{not json", _fate(2, READ_DEAD + "invalid_json")),
        (b"[1, 2, 3]", _fate(3, READ_DEAD + "not_an_object")),
        (b'"just a string"', _fate(4, READ_DEAD + "not_an_object")),
        (b'{"url": "https://no-content.example/"}', _fate(5, READ_DEAD + "missing_content")),
        (b'{"url": 42, "html": "<p>x</p>"}', _fate(6, READ_DEAD + "invalid_url")),
        (b'{"url": "https://t.example/", "text": "words", "fetch_time": "soon"}',
         _fate(7, READ_DEAD + "invalid_fetch_time")),
        (b"", None),  # a blank line is not a record
        (feed[5].rstrip(b"\n"), _fate(9)),
        ('{"url": "https://latin1.example/", "text": "Grüße"}'.encode("latin-1"),
         _fate(10, READ_DEAD + "invalid_json")),
        (surrogate.encode(), _fate(11, contains="end.")),
        (feed[6].rstrip(b"\n")[:300], _fate(12, READ_DEAD + "invalid_json")),  # cut, no newline
    ]  # fmt: skip
    body = b"\n".join(line for line, _ in lines)
    corpus.write("bad/feed.jsonl", body, [f for _, f in lines if f])

    # --- a gzip'd JSON Lines file cut in the middle of its 5th record
    records = [line if line.endswith(b"\n") else line + b"\n" for line in feed[:6]]
    data, starts = _gzip_lines(records)
    cut = (starts[4] + starts[5]) // 2
    fates = [_fate(i) for i in range(1, 5)] + [_fate(5, READ_DEAD + "truncated")]
    corpus.write("bad/cut.jsonl.gz", data[:cut], fates)
    full = gzip.compress(html[GOOD_HTML[2]].encode(), mtime=0)
    corpus.write("bad/cut.html.gz", full[: len(full) // 2], [_fate(0, READ_DEAD + "truncated")])

    # --- WARC files cut mid-record, and with garbage between good records
    pages = [(f"https://warc.example/{i}", html[n], 200) for i, n in enumerate(GOOD_HTML)]
    for gz, ext in ((True, ".warc.gz"), (False, ".warc")):
        data, offsets = _warc(pages, gz)
        cut = offsets[2] + 2000  # inside the third response (its header is ~400 bytes)
        fates = [_fate(offsets[0]), _fate(offsets[1]), _fate(offsets[2], READ_DEAD + "truncated")]
        corpus.write(f"bad/cut{ext}", data[:cut], fates)
        garbage = bytes(rng.randrange(256) for _ in range(5000)) + b"\r\nWARX/1.0 garbage\r\n\r\n"
        # between the second request record and its response, at a record boundary
        joined = data[: offsets[1]] + garbage + data[offsets[1] :]
        shift = len(garbage)
        fates = [
            _fate(offsets[0]),
            _fate(offsets[1], READ_DEAD + "corrupt"),
            _fate(offsets[1] + shift),
            _fate(offsets[2] + shift),
        ]
        corpus.write(f"bad/garbage{ext}", joined, fates)

    # --- binary data, images and empty files under text names
    corpus.write("bad/random.html", bytes(rng.randrange(256) for _ in range(20000)),
                 [_fate(0, READ_DEAD + "binary")])  # fmt: skip
    corpus.write("bad/image.html", _png(), [_fate(0, READ_DEAD + "binary")])
    corpus.write("bad/photo.txt", _jpeg(rng), [_fate(0, READ_DEAD + "binary")])
    for name in ("bad/empty.html", "bad/empty.txt", "bad/empty.jsonl", "bad/empty.warc"):
        corpus.write(name, b"", [_fate(0, READ_DEAD + "empty")])
    corpus.write("bad/blank.txt", b"\n  \n\t\n", [_fate(0, READ_DEAD + "empty")])

    # --- charsets: wrong, missing, BOMs, mixed
    corpus.write("charsets/latin1-undeclared.html",
                 _article("Straßenbahn", [GERMAN, GERMAN.replace("Köln", "Düsseldorf")]).encode("latin-1"),
                 [_fate(0, contains="Grüße aus Köln")])  # fmt: skip
    corpus.write("charsets/cp1251-declared-latin1.html",
                 _article("Метро", [RUSSIAN, RUSSIAN.replace("Москва", "Казань")],
                          head='<meta charset="iso-8859-1">').encode("cp1251"),
                 [_fate(0)])  # decoded as declared, like a browser: the text is mojibake  # fmt: skip
    corpus.write("charsets/cp1251-undeclared.html",
                 _article("Метро", [RUSSIAN, RUSSIAN.replace("Москва", "Самара")]).encode("cp1251"),
                 [_fate(0, contains="Самара")])  # fmt: skip
    corpus.write("charsets/utf16-bom.html",
                 _article("Library", [ENGLISH, ENGLISH.replace("Tuesday", "Friday")]).encode("utf-16"),
                 [_fate(0, contains="on Friday after")])  # fmt: skip
    corpus.write("charsets/utf16-bom.txt", (GERMAN + "\n\n" + ENGLISH).encode("utf-16"),
                 [_fate(0, contains="Straßenbahn fährt")])  # fmt: skip
    mixed_page = _article(
        "Café", [ENGLISH + " The naïve café owner agreed.", "QUOTE_HERE " + ENGLISH]
    )
    head, tail = mixed_page.encode("utf-8").split(b"QUOTE_HERE")
    corpus.write("charsets/mixed-utf8-cp1252.html", head + b"\x93Quoted\x94 words" + tail,
                 [_fate(0, contains="naïve café")])  # fmt: skip

    # --- pages that must be bounded: huge and deeply nested
    paragraph = f"<p>{ENGLISH}</p>\n"
    huge = "<html><body><article>" + paragraph * (big_mb * 1024 * 1024 // len(paragraph) + 1)
    corpus.write("big/huge.html", huge + "</article></body></html>",
                 [_fate(0, "dead_letter/extract/too_large", PAGE)])  # fmt: skip
    depth = 100_000
    nested = "<html><body>" + "".join(f"<div>level {i} " for i in range(depth)) + "</div>" * depth
    corpus.write("big/nested.html", nested + f"<p>{ENGLISH}</p></body></html>",
                 [_fate(0, PAGE, "rejected/extract/no_text", "dead_letter/extract/timeout",
                        "dead_letter/extract/too_large", "dead_letter/extract/extraction_error")])  # fmt: skip

    # --- odd names: spaces, Unicode, '#', brackets; plus files a run must skip or ignore
    corpus.write("odd/page with spaces.html", html[GOOD_HTML[1]], [_fate(0)])
    corpus.write(
        "odd/ünïcødé-页面.txt",
        (shared / "seeds" / "000_00a345504d5a06bd.txt").read_bytes(),
        [_fate(0)],
    )
    corpus.write("odd/hash#1.html", html[GOOD_HTML[2]], [_fate(0)])
    corpus.write("odd/a#b#2.jsonl", b"".join(feed[5:7]), [_fate(1), _fate(2)])
    corpus.write(
        "odd/[brackets] *star?.txt",
        (shared / "seeds" / "002_4f25bdfa624cb435.txt").read_bytes(),
        [_fate(0)],
    )
    (root / "odd" / "notes.md").write_text("not an input\n")
    (root / "odd" / ".upload.html.tmp").write_text("in progress\n")
    expected = {"files": corpus.expected, "skipped": ["odd/notes.md"]}
    (out / "expected.json").write_text(
        json.dumps(expected, indent=1, ensure_ascii=False, sort_keys=True)
    )
    return expected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    parser.add_argument("--big_mb", type=int, default=30)
    args = parser.parse_args(argv)
    if args.directory.exists():
        shutil.rmtree(args.directory)
    expected = make_bad_corpus(args.directory, args.shared, args.big_mb)
    total = sum(f["records"] for f in expected["files"].values())
    print(f"{len(expected['files'])} input files, {total} records, in {args.directory}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
