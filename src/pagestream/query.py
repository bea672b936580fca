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

Only local paths are supported. Remote outputs would work the same way through DuckDB's
``httpfs`` extension (``INSTALL httpfs; LOAD httpfs;`` plus GCS HMAC keys via ``CREATE SECRET``,
then ``gs://`` paths in ``read_parquet``); the manifests would have to be listed and read with a
filesystem client (e.g. ``apache_beam.io.filesystems``) instead of :mod:`pathlib`.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import decimal
import json
import math
import os
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import duckdb
import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from pagestream.query_files import check_listed_files, table_sources

__all__ = [
    "FORMATS",
    "TABLES",
    "QueryError",
    "RunManifest",
    "add_arguments",
    "committed_files",
    "connect",
    "load_manifests",
    "main",
    "run_query",
]

#: Tables of an output directory, in the order the views are created.
TABLES = ("pages", "rejected", "dead_letter")
#: Output formats of :func:`run_query`.
FORMATS = ("table", "csv", "json")
#: Rows printed by the ``table`` format; more are elided with a note (use ``csv``/``json``).
TABLE_MAX_ROWS = 1000
#: Characters shown per cell by the ``table`` format (long texts are cut with an ellipsis).
TABLE_MAX_CELL = 80
#: Width of the ``table`` format when stdout is not a terminal.
TABLE_PIPE_WIDTH = 160
_FETCH_ROWS = 2048


class QueryError(Exception):
    """A problem a user can fix: no such directory, no committed run, unknown run id, bad SQL."""


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
    runs = load_manifests(out_dir, run_id)
    root = Path(out_dir).resolve()
    sources, shared = table_sources(out_dir, runs, run_id)
    check_listed_files(root, sources)
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    try:
        for table in TABLES:
            name = f"_all_{table}" if shared else table
            _create_table_view(con, name, _existing_files(root, sources, table), table)
            if shared:  # the run's rows share compacted files with other runs
                con.execute(
                    f"CREATE VIEW {table} AS SELECT * FROM {name} WHERE run_id = {_sql_string(run_id)}"
                )
        _create_runs_view(con, runs)
    except duckdb.Error as exc:
        con.close()
        raise QueryError(f"cannot open the tables of {out_dir}: {_first_line(exc)}") from None
    return con


def _existing_files(root: Path, runs: Sequence[RunManifest], table: str) -> list[list[str]]:
    """The listed files, in groups of one schema version, newest version first."""
    groups: dict[str, dict[str, None]] = {}
    for run in runs:
        version = str(run.data.get("schema_version") or "0")
        for rel in run.files(table):
            groups.setdefault(version, {}).setdefault(str(root / rel))
    order = sorted(groups, key=lambda v: (len(v), v), reverse=True)  # "10" > "9" > "1" > "0"
    return [list(groups[v]) for v in order]


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


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _create_table_view(
    con: duckdb.DuckDBPyConnection, table: str, groups: list[list[str]], kind: str = ""
) -> None:
    """One ``read_parquet`` per schema version, combined by column name.

    Files of one schema version share one column layout, so within a group DuckDB reads
    footers lazily (only the files a query's partition filter keeps). ``union_by_name=true``
    over all files would do the same job but reads every footer on every query: 15x slower
    on 2,000 files (0.06 s -> 0.9 s for a one-partition query). ``UNION ALL BY NAME`` gives
    older versions NULL for the columns they lack, as ``union_by_name`` would.
    """
    kind = kind or table
    if not groups:
        con.register(f"_empty_{table}", _empty_table(kind))
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM _empty_{table}")
        return
    options = "union_by_name = false"
    if kind == "pages":
        options += (
            ", hive_partitioning = true,"
            " hive_types = {'crawl_date': DATE, 'language': VARCHAR}, hive_types_autocast = false"
        )
    scans = [
        f"SELECT * FROM read_parquet([{', '.join(_sql_string(f) for f in files)}], {options})"
        for files in groups
    ]
    con.execute(f"CREATE VIEW {table} AS " + " UNION ALL BY NAME ".join(scans))


def _empty_table(table: str) -> pa.Table:
    # Imported here: pagestream.schemas pulls in Apache Beam (records), which costs a second or
    # two of start-up that a query over existing files does not otherwise need.
    from pagestream.schemas.arrow import (
        DEAD_LETTER_SCHEMA,
        PAGES_PARTITIONING,
        PAGES_SCHEMA,
        REJECTED_SCHEMA,
    )

    schema = {
        "pages": pa.schema(list(PAGES_SCHEMA) + list(PAGES_PARTITIONING)),
        "rejected": REJECTED_SCHEMA,
        "dead_letter": DEAD_LETTER_SCHEMA,
    }[table]
    return schema.empty_table()


#: Columns of the ``runs`` view: name, arrow type, and where the value sits in the manifest.
_RUN_COLUMNS: tuple[tuple[str, pa.DataType, tuple[str, ...]], ...] = (
    ("run_id", pa.string(), ("run_id",)),
    ("logical_date", pa.date32(), ("logical_date",)),
    ("started_at", pa.timestamp("us", tz="UTC"), ("started_at",)),
    ("finished_at", pa.timestamp("us", tz="UTC"), ("finished_at",)),
    ("duration_s", pa.float64(), ("duration_s",)),
    ("schema_version", pa.string(), ("schema_version",)),
    ("pipeline_version", pa.string(), ("pipeline_version",)),
    ("input_files", pa.int64(), ("inputs", "files")),
    ("input_bytes", pa.int64(), ("inputs", "bytes")),
    ("records_read", pa.int64(), ("counts", "records_read")),
    ("pages", pa.int64(), ("counts", "pages")),
    ("rejected", pa.int64(), ("counts", "rejected")),
    ("dead_letter", pa.int64(), ("counts", "dead_letter")),
)


def _dig(data: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _run_value(value: Any, typ: pa.DataType) -> Any:
    if value is None:
        return None
    try:
        if pa.types.is_date(typ):
            return dt.date.fromisoformat(str(value)[:10])
        if pa.types.is_timestamp(typ):
            moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
        if pa.types.is_integer(typ):
            return int(value)
        if pa.types.is_floating(typ):
            return float(value)
    except (TypeError, ValueError):
        return None  # a malformed field shows as NULL; the raw JSON is still in `manifest`
    return str(value)


def _create_runs_view(con: duckdb.DuckDBPyConnection, runs: Sequence[RunManifest]) -> None:
    columns = {
        name: pa.array([_run_value(_dig(r.data, keys), typ) for r in runs], type=typ)
        for name, typ, keys in _RUN_COLUMNS
    }
    columns["run_id"] = pa.array([r.run_id for r in runs], type=pa.string())
    columns["manifest_path"] = pa.array([str(r.path) for r in runs], type=pa.string())
    columns["manifest"] = pa.array([json.dumps(r.data, sort_keys=True) for r in runs])
    con.register("_runs_arrow", pa.table(columns))
    con.execute(
        "CREATE VIEW runs AS SELECT * EXCLUDE (manifest), manifest::JSON AS manifest FROM _runs_arrow"
    )


# --- output ---------------------------------------------------------------------------------


def _shortest_float32(value: Any) -> Any:
    """DuckDB hands FLOAT values over as doubles (0.9 -> 0.8999999761581421); this prints 0.9."""
    if isinstance(value, float) and math.isfinite(value):
        return float(str(np.float32(value)))
    if isinstance(value, list):
        return [_shortest_float32(v) for v in value]
    return value


def _column_converters(description: Sequence[tuple]) -> list[Callable[[Any], Any]]:
    def converter(type_name: str) -> Callable[[Any], Any]:
        if type_name.rstrip("[]") == "FLOAT":
            return _shortest_float32
        return lambda v: v

    return [converter(str(col[1])) for col in description]


def _rows(cursor: duckdb.DuckDBPyConnection) -> Iterator[list[Any]]:
    converters = _column_converters(cursor.description)
    while batch := cursor.fetchmany(_FETCH_ROWS):
        for row in batch:
            yield [conv(value) for conv, value in zip(converters, row, strict=True)]


def _json_value(value: Any) -> Any:
    """Plain JSON for a DuckDB value: ISO dates and times, numbers, lists, objects; NaN -> null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (dt.date, dt.time)):  # datetime is a date
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(_json_value(value), ensure_ascii=False)
    converted = _json_value(value)
    return "" if converted is None else converted


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    text = _csv_value(value) if isinstance(value, (list, tuple, dict)) else str(_json_value(value))
    text = " ".join(str(text).split())
    return text if len(text) <= TABLE_MAX_CELL else text[: TABLE_MAX_CELL - 1] + "…"


def _write_json(names: list[str], rows: Iterator[list[Any]], out: TextIO) -> None:
    out.write("[")
    for i, row in enumerate(rows):
        obj = {name: _json_value(value) for name, value in zip(names, row, strict=True)}
        out.write(("\n" if i == 0 else ",\n") + json.dumps(obj, ensure_ascii=False))
    out.write("\n]\n")


def _write_csv(names: list[str], rows: Iterator[list[Any]], out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow([_csv_value(v) for v in row])


def _write_table(names: list[str], rows: Iterator[list[Any]], out: TextIO) -> None:
    cells: list[list[str]] = []
    more = False
    for row in rows:
        if len(cells) == TABLE_MAX_ROWS:
            more = True
            break
        cells.append([_cell(v) for v in row])
    table = Table(header_style="bold")
    for i, name in enumerate(names):
        # One line per row; narrow columns (dates, codes, counts) are never squeezed.
        longest = max([len(name)] + [len(r[i]) for r in cells])
        table.add_column(name, no_wrap=True, overflow="ellipsis", min_width=min(longest, 10))
    for row_cells in cells:
        table.add_row(*row_cells)
    n = len(cells)
    table.caption = (
        f"first {TABLE_MAX_ROWS} rows shown; add LIMIT or use --format csv|json for all"
        if more
        else f"{n} row{'' if n == 1 else 's'}"
    )
    # Rich falls back to 80 columns when not writing to a terminal (`| less`): allow wider.
    width = None if out.isatty() else TABLE_PIPE_WIDTH
    Console(file=out, width=width).print(table, crop=False)


_WRITERS = {"table": _write_table, "csv": _write_csv, "json": _write_json}


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

    ``table`` is for people (at most :data:`TABLE_MAX_ROWS` rows, long cells cut); ``csv`` (a
    header line, lists as JSON) and ``json`` (one array of row objects, dates and timestamps as
    ISO 8601 strings, NaN as null) print every row, in the order the query returns them. FLOAT
    columns print with the shortest digits that round-trip in 32 bits (0.9, not 0.899999976).
    A statement that returns no result (``COPY ... TO``) prints nothing.

    Raises:
        QueryError: the directory, run id or SQL is wrong; the message is one line.
    """
    if fmt not in FORMATS:
        raise QueryError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    out = out or sys.stdout
    con = connect(out_dir, run_id)
    try:
        cursor = con.execute(sql)
        if cursor.description is None:
            return
        names = [col[0] for col in cursor.description]
        _WRITERS[fmt](names, _rows(cursor), out)
    except duckdb.Error as exc:
        raise QueryError(f"SQL error: {_first_line(exc)}") from None
    finally:
        con.close()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``pagestream query`` arguments: ``DIR SQL [--run_id ID] [--format F]``."""
    parser.add_argument("dir", help="output directory of pagestream run")
    parser.add_argument("sql", help="SQL over the views pages, rejected, dead_letter, runs")
    parser.add_argument("--run_id", default=None, help="restrict every view to this run")
    parser.add_argument(
        "--format", dest="format", choices=FORMATS, default="table", help="output format"
    )


def main(args: argparse.Namespace) -> int:
    """Runs ``pagestream query``; returns the exit status (errors: one line on stderr, 1)."""
    try:
        run_query(args.dir, args.sql, run_id=args.run_id, fmt=args.format)
    except QueryError as exc:
        print(f"pagestream query: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `pagestream query ... | head`: stop quietly, as `cat` does
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 -- keeps Python's exit flush silent
        return 0
    return 0
