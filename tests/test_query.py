"""Tests of pagestream.query: views over committed runs only, formats, pruning, example queries.

``make_output`` writes a small output directory in the INTERFACE.md layout (real pyarrow
schemas, manifests with every key the commit step writes); ``test_report.py`` and
``benchmarks/check_report.py`` load it from this file.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import datetime as dt
import io
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pagestream.query import QueryError, add_arguments, connect, load_manifests, main, run_query
from pagestream.schemas.arrow import DEAD_LETTER_SCHEMA, PAGES_SCHEMA, REJECTED_SCHEMA

DOCS = Path(__file__).resolve().parents[1] / "docs" / "queries.md"
UTC = dt.timezone.utc
HIST_EDGES = [0, 50, 100, 200, 500, 1000, 2000, 5000]


def _page(doc_id, run_id, crawl_date, language, **kw):
    row = {name: None for name in PAGES_SCHEMA.names}
    row.update(
        doc_id=doc_id,
        url=f"https://{kw.get('domain', 'example.org')}/{doc_id}",
        domain="example.org",
        source=f"in/{run_id}.jsonl:{doc_id}",
        fetch_time=dt.datetime.fromisoformat(f"{crawl_date}T08:30:00").replace(tzinfo=UTC),
        text=f"text of {doc_id}",
        word_count=120,
        language_score=0.9,
        content_hash=f"h-{doc_id}",
        dup_status="unique",
        topics=["politics"],
        topic_scores=[0.75],
        quality_flags=[],
        extractor="trafilatura",
        run_id=run_id,
        pipeline_version="0.1.0",
        crawl_date=crawl_date,
        language=language,
    )
    row.update(kw)
    return row


def _rejected(url, run_id, stage, reason):
    return dict(url=url, source=f"in/{run_id}.jsonl", stage=stage, reason=reason, doc_id=None,
                language=None, word_count=3, run_id=run_id)  # fmt: skip


def _dead(url, run_id):
    return dict(url=url, source=f"in/{run_id}.jsonl", excerpt="<html", stage="extract",
                reason="exception", error="ValueError: bad", traceback="Traceback ...",
                run_id=run_id)  # fmt: skip


def _write(root: Path, rel: str, rows: list[dict], schema: pa.Schema) -> str:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return rel


def _histogram(values):
    """As the commit step counts: bin i is [edge i, edge i+1), the last bin is open-ended."""
    counts = [0] * len(HIST_EDGES)
    for v in values:
        counts[bisect.bisect_right(HIST_EDGES, v) - 1] += 1
    return {"edges": HIST_EDGES, "counts": counts}


def _count(values):
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def _write_run(root: Path, run_id: str, logical_date: str, pages, rejected, dead, *, commit=True):
    files = {"pages": [], "rejected": [], "dead_letter": []}
    parts: dict[tuple, list] = {}
    for p in pages:
        parts.setdefault((p["crawl_date"], p["language"]), []).append(p)
    for n, ((day, lang), rows) in enumerate(sorted(parts.items())):
        rel = f"pages/crawl_date={day}/language={lang}/part-{run_id}-{n}.parquet"
        stored = [{k: v for k, v in r.items() if k in PAGES_SCHEMA.names} for r in rows]
        files["pages"].append(_write(root, rel, stored, PAGES_SCHEMA))
    if rejected:
        rel = f"rejected/part-{run_id}-0.parquet"
        files["rejected"].append(_write(root, rel, rejected, REJECTED_SCHEMA))
    if dead:
        rel = f"dead_letter/part-{run_id}-0.parquet"
        files["dead_letter"].append(_write(root, rel, dead, DEAD_LETTER_SCHEMA))
    if not commit:
        (root / "_staging" / run_id).mkdir(parents=True, exist_ok=True)
        return None
    source = f"in/{run_id}.jsonl"
    manifest = {
        "run_id": run_id,
        "logical_date": logical_date,
        "started_at": f"{logical_date}T01:00:00+00:00",
        "finished_at": f"{logical_date}T01:00:12.500000+00:00",
        "duration_s": 12.5,
        "schema_version": "1",
        "pipeline_version": "0.1.0",
        "versions": {"python": "3.11.7", "apache_beam": "2.77.0", "trafilatura": "2.3.1"},
        "options": {"input": [source], "output": str(root), "min_words": 50},
        "inputs": {"files": 1, "bytes": 4096, "skipped": ["in/MANIFEST.md"]},
        "counts": {
            "records_read": len(pages) + len(rejected) + len(dead),
            "pages": len(pages),
            "rejected": len(rejected),
            "dead_letter": len(dead),
        },
        "reasons": [
            {"table": table, "stage": stage, "reason": reason, "count": n}
            for table, rows in (("rejected", rejected), ("dead_letter", dead))
            for (stage, reason), n in sorted(
                _count((r["stage"], r["reason"]) for r in rows).items()
            )
        ],
        "per_file": {
            source: {
                "read": len(pages) + len(rejected) + len(dead),
                "pages": len(pages),
                "rejected": len(rejected),
                "dead_letter": len(dead),
            }
        },
        "languages": _count(p["language"] for p in pages),
        "topics": _count(t for p in pages for t in p["topics"]),
        "dup_status": _count(p["dup_status"] for p in pages),
        "crawl_dates": _count(p["crawl_date"] for p in pages),
        "domains": _count(p["domain"] for p in pages),
        "word_count_histogram": _histogram(p["word_count"] for p in pages),
        "quality_flags_by_domain": {
            d: _count(f for p in pages if p["domain"] == d for f in p["quality_flags"])
            for d in sorted({p["domain"] for p in pages if p["quality_flags"]})
        },
        "timings_ms": {
            "read": None,
            "extract": 1234.5,
            "language": 12.0,
            "dedup": 40.0,
            "topics": 3.0,
            "total_wall": 12500,
        },  # fmt: skip
        "files": files,
        "rows": {"pages": len(pages), "rejected": len(rejected), "dead_letter": len(dead)},
    }
    (root / "_runs").mkdir(parents=True, exist_ok=True)
    (root / "_runs" / f"{run_id}.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def make_output(root: Path) -> Path:
    """Writes two committed runs (r1, r2) and one uncommitted run (r3) under ``root``.

    r1 (2020-01-10): pages a1 a2 a3 (en, 2020-01-10), a4 (de, 2020-01-10); 1 rejected, 1 dead;
    its manifest also lists a page file that was deleted since.
    r2 (2020-01-17): b1 (en, 2020-01-17, exact duplicate of a1), b2 (und, 2020-01-11); 2 rejected.
    r3: files in pages/ and rejected/ and a staging dir, but no manifest.
    """
    root.mkdir(parents=True, exist_ok=True)
    r1_pages = [
        _page("a1", "r1", "2020-01-10", "en", domain="phys.org", topics=["science-technology", "health"],
              topic_scores=[0.9, 0.4]),
        _page("a2", "r1", "2020-01-10", "en", domain="phys.org", word_count=40,
              dup_status="near", dup_of="a1", dup_similarity=0.9, dup_run="r1"),
        _page("a3", "r1", "2020-01-10", "en", domain="salon.com", title="Salon", topics=[],
              topic_scores=[], word_count=700, quality_flags=["c4_lines"]),
        _page("a4", "r1", "2020-01-10", "de", domain="spiegel.de", language_score=0.99,
              topics=["economy"], http_status=200),
    ]  # fmt: skip
    _write_run(
        root, "r1", "2020-01-10", r1_pages,
        [_rejected("https://x.org/short", "r1", "extract", "too_short")],
        [_dead("https://x.org/broken", "r1")],
    )  # fmt: skip
    r2_pages = [
        _page("b1", "r2", "2020-01-17", "en", domain="phys.org", content_hash="h-a1",
              dup_status="exact", dup_of="a1", dup_similarity=1.0, dup_run="r1"),
        _page("b2", "r2", "2020-01-11", "und", domain="example.org", language_score=None,
              topics=["sport"], fetch_time=None),
    ]  # fmt: skip
    _write_run(
        root, "r2", "2020-01-17", r2_pages,
        [_rejected("https://y.org/404", "r2", "read", "http_status"),
         _rejected("https://y.org/fr", "r2", "language", "language")],
        [],
    )  # fmt: skip
    _write_run(
        root, "r3", "2020-01-18",
        [_page("c1", "r3", "2020-01-10", "en"), _page("c2", "r3", "2020-01-18", "fr")],
        [_rejected("https://z.org/", "r3", "extract", "too_short")],
        [_dead("https://z.org/x", "r3")],
        commit=False,
    )  # fmt: skip
    return root


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    return make_output(tmp_path_factory.mktemp("out"))


def _sql(out_dir, sql, run_id=None):
    con = connect(out_dir, run_id)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _query(out_dir, sql, fmt, run_id=None) -> str:
    buf = io.StringIO()
    run_query(out_dir, sql, run_id=run_id, fmt=fmt, out=buf)
    return buf.getvalue()


# --- views ----------------------------------------------------------------------------------


def test_views_hold_committed_runs_only(out):
    assert _sql(out, "SELECT doc_id FROM pages ORDER BY doc_id") == [
        ("a1",), ("a2",), ("a3",), ("a4",), ("b1",), ("b2",)
    ]  # fmt: skip
    assert _sql(out, "SELECT DISTINCT run_id FROM rejected ORDER BY 1") == [("r1",), ("r2",)]
    assert _sql(out, "SELECT url FROM dead_letter") == [("https://x.org/broken",)]
    assert _sql(out, "SELECT run_id FROM runs ORDER BY run_id") == [("r1",), ("r2",)]


def test_partition_columns_come_back_typed(out):
    rows = _sql(out, "SELECT doc_id, crawl_date, language FROM pages WHERE doc_id IN ('a4', 'b2')"
                     " ORDER BY doc_id")  # fmt: skip
    assert rows == [("a4", dt.date(2020, 1, 10), "de"), ("b2", dt.date(2020, 1, 11), "und")]
    types = dict(_sql(out, "SELECT column_name, column_type FROM (DESCRIBE pages)"))
    assert types["crawl_date"] == "DATE"
    assert types["fetch_time"] == "TIMESTAMP WITH TIME ZONE"
    assert types["topics"] == "VARCHAR[]"


def test_runs_view_has_manifest_fields(out):
    rows = _sql(
        out,
        "SELECT run_id, logical_date, finished_at, duration_s, records_read, pages, rejected,"
        " dead_letter, input_files, manifest->>'$.options.min_words' FROM runs ORDER BY run_id",
    )
    assert rows[0] == (
        "r1", dt.date(2020, 1, 10), dt.datetime(2020, 1, 10, 1, 0, 12, 500000, tzinfo=UTC),
        12.5, 6, 4, 1, 1, 1, "50",
    )  # fmt: skip
    assert rows[1][:2] == ("r2", dt.date(2020, 1, 17))


def test_run_id_restricts_every_view(out):
    assert _sql(out, "SELECT doc_id FROM pages ORDER BY 1", "r2") == [("b1",), ("b2",)]
    assert _sql(out, "SELECT count(*) FROM rejected", "r2") == [(2,)]
    assert _sql(out, "SELECT count(*) FROM dead_letter", "r2") == [(0,)]
    assert _sql(out, "SELECT run_id FROM runs", "r2") == [("r2",)]


def test_unknown_run_id_names_the_committed_ones(out):
    with pytest.raises(QueryError, match=r"no committed run 'r3'.*r1, r2"):
        connect(out, "r3")


def test_empty_tables_keep_their_columns(tmp_path):
    _write_run(tmp_path, "solo", "2021-05-01", [], [_rejected("u", "solo", "read", "x")], [])
    assert _sql(tmp_path, "SELECT count(*) FROM pages") == [(0,)]
    cols = [r[0] for r in _sql(tmp_path, "SELECT column_name FROM (DESCRIBE pages)")]
    assert cols == list(PAGES_SCHEMA.names) + ["crawl_date", "language"]
    types = dict(_sql(tmp_path, "SELECT column_name, column_type FROM (DESCRIBE pages)"))
    assert types["crawl_date"] == "DATE" and types["topic_scores"] == "FLOAT[]"
    dead_cols = [r[0] for r in _sql(tmp_path, "SELECT column_name FROM (DESCRIBE dead_letter)")]
    assert dead_cols == DEAD_LETTER_SCHEMA.names
    assert _sql(tmp_path, "SELECT reason FROM rejected") == [("x",)]


def test_older_schema_files_read_by_name(tmp_path):
    """A file without a column that later versions added still reads (NULL there)."""
    _write_run(tmp_path, "new", "2021-05-01", [_page("n1", "new", "2021-05-01", "en")], [], [])
    old = PAGES_SCHEMA.remove(PAGES_SCHEMA.get_field_index("dup_run"))
    row = {k: v for k, v in _page("o1", "old", "2021-04-01", "en").items() if k in old.names}
    rel = _write(tmp_path, "pages/crawl_date=2021-04-01/language=en/part-old-0.parquet", [row], old)
    manifest = {"run_id": "old", "logical_date": "2021-04-01", "files": {"pages": [rel]}}
    (tmp_path / "_runs" / "old.json").write_text(json.dumps(manifest))
    assert _sql(tmp_path, "SELECT doc_id, dup_run FROM pages ORDER BY 1") == [
        ("n1", None), ("o1", None)
    ]  # fmt: skip
    # Both schema versions are in the view, and partition filters still prune in each.
    read = _files_read(tmp_path, "crawl_date = DATE '2021-04-01'", tmp_path / "profile.json")
    assert read == ["crawl_date=2021-04-01/language=en/part-old-0.parquet"]


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: p / "missing", "no such output directory"),
        (lambda p: p, "no committed runs"),
    ],
)
def test_errors_are_one_line(tmp_path, setup, message):
    with pytest.raises(QueryError, match=message) as info:
        connect(setup(tmp_path))
    assert "\n" not in str(info.value)


def test_main_reports_errors_without_traceback(out, capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert main(parser.parse_args([str(out), "SELEC 1"])) == 1
    err = capsys.readouterr().err
    assert err.startswith("pagestream query: error: SQL error: Parser Error")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert main(parser.parse_args([str(out), "SELECT * FROM nope"])) == 1
    assert "nope" in capsys.readouterr().err
    assert main(parser.parse_args([str(out), "SELECT 1 AS one", "--format", "csv"])) == 0
    assert capsys.readouterr().out == "one\n1\n"


# --- formats --------------------------------------------------------------------------------

_FORMAT_SQL = (
    "SELECT doc_id, crawl_date, fetch_time, language_score, topics, topic_scores, title"
    " FROM pages WHERE doc_id IN ('a1', 'a3', 'b2') ORDER BY doc_id"
)


def test_json_format_exact_rows(out):
    assert json.loads(_query(out, _FORMAT_SQL, "json")) == [
        {"doc_id": "a1", "crawl_date": "2020-01-10", "fetch_time": "2020-01-10T08:30:00+00:00",
         "language_score": 0.9, "topics": ["science-technology", "health"],
         "topic_scores": [0.9, 0.4], "title": None},
        {"doc_id": "a3", "crawl_date": "2020-01-10", "fetch_time": "2020-01-10T08:30:00+00:00",
         "language_score": 0.9, "topics": [], "topic_scores": [], "title": "Salon"},
        {"doc_id": "b2", "crawl_date": "2020-01-11", "fetch_time": None, "language_score": None,
         "topics": ["sport"], "topic_scores": [0.75], "title": None},
    ]  # fmt: skip


def test_json_format_empty_result_is_an_array(out):
    assert json.loads(_query(out, "SELECT * FROM pages WHERE false", "json")) == []


def test_csv_format_exact_rows(out):
    rows = list(csv.reader(io.StringIO(_query(out, _FORMAT_SQL, "csv"))))
    assert rows == [
        ["doc_id", "crawl_date", "fetch_time", "language_score", "topics", "topic_scores", "title"],
        ["a1", "2020-01-10", "2020-01-10T08:30:00+00:00", "0.9",
         '["science-technology", "health"]', "[0.9, 0.4]", ""],
        ["a3", "2020-01-10", "2020-01-10T08:30:00+00:00", "0.9", "[]", "[]", "Salon"],
        ["b2", "2020-01-11", "", "", '["sport"]', "[0.75]", ""],
    ]  # fmt: skip


def test_table_format_is_readable(out):
    text = _query(out, "SELECT doc_id, text FROM pages ORDER BY doc_id LIMIT 2", "table")
    assert "doc_id" in text and "text of a1" in text and "text of a2" in text
    assert "2 rows" in text


def test_unknown_format_is_an_error(out):
    with pytest.raises(QueryError, match="--format must be one of table, csv, json"):
        _query(out, "SELECT 1", "xml")


# --- pruning --------------------------------------------------------------------------------


def _files_read(out_dir, where: str, profile: Path) -> list[str]:
    """The ``pages`` files DuckDB's profiler says the query read (its READ_PARQUET node)."""
    con = connect(out_dir)
    try:
        con.execute("PRAGMA enable_profiling = 'json'")
        con.execute(f"PRAGMA profiling_output = '{profile}'")
        con.execute(f"SELECT doc_id FROM pages WHERE {where}").fetchall()
        con.execute("PRAGMA disable_profiling")
    finally:
        con.close()
    nodes, read = json.loads(profile.read_text())["operator"], []
    while nodes:
        node = nodes.pop()
        info = node.get("extra_info", {})
        if info.get("Function") == "READ_PARQUET":
            files = [f for f in info.get("Filename(s)", "").split(", ") if f]
            assert int(info.get("Total Files Read", 0)) == len(files)
            read += [re.sub(r".*/pages/", "", f) for f in files]
        nodes.extend(node.get("children", []))
    return sorted(read)


