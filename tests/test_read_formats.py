"""Input formats and files that are not inputs: ``.json`` arrays/objects, ``.zst``, WET,
non-HTML WARC responses, latin-1 text, FIFOs and other non-regular files."""

from __future__ import annotations

import gzip
import io
import json
import os
import socket
import threading
from collections import Counter

import pytest
import zstandard
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pagestream.schemas.records import KIND_DEAD, KIND_RAW, KIND_REJECTED
from pagestream.transforms.read.inputs import (
    InputFile,
    SkippedFile,
    expand_inputs,
    input_format,
)
from pagestream.transforms.read.pages import read_records, split_files

HTML = "<html><body><p>{}</p></body></html>"


def _read(path, fmt=None):
    return list(
        read_records(InputFile(str(path), os.path.getsize(path), fmt or input_format(str(path))))
    )


def _summary(records):
    return [(r.kind, r.source.rsplit("#", 1)[1], r.reason, r.url) for r in records]


# --- names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("feed.json", "json"),
        ("feed.json.gz", "json"),
        ("feed.jsonl.zst", "jsonl"),
        ("feed.json.zst", "json"),
        ("page.html.zst", "html"),
        ("CC-MAIN-20240101-00000.warc.wet.gz", "wet"),
        ("x.wet", "wet"),
        ("a.warc.gz", "warc"),
        ("a.warc.zst", None),  # zstd WARCs need their own dictionary framing: not read
        ("notes.zst", None),
    ],
)
def test_input_format_of_new_names(name, fmt):
    assert input_format(name) == fmt


# --- .json --------------------------------------------------------------------------------------


def _pages(n):
    return [{"url": f"https://a.example/{i}", "text": f"page {i}"} for i in range(n)]


def test_json_array_pretty_printed_is_one_record_per_item(tmp_path):
    """The issue's case: a pretty-printed JSON file used to be one dead letter per line."""
    path = tmp_path / "pages.json"
    items = _pages(3) + [[1, 2], {"url": "https://a.example/x"}]
    path.write_text(json.dumps(items, indent=2))
    records = _read(path)
    assert _summary(records) == [
        (KIND_RAW, "1", None, "https://a.example/0"),
        (KIND_RAW, "2", None, "https://a.example/1"),
        (KIND_RAW, "3", None, "https://a.example/2"),
        (KIND_DEAD, "4", "not_an_object", ""),
        (KIND_DEAD, "5", "missing_content", "https://a.example/x"),
    ]
    assert [r.text for r in records[:3]] == ["page 0", "page 1", "page 2"]
    assert records[4].excerpt == '{"url": "https://a.example/x"}'


def test_json_single_object_pretty_printed_is_one_record(tmp_path):
    path = tmp_path / "page.json.gz"
    obj = {"url": "https://a.example/p", "html": HTML.format("hi"), "fetch_time": "2020-01-02"}
    path.write_bytes(gzip.compress(json.dumps(obj, indent=4).encode()))
    [record] = _read(path)
    assert (record.kind, record.url, record.html, record.source) == (
        KIND_RAW, obj["url"], obj["html"], f"{path}#1",
    )  # fmt: skip
    assert record.fetch_time == 1577923200_000_000


@pytest.mark.parametrize("first_text_chars", [10, 2_000_000])  # a first line over 1 MB too
def test_json_named_file_holding_json_lines_is_read_as_lines(tmp_path, first_text_chars):
    path = tmp_path / "export.json"
    pages = _pages(4)
    pages[0]["text"] = "x" * first_text_chars
    path.write_text("\n".join(json.dumps(p) for p in pages) + "\n")
    records = _read(path)
    assert [r.url for r in records] == [f"https://a.example/{i}" for i in range(4)]
    assert len(records[0].text) == first_text_chars


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('"just a string"', [("dead", "0", "not_pages")]),
        ("", [("dead", "0", "empty")]),
        ("[]", [("dead", "0", "empty")]),
        ('{\n  "url": "u",\n  "text": ', [("dead", "1", "invalid_json")]),
    ],
)
def test_json_files_that_hold_no_pages_give_one_dead_record(tmp_path, content, expected):
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert [(r.kind, r.source.rsplit("#", 1)[1], r.reason) for r in _read(path)] == expected


def test_json_array_cut_midway_keeps_the_items_before(tmp_path):
    path = tmp_path / "cut.json"
    whole = json.dumps(_pages(5), indent=1)
    path.write_text(whole[: whole.index('"https://a.example/3"')])
    records = _read(path)
    assert _summary(records)[:3] == [
        (KIND_RAW, str(i + 1), None, f"https://a.example/{i}") for i in range(3)
    ]
    assert [(r.kind, r.reason) for r in records[3:]] == [(KIND_DEAD, "invalid_json")]
    assert records[3].source.endswith("#4")


