from __future__ import annotations

import gzip
import json

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pagestream.schemas.records import KIND_DEAD, KIND_RAW, KIND_REJECTED
from pagestream.transforms.read.common import parse_fetch_time
from pagestream.transforms.read.inputs import (
    InputError,
    InputFile,
    SkippedFile,
    expand_inputs,
    input_format,
)
from pagestream.transforms.read.pages import (
    RECORD_WEIGHT,
    ReadPages,
    limit_records,
    read_records,
    split_files,
)

HTML = "<html><head><title>T</title></head><body><p>{}</p></body></html>"


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.warc", "warc"),
        ("a.warc.gz", "warc"),
        ("A.WARC.GZ", "warc"),
        ("feed.jsonl", "jsonl"),
        ("feed.json.gz", "json"),
        ("page.html", "html"),
        ("page.htm.gz", "html"),
        ("scrape.txt", "txt"),
        ("dir/x.txt.gz", "txt"),
        ("notes.md", None),
        ("archive.tar.gz", None),
        ("warc", None),
    ],
)
def test_input_format_from_the_name(name, fmt):
    assert input_format(name) == fmt


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T00:00:01Z", 1_000_000),
        ("1970-01-01T01:00:00+01:00", 0),
        ("1970-01-01T00:00:00.5", 500_000),
        ("2019-07-04T09:15:00Z", 1562231700_000_000),
        ("", None),
        (None, None),
    ],
)
def test_parse_fetch_time(text, micros):
    assert parse_fetch_time(text) == micros


@pytest.mark.parametrize("bad", ["yesterday", "2019-13-01", 12345])
def test_parse_fetch_time_refuses_garbage(bad):
    with pytest.raises((ValueError, TypeError)):
        parse_fetch_time(bad)


def _tree(tmp_path):
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "a.txt").write_text("hello")
    (tmp_path / "sub" / "b.html").write_text(HTML.format("x"))
    (tmp_path / "sub" / "deeper" / "c.jsonl").write_text('{"url": "u", "text": "t"}\n')
    (tmp_path / "notes.md").write_text("not an input")
    (tmp_path / ".upload.txt.tmp").write_text("in progress")
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / "_partial").mkdir()
    (tmp_path / "_partial" / "d.txt").write_text("hidden directory")
    return tmp_path


def test_expand_inputs_walks_directories_and_ignores_hidden_names(tmp_path):
    root = _tree(tmp_path)
    files, skipped = expand_inputs([str(root)])
    assert [(f.path, f.fmt) for f in files] == [
        (str(root / "a.txt"), "txt"),
        (str(root / "sub" / "b.html"), "html"),
        (str(root / "sub" / "deeper" / "c.jsonl"), "jsonl"),
    ]
    assert skipped == [SkippedFile(str(root / "notes.md"), "unknown_format")]
    assert files[0].size == 5


def test_expand_inputs_globs_and_files_without_duplicates(tmp_path):
    root = _tree(tmp_path)
    files, _ = expand_inputs([str(root / "*.txt"), str(root / "a.txt")])
    assert [f.path for f in files] == [str(root / "a.txt")]


def test_expand_inputs_names_a_missing_path(tmp_path):
    with pytest.raises(InputError, match="no-such-dir"):
        expand_inputs([str(tmp_path / "no-such-dir")])


def _jsonl(tmp_path, lines, name="feed.jsonl"):
    path = tmp_path / name
    data = "\n".join(lines) + "\n"
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(data.encode()))
    else:
        path.write_text(data)
    return InputFile(str(path), path.stat().st_size, "jsonl")


