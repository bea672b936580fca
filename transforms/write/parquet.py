"""Writing the three tables as zstd Parquet under the run's staging directory.

Files are written to ``OUT/_staging/<run_id>/<table>/...`` (outside every table directory:
DuckDB's globs do not skip ``_`` names), named ``part-<run_id>-<attempt>-<n>.parquet`` (a name no
other attempt uses, see ``files``), and moved into place by ``commit.CommitRun``. Rows are
grouped by partition and by a shard of ``doc_id``, sorted within a file, and rolled over into a
new file at ``WriteConfig.target_file_bytes``: a few large files per partition, never one per
record or bundle, and the same bytes for the same input on a single worker.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pagestream.schemas.arrow import (
    DEAD_LETTER_SCHEMA,
    PAGES_SCHEMA,
    REJECTED_SCHEMA,
    sorting_columns,
)
from pagestream.schemas.records import KIND_DEAD, KIND_PAGE, KIND_REJECTED, Page
from pagestream.schemas.validation import Number, check_fields, setting
from pagestream.transforms.write.files import file_name, new_attempt, staging_dir
from pagestream.transforms.write.progress import Heartbeat
from pagestream.transforms.write.rows import (
    dead_letter_row,
    page_row,
    partition_path,
    rejected_row,
)

__all__ = [
    "StagedFile",
    "WriteConfig",
    "WritePartitionedParquet",
    "WriteTable",
]

TABLES = {"pages": PAGES_SCHEMA, "rejected": REJECTED_SCHEMA, "dead_letter": DEAD_LETTER_SCHEMA}


@dataclass(frozen=True)
class WriteConfig:
    """File sizing.

    Attributes:
        target_file_bytes: roll over to a new file after about this many bytes of row data
            (before compression; zstd text is typically 3-4x smaller on disk).
        row_group_rows: rows per Parquet row group (the unit DuckDB/Spark read in parallel).
        shards: groups per partition; more shards bound the memory of one writer and spread
            big partitions over workers. ``pipelines`` derives it from the input size.
        first_file: file numbers start here (``<n>`` in the name): each wave of a run
            (``pipelines.waves``) numbers its files apart from the other waves'.
    """

    target_file_bytes: int = setting(Number(int, 1024, default=512 * 1024 * 1024))
    row_group_rows: int = setting(Number(int, 1, 10_000_000, default=20_000))
    shards: int = setting(Number(int, 1, 100_000, default=1))
    first_file: int = setting(Number(int, 0, 10**15, default=0))

    def __post_init__(self):
        check_fields(self)


class StagedFile(NamedTuple):
    """A file written by this run, and where the commit step moves it."""

    table: str
    staged_path: str
    final_path: str
    rows: int
    bytes: int


def _row_bytes(row: dict) -> int:
    text = row.get("text") or row.get("traceback") or ""
    return len(text) + 256


def write_parquet(path: str, rows: list[dict], schema: pa.Schema, row_group_rows: int) -> int:
    """Writes ``rows`` to ``path`` (any Beam filesystem) as zstd Parquet; returns bytes written.

    ``rows`` must be sorted by ``doc_id`` (nulls first) when ``schema`` has it: every row group
    declares that order in its ``sorting_columns``.
    """
    table = pa.Table.from_pylist(rows, schema=schema)
    with FileSystems.create(path) as handle:
        sink = pa.PythonFile(handle, mode="w")
        with pq.ParquetWriter(
            sink,
            schema,
            compression="zstd",
            compression_level=3,
            sorting_columns=sorting_columns(schema),
        ) as writer:
            writer.write_table(table, row_group_size=row_group_rows)
        size = sink.tell()
    return size


def _chunks(rows: list[dict], target_bytes: int) -> Iterator[list[dict]]:
    chunk, size = [], 0
    for row in rows:
        chunk.append(row)
        size += _row_bytes(row)
        if size >= target_bytes:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


class WriteGroupFn(beam.DoFn):
    """(table, partition, shard), rows -> Parquet files in staging; yields StagedFile."""

    def __init__(
        self,
        output: str,
        run_id: str,
        config: WriteConfig,
        progress_dir: str | None = None,
        attempt: str = "",
    ):
        self.output = output.rstrip("/")
        self.run_id = run_id
        self.config = config
        self.progress_dir = progress_dir
        self.attempt = attempt or new_attempt()

    def setup(self):
        self.heartbeat = Heartbeat(self.progress_dir, "write")

    def finish_bundle(self):
        self.heartbeat.flush()

    def process(self, element) -> Iterator[StagedFile]:
        (table, partition, shard), rows = element
        rows = sorted(
            rows, key=lambda r: (r.get("doc_id") or "", r["source"] or "", r["url"] or "")
        )
        directory = f"{table}/{partition}" if partition else table
        for roll, chunk in enumerate(_chunks(rows, self.config.target_file_bytes)):
            n = self.config.first_file + shard * 10000 + roll
            name = file_name(self.run_id, self.attempt, n)
            staged = f"{staging_dir(self.output, self.run_id)}/{directory}/{name}"
            size = write_parquet(staged, chunk, TABLES[table], self.config.row_group_rows)
            if table == "pages":
                self.heartbeat.add("written", len(chunk))
            yield StagedFile(table, staged, f"{self.output}/{directory}/{name}", len(chunk), size)


def _shard(page: Page, shards: int) -> int:
    return zlib.crc32((page.doc_id or page.source).encode()) % shards


class WriteTable(beam.PTransform):
    """Writes pages of one kind as one table; ``PCollection[Page] -> PCollection[StagedFile]``.

    Args:
        table: ``pages``, ``rejected`` or ``dead_letter``.
        output: the output directory (``OUT``).
        run_id: the run's id, part of every file name (``part-<run_id>-<attempt>-<n>.parquet``).
        config: file sizing.
        attempt: this attempt's token (``files.new_attempt``); a new one when empty.
    """

    _ROWS = {"pages": page_row, "rejected": rejected_row, "dead_letter": dead_letter_row}
    _KINDS = {"pages": KIND_PAGE, "rejected": KIND_REJECTED, "dead_letter": KIND_DEAD}

    def __init__(
        self,
        table: str,
        output: str,
        run_id: str,
        config: WriteConfig,
        progress_dir: str | None = None,
        attempt: str = "",
    ):
        super().__init__()
        if table not in TABLES:
            raise ValueError(f"table must be one of {sorted(TABLES)}, got {table!r}")
        self.table, self.output, self.run_id, self.config = table, output, run_id, config
        self.progress_dir = progress_dir
        self.attempt = attempt or new_attempt()

    def expand(self, pages):
        table, kind, to_row = self.table, self._KINDS[self.table], self._ROWS[self.table]
        shards = self.config.shards

        def keyed(page: Page) -> Iterable[tuple[tuple[str, str, int], dict]]:
            if page.kind != kind:
                return
            partition = partition_path(page.crawl_date, page.language) if table == "pages" else ""
            yield (table, partition, _shard(page, shards)), to_row(page)

        return (
            pages
            | "Key" >> beam.FlatMap(keyed)
            | "Group" >> beam.GroupByKey()
            | "WriteFiles"
            >> beam.ParDo(
                WriteGroupFn(self.output, self.run_id, self.config, self.progress_dir, self.attempt)
            )
        )


class WritePartitionedParquet(beam.PTransform):
    """Writes ``pages``, ``rejected`` and ``dead_letter`` to the run's staging directory.

    Input: ``PCollection[Page]`` of all kinds. Output: ``PCollection[StagedFile]``, one per
    file written, for ``CommitRun``. ``pages`` is partitioned by ``crawl_date``/``language``.
    All files share one attempt token (``attempt``, a new one when empty).
    """

    def __init__(
        self,
        output: str,
        run_id: str,
        config: WriteConfig | None = None,
        progress_dir: str | None = None,
        attempt: str = "",
    ):
        super().__init__()
        self.output, self.run_id = output, run_id
        self.config = config or WriteConfig()
        self.progress_dir = progress_dir
        self.attempt = attempt or new_attempt()

    def expand(self, pages):
        written = [
            pages
            | f"Write_{table}"
            >> WriteTable(
                table, self.output, self.run_id, self.config, self.progress_dir, self.attempt
            )
            for table in TABLES
        ]
        return written | "AllFiles" >> beam.Flatten()
