"""``pagestream query``: SQL with DuckDB over the committed runs of an output directory.

A run is committed when ``DIR/_runs/<run_id>.json`` exists (INTERFACE.md). :func:`connect` reads
those manifests and builds every view from the file lists they name, so files of a run that is
still being written (or that failed half-way) are never read, whatever a raw glob would see.

Views registered by :func:`connect`:

* ``pages`` -- the ``pages`` table with ``crawl_date`` (DATE) and ``language`` read back from the
  Hive directory names; a filter on them prunes files before any row group is read.
* ``rejected``, ``dead_letter`` -- the other two tables.
* ``runs`` -- one row per manifest: its scalar fields as columns plus the raw JSON (``manifest``).

Example queries users can copy are in ``docs/queries.md`` (each is run by the tests).

Only local paths (and ``file://`` URIs) are read; ``gs://``, ``s3://`` and other remote paths
are refused with :class:`UsageError` (exit status 2). Remote outputs could work the same way
through DuckDB's ``httpfs`` extension (``INSTALL httpfs``, credentials via ``CREATE SECRET``),
which is downloaded on first use: pagestream makes no network call, so it does not do this.

How results print (``table``, ``csv``, ``json``) is in :mod:`pagestream.query_output`; how the
table views read the listed Parquet files is in :mod:`pagestream.query_views`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit
from urllib.request import url2pathname

import duckdb

from pagestream.query_files import check_listed_files, table_sources
from pagestream.query_output import FORMATS, rows, write_result
from pagestream.query_runs import create_runs_view as _create_runs_view
from pagestream.query_views import create_table_view, existing_files, sql_string

__all__ = [
    "FORMATS",
    "TABLES",
    "QueryError",
    "RunManifest",
    "UsageError",
    "add_arguments",
    "committed_files",
    "connect",
    "load_manifests",
    "local_output_dir",
    "main",
    "read_sql",
    "run_query",
]

#: Tables of an output directory, in the order the views are created.
TABLES = ("pages", "rejected", "dead_letter")


class QueryError(Exception):
    """A problem a user can fix: no such directory, no committed run, unknown run id, bad SQL."""


class UsageError(QueryError):
    """The command itself is wrong (a path it cannot read, no SQL): exit status 2."""


_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def local_output_dir(out_dir: str | Path) -> Path:
    """``out_dir`` as a local path (a ``file://`` URI becomes its path).

    Raises:
        UsageError: ``out_dir`` is a remote URL (``gs://``, ``s3://``, ...); the message says
            it is not supported and how to read such an output.
    """
    text = str(out_dir)
    scheme = _URL_SCHEME.match(text)
    if scheme is None:
        return Path(out_dir)
    if scheme.group(1).lower() == "file":
        return Path(url2pathname(urlsplit(text).path))
    raise UsageError(
        f"not supported: {text}: query and report read local output directories only; copy it"
        f" first (e.g. gcloud storage cp -r / aws s3 sync) or read its Parquet with DuckDB's httpfs"
    )


@dataclass(frozen=True)
class RunManifest:
    """One committed run: its manifest path and parsed JSON."""

    path: Path
    data: dict[str, Any]

    @property
    def run_id(self) -> str:
        return str(self.data.get("run_id") or self.path.stem)

    def files(self, table: str) -> list[str]:
        """Paths of ``table`` files, relative to the output directory, as the manifest lists them."""
        return list((self.data.get("files") or {}).get(table) or [])


def load_manifests(out_dir: str | Path, run_id: str | None = None) -> list[RunManifest]:
    """Reads the manifests of the committed runs of ``out_dir``.

    Returns:
        The runs ordered by ``logical_date`` then ``run_id`` (the order INTERFACE.md gives runs);
        only the run ``run_id`` when it is given.

    Raises:
        QueryError: ``out_dir`` does not exist, holds no committed run, a manifest is not valid
            JSON, or ``run_id`` names no committed run (the message lists the run ids there are).
    """
    root = Path(out_dir)
    if not root.is_dir():
        raise QueryError(f"no such output directory: {out_dir}")
    runs = []
    # Names starting with "." or "_" are writers' temporary files (INTERFACE.md), never manifests.
    for path in sorted((root / "_runs").glob("[!._]*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise QueryError(f"unreadable manifest {path}: {exc}") from None
        if not isinstance(data, dict):
            raise QueryError(f"unreadable manifest {path}: not a JSON object")
        runs.append(RunManifest(path, data))
    if not runs:
        raise QueryError(f"no committed runs in {out_dir} (no manifest in {root / '_runs'})")
    runs.sort(key=lambda r: (str(r.data.get("logical_date") or ""), r.run_id))
    if run_id is None:
        return runs
    chosen = [r for r in runs if r.run_id == run_id]
    if not chosen:
        known = ", ".join(r.run_id for r in runs)
        raise QueryError(f"no committed run {run_id!r} in {out_dir}; committed runs: {known}")
    return chosen


def connect(out_dir: str | Path, run_id: str | None = None) -> duckdb.DuckDBPyConnection:
    """Opens an in-memory DuckDB connection with the views over the committed runs of ``out_dir``.

    Guarantees: exactly the files named in the manifests are read (the files of a compaction
    for the runs it absorbed); every view exists with its full column set even when no run
    wrote that table;
    ``crawl_date`` is a DATE; the session time zone is UTC, so timestamps print the same on every
    machine. Files of older schema versions read by column name (missing columns are NULL),
    as ``union_by_name`` would; a filter on ``crawl_date``/``language`` skips the other files
    entirely (footers included).

    Args:
        out_dir: An output directory written by ``pagestream run``.
        run_id: Restrict every view (``runs`` included) to this committed run.

    Raises:
        QueryError: see :func:`load_manifests`; also when a listed file is missing, has another
            size than its manifest records, or cannot be read.
    """
    out_dir = local_output_dir(out_dir)
    runs = load_manifests(out_dir, run_id)
    root = Path(out_dir).resolve()
    sources, shared = table_sources(out_dir, runs, run_id)
    check_listed_files(root, sources)
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    try:
        for table in TABLES:
            name = f"_all_{table}" if shared else table
            create_table_view(con, name, existing_files(root, sources, table), table)
            if shared:  # the run's rows share compacted files with other runs
                con.execute(
                    f"CREATE VIEW {table} AS SELECT * FROM {name} WHERE run_id = {sql_string(run_id)}"
                )
        _create_runs_view(con, runs)
    except duckdb.Error as exc:
        con.close()
        raise QueryError(f"cannot open the tables of {out_dir}: {_first_line(exc)}") from None
    return con


def committed_files(
    out_dir: str | Path, table: str = "pages", run_id: str | None = None
) -> list[str]:
    """The absolute paths of the committed files of ``table`` (one manifest's, or every run's).

    This is the consistent way to read an output directory without :func:`connect`: a raw glob
    (``out/pages/**/*.parquet``) can also see files of a run being committed, or left by a
    crashed attempt until the next run or ``pagestream vacuum`` removes them. E.g.
    ``duckdb.read_parquet(committed_files("out"), hive_partitioning=True)``.

    Raises:
        QueryError: see :func:`load_manifests`; also when a listed file is missing.
    """
    if table not in TABLES:
        raise QueryError(f"table must be one of {', '.join(TABLES)}, not {table!r}")
    runs = load_manifests(out_dir, run_id)
    root = Path(out_dir).resolve()
    sources, shared = table_sources(out_dir, runs, run_id)
    if shared:
        raise QueryError(
            f"run {run_id} was compacted into files shared with other runs (pagestream compact): "
            f"read committed_files({str(out_dir)!r}) WHERE run_id = {run_id!r}"
        )
    check_listed_files(root, sources)
    return [str(root / rel) for run in sources for rel in run.files(table)]


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def run_query(
    out_dir: str | Path,
    sql: str,
    run_id: str | None = None,
    fmt: str = "table",
    out: TextIO | None = None,
) -> None:
    """Runs ``sql`` over the committed runs of ``out_dir`` and prints the result.

    ``table`` is for people: at most 1,000 rows, long cells cut, columns fitted to the terminal
    width (``COLUMNS`` when set), one field per line when they cannot all fit; ``csv`` (a
    header line, lists as JSON) and ``json`` (one array of row objects, dates and timestamps as
    ISO 8601 strings, NaN as null) print every row, in the order the query returns them. FLOAT
    columns print with the shortest digits that round-trip in 32 bits (0.9, not 0.899999976).
    A statement that returns no result (``COPY ... TO``) prints nothing.

    Raises:
        QueryError: the directory, run id or SQL is wrong; the message is one line.
    """
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    out = out or sys.stdout
    con = connect(out_dir, run_id)
    try:
        cursor = con.execute(sql)
        if cursor.description is None:
            return
        names = [col[0] for col in cursor.description]
        write_result(fmt, names, rows(cursor), out)
    except duckdb.Error as exc:
        raise QueryError(f"SQL error: {_first_line(exc)}") from None
    finally:
        con.close()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``pagestream query`` arguments: ``DIR SQL [--run_id ID] [--format F]``."""
    parser.add_argument("dir", help="output directory of pagestream run")
    parser.add_argument(
        "sql", help="SQL over the views pages, rejected, dead_letter, runs; '-' reads it from stdin"
    )
    parser.add_argument("--run_id", default=None, help="restrict every view to this run")
    parser.add_argument(
        "--format", dest="format", choices=FORMATS, default="table", help="output format"
    )


def read_sql(sql: str, stdin: TextIO | None = None) -> str:
    """``sql``, or all of ``stdin`` when ``sql`` is ``-``.

    Raises:
        UsageError: the SQL is empty (blank argument or nothing on stdin).
    """
    if sql == "-":
        sql = (stdin or sys.stdin).read()
        if not sql.strip():
            raise UsageError("no SQL on stdin (the SQL argument is '-')")
    if not sql.strip():
        raise UsageError("the SQL argument is empty")
    return sql


def main(args: argparse.Namespace) -> int:
    """Runs ``pagestream query``; returns the exit status.

    Errors print one line on stderr: exit status 2 for a wrong command (remote path, no SQL),
    1 for a query that failed (bad SQL, no committed run, unknown run id).
    """
    try:
        run_query(args.dir, read_sql(args.sql), run_id=args.run_id, fmt=args.format)
    except QueryError as exc:
        print(f"pagestream query: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
    except BrokenPipeError:  # `pagestream query ... | head`: stop quietly, as `cat` does
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 -- keeps Python's exit flush silent
        return 0
    return 0