def test_jsonl_records_good_and_bad_each_become_one_record(tmp_path):
    file = _jsonl(
        tmp_path,
        [
            json.dumps(
                {
                    "url": "https://a.example/1",
                    "html": HTML.format("a"),
                    "fetch_time": "2020-01-02T03:04:05Z",
                }
            ),
            json.dumps(
                {"url": "https://a.example/2", "text": "plain", "html": HTML.format("wins")}
            ),
            json.dumps({"url": "https://a.example/3", "text": "just text"}),
            "{not json",
            json.dumps([1, 2]),
            json.dumps({"url": "https://a.example/6"}),
            json.dumps({"url": "https://a.example/7", "text": "t", "fetch_time": "soon"}),
            "",
        ],
    )
    records = list(read_records(file))
    kinds = [(r.kind, r.source.rsplit("#", 1)[1], r.reason) for r in records]
    assert kinds == [
        (KIND_RAW, "1", None),
        (KIND_RAW, "2", None),
        (KIND_RAW, "3", None),
        (KIND_DEAD, "4", "invalid_json"),
        (KIND_DEAD, "5", "not_an_object"),
        (KIND_DEAD, "6", "missing_content"),
        (KIND_DEAD, "7", "invalid_fetch_time"),
    ]
    assert records[0].fetch_time == parse_fetch_time("2020-01-02T03:04:05Z")
    assert records[1].html == HTML.format("wins") and records[1].text is None
    assert records[2].text == "just text" and records[2].html is None
    assert records[3].stage == "read" and records[3].error.startswith("JSONDecodeError")
    assert records[3].excerpt == "{not json\n"


