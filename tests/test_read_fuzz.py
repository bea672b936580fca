"""Property tests: the readers and parsers never raise on arbitrary input, and account for it."""

from __future__ import annotations

import gzip
import itertools
import os

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pagestream.schemas.records import KIND_DEAD, KIND_RAW, KIND_REJECTED, file_of
from pagestream.transforms.read.common import parse_fetch_time
from pagestream.transforms.read.html_decode import decode_html
from pagestream.transforms.read.html_head import canonical_url
from pagestream.transforms.read.inputs import InputFile, expand_inputs, input_format
from pagestream.transforms.read.pages import read_records

FAST = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_names = itertools.count()

#: Bytes that look like the formats, so the fuzzer reaches past the first check.
SEEDS = [
    b'{"url": "u", "text": "t"}\n',
    b'{"url": "u", "html": "<p>x</p>", "fetch_time": "2020-01-01T00:00:00Z"}\n',
    b"WARC/1.0\r\nWARC-Type: response\r\nContent-Length: 20\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
    b"<html><head><meta charset=utf-16></head><body><p>x</p></body></html>",
    b"\x1f\x8b\x08\x00\x00\x00\x00\x00",
    b"\xff\xfe<\x00p\x00>\x00",
    b'[{"url": "u", "text": "t"}, {"html": ',
    b'{\n  "url": "u",\n  "text": "t"\n}',
    b"WARC/1.0\r\nWARC-Type: conversion\r\nContent-Length: 5\r\n\r\ntext\n",
    b"\x28\xb5\x2f\xfd",  # a zstd frame
]
payloads = st.one_of(
    st.binary(max_size=2000),
    st.tuples(st.sampled_from(SEEDS), st.binary(max_size=300), st.integers(0, 200)).map(
        lambda t: (t[0] + t[1])[: len(t[0]) + t[2]]
    ),
    st.text(max_size=500).map(lambda s: s.encode("utf-8", "surrogatepass")),
)
ENDINGS = [".jsonl", ".json.gz", ".html", ".txt", ".warc", ".warc.gz", ".html.gz", ".txt.gz",
           ".json", ".jsonl.zst", ".txt.zst", ".warc.wet.gz", ".wet"]  # fmt: skip


def _compressed(data: bytes, ending: str) -> bytes:
    if ending.endswith(".gz"):
        return gzip.compress(data, mtime=0)
    return zstandard.ZstdCompressor().compress(data) if ending.endswith(".zst") else data


def _check_records(path: str, records: list) -> None:
    for record in records:
        assert record.kind in (KIND_RAW, KIND_REJECTED, KIND_DEAD)
        assert file_of(record.source) == path
        assert record.source.rsplit("#", 1)[1].isdigit()
        for value in (record.url, record.source, record.html, record.text, record.error):
            if value is not None:
                value.encode("utf-8")  # no lone surrogates reach the writers
        if record.kind == KIND_DEAD:
            assert record.stage == "read" and record.reason and record.error
        if record.kind == KIND_RAW:
            assert (record.html is None) != (record.text is None)


@FAST
@given(data=payloads, ending=st.sampled_from(ENDINGS), compress=st.booleans())
def test_read_records_never_raises(tmp_path, data, ending, compress):
    path = tmp_path / f"f{next(_names)}{ending}"
    path.write_bytes(_compressed(data, ending) if compress else data)
    records = list(read_records(InputFile(str(path), len(data), input_format(str(path)))))
    _check_records(str(path), records)
    if ending.split(".")[1] in ("html", "txt"):
        assert len(records) == 1  # a single-page file is always exactly one record
    else:
        assert len(records) >= 1  # even an empty or undecodable file is reported
    if ending == ".jsonl":
        lines = [line for line in data.split(b"\n") if line.strip()]
        assert len(records) == max(1, len(lines))  # one record per non-blank line


@FAST
@given(limit=st.integers(0, 5), lines=st.lists(st.binary(max_size=40), max_size=8))
def test_read_records_respects_the_limit(tmp_path, limit, lines):
    path = tmp_path / f"f{next(_names)}.jsonl"
    path.write_bytes(b"\n".join(lines))
    records = list(read_records(InputFile(str(path), 0, "jsonl", limit=limit)))
    assert len(records) <= limit


