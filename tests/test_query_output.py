"""Tests of how ``pagestream query`` prints results and reads its arguments.

The ``table`` format at a fixed terminal width (``COLUMNS``): wide results keep every column
with its header, squeezed or printed one field per line, and no line is wider than the
terminal. Also: SQL from stdin (``-``), remote paths refused with exit status 2, ``file://``
URIs, and the ``runs`` view's ``manifest`` column as DuckDB JSON.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import json
from pathlib import Path

import pytest

from pagestream.query import (
    QueryError,
    UsageError,
    add_arguments,
    connect,
    local_output_dir,
    main,
    read_sql,
    run_query,
)
from pagestream.query_output import MIN_COLUMN, fit_widths

_spec = importlib.util.spec_from_file_location(
    "_query_fixture", Path(__file__).with_name("test_query.py")
)
_fixture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixture)

#: The query of the bug report: eight columns, three of them long.
WIDE_SQL = (
    "SELECT url || '/' || repeat('x', 60) AS url, source, 'A title that runs on for quite a while'"
    " AS title, domain, language, dup_status, word_count, doc_id FROM pages ORDER BY doc_id"
)
WIDE_COLUMNS = [
    "url",
    "source",
    "title",
    "domain",
    "language",
    "dup_status",
    "word_count",
    "doc_id",
]


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    return _fixture.make_output(tmp_path_factory.mktemp("out"))


def _table(out_dir, sql: str, columns: int, monkeypatch) -> str:
    monkeypatch.setenv("COLUMNS", str(columns))
    buf = io.StringIO()
    run_query(out_dir, sql, fmt="table", out=buf)
    return buf.getvalue()


def _header_cells(text: str) -> list[str]:
    """The header names of a rich table (the line between ┃ bars)."""
    header = next(line for line in text.splitlines() if line.startswith("┃"))
    return [cell.strip() for cell in header.strip("┃").split("┃")]


def _body_rows(text: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in text.splitlines()
        if line.startswith("│")
    ]


@pytest.mark.parametrize("columns", [100, 140, 240])
def test_wide_table_keeps_every_column_and_fits(out, monkeypatch, columns):
    text = _table(out, WIDE_SQL, columns, monkeypatch)
    assert _header_cells(text) == WIDE_COLUMNS
    assert max(len(line) for line in text.splitlines()) <= columns
    body = _body_rows(text)
    assert len(body) == 6 and "6 rows" in text
    # Short columns print whole; long ones are cut with an ellipsis, never emptied.
    assert [row[7] for row in body] == ["a1", "a2", "a3", "a4", "b1", "b2"]
    assert [row[4] for row in body] == ["en", "en", "en", "de", "en", "und"]
    assert [row[6] for row in body] == ["120", "40", "700", "120", "120", "120"]
    for row in body:
        assert all(len(cell) >= 2 for cell in row)
    urls = [row[0] for row in body]
    if columns < 200:
        assert all(url.endswith("…") and url.startswith("https://") for url in urls)
    else:
        assert urls[0] == "https://phys.org/a1/" + "x" * 60


def test_table_too_narrow_for_columns_prints_one_field_per_line(out, monkeypatch):
    text = _table(out, WIDE_SQL + " LIMIT 2", 50, monkeypatch)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 50
    assert "┃" not in text
    assert [line for line in lines if line.startswith("-[ row")] == [
        "-[ row 1 ]" + "-" * 40,
        "-[ row 2 ]" + "-" * 40,
    ]
    fields: list[list[str]] = []  # [name, value] per field, continuation lines joined
    for name, value in (line.split(" | ", 1) for line in lines if " | " in line):
        if name.strip():
            fields.append([name.strip(), value])
        else:
            fields[-1][1] += value
    assert [name for name, _ in fields] == WIDE_COLUMNS * 2
    assert "doc_id     | a1" in lines and "doc_id     | a2" in lines
    # A long value wraps onto continuation lines instead of being cut at the terminal edge.
    assert fields[0][1] == "https://phys.org/a1/" + "x" * 60
    assert fields[7] == ["doc_id", "a1"] and fields[8][1].startswith("https://phys.org/a2/")
    assert lines[-1] == "(2 rows)"


def test_narrow_result_prints_whole_at_any_width(out, monkeypatch):
    text = _table(out, "SELECT doc_id, language FROM pages ORDER BY 1 LIMIT 1", 30, monkeypatch)
    assert _header_cells(text) == ["doc_id", "language"]
    assert _body_rows(text) == [["a1", "en"]]


@pytest.mark.parametrize(
    "names, natural, width, expected",
    [
        (["a", "b"], [5, 7], 80, [5, 7]),  # fits: natural widths
        # 3 columns: 10 characters of borders; 30 left for 10 + 40 + 40: the two wide ones share.
        (["id", "url", "text"], [10, 40, 40], 40, [10, 10, 10]),
        (["id", "url", "text"], [4, 40, 12], 40, [4, 14, 12]),
        # Headers are never cut: a long header is its column's floor.
        (["language_score", "x"], [14, 60], 30, [14, 9]),
        # Even the floors overflow: None (the caller prints rows vertically).
        (["a", "b", "c"], [30, 30, 30], 20, None),
    ],
)
def test_fit_widths(names, natural, width, expected):
    widths = fit_widths(names, natural, width)
    assert widths == expected
    if widths is not None:
        assert sum(widths) + 3 * len(names) + 1 <= width
        assert all(
            w >= min(n, max(len(h), MIN_COLUMN))
            for w, n, h in zip(widths, natural, names, strict=True)
        )


# --- arguments ------------------------------------------------------------------------------


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return main(parser.parse_args(argv))


def test_sql_from_stdin(out, monkeypatch, capsys):
    monkeypatch.setattr(
        "sys.stdin", io.StringIO("SELECT doc_id\nFROM pages\nORDER BY 1 LIMIT 2;\n")
    )
    assert _main([str(out), "-", "--format", "csv"]) == 0
    assert capsys.readouterr().out == "doc_id\na1\na2\n"


@pytest.mark.parametrize("stdin", ["", "  \n"])
def test_empty_stdin_is_a_usage_error(out, monkeypatch, capsys, stdin):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    assert _main([str(out), "-"]) == 2
    assert capsys.readouterr().err == (
        "pagestream query: error: no SQL on stdin (the SQL argument is '-')\n"
    )


def test_read_sql_passes_text_through():
    assert read_sql("SELECT 1") == "SELECT 1"
    with pytest.raises(UsageError, match="empty"):
        read_sql("   ")


@pytest.mark.parametrize("path", ["gs://bucket/out", "s3://bucket/out", "S3://b/o", "hdfs://nn/o"])
def test_remote_paths_are_refused_with_exit_2(path, capsys):
    assert _main([path, "SELECT 1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pagestream query: error: not supported: {path}: ")
    assert "local output directories only" in err and err.count("\n") == 1
    with pytest.raises(UsageError):
        connect(path)


def test_file_uri_reads_the_local_directory(out):
    assert local_output_dir(out.as_uri()) == out
    buf = io.StringIO()
    run_query(out.as_uri(), "SELECT count(*) AS n FROM pages", fmt="csv", out=buf)
    assert buf.getvalue() == "n\n6\n"


def test_bad_sql_still_exits_1(out, capsys):
    assert _main([str(out), "SELEC 1"]) == 1
    assert "Parser Error" in capsys.readouterr().err


def test_runs_manifest_is_json(out):
    con = connect(out)
    try:
        types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE runs)").fetchall())
        rows = con.execute(
            "SELECT run_id, json_type(manifest), manifest.options.min_words::INT,"
            " json_extract(manifest, '$.counts.pages')::INT FROM runs ORDER BY run_id"
        ).fetchall()
        raw = con.execute("SELECT manifest FROM runs WHERE run_id = 'r1'").fetchone()[0]
    finally:
        con.close()
    assert types["manifest"] == "JSON"
    assert rows == [("r1", "OBJECT", 50, 4), ("r2", "OBJECT", 50, 2)]
    on_disk = json.loads((out / "_runs" / "r1.json").read_text())
    assert json.loads(raw) == on_disk


def test_runs_manifest_prints_as_json_object(out):
    buf = io.StringIO()
    run_query(out, "SELECT manifest FROM runs WHERE run_id = 'r2'", fmt="json", out=buf)
    [row] = json.loads(buf.getvalue())
    assert row["manifest"] == json.loads((out / "_runs" / "r2.json").read_text())
    buf = io.StringIO()
    run_query(
        out, "SELECT manifest->'counts' AS c FROM runs WHERE run_id = 'r2'", fmt="csv", out=buf
    )
    [header, [counts]] = list(csv.reader(io.StringIO(buf.getvalue())))
    assert json.loads(counts) == json.loads((out / "_runs" / "r2.json").read_text())["counts"]


def test_query_error_is_the_base_class():
    assert issubclass(UsageError, QueryError)


def test_number_columns_are_right_aligned(out, monkeypatch):
    text = _table(out, "SELECT doc_id, word_count FROM pages ORDER BY 1 LIMIT 2", 80, monkeypatch)
    body = [line for line in text.splitlines() if line.startswith("│")]
    assert body == ["│ a1     │        120 │", "│ a2     │         40 │"]


def test_empty_result_too_wide_still_names_its_columns(out, monkeypatch):
    text = _table(out, WIDE_SQL + " LIMIT 0", 50, monkeypatch)
    assert text == (
        "columns: url, source, title, domain, language,\ndup_status, word_count, doc_id\n(0 rows)\n"
    )