def test_truncated_gzip_keeps_the_records_before_the_cut(tmp_path):
    lines = [json.dumps({"url": f"u{i}", "text": "x" * 2000 + str(i)}) for i in range(50)]
    path = tmp_path / "cut.jsonl.gz"
    whole = gzip.compress(("\n".join(lines) + "\n").encode())
    path.write_bytes(whole[: len(whole) // 2])
    records = list(read_records(InputFile(str(path), path.stat().st_size, "jsonl")))
    good = [r for r in records if r.kind == KIND_RAW]
    assert 0 < len(good) < 50
    assert [r.url for r in good] == [f"u{i}" for i in range(len(good))]
    assert records[-1].kind == KIND_DEAD and records[-1].reason == "truncated"


def test_html_file_url_from_canonical_else_file_uri(tmp_path):
    with_canonical = tmp_path / "a.html"
    with_canonical.write_text(
        '<html><head><link rel="canonical" href="https://news.example/a"></head><body>x</body></html>'
    )
    without = tmp_path / "b.html.gz"
    without.write_bytes(gzip.compress(HTML.format("b").encode()))
    empty = tmp_path / "c.html"
    empty.write_text("")
    urls = []
    for path, fmt in ((with_canonical, "html"), (without, "html"), (empty, "html")):
        urls += [(r.kind, r.url, r.reason) for r in read_records(InputFile(str(path), 0, fmt))]
    assert urls == [
        (KIND_RAW, "https://news.example/a", None),
        (KIND_RAW, f"file://{without}", None),
        (KIND_DEAD, f"file://{empty}", "empty"),
    ]


def test_warc_pages_statuses_and_non_html_records(shared):
    file = InputFile(str(shared / "warc" / "example.warc.gz"), 0, "warc")
    records = list(read_records(file))
    raw = [r for r in records if r.kind == KIND_RAW]
    rejected = [r for r in records if r.kind == KIND_REJECTED]
    # 140 text/html responses: 94 with HTTP 200, 46 redirects or 404s (data README); 121
    # responses of other types: one 404, 120 rejected as not_html:<type> (test_read_formats).
    assert (len(raw), len(rejected), len(records)) == (94, 167, 261)
    assert sum(r.reason == "http_status" for r in rejected) == 47
    assert {r.http_status for r in rejected if r.reason == "http_status"} == {404, 302, 301}
    assert all(r.html and r.url.startswith("http") and r.fetch_time for r in raw)
    offsets = [int(r.source.rsplit("#", 1)[1]) for r in records]
    assert offsets == sorted(offsets)


def test_limit_records_plans_the_first_n_records_in_file_order(tmp_path):
    a = _jsonl(tmp_path, [json.dumps({"url": f"a{i}", "text": "t"}) for i in range(3)], "a.jsonl")
    b = _jsonl(tmp_path, [json.dumps({"url": f"b{i}", "text": "t"}) for i in range(3)], "b.jsonl")
    c = _jsonl(tmp_path, [json.dumps({"url": "c", "text": "t"})], "c.jsonl")
    planned = limit_records([a, b, c], 4)
    assert [(f.path, f.limit) for f in planned] == [(a.path, 3), (b.path, 1)]
    assert [r.url for f in planned for r in read_records(f)] == ["a0", "a1", "a2", "b0"]


@pytest.mark.parametrize("redistribute", ["reshuffle", "group", "none"])
def test_read_pages_reads_every_record_of_every_file(tmp_path, redistribute):
    files = [
        _jsonl(
            tmp_path, [json.dumps({"url": f"{n}{i}", "text": "t"}) for i in range(4)], f"{n}.jsonl"
        )
        for n in "ab"
    ]
    with TestPipeline() as p:
        urls = p | ReadPages(files, redistribute=redistribute) | beam.Map(lambda r: r.url)
        assert_that(urls, equal_to([f"{n}{i}" for n in "ab" for i in range(4)]))


@pytest.mark.parametrize("parts", [2, 3, 7])
def test_split_parts_together_read_each_record_once(tmp_path, shared, parts):
    lines = [json.dumps({"url": f"u{i}", "text": "t"}) for i in range(10)] + ["{broken"]
    files = [
        _jsonl(tmp_path, lines),
        InputFile(str(shared / "warc" / "example.warc.gz"), 0, "warc"),
        InputFile(str(tmp_path / "gone.jsonl"), 0, "jsonl"),  # unreadable: one dead record
        InputFile(str(tmp_path / "page.html"), 0, "html"),  # one page: never split
    ]
    (tmp_path / "page.html").write_text("<html><body><p>one page</p></body></html>")
    split = split_files(files, parts)
    assert len(split) == 3 * parts + 1
    for file in files:
        whole = [r.source for r in read_records(file)]
        pieces = [[r.source for r in read_records(f)] for f in split if f.path == file.path]
        assert sorted(s for piece in pieces for s in piece) == sorted(whole)
        if file.fmt == "jsonl":  # records of equal size go round-robin
            assert [len(p) for p in pieces] == [len(whole[k::parts]) for k in range(parts)]


@pytest.mark.parametrize("parts", [2, 3])
def test_split_parts_carry_about_equal_page_bytes(tmp_path, parts):
    # A large page every other record: dealt by index, one part would get all of them.
    sizes = [200_000] + [50_000 if i % 2 == 0 else 500 for i in range(40)] + [500] * 30
    lines = [json.dumps({"url": f"u{i}", "text": "x" * n}) for i, n in enumerate(sizes)]
    pieces = [list(read_records(f)) for f in split_files([_jsonl(tmp_path, lines)], parts)]
    assert sorted(r.url for piece in pieces for r in piece) == sorted(f"u{i}" for i in range(71))
    weights = [sum(len(r.text) + RECORD_WEIGHT for r in piece) for piece in pieces]
    assert max(weights) - min(weights) <= 50_000 + RECORD_WEIGHT  # within one record


def test_split_parts_respect_the_record_limit(tmp_path):
    file = _jsonl(tmp_path, [json.dumps({"url": f"u{i}", "text": "t"}) for i in range(9)])
    limited = file._replace(limit=5)
    parts = split_files([limited], 2)
    assert [[r.url for r in read_records(f)] for f in parts] == [["u0", "u2", "u4"], ["u1", "u3"]]


def test_read_pages_with_parts_reads_every_record_once(tmp_path):
    files = [
        _jsonl(
            tmp_path, [json.dumps({"url": f"{n}{i}", "text": "t"}) for i in range(5)], f"{n}.jsonl"
        )
        for n in "ab"
    ]
    with TestPipeline() as p:
        urls = p | ReadPages(files, redistribute="none", parts=2) | beam.Map(lambda r: r.url)
        assert_that(urls, equal_to([f"{n}{i}" for n in "ab" for i in range(5)]))