@FAST
@given(value=st.one_of(st.none(), st.text(max_size=40), st.integers(), st.floats(), st.booleans()))
def test_parse_fetch_time_returns_an_int_or_raises_value_error(value):
    try:
        result = parse_fetch_time(value)
    except ValueError:
        return
    assert result is None or isinstance(result, int)


@FAST
@given(
    moment=st.datetimes(
        min_value=__import__("datetime").datetime(1900, 1, 1),
        timezones=st.sampled_from([__import__("datetime").timezone.utc]),
    )
)
def test_parse_fetch_time_round_trips_iso_strings(moment):
    import datetime as dt

    micros = parse_fetch_time(moment.isoformat())
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    assert epoch + dt.timedelta(microseconds=micros) == moment


@FAST
@given(payload=st.binary(max_size=3000), declared=st.one_of(st.none(), st.text(max_size=20)))
def test_decode_html_never_raises(payload, declared):
    assert isinstance(decode_html(payload, declared), str)


@FAST
@given(html=st.text(max_size=2000))
def test_canonical_url_never_raises(html):
    url = canonical_url(html)
    assert url is None or url.lower().startswith(("http://", "https://"))


name_chars = st.sampled_from(list("ab #[]*?_.-%é页 "))


@FAST
@given(stem=st.text(name_chars, min_size=1, max_size=12), ending=st.sampled_from(ENDINGS + [".md"]))
def test_expand_inputs_takes_odd_names_literally(tmp_path, stem, ending):
    if stem.startswith((".", "_")) or "/" in stem or stem.strip() != stem:
        stem = "x" + stem.strip()
    directory = tmp_path / f"d{next(_names)} [#]"
    directory.mkdir()
    path = directory / f"{stem}{ending}"
    path.write_bytes(b"x")
    for given_path in (str(directory), str(path)):
        files, skipped = expand_inputs([given_path])
        if ending == ".md":
            assert [f.path for f in files] == [] and [s.path for s in skipped] == [str(path)]
        else:
            assert [f.path for f in files] == [str(path)] and skipped == []
            assert file_of(f"{files[0].path}#0") == str(path)


def test_a_file_that_vanishes_is_one_unreadable_record(tmp_path):
    path = tmp_path / "gone.html"
    records = list(read_records(InputFile(str(path), 0, "html")))
    assert [(r.kind, r.reason) for r in records] == [(KIND_DEAD, "unreadable")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_a_file_without_read_permission_is_one_unreadable_record(tmp_path):
    path = tmp_path / "locked.jsonl"
    path.write_text('{"url": "u", "text": "t"}\n')
    path.chmod(0)
    records = list(read_records(InputFile(str(path), 0, "jsonl")))
    assert [(r.kind, r.reason) for r in records] == [(KIND_DEAD, "unreadable")]


def test_a_warc_header_without_a_type_is_a_dead_record_not_nothing(tmp_path):
    """Found by the fuzz test above: a header with no WARC-Type was passed over as a record
    that is not a page, so the file disappeared without a record."""
    path = tmp_path / "cut.warc"
    path.write_bytes(b"WARC/1.0\nContent-Length:")
    [record] = read_records(InputFile(str(path), path.stat().st_size, "warc"))
    assert (record.kind, record.reason) == (KIND_DEAD, "bad_record")
    assert "WARC-Type" in record.error


def test_a_warc_without_a_response_record_is_one_rejected_row(tmp_path):
    """Also found by the fuzz test: a header of an unknown type was passed over, leaving the
    file without a record."""
    path = tmp_path / "odd.warc"
    path.write_bytes(b"WARC/1.0\nWARC-Type:\x00\ncontent-Length:")
    [record] = read_records(InputFile(str(path), path.stat().st_size, "warc"))
    assert (record.kind, record.reason, record.source) == (KIND_REJECTED, "no_pages", f"{path}#0")
