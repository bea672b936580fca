from __future__ import annotations

import datetime as dt
import json
import re

import apache_beam as beam
import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from pagestream.schemas.arrow import PAGES_PARTITIONING, PAGES_SCHEMA, SCHEMA_METADATA
from pagestream.schemas.records import KIND_DEAD, KIND_REJECTED, Page
from pagestream.transforms.write.commit import (
    CommitRun,
    commit,
    list_manifests,
    read_manifest,
)
from pagestream.transforms.write.parquet import (
    StagedFile,
    WriteConfig,
    WritePartitionedParquet,
)
from pagestream.transforms.write.rows import page_row, partition_path
from pagestream.transforms.write.stats import RunStats

PAGE_COLUMNS = [f.name for f in PAGES_SCHEMA]


def _plain(path: str) -> str:
    """A file path without its attempt token: ``part-r1-<8 hex>-0`` -> ``part-r1-0``."""
    return re.sub(r"-[0-9a-f]{8}-(\d+)\.parquet$", r"-\1.parquet", str(path))


def test_record_fields_match_the_pages_schema():
    """The pages columns are the Page fields up to pipeline_version, minus the partition keys."""
    fields = list(Page._fields[: Page._fields.index("pipeline_version") + 1])
    assert [f for f in fields if f != "language"] == PAGE_COLUMNS
    assert "language" in Page._fields and "crawl_date" in Page._fields


def test_page_row_types(page_factory):
    row = page_row(page_factory(fetch_time=1_562_231_700_000_000, published_date="2019-07-03"))
    assert row["fetch_time"] == dt.datetime(2019, 7, 4, 9, 15, tzinfo=dt.timezone.utc)
    assert row["published_date"] == dt.date(2019, 7, 3)
    assert set(row) == set(PAGE_COLUMNS)


@pytest.mark.parametrize(
    ("date", "lang", "expected"),
    [
        ("2020-01-10", "en", "crawl_date=2020-01-10/language=en"),
        ("2020-01-10", "zh-cn", "crawl_date=2020-01-10/language=zh-cn"),
        ("2020-01-10", "../x", "crawl_date=2020-01-10/language=.._x"),
    ],
)
def test_partition_path(date, lang, expected):
    assert partition_path(date, lang) == expected


def _pages(page_factory):
    return [
        page_factory(doc_id="b", url="https://a.example/b", crawl_date="2020-01-10", language="en"),
        page_factory(doc_id="a", url="https://a.example/a", crawl_date="2020-01-10", language="en",
                     fetch_time=1_578_614_400_000_000, topics=["politics"], topic_scores=[0.5]),
        page_factory(doc_id="c", url="https://b.example/c", crawl_date="2020-01-11", language="de"),
        page_factory(doc_id="", url="https://b.example/r", kind=KIND_REJECTED, stage="extract",
                     reason="too_short", word_count=3),
        page_factory(doc_id="", url="", kind=KIND_DEAD, stage="read", reason="invalid_json",
                     error="JSONDecodeError: x", source="/in/feed.jsonl#9", excerpt="{x"),
    ]  # fmt: skip


def _run_write(pages, out, run_id, config=None):
    base = {"run_id": run_id, "logical_date": "2020-01-10", "started_at": "2020-01-10T00:00:00+00:00",
            "options": {"output": str(out)}, "inputs": {"files": 1, "bytes": 1, "skipped": []}}  # fmt: skip
    pages = [p._replace(run_id=run_id) for p in pages]
    with TestPipeline() as p:
        records = p | beam.Create(pages)
        files = records | WritePartitionedParquet(str(out), run_id, config)
        stats = records | RunStats()
        _ = (files, stats) | CommitRun(str(out), run_id, base)
    return read_manifest(str(out), run_id)


def test_written_tables_read_back_with_pyarrow_and_duckdb(tmp_path, page_factory):
    out = tmp_path / "out"
    manifest = _run_write(_pages(page_factory), out, "r1")
    assert manifest["counts"] == {"records_read": 5, "pages": 3, "rejected": 1, "dead_letter": 1}
    assert [_plain(p) for p in manifest["files"]["pages"]] == [
        "pages/crawl_date=2020-01-10/language=en/part-r1-0.parquet",
        "pages/crawl_date=2020-01-11/language=de/part-r1-0.parquet",
    ]
    assert not (out / "_staging" / "r1").exists()

    table = ds.dataset(
        out / "pages",
        format="parquet",
        partitioning=ds.partitioning(PAGES_PARTITIONING, flavor="hive"),
    ).to_table()
    rows = sorted(table.to_pylist(), key=lambda r: r["doc_id"])
    assert [(r["doc_id"], r["crawl_date"], r["language"]) for r in rows] == [
        ("a", dt.date(2020, 1, 10), "en"),
        ("b", dt.date(2020, 1, 10), "en"),
        ("c", dt.date(2020, 1, 11), "de"),
    ]
    assert rows[0]["fetch_time"] == dt.datetime(2020, 1, 10, tzinfo=dt.timezone.utc)
    assert rows[0]["topics"] == ["politics"]
    # Within a file rows are sorted by doc_id; the schema and its version are in the file.
    en = pq.read_table(out / manifest["files"]["pages"][0])
    assert en.column("doc_id").to_pylist() == ["a", "b"]
    assert (
        en.schema.metadata[b"pagestream.schema_version"]
        == SCHEMA_METADATA[b"pagestream.schema_version"]
    )
    assert (
        pq.ParquetFile(out / manifest["files"]["pages"][0])
        .metadata.row_group(0)
        .column(0)
        .compression
        == "ZSTD"
    )

    con = duckdb.connect()
    got = con.execute(
        f"SELECT doc_id, crawl_date, language FROM read_parquet('{out}/pages/**/*.parquet', "
        "hive_partitioning=true, union_by_name=true) ORDER BY doc_id"
    ).fetchall()
    assert got == [("a", dt.date(2020, 1, 10), "en"), ("b", dt.date(2020, 1, 10), "en"),
                   ("c", dt.date(2020, 1, 11), "de")]  # fmt: skip
    dead = con.execute(
        f"SELECT source, stage, reason, error FROM '{out}/dead_letter/*.parquet'"
    ).fetchall()
    assert dead == [("/in/feed.jsonl#9", "read", "invalid_json", "JSONDecodeError: x")]
    rejected = con.execute(f"SELECT url, stage, reason FROM '{out}/rejected/*.parquet'").fetchall()
    assert rejected == [("https://b.example/r", "extract", "too_short")]


