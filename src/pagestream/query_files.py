"""Which files ``pagestream query``/``report`` read: exactly those the manifests commit.

A run's rows are the files its manifest lists (``transforms/write/commit.py``), unless a
compaction absorbed the run (``transforms/write/compact.py``): then they are in the
compaction's files, shared with other runs. Listed files that are missing or resized are an
error, never silently skipped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pagestream.query import RunManifest

__all__ = ["check_listed_files", "table_sources"]


def table_sources(
    out_dir: str | Path, runs: Sequence[RunManifest], run_id: str | None
) -> tuple[list[RunManifest], bool]:
    """What to read: the runs' manifests, with the files of runs that a compaction absorbed
    replaced by the compaction's (``transforms/write/compact.py``); and whether the one run
    asked for (``run_id``) lives in shared files (its rows must then be filtered)."""
    from pagestream.query import QueryError, RunManifest, load_manifests

    root = Path(out_dir)
    found = []
    for path in sorted((root / "_compactions").glob("[!._]*.json")):
        try:
            found.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise QueryError(f"unreadable compaction manifest {path}: {exc}") from None
    if not found:
        return list(runs), False
    from pagestream.transforms.write.compact import effective  # Beam only when compacted

    try:
        chosen = effective([r.data for r in load_manifests(out_dir)], found)
    except ValueError as exc:
        raise QueryError(str(exc)) from None
    absorbed = {run for c in chosen for run in c["absorbs"]}
    wanted = {r.run_id for r in runs}
    sources = [r for r in runs if r.run_id not in absorbed]
    for c in chosen:
        if wanted & set(c["absorbs"]):
            data = {**c, "run_id": f"compaction {c['id']}"}
            sources.append(RunManifest(root / "_compactions" / f"{c['id']}.json", data))
    return sources, run_id is not None and run_id in absorbed


def check_listed_files(root: Path, runs: Sequence[RunManifest]) -> None:
    """Every file a manifest lists exists, with the size it records (``file_list``).

    Raises:
        QueryError: naming the first few files that are missing or resized.
    """
    from pagestream.query import TABLES, QueryError

    problems = []
    for run in runs:
        sizes = {f["path"]: f.get("bytes") for f in run.data.get("file_list") or []}
        for rel in [p for table in TABLES for p in run.files(table)]:
            path = root / rel
            if not path.is_file():
                problems.append(f"{rel} (run {run.run_id}) is missing")
            elif sizes.get(rel) is not None and path.stat().st_size != sizes[rel]:
                problems.append(
                    f"{rel} (run {run.run_id}) has {path.stat().st_size} bytes, "
                    f"its manifest says {sizes[rel]}"
                )
    if problems:
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise QueryError(
            f"{len(problems)} file(s) listed by the manifests in {root} are not as committed: "
            f"{'; '.join(problems[:3])}{more}. The directory was changed outside pagestream: "
            "restore the files or rerun those runs"
        )
