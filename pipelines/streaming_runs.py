"""One committed run per window of the streaming graph: run ids, Parquet files, the commit.

``NameWindowRunFn`` names a window's run (``window_run_id``; ``free_run_id`` for late panes),
``WriteWindowFilesFn`` writes its Parquet files and ``CommitWindowFn`` commits them with the
batch protocol (``write.commit``).
"""

from __future__ import annotations

import zlib
from datetime import datetime, timezone

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms import window
from apache_beam.utils.timestamp import Timestamp

from pagestream import SCHEMA_VERSION, __version__
from pagestream.schemas.records import KIND_DEAD, KIND_PAGE, KIND_REJECTED, Page
from pagestream.transforms.write.commit import commit, manifest_path
from pagestream.transforms.write.files import file_name, new_attempt, staging_dir
from pagestream.transforms.write.parquet import TABLES, StagedFile, write_parquet
from pagestream.transforms.write.rows import (
    dead_letter_row,
    page_row,
    partition_path,
    rejected_row,
)

__all__ = [
    "CommitWindowFn",
    "NameWindowRunFn",
    "WriteWindowFilesFn",
    "free_run_id",
    "window_run_id",
]

_ROWS = {
    KIND_PAGE: ("pages", page_row),
    KIND_REJECTED: ("rejected", rejected_row),
    KIND_DEAD: ("dead_letter", dead_letter_row),
}


def utc_datetime(ts: Timestamp) -> datetime:
    return datetime.fromtimestamp(ts.micros / 1e6, tz=timezone.utc)


def window_run_id(base: str, win: window.BoundedWindow) -> str:
    """``<base>-<window start, UTC, YYYYmmddTHHMMSSZ>``: ids sort in window order."""
    return f"{base}-{utc_datetime(win.start).strftime('%Y%m%dT%H%M%SZ')}"


def free_run_id(output: str, run: str) -> str:
    """``run`` if it is not committed in ``output``, else the first free ``<run>-late<k>``.

    A late pane of a window must not replace the window's committed run.
    """
    candidate, k = run, 0
    while FileSystems.exists(manifest_path(output, candidate)):
        k += 1
        candidate = f"{run}-late{k}"
    return candidate


class NameWindowRunFn(beam.DoFn):
    """Sets ``run_id`` (and ``dup_run`` of in-window duplicates) to the window's run id, and
    ``crawl_date`` of pages without a fetch time to the window's UTC date."""

    def __init__(self, base: str) -> None:
        self.base = base

    def process(self, page: Page, win=beam.DoFn.WindowParam):
        run = window_run_id(self.base, win)
        day = utc_datetime(win.start).date().isoformat()
        yield page._replace(
            run_id=run,
            dup_run=run if page.dup_run == self.base else page.dup_run,
            crawl_date=page.crawl_date if page.fetch_time is not None else day,
        )


def table_rows(page: Page):
    table, to_row = _ROWS[page.kind]
    partition = partition_path(page.crawl_date, page.language) if table == "pages" else ""
    yield (page.run_id, table, partition), to_row(page)


class WriteWindowFilesFn(beam.DoFn):
    """((run, table, partition), rows) -> ``(run, StagedFile)``, one file per group.

    Every file gets a fresh attempt token (``part-<run>-<attempt>-<n>.parquet``): a retried
    bundle never overwrites a file another try wrote, and the run's manifest lists the ones
    committed (the others are orphans that ``pagestream vacuum`` removes)."""

    def __init__(self, output: str, row_group_rows: int = 20_000) -> None:
        self.output, self.row_group_rows = output.rstrip("/"), row_group_rows

    def process(self, element):
        (run, table, partition), rows = element
        target = free_run_id(self.output, run)
        if target != run:  # a late pane: its own run, same window
            rows = [_renamed(row, run, target) for row in rows]
            run = target
        rows = sorted(
            rows, key=lambda r: (r.get("doc_id") or "", r["source"] or "", r["url"] or "")
        )
        directory = f"{table}/{partition}" if partition else table
        name = file_name(run, new_attempt(), _file_number(table, partition))
        staged = f"{staging_dir(self.output, run)}/{directory}/{name}"
        size = write_parquet(staged, rows, TABLES[table], self.row_group_rows)
        yield run, StagedFile(table, staged, f"{self.output}/{directory}/{name}", len(rows), size)


def _renamed(row: dict, run: str, target: str) -> dict:
    row = {**row, "run_id": target}
    if row.get("dup_run") == run:
        row["dup_run"] = target
    return row


def _file_number(table: str, partition: str) -> int:
    """A stable number per (table, partition): file names never clash within a run."""
    return zlib.crc32(f"{table}/{partition}".encode()) % 100_000_000


class CommitWindowFn(beam.DoFn):
    """(run, staged files) -> the run committed by ``write.commit`` (the batch protocol)."""

    def __init__(self, output: str, base: str, options: dict) -> None:
        self.output, self.base, self.options = output, base, options

    def process(self, element, win=beam.DoFn.WindowParam):
        run, files = element
        files = sorted(files)
        rows = dict.fromkeys(TABLES, 0)
        for file in files:
            rows[file.table] += file.rows
        manifest = {
            "run_id": run,
            "logical_date": utc_datetime(win.start).date().isoformat(),
            "schema_version": SCHEMA_VERSION,
            "pipeline_version": __version__,
            "status": "committed",
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "window": {
                "start": utc_datetime(win.start).isoformat(),
                "end": utc_datetime(win.end).isoformat(),
            },
            "streaming": {"base_run_id": self.base},
            "options": self.options,
            "counts": {"records_read": sum(rows.values()), **rows},
        }
        yield commit(self.output, run, files, manifest)