def test_json_array_splits_into_parts_like_json_lines(tmp_path):
    path = tmp_path / "pages.json"
    path.write_text(json.dumps(_pages(7)))
    file = InputFile(str(path), path.stat().st_size, "json")
    parts = split_files([file], 2)
    assert len(parts) == 2
    urls = sorted(r.url for part in parts for r in read_records(part))
    assert urls == sorted(f"https://a.example/{i}" for i in range(7))


# --- .zst ---------------------------------------------------------------------------------------


def _zst(tmp_path, name, data: bytes, frames=1):
    path = tmp_path / name
    step = -(-len(data) // frames)
    path.write_bytes(
        b"".join(
            zstandard.ZstdCompressor().compress(data[i : i + step])
            for i in range(0, len(data), step)
        )
    )
    return path


def test_jsonl_zst_is_read_across_frames(tmp_path):
    lines = "".join(json.dumps(p) + "\n" for p in _pages(50)).encode()
    path = _zst(tmp_path, "feed.jsonl.zst", lines, frames=3)
    assert [r.url for r in _read(path)] == [f"https://a.example/{i}" for i in range(50)]


def test_jsonl_zst_cut_keeps_the_lines_before_and_says_truncated(tmp_path):
    lines = "".join(json.dumps({"url": f"u{i}", "text": "x" * 3000 + str(i)}) + "\n"
                    for i in range(200)).encode()  # fmt: skip
    path = _zst(tmp_path, "feed.jsonl.zst", lines)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    records = _read(path)
    good = [r for r in records if r.kind == KIND_RAW]
    assert 0 < len(good) < 200
    assert [r.url for r in good] == [f"u{i}" for i in range(len(good))]
    assert (records[-1].kind, records[-1].reason) == (KIND_DEAD, "truncated")


def test_zst_that_is_not_zstd_is_corrupt(tmp_path):
    path = tmp_path / "feed.jsonl.zst"
    path.write_bytes(b"this is not zstd data\n" * 10)
    assert [(r.kind, r.reason) for r in _read(path)] == [(KIND_DEAD, "corrupt")]


def test_txt_zst_is_one_page(tmp_path):
    path = _zst(tmp_path, "page.txt.zst", "Una página de texto.\n".encode())
    [record] = _read(path)
    assert (record.kind, record.text) == (KIND_RAW, "Una página de texto.\n")


# --- WARC and WET -------------------------------------------------------------------------------


def _response(
    writer, url, content_type, body=b"<html><body><p>x</p></body></html>", status="200 OK"
):
    headers = [("Content-Type", content_type)] if content_type else []
    http = StatusAndHeaders(status, headers, protocol="HTTP/1.1")
    record = writer.create_warc_record(
        url, "response", payload=io.BytesIO(body), http_headers=http,
        warc_headers_dict={"WARC-Date": "2024-05-06T07:08:09Z"},
    )  # fmt: skip
    writer.write_record(record)


def test_warc_responses_that_are_not_html_are_rejected_with_their_type(tmp_path):
    """They used to vanish: every HTTP response is now a page or a counted rejection."""
    path = tmp_path / "mixed.warc.gz"
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        _response(writer, "https://a.example/page", "text/html; charset=utf-8")
        _response(writer, "https://a.example/doc.pdf", "application/pdf", b"%PDF-1.4 ...")
        _response(writer, "https://a.example/api", "Application/JSON; charset=utf-8", b"{}")
        _response(writer, "https://a.example/none", None, b"something")
        _response(writer, "https://a.example/gone.pdf", "application/pdf", b"", "404 Not Found")
        request = io.BytesIO(b"GET / HTTP/1.1\r\n\r\n")
        writer.write_record(
            writer.create_warc_record("https://a.example/", "request", payload=request)
        )
    records = _read(path)
    assert [(r.kind, r.url, r.reason, r.error) for r in records] == [
        (KIND_RAW, "https://a.example/page", None, None),
        (
            KIND_REJECTED,
            "https://a.example/doc.pdf",
            "not_html:application/pdf",
            "Content-Type application/pdf",
        ),
        (
            KIND_REJECTED,
            "https://a.example/api",
            "not_html:application/json",
            "Content-Type Application/JSON; charset=utf-8",
        ),
        (KIND_REJECTED, "https://a.example/none", "not_html:none", "Content-Type missing"),
        (KIND_REJECTED, "https://a.example/gone.pdf", "http_status", "HTTP status 404"),
    ]
    assert {r.http_status for r in records} == {200, 404}
    assert all(r.stage == "read" for r in records[1:])


def test_shared_warc_counts_every_http_response(shared):
    """example.warc.gz: 140 text/html responses (94 pages, 46 not 2xx) and 121 responses of
    other types (120 with 2xx, one not), which used to vanish; 38 DNS records are not HTTP."""
    records = _read(shared / "warc" / "example.warc.gz")
    counts = Counter((r.kind, r.reason) for r in records)
    assert counts == {
        (KIND_RAW, None): 94,
        (KIND_REJECTED, "http_status"): 47,
        (KIND_REJECTED, "not_html:text/plain"): 36,
        (KIND_REJECTED, "not_html:image/gif"): 29,
        (KIND_REJECTED, "not_html:image/jpeg"): 18,
        (KIND_REJECTED, "not_html:text/xml"): 9,
        (KIND_REJECTED, "not_html:image/png"): 8,
        (KIND_REJECTED, "not_html:application/x-javascript"): 8,
        (KIND_REJECTED, "not_html:application/x-shockwave-flash"): 8,
        (KIND_REJECTED, "not_html:text/css"): 4,
    }


def test_wet_conversion_records_are_text_pages(tmp_path):
    path = tmp_path / "CC-MAIN-1.warc.wet.gz"
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        writer.write_record(writer.create_warcinfo_record("x.warc.wet.gz", {"software": "t"}))
        for i, body in enumerate(["Première page.\nDeux lignes.", "Second page"]):
            writer.write_record(writer.create_warc_record(
                f"https://a.example/{i}", "conversion", payload=io.BytesIO(body.encode()),
                warc_content_type="text/plain",
                warc_headers_dict={"WARC-Date": "2024-05-06T07:08:09Z"},
            ))  # fmt: skip
    records = _read(path)
    assert [(r.kind, r.url, r.text, r.html, r.http_status) for r in records] == [
        (KIND_RAW, "https://a.example/0", "Première page.\nDeux lignes.", None, None),
        (KIND_RAW, "https://a.example/1", "Second page", None, None),
    ]
    assert all(r.fetch_time == 1714979289_000_000 for r in records)


# --- text ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Café crème, déjà vu, naïve façade.\n", "latin-1"),
        ("Smörgåsbord och kött på vägen hem; Åsa är här.\n", "latin-1"),
        ("Le président a déclaré que la réforme serait adoptée avant l'été.\n", "latin-1"),
        ("Příliš žluťoučký kůň úpěl ďábelské ódy.\n", "cp1250"),
        ("Привет, как дела? Всё хорошо.\n", "cp1251"),
    ],
)
def test_legacy_encoded_txt_is_decoded_not_mojibake(tmp_path, text, encoding):
    path = tmp_path / "page.txt"
    path.write_bytes(text.encode(encoding))
    [record] = _read(path)
    assert record.text == text