def test_files_roll_over_at_the_size_limit(tmp_path, page_factory):
    pages = [page_factory(doc_id=f"d{i:02d}", text="word " * 400) for i in range(10)]
    manifest = _run_write(pages, tmp_path, "r1", WriteConfig(target_file_bytes=5000))
    files = manifest["files"]["pages"]
    assert len(files) == 4  # ~2,250 bytes a row: a new file after every third row
    ids = [pq.read_table(tmp_path / f).column("doc_id").to_pylist() for f in files]
    assert sum(ids, []) == [f"d{i:02d}" for i in range(10)]


def test_rerun_replaces_its_own_files_and_leaves_other_runs_alone(tmp_path, page_factory):
    pages = _pages(page_factory)
    _run_write(pages, tmp_path, "s")
    _run_write(pages, tmp_path, "s-1")
    # Rerun "s" with one partition fewer: its old de file must go, s-1's files must stay.
    manifest = _run_write([p for p in pages if p.language != "de"], tmp_path, "s")
    remaining = sorted(
        _plain(p.relative_to(tmp_path)) for p in tmp_path.glob("pages/*/*/*.parquet")
    )
    assert remaining == [
        "pages/crawl_date=2020-01-10/language=en/part-s-0.parquet",
        "pages/crawl_date=2020-01-10/language=en/part-s-1-0.parquet",
        "pages/crawl_date=2020-01-11/language=de/part-s-1-0.parquet",
    ]
    assert manifest["counts"]["pages"] == 2
    assert [m["run_id"] for m in list_manifests(str(tmp_path))] == ["s", "s-1"]


def test_empty_run_is_committed_with_zero_counts(tmp_path):
    base = {"run_id": "e", "logical_date": "2020-01-10", "started_at": "2020-01-10T00:00:00+00:00"}
    with TestPipeline() as p:
        records = p | beam.Create([]).with_output_types(Page)
        files = records | WritePartitionedParquet(str(tmp_path), "e")
        _ = (files, records | RunStats()) | CommitRun(str(tmp_path), "e", base)
    manifest = json.loads((tmp_path / "_runs" / "e.json").read_text())
    assert manifest["counts"] == {"records_read": 0, "pages": 0, "rejected": 0, "dead_letter": 0}
    assert manifest["files"] == {"pages": [], "rejected": [], "dead_letter": []}


def test_commit_moves_staged_files_lists_them_and_leaves_no_staging(tmp_path):
    staged = tmp_path / "_staging" / "r" / "rejected" / "part-r-0123abcd-0.parquet"
    staged.parent.mkdir(parents=True)
    staged.write_bytes(b"xy")
    final = tmp_path / "rejected" / "part-r-0123abcd-0.parquet"
    manifest = commit(
        str(tmp_path), "r", [StagedFile("rejected", str(staged), str(final), 1, 2)], {"run_id": "r"}
    )
    assert manifest["files"]["rejected"] == ["rejected/part-r-0123abcd-0.parquet"]
    assert manifest["file_list"] == [
        {"table": "rejected", "path": "rejected/part-r-0123abcd-0.parquet", "rows": 1, "bytes": 2}
    ]
    assert final.read_bytes() == b"xy" and not staged.exists()
    assert not (tmp_path / "_staging").exists()  # not even an empty _staging/
    assert read_manifest(str(tmp_path), "r") == manifest


def test_manifest_rankings_break_ties_by_name_whatever_the_merge_order():
    from collections import Counter

    from pagestream.transforms.write.stats import _empty, finalise

    def acc(order):
        a = _empty()
        for name in order:
            a["domains"][name] += 2
            a["languages"][name[:2]] += 1
            a["topics"][name] += 1
        a["domains"]["big.example"] += 5
        return a

    names = [f"site{i:02d}.example" for i in range(60)]
    forward, backward = finalise(acc(names)), finalise(acc(names[::-1]))
    assert list(forward["domains"].items()) == list(backward["domains"].items())
    assert list(forward["domains"])[:3] == ["big.example", "site00.example", "site01.example"]
    assert len(forward["domains"]) == 50
    assert list(forward["topics"]) == list(backward["topics"]) == sorted(Counter(names))
    assert list(forward["languages"]) == list(backward["languages"])
