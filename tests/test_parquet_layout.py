"""The Parquet files of a real run, read back with pyarrow: declared nullability, declared sort
order (``sorting_columns``) that the rows really follow, and ``domain`` NULL for file inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pagestream.cli import main
from pagestream.schemas.arrow import (
    DEAD_LETTER_SCHEMA,
    PAGES_SCHEMA,
    REJECTED_SCHEMA,
    sorting_columns,
)
from pagestream.transforms.write.parquet import write_parquet

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
NEVER_NULL = {"doc_id", "url", "text", "run_id"}


@pytest.fixture(scope="module")
def run_out(tmp_path_factory) -> Path:
    """One run over the mixed inputs (HTML, JSON Lines, text) and a real WARC: pages,
    rejected (non-2xx WARC responses, short pages) and a dead letter (a broken JSON line)."""
    if not SHARED.is_dir():
        pytest.skip("development data not found")
    inputs = tmp_path_factory.mktemp("in")
    for path in sorted((SHARED / "mixed").iterdir()):
        (inputs / path.name).write_bytes(path.read_bytes())
    (inputs / "warc.warc.gz").write_bytes((SHARED / "warc" / "example.warc.gz").read_bytes())
    (inputs / "broken.jsonl").write_text('{"url": "https://x.example/a", "html": \n')
    out = tmp_path_factory.mktemp("run") / "out"
    argv = ["run", "--input", str(inputs), "--output", str(out), "--run_id", "p1", "--quiet"]
    assert main(argv) == 0
    return out


def _files(out: Path, table: str) -> list[Path]:
    manifest = json.loads((out / "_runs" / "p1.json").read_text())
    return [out / rel for rel in manifest["files"][table]]


def test_pages_schema_declares_never_null_columns():
    nullable = {f.name: f.nullable for f in PAGES_SCHEMA}
    assert {name for name, ok in nullable.items() if not ok} == NEVER_NULL


@pytest.mark.parametrize("table, schema", [("pages", PAGES_SCHEMA), ("rejected", REJECTED_SCHEMA)])
def test_files_declare_and_follow_the_doc_id_order(run_out, table, schema):
    files = _files(run_out, table)
    assert files
    doc_id = schema.get_field_index("doc_id")
    for path in files:
        meta = pq.ParquetFile(path).metadata
        for i in range(meta.num_row_groups):
            assert meta.row_group(i).sorting_columns == (
                pq.SortingColumn(doc_id, descending=False, nulls_first=True),
            )
        ids = pq.read_table(path, columns=["doc_id"]).column("doc_id").to_pylist()
        keys = [(value is not None, value or "") for value in ids]  # nulls first
        assert keys == sorted(keys)


def test_pages_files_keep_the_declared_nullability(run_out):
    for path in _files(run_out, "pages"):
        schema = pq.read_schema(path)
        assert {f.name for f in schema if not f.nullable} == NEVER_NULL
        assert pq.ParquetFile(path).schema.column(0).max_definition_level == 0  # REQUIRED
        table = pq.read_table(path, columns=sorted(NEVER_NULL))
        assert all(table.column(name).null_count == 0 for name in NEVER_NULL)


def test_dead_letter_files_declare_no_order(run_out):
    files = _files(run_out, "dead_letter")
    assert len(files) == 1
    assert pq.ParquetFile(files[0]).metadata.row_group(0).sorting_columns == ()
    assert sorting_columns(DEAD_LETTER_SCHEMA) == []


def test_domain_is_null_for_file_inputs_and_set_for_web_urls(run_out):
    rows = pa.concat_tables(
        pq.read_table(p, columns=["url", "domain"]) for p in _files(run_out, "pages")
    ).to_pylist()
    by_file = [r for r in rows if r["url"].startswith("file://")]
    web = [r for r in rows if not r["url"].startswith("file://")]
    assert len(by_file) == 1  # the .txt scrape has no url: its file URI stands in
    assert by_file[0]["domain"] is None
    assert web and all(r["domain"] and r["domain"] == r["domain"].lower() for r in web)
    assert "" not in {r["domain"] for r in rows}


def test_writer_refuses_a_null_in_a_never_null_column(tmp_path):
    row = {name: None for name in PAGES_SCHEMA.names}
    row.update(doc_id="d", url="https://a.example/", text="t", run_id=None, topics=[])
    with pytest.raises(pa.ArrowInvalid, match="run_id"):
        write_parquet(str(tmp_path / "x.parquet"), [row], PAGES_SCHEMA, 10)
