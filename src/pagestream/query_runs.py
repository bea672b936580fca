"""The ``runs`` view of ``pagestream query``: one row per committed run's manifest.

Its scalar fields are typed columns (``logical_date`` a DATE, ``finished_at`` a UTC timestamp,
counts BIGINT, a malformed field NULL); ``manifest`` holds the whole manifest as DuckDB ``JSON``
(``manifest.options.min_words``, ``manifest->'counts'``) and ``manifest_path`` where it is.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

if TYPE_CHECKING:
    from pagestream.query import RunManifest

__all__ = ["create_runs_view"]

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


def create_runs_view(con: duckdb.DuckDBPyConnection, runs: Sequence[RunManifest]) -> None:
    """Registers the view ``runs`` on ``con``, one row per run of ``runs``, in their order."""
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
