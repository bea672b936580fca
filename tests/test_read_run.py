"""One ``pagestream run`` over every input format and over files that are not inputs: each
record ends in exactly one table, read back from Parquet, and the manifest counts and names
what was skipped."""

from __future__ import annotations

import gzip
import io
import json
import os
import threading

import pytest
import zstandard
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pagestream.cli import main, print_summary
from pagestream.query import connect

WORDS = [
    "harbour", "storm", "ferry", "islands", "council", "budget", "school", "river", "bridge",
    "market", "farmers", "rain", "museum", "library", "train", "station", "festival", "music",
    "theatre", "garden", "forest", "mountain", "village", "coast", "fishing", "boats",
    "weather", "report", "minister", "election", "hospital", "doctors", "nurses",
]  # fmt: skip


def _text(seed: int, words: int = 70) -> str:
    """Plain sentences of ``words`` words, different for every seed (no near duplicates)."""
    picked = [WORDS[(seed * 7 + i * (seed + 3)) % len(WORDS)] for i in range(words)]
    sentences = [" ".join(picked[i : i + 10]).capitalize() + "." for i in range(0, words, 10)]
    return f"Report number {seed}.\n" + "\n".join(sentences) + "\n"


LATIN = (
    "Le président a déclaré mardi que la réforme des retraites serait adoptée avant l'été. "
    "Les syndicats ont annoncé une grève générale à Paris, à Lyon et à Marseille. Le ministre "
    "a répondu que le gouvernement était prêt à négocier mais que le calendrier ne changerait "
    "pas. Dans les écoles, les enseignants préparent déjà la rentrée de septembre. À Nantes, "
    "les étudiants ont manifesté devant la préfecture pendant toute la matinée.\n"
)


def _warc(path):
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for url, ctype, body in [
            ("https://a.example/page", "text/html",
             f"<html><body><article><p>{_text(9)}</p></article></body></html>".encode()),
            ("https://a.example/report.pdf", "application/pdf", b"%PDF-1.4 binary"),
        ]:  # fmt: skip
            http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=http,
                warc_headers_dict={"WARC-Date": "2024-05-06T07:08:09Z"},
            ))  # fmt: skip


def _wet(path):
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        writer.write_record(writer.create_warc_record(
            "https://b.example/wet", "conversion", payload=io.BytesIO(_text(10).encode()),
            warc_content_type="text/plain", warc_headers_dict={"WARC-Date": "2024-05-06T07:08:09Z"},
        ))  # fmt: skip


@pytest.fixture(scope="module")
def formats_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("formats")
    inp, out = root / "in", root / "out"
    inp.mkdir()
    (inp / "pages.json").write_text(json.dumps(
        [{"url": f"https://c.example/{i}", "text": _text(i)} for i in (1, 2)], indent=2
    ))  # fmt: skip
    lines = "".join(json.dumps({"url": f"https://d.example/{i}", "text": _text(i)}) + "\n"
                    for i in (3, 4))  # fmt: skip
    (inp / "feed.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(lines.encode()))
    (inp / "big.txt").write_text(_text(5, words=600))  # over --max_page_bytes 2048
    (inp / "latin.txt").write_bytes(LATIN.encode("latin-1"))
    (inp / "old.json.gz").write_bytes(gzip.compress(json.dumps(
        {"url": "https://e.example/one", "text": _text(6)}, indent=1).encode()))  # fmt: skip
    _warc(inp / "crawl.warc.gz")
    _wet(inp / "cc.warc.wet.gz")
    (inp / "notes.md").write_text("not an input")
    os.mkfifo(inp / "x.txt")
    argv = ["run", "--input", str(inp), "--output", str(out), "--run_id", "f1",
            "--logical_date", "2026-01-02", "--max_page_bytes", "2048", "--quiet"]  # fmt: skip
    status = {}
    worker = threading.Thread(target=lambda: status.update(code=main(argv)), daemon=True)
    worker.start()
    worker.join(600)
    if worker.is_alive():
        os.close(os.open(inp / "x.txt", os.O_WRONLY | os.O_NONBLOCK))  # unblock the reader
        pytest.fail("the run blocked on the FIFO x.txt")
    assert status["code"] == 0
    return inp, out, json.loads((out / "_runs" / "f1.json").read_text())


def test_every_format_is_read_and_each_record_lands_once(formats_run):
    inp, out, manifest = formats_run
    assert manifest["counts"] == {"records_read": 10, "pages": 8, "rejected": 1, "dead_letter": 1}
    con = connect(out)
    pages = dict(con.execute("SELECT url, text FROM pages").fetchall())
    assert set(pages) == {
        "https://c.example/1", "https://c.example/2",  # the JSON array
        "https://d.example/3", "https://d.example/4",  # JSON Lines, zstd
        "https://e.example/one",  # one pretty-printed object, gzip'd
        "https://a.example/page",  # the WARC's HTML response
        "https://b.example/wet",  # the WET conversion record
        (inp / "latin.txt").as_uri(),
    }  # fmt: skip
    assert "Le président a déclaré mardi" in pages[(inp / "latin.txt").as_uri()]
    assert "Report number 10." in pages["https://b.example/wet"]
    rejected = con.execute("SELECT url, stage, reason FROM rejected").fetchall()
    assert rejected == [("https://a.example/report.pdf", "read", "not_html:application/pdf")]
    dead = con.execute("SELECT source, stage, reason FROM dead_letter").fetchall()
    assert dead == [(f"{inp / 'big.txt'}#0", "extract", "too_large")]


def test_manifest_counts_and_names_the_skipped_files(formats_run, capsys):
    inp, _, manifest = formats_run
    assert manifest["inputs"]["files"] == 7
    assert manifest["inputs"]["skipped"] == [str(inp / "notes.md"), str(inp / "x.txt")]
    assert manifest["inputs"]["skipped_count"] == 2
    assert manifest["inputs"]["skipped_reasons"] == {
        str(inp / "notes.md"): "unknown_format",
        str(inp / "x.txt"): "fifo",
    }
    reasons = {(r["table"], r["stage"], r["reason"]): r["count"] for r in manifest["reasons"]}
    assert reasons == {
        ("rejected", "read", "not_html:application/pdf"): 1,
        ("dead_letter", "extract", "too_large"): 1,
    }
    print_summary(manifest, 1.0)
    line = next(x for x in capsys.readouterr().out.splitlines() if "skipped files" in x)
    assert line.split("skipped files", 1)[1].strip() == (
        f"2 (1 fifo, 1 unknown_format): {inp / 'notes.md'} (unknown_format), {inp / 'x.txt'} (fifo)"
    )
