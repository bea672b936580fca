"""The ``--state`` duplicate index: append-only segments of kept pages, committed per run.

Layout (any Beam filesystem: local, ``gs://``, ``s3://``)::

    STATE/index/run_id=<id>/attempt=<token>/part-<shard>-of-<n>.parquet   kept pages of a run
    STATE/_committed/<id>.json                                           the run's marker

A run's driver calls ``begin_run`` (new attempt token), the graph writes the attempt with
``WriteIndexSegment``, and the commit step (``write.commit``) runs a ``StateCommit``: the
marker gains the attempt before the run's manifest is written and loses the other attempts
after. The marker names the output directory, and a run is in the index **exactly when its
manifest there is committed and names the attempt** (``committed_runs``): a crash at any
step leaves the index agreeing with what ``pagestream query`` sees. Segments hold only the
*kept* (``unique``) pages: later runs can only point at kept pages (``mark.py``), so
duplicates need no index rows. A run dedups against every other committed run
(``other_runs``), older slots run late included.

The segment files themselves (schema, reading, ``WriteIndexSegment``) are in ``segments.py``.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import NamedTuple

from apache_beam.io.filesystems import FileSystems

__all__ = [
    "CommittedRun",
    "StateCommit",
    "StateError",
    "other_runs",
    "other_segments",
    "begin_run",
    "commit_run",
    "committed_runs",
    "earlier_runs",
    "earlier_segments",
]


class StateError(ValueError):
    """The ``--state`` directory holds something pagestream did not write; names the file."""


class CommittedRun(NamedTuple):
    """A run whose index segment is committed; ``files`` are full paths."""

    run_id: str
    logical_date: str
    attempt: str
    files: tuple[str, ...]


def check_run_id(run_id: str) -> None:
    bad = not run_id or run_id[0] in "._" or any(c in run_id for c in "/\\\x1f\n*?[")
    if bad:
        raise ValueError(
            f"run_id must be non-empty, not start with '.' or '_', and contain no '/', '\\', "
            f"wildcards or control characters, got {run_id!r}"
        )


def state_attempt_dir(state_dir: str, run_id: str, attempt: str) -> str:
    return FileSystems.join(state_dir, "index", f"run_id={run_id}", f"attempt={attempt}")


def _marker(state_dir: str, run_id: str) -> str:
    return FileSystems.join(state_dir, "_committed", f"{run_id}.json")


def begin_run(state_dir: str, run_id: str) -> str:
    """A new attempt token for ``run_id``; nothing committed is touched."""
    check_run_id(run_id)
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:8]}"


def match_paths(pattern: str) -> list[str]:
    return sorted(m.path for r in FileSystems.match([pattern]) for m in r.metadata_list)


def _read_marker(path: str) -> dict:
    """A marker, in the current shape (``attempts`` by token); legacy markers are upgraded."""
    try:
        with FileSystems.open(path) as f:
            marker = json.loads(f.read().decode("utf-8"))
        if "attempts" not in marker:
            marker["attempts"] = {
                marker["attempt"]: {
                    "logical_date": marker["logical_date"],
                    "files": marker["files"],
                }
            }
        for entry in marker["attempts"].values():
            entry["logical_date"], entry["files"]  # noqa: B018 - the keys must be there
        marker["run_id"]  # noqa: B018
    except Exception as exc:
        raise StateError(f"--state: unreadable index marker {path} ({exc})") from None
    return marker


def _write_marker(state_dir: str, run_id: str, marker: dict, token: str) -> None:
    tmp = FileSystems.join(state_dir, "_committed", f".{run_id}.{token}.json.tmp")
    with FileSystems.create(tmp) as f:
        f.write(json.dumps(marker, indent=1, sort_keys=True).encode("utf-8"))
    FileSystems.rename([tmp], [_marker(state_dir, run_id)])


def _segment_files(state_dir: str, run_id: str, attempt: str) -> list[str]:
    attempt_dir = state_attempt_dir(state_dir, run_id, attempt)
    files = match_paths(FileSystems.join(attempt_dir, "part-*.parquet"))
    return [path[len(attempt_dir) :].lstrip("/") for path in files]


class StateCommit:
    """The ``--state`` side of one run's commit (picklable; called by ``write.commit``).

    The run is in the index exactly when its output manifest is committed: ``prepare`` (before
    the manifest) adds this attempt to the run's marker next to the attempt already committed;
    the marker names the output directory, and ``committed_runs`` takes the attempt that the
    run's committed manifest names (``entry``), none when there is no manifest. ``finish``
    (after the manifest) drops the other attempts and their segment files.

    Args:
        output: the output directory whose manifest decides (recorded relative to the state
            directory when both are local); None for an index used without one (the marker
            alone then commits, as ``commit_run`` does).
    """

    def __init__(
        self, state_dir: str, run_id: str, attempt: str, logical_date: str, output: str | None
    ) -> None:
        check_run_id(run_id)
        if output is not None and FileSystems.get_scheme(output) is None:
            # Relative to the state directory: an output moved with its own OUT/_state still
            # finds its manifests.
            output = os.path.relpath(os.path.abspath(output), os.path.abspath(state_dir))
        self.state_dir, self.run_id, self.attempt = state_dir, run_id, attempt
        self.logical_date, self.output = logical_date, output

    def entry(self) -> dict:
        """What the run's manifest records about the index (``state`` key)."""
        return {"dir": self.state_dir, "attempt": self.attempt}

    def prepare(self) -> None:
        path = _marker(self.state_dir, self.run_id)
        marker = _read_marker(path) if FileSystems.exists(path) else {"attempts": {}}
        marker.update(run_id=self.run_id, output=self.output)
        marker["attempts"][self.attempt] = {
            "logical_date": self.logical_date,
            "files": _segment_files(self.state_dir, self.run_id, self.attempt),
        }
        _write_marker(self.state_dir, self.run_id, marker, self.attempt)

    def finish(self) -> None:
        entry = {
            "logical_date": self.logical_date,
            "files": _segment_files(self.state_dir, self.run_id, self.attempt),
        }
        marker = {"run_id": self.run_id, "output": self.output, "attempt": self.attempt, **entry}
        marker["attempts"] = {self.attempt: entry}
        _write_marker(self.state_dir, self.run_id, marker, self.attempt)
        attempt_dir = state_attempt_dir(self.state_dir, self.run_id, self.attempt)
        run_dir = FileSystems.join(self.state_dir, "index", f"run_id={self.run_id}")
        stale = [
            p
            for p in match_paths(FileSystems.join(run_dir, "attempt=*", "*"))
            if attempt_dir not in p
        ]
        if stale:
            FileSystems.delete(stale)