@pytest.mark.parametrize(
    "where, files",
    [
        ("language = 'de'", ["crawl_date=2020-01-10/language=de/part-r1-0.parquet"]),
        (
            "crawl_date = DATE '2020-01-10'",
            ["crawl_date=2020-01-10/language=de/part-r1-0.parquet",
             "crawl_date=2020-01-10/language=en/part-r1-1.parquet"],
        ),
        (
            "crawl_date >= DATE '2020-01-11' AND language = 'en'",
            ["crawl_date=2020-01-17/language=en/part-r2-1.parquet"],
        ),
        ("word_count > 0", 4),
    ],
)  # fmt: skip
def test_partition_filters_prune_files(out, tmp_path, where, files):
    # The committed manifests list 4 existing files (r3's are not listed, one r1 file is gone).
    read = _files_read(out, where, tmp_path / "profile.json")
    assert read == files if isinstance(files, list) else len(read) == files


# --- documented examples --------------------------------------------------------------------


def _doc_queries() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.S)


def test_docs_have_examples():
    assert len(_doc_queries()) >= 5


@pytest.mark.parametrize("index", range(len(_doc_queries()) if DOCS.exists() else 0))
def test_documented_query_runs(out, tmp_path, monkeypatch, index):
    monkeypatch.chdir(tmp_path)  # examples that COPY TO a file write here
    text = _query(out, _doc_queries()[index], "json")
    if text:
        assert isinstance(json.loads(text), list)


def test_load_manifests_orders_by_logical_date(out):
    assert [r.run_id for r in load_manifests(out)] == ["r1", "r2"]
