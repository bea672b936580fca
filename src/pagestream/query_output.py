"""How ``pagestream query`` prints a result: a table for people, CSV or JSON for machines.

The ``table`` format fits the terminal: every column keeps its header and at least a few
characters (:func:`fit_widths`), the widest columns give way first and their cells are cut
with an ellipsis; when even that does not fit, rows print one field per line (as psql's
``\\x`` and DuckDB's ``.mode line`` do), values wrapped, so no column is ever dropped.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import math
import os
import shutil
import textwrap
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

import numpy as np
from rich.console import Console
from rich.table import Table

__all__ = ["FORMATS", "fit_widths", "rows", "terminal_width", "write_result"]

#: Output formats of ``pagestream query``.
FORMATS = ("table", "csv", "json")
#: Rows printed by the ``table`` format; more are elided with a note (use ``csv``/``json``).
TABLE_MAX_ROWS = 1000
#: Characters shown per cell by the ``table`` format (long texts are cut with an ellipsis).
TABLE_MAX_CELL = 80
#: Width of the ``table`` format when stdout is not a terminal and ``COLUMNS`` is not set.
TABLE_PIPE_WIDTH = 160
#: A column squeezed to fit the terminal keeps at least this many characters (or its header's).
MIN_COLUMN = 8
_FETCH_ROWS = 2048


def _shortest_float32(value: Any) -> Any:
    """DuckDB hands FLOAT values over as doubles (0.9 -> 0.8999999761581421); this prints 0.9."""
    if isinstance(value, float) and math.isfinite(value):
        return float(str(np.float32(value)))
    if isinstance(value, list):
        return [_shortest_float32(v) for v in value]
    return value


def _parsed_json(value: Any) -> Any:
    """DuckDB hands JSON values over as their text; this parses them (``--format json``
    prints an object, not a string holding one)."""
    return json.loads(value) if isinstance(value, str) else value


def _column_converters(description: Sequence[tuple]) -> list[Callable[[Any], Any]]:
    def converter(type_name: str) -> Callable[[Any], Any]:
        if type_name.rstrip("[]") == "FLOAT":
            return _shortest_float32
        if type_name == "JSON":
            return _parsed_json
        return lambda v: v

    return [converter(str(col[1])) for col in description]


def rows(cursor) -> Iterator[list[Any]]:
    """The rows of an executed DuckDB cursor, fetched in batches; FLOATs as their shortest
    32-bit digits, JSON values parsed."""
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


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool)


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


def terminal_width(out: TextIO) -> int:
    """``COLUMNS`` when set; else the terminal's width; else (a pipe) ``TABLE_PIPE_WIDTH``."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if out.isatty():
        return shutil.get_terminal_size().columns
    return TABLE_PIPE_WIDTH


def _table_overhead(n: int) -> int:
    """Characters a rich table with ``n`` columns spends on borders and padding."""
    return 3 * n + 1


def fit_widths(names: Sequence[str], natural: Sequence[int], width: int) -> list[int] | None:
    """Column widths for a table of total ``width``, or None when the columns cannot all fit.

    A column gets its natural width (its longest cell or header) when everything fits; else
    the widest columns are cut down to one common cap, the largest that fits, but never below
    their header or ``MIN_COLUMN`` characters. Returns None when even those minimums overflow:
    the caller prints the rows vertically instead of dropping columns.
    """
    available = width - _table_overhead(len(names))
    floors = [
        min(nat, max(len(name), MIN_COLUMN)) for name, nat in zip(names, natural, strict=True)
    ]
    if sum(floors) > available:
        return None
    if sum(natural) <= available:
        return list(natural)

    def widths(cap: int) -> list[int]:
        return [max(floor, min(nat, cap)) for floor, nat in zip(floors, natural, strict=True)]

    low, high = 0, max(natural)  # widths(low) fits (it is the floors); find the largest cap
    while low < high:
        mid = (low + high + 1) // 2
        if sum(widths(mid)) <= available:
            low = mid
        else:
            high = mid - 1
    return widths(low)


def _caption(n: int, more: bool) -> str:
    if more:
        return f"first {TABLE_MAX_ROWS} rows shown; add LIMIT or use --format csv|json for all"
    return f"{n} row{'' if n == 1 else 's'}"


def _print_vertical(names: list[str], cells: list[list[str]], width: int, out: TextIO) -> None:
    """One block per row, ``name | value`` per line, long values wrapped under themselves."""
    label = max(len(name) for name in names)
    value_width = max(width - label - 3, 20)
    for number, row_cells in enumerate(cells, 1):
        out.write(f"-[ row {number} ]".ljust(min(width, label + 3 + value_width), "-") + "\n")
        for name, value in zip(names, row_cells, strict=True):
            lines = textwrap.wrap(value, value_width, break_on_hyphens=False) or [""]
            out.write(f"{name.ljust(label)} | {lines[0]}\n")
            for line in lines[1:]:
                out.write(f"{' ' * label} | {line}\n")


def _write_table(names: list[str], rows: Iterator[list[Any]], out: TextIO) -> None:
    cells: list[list[str]] = []
    numeric = [True] * len(names)  # columns of numbers only (and NULLs) are right-aligned
    more = False
    for row in rows:
        if len(cells) == TABLE_MAX_ROWS:
            more = True
            break
        cells.append([_cell(v) for v in row])
        numeric = [n and (v is None or _is_number(v)) for n, v in zip(numeric, row, strict=True)]
    width = terminal_width(out)
    natural = [max([len(name)] + [len(r[i]) for r in cells]) for i, name in enumerate(names)]
    widths = fit_widths(names, natural, width)
    if widths is None:
        if not cells:  # no row to print the names with: list them
            out.write(textwrap.fill("columns: " + ", ".join(names), max(width, 20)) + "\n")
        _print_vertical(names, cells, width, out)
        out.write(f"({_caption(len(cells), more)})\n")
        return
    table = Table(header_style="bold", caption=_caption(len(cells), more))
    for name, column_width, right in zip(names, widths, numeric, strict=True):
        # One line per row: a cell longer than its column is cut with an ellipsis.
        table.add_column(
            name,
            no_wrap=True,
            overflow="ellipsis",
            width=column_width,
            justify="right" if right and cells else "left",
        )
    for row_cells in cells:
        table.add_row(*row_cells)
    Console(file=out, width=width).print(table)


_WRITERS = {"table": _write_table, "csv": _write_csv, "json": _write_json}


def write_result(fmt: str, names: list[str], result: Iterator[list[Any]], out: TextIO) -> None:
    """Prints ``result`` (rows of values named ``names``) to ``out`` in format ``fmt``."""
    _WRITERS[fmt](names, result, out)