def commit_run(
    state_dir: str, run_id: str, attempt: str, logical_date: str, output: str | None = None
) -> None:
    """Makes ``attempt`` the committed index segment of ``run_id``, then drops the others.

    Without ``output`` the marker alone commits (an index used without an output directory);
    with it, the run counts only while ``output``'s manifest of ``run_id`` names ``attempt``.
    The marker is replaced atomically: readers see the previous or the new state, never a mix.
    """
    commit = StateCommit(state_dir, run_id, attempt, logical_date, output)
    commit.prepare()
    commit.finish()


def _output_of(state_dir: str, output: str) -> str:
    """The output directory a marker names (local ones relative to the state directory)."""
    if FileSystems.get_scheme(output) is not None or FileSystems.get_scheme(state_dir):
        return output
    return os.path.normpath(os.path.join(os.path.abspath(state_dir), output))


def _manifest_attempt(output: str, run_id: str) -> str | None:
    """The index attempt named by ``output``'s committed manifest of ``run_id``."""
    path = f"{output.rstrip('/')}/_runs/{run_id}.json"
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as f:
        manifest = json.loads(f.read().decode("utf-8"))
    return (manifest.get("state") or {}).get("attempt") or (manifest.get("streaming") or {}).get(
        "state_attempt"
    )


def committed_runs(state_dir: str) -> list[CommittedRun]:
    """All committed runs, ordered by (logical_date, run_id).

    Raises:
        StateError: a marker is not valid JSON of the marker's shape (names the file).
    """
    runs = []
    for path in match_paths(FileSystems.join(state_dir, "_committed", "*.json")):
        if path.rsplit("/", 1)[-1].startswith("."):
            continue
        marker = _read_marker(path)
        run_id, attempts = marker["run_id"], marker["attempts"]
        if marker.get("output"):
            attempt = _manifest_attempt(_output_of(state_dir, marker["output"]), run_id)
        else:
            attempt = marker.get("attempt") or next(iter(attempts), None)
        if attempt not in attempts:
            continue  # not committed: no manifest, or one that names another attempt
        base = state_attempt_dir(state_dir, run_id, attempt)
        files = tuple(FileSystems.join(base, name) for name in attempts[attempt]["files"])
        runs.append(CommittedRun(run_id, attempts[attempt]["logical_date"], attempt, files))
    return sorted(runs, key=lambda r: (r.logical_date, r.run_id))


def earlier_runs(state_dir: str, run_id: str, logical_date: str) -> list[CommittedRun]:
    """Committed runs strictly before ``(logical_date, run_id)``, never ``run_id`` itself."""
    return [
        r
        for r in committed_runs(state_dir)
        if (r.logical_date, r.run_id) < (logical_date, run_id) and r.run_id != run_id
    ]


def other_runs(state_dir: str, run_id: str) -> list[CommittedRun]:
    """The runs a run dedups against: every committed run but ``run_id`` itself.

    The backfill rule: a run dated before runs already committed (an older slot run late)
    still sees them; their pages are committed and never re-marked, so they stay kept and
    this run's copies are marked duplicates of them (``keep.keep_order``).
    """
    return [r for r in committed_runs(state_dir) if r.run_id != run_id]


def other_segments(state_dir: str, run_id: str) -> list[tuple[str, str]]:
    """``(segment file, logical_date)`` of every run ``other_runs`` gives: the index a run
    dedups against."""
    return [(path, run.logical_date) for run in other_runs(state_dir, run_id) for path in run.files]


def earlier_segments(state_dir: str, run_id: str, logical_date: str) -> list[str]:
    """The committed segment files of the runs ordered before this one, in run order."""
    return [path for run in earlier_runs(state_dir, run_id, logical_date) for path in run.files]
