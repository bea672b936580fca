"""Removing what crashed attempts left in an output directory (``pagestream vacuum``).

An **orphan** is a Parquet file in a table directory that no manifest lists: a crashed or
failed attempt moved it into place but never committed it (or a bundle retry wrote it twice).
Readers of the manifests never see orphans; raw globs do, until they are removed.

A file is removed when no live process can still commit it: its run's lease (``lease.py``) is
stale (the holder died), or there is no lease and the file is older than ``grace_s`` (writers
that hold no lease, e.g. the streaming-runner graph, commit within seconds of writing).
The same applies to ``_staging/<run_id>/`` directories and temporary manifests, except that
the finished waves of a run that died (``pipelines.waves``) are kept ``RESUMABLE_KEEP_S``: its
rerun resumes from them. Every run
calls ``vacuum`` after its commit with ``DEFAULT_GRACE_S``, so a crashed first run's files go
with the next run into the same output.
"""

from __future__ import annotations

import os
import time
from typing import NamedTuple

from apache_beam.io.filesystems import FileSystems

from pagestream.transforms.write.files import delete, listed_files, match_under, parse_file_name
from pagestream.transforms.write.lease import Lease

__all__ = ["DEFAULT_GRACE_S", "RESUMABLE_KEEP_S", "Vacuumed", "orphans", "vacuum"]

DEFAULT_GRACE_S = 3600.0

#: How long the automatic vacuum keeps the finished waves of a run that died (3 days: a
#: weekend); ``pagestream vacuum --grace S`` applies its grace to them too.
RESUMABLE_KEEP_S = 3 * 86400.0
_TABLE_PATTERNS = ("pages/*/*/*.parquet", "rejected/*.parquet", "dead_letter/*.parquet")


class Vacuumed(NamedTuple):
    """What ``vacuum`` removed (or would remove with ``dry_run``): full paths."""

    files: list[str]
    staging: list[str]
    leases: list[str]


def _listed(output: str) -> set[str]:
    """Files readers read: of the run manifests, and of the compactions in effect (the own
    files of runs a compaction absorbed are no longer read: they count as orphans)."""
    from pagestream.transforms.write.commit import list_manifests  # commit imports vacuum
    from pagestream.transforms.write.compact import compactions, effective

    root = output.rstrip("/")
    chosen = effective(list_manifests(output), compactions(output))
    absorbed = {run for c in chosen for run in c["absorbs"]}
    manifests = [m for m in list_manifests(output) if m["run_id"] not in absorbed] + chosen
    return {f"{root}/{rel}" for m in manifests for rel in listed_files(m)}


def _leases(output: str) -> tuple[set[str], set[str], list[str]]:
    """(run ids with a live lease, run ids with a stale lease, stale lease files)."""
    live, stale, stale_files = set(), set(), []
    for path in match_under(output, "_leases/*.json"):
        run_id = path.rsplit("/", 1)[-1][: -len(".json")]
        lease = Lease(path, run_id)
        holder = lease.read()
        if holder is not None and lease.stale(holder, own_process_stale=False):
            stale.add(run_id)
            stale_files.append(path)
        else:
            live.add(run_id)
    return live, stale, stale_files


def _age_s(path: str, now: float) -> float:
    if FileSystems.get_scheme(path) is None:
        return now - os.stat(path).st_mtime
    meta = FileSystems.match([path])[0].metadata_list
    return now - float(meta[0].last_updated_in_seconds) if meta else 0.0


def _resumable(staging: str, now: float, keep_s: float) -> bool:
    """Whether ``staging`` holds finished waves of a run (``pipelines.waves``) that changed
    less than ``keep_s`` ago: a rerun of the run resumes from them."""
    finished = match_under(staging, "waves/wave-*.json")
    return bool(finished) and min(_age_s(p, now) for p in finished) < keep_s


def orphans(
    output: str,
    grace_s: float = DEFAULT_GRACE_S,
    now: float | None = None,
    resumable_s: float = RESUMABLE_KEEP_S,
) -> Vacuumed:
    """What ``vacuum`` would remove now (nothing is deleted). The staging directory of a run
    that died with finished waves is kept ``resumable_s`` after its last wave (a rerun
    resumes from it) even when the run's lease is stale."""
    now = time.time() if now is None else now
    listed = _listed(output)
    live, stale, stale_files = _leases(output)

    def removable(run_id: str | None, path: str) -> bool:
        if run_id in live:
            return False
        return run_id in stale or _age_s(path, now) >= grace_s

    files = []
    for pattern in _TABLE_PATTERNS:
        for path in match_under(output, pattern):
            if path in listed:
                continue
            parsed = parse_file_name(path.rsplit("/", 1)[-1])
            if removable(parsed[0] if parsed else None, path):
                files.append(path)
    staging = [
        path
        for path in match_under(output, "_staging/*")
        if removable(path.rsplit("/", 1)[-1], path) and not _resumable(path, now, resumable_s)
    ]
    staging += [p for p in match_under(output, "_runs/.*.tmp") if removable(None, p)]
    return Vacuumed(sorted(files), sorted(staging), sorted(stale_files))


def vacuum(
    output: str,
    grace_s: float = DEFAULT_GRACE_S,
    dry_run: bool = False,
    now: float | None = None,
    resumable_s: float = RESUMABLE_KEEP_S,
) -> Vacuumed:
    """Removes orphans, abandoned staging directories and stale leases of ``output``.

    Never touches a file a manifest lists, nor anything of a run whose lease is live, nor
    finished waves younger than ``resumable_s`` (see ``orphans``).
    """
    found = orphans(output, grace_s, now, resumable_s)
    if not dry_run:
        for path in [*found.files, *found.staging, *found.leases]:
            try:
                delete([path])
            except FileNotFoundError:  # removed meanwhile by another cleaner
                pass
        for directory in ("_staging", "_leases"):  # local: no empty directories left behind
            path = f"{output.rstrip('/')}/{directory}"
            if FileSystems.get_scheme(path) is None:
                try:
                    os.rmdir(path)
                except OSError:  # in use, or gone
                    pass
    return found