# --- files that are not inputs ------------------------------------------------------------------


def test_fifo_named_txt_is_skipped_not_read(tmp_path):
    """Reading it would block for ever: the planner must not open it."""
    (tmp_path / "a.txt").write_text("hello")
    os.mkfifo(tmp_path / "x.txt")
    (tmp_path / "notes.md").write_text("no format")
    done = {}
    worker = threading.Thread(target=lambda: done.update(result=expand_inputs([str(tmp_path)])))
    worker.start()
    worker.join(60)
    if worker.is_alive():  # unblock the thread: open the FIFO's writing end
        os.close(os.open(tmp_path / "x.txt", os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("expand_inputs blocked on the FIFO")
    files, skipped = done["result"]
    assert [f.path for f in files] == [str(tmp_path / "a.txt")]
    assert skipped == [
        SkippedFile(str(tmp_path / "notes.md"), "unknown_format"),
        SkippedFile(str(tmp_path / "x.txt"), "fifo"),
    ]
    # Named directly, it is skipped too; read anyway, it is one unreadable record.
    assert expand_inputs([str(tmp_path / "x.txt")]) == (
        [],
        [SkippedFile(str(tmp_path / "x.txt"), "fifo")],
    )
    [record] = list(read_records(InputFile(str(tmp_path / "x.txt"), 0, "txt")))
    assert (record.kind, record.reason) == (KIND_DEAD, "unreadable")
    assert "not a regular file (fifo)" in record.error


def test_socket_is_skipped(tmp_path):
    path = tmp_path / "s.jsonl"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
    except OSError as exc:  # a path too long for AF_UNIX in some tmp dirs
        pytest.skip(f"cannot bind a unix socket here: {exc}")
    try:
        assert expand_inputs([str(tmp_path)]) == ([], [SkippedFile(str(path), "socket")])
    finally:
        server.close()


def test_expand_inputs_lists_each_file_with_its_mtime(tmp_path):
    """The streaming ledger compares (size, mtime_ns) from the listing: no stat per file."""
    (tmp_path / "a.txt").write_text("hello")
    os.utime(tmp_path / "a.txt", ns=(1, 1_700_000_000_123_456_789))
    [file], _ = expand_inputs([str(tmp_path)])
    assert (file.size, file.mtime_ns) == (5, 1_700_000_000_123_456_789)
    [file], _ = expand_inputs([str(tmp_path / "a.txt")])
    assert file.mtime_ns == 1_700_000_000_123_456_789


def test_zst_warc_is_skipped_with_the_reason(tmp_path):
    (tmp_path / "a.warc.zst").write_bytes(b"x")
    assert expand_inputs([str(tmp_path)]) == (
        [], [SkippedFile(str(tmp_path / "a.warc.zst"), "unsupported_compression")]
    )  # fmt: skip
