"""``check_state``: what a ``--state`` directory may hold, checked before a run touches it."""

from __future__ import annotations

import os
import re

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pagestream.transforms.dedup.segments import INDEX_SCHEMA
from pagestream.transforms.dedup.state import StateError, committed_runs, match_paths

__all__ = ["check_state"]

_INDEX_FILE = re.compile(
    r"^index/run_id=[^/]+/attempt=[^/]+/part-(?:w\d{5}-)?\d{5}-of-\d{5}\.parquet$"
)  # w<wave>-: a run in waves
_MARKER_FILE = re.compile(r"^_committed/[^/]+\.json$")


def check_state(state_dir: str) -> None:
    """Fails loudly on what ``--state`` must not hold: a file at its top level, a file in
    ``index/`` or ``_committed/`` that pagestream did not write, an unreadable marker, or a
    committed segment that is not an index segment (another Parquet schema). Temporary
    files (names starting with ``.``) and other directories (``ledger/``, ``_leases/``) pass.

    Raises:
        StateError: naming the file.
    """
    root = state_dir.rstrip("/")
    local = FileSystems.get_scheme(root) is None
    if local and not os.path.exists(root):
        return
    if local and not os.path.isdir(root):
        raise StateError(f"--state {state_dir}: not a directory")
    for path in match_paths(f"{root}/**") if not local else _walk(root):
        rel = path[len(root) :].lstrip("/")
        if any(part.startswith(".") for part in rel.split("/")):
            continue
        top = rel.split("/", 1)[0]
        if "/" not in rel or (top in ("index", "_committed") and not (
            _INDEX_FILE.match(rel) or _MARKER_FILE.match(rel)
        )):  # fmt: skip
            raise StateError(
                f"--state {state_dir}: {path} was not written by pagestream (a --state "
                "directory holds only index/, _committed/ and ledger/); move it away"
            )
    for run in committed_runs(state_dir):
        for path in run.files:
            _check_segment(path)


def _walk(root: str) -> list[str]:
    return sorted(os.path.join(d, f) for d, _, files in os.walk(root) for f in files)


def _check_segment(path: str) -> pa.Schema:
    try:
        with FileSystems.open(path) as f:
            schema = pq.read_schema(pa.BufferReader(f.read()))
    except Exception as exc:
        raise StateError(f"--state: unreadable index segment {path} ({exc})") from None
    if not schema.remove_metadata().equals(INDEX_SCHEMA):
        raise StateError(
            f"--state: {path} is not an index segment (its columns are "
            f"{', '.join(schema.names)}); move it away"
        )
    return schema
