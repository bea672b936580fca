"""Check that two pagestream runs produced the same rows (e.g. a new runner vs the DirectRunner).

Usage::

    python deploy/compare_outputs.py OUT_A RUN_A OUT_B RUN_B

Exit status 0 when the committed runs ``RUN_A`` in ``OUT_A`` and ``RUN_B`` in ``OUT_B`` hold the
same rows in ``pages``, ``rejected`` and ``dead_letter`` and the same counts in their manifests;
1 with the differences printed otherwise. Only committed files (listed in the manifest) are read.

Rows are compared whole, sorted by ``(doc_id, source, url)``. Run-specific values are normalised
first: ``run_id`` is dropped, and ``dup_run`` equal to the row's own run becomes ``<this run>``
(a duplicate inside the run points at its own run id). Same input paths are assumed (``source``
holds the input path). Python standard library + pyarrow only, so it runs wherever pagestream does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq

__all__ = ["MANIFEST_KEYS", "compare_runs", "load_rows", "main"]

#: Manifest entries that must be equal between two runs of the same input and options.
MANIFEST_KEYS = ("counts", "rows", "dup_status", "languages", "reasons", "crawl_dates", "topics")

_TABLES = ("pages", "rejected", "dead_letter")
_THIS_RUN = "<this run>"


def _manifest(output: str, run_id: str) -> dict:
    path = Path(output) / "_runs" / f"{run_id}.json"
    if not path.is_file():
        raise FileNotFoundError(f"run {run_id} is not committed in {output} (no {path})")
    return json.loads(path.read_text(encoding="utf-8"))


def _partition_values(relative: str) -> dict:
    """``pages/crawl_date=2020-01-10/language=en/part-...`` -> its Hive partition values."""
    values = {}
    for part in relative.split("/")[1:-1]:
        key, _, value = part.partition("=")
        values[key] = value
    return values


def _normalise(row: dict) -> dict:
    run_id = row.pop("run_id", None)
    if row.get("dup_run") is not None and row["dup_run"] == run_id:
        row["dup_run"] = _THIS_RUN
    return row


def load_rows(output: str, run_id: str) -> tuple[dict[str, list[dict]], dict]:
    """The committed rows of one run, per table, normalised and sorted; and its manifest."""
    manifest = _manifest(output, run_id)
    tables: dict[str, list[dict]] = {}
    for table in _TABLES:
        rows = []
        for relative in manifest["files"].get(table, []):
            partition = _partition_values(relative) if table == "pages" else {}
            for row in pq.read_table(Path(output) / relative).to_pylist():
                rows.append(_normalise({**row, **partition}))
        rows.sort(key=lambda r: (r.get("doc_id") or "", r.get("source") or "", r.get("url") or ""))
        tables[table] = rows
    return tables, manifest


def _describe(row: dict) -> str:
    return f"doc_id={row.get('doc_id')} source={row.get('source')}"


def compare_runs(output_a: str, run_a: str, output_b: str, run_b: str) -> list[str]:
    """Differences between two committed runs; an empty list means the same rows and counts."""
    rows_a, manifest_a = load_rows(output_a, run_a)
    rows_b, manifest_b = load_rows(output_b, run_b)
    problems = []
    for table in _TABLES:
        a, b = rows_a[table], rows_b[table]
        if len(a) != len(b):
            problems.append(f"{table}: {len(a)} rows vs {len(b)} rows")
        for left, right in zip(a, b, strict=False):  # length differences are reported above
            if left != right:
                columns = sorted(
                    k for k in left.keys() | right.keys() if left.get(k) != right.get(k)
                )
                problems.append(f"{table}: {_describe(left)} differs in {', '.join(columns)}")
    for key in MANIFEST_KEYS:
        if manifest_a.get(key) != manifest_b.get(key):
            problems.append(f"manifest {key}: {manifest_a.get(key)!r} vs {manifest_b.get(key)!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    problems = compare_runs(*argv)
    for problem in problems:
        print(problem)
    if not problems:
        print("same rows and counts")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
