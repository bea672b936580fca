"""The commit protocol: the manifest is the table's log (INTERFACE.md "Commit protocol").

Every attempt at a run writes its files under names no other attempt uses
(``part-<run_id>-<attempt>-<n>.parquet``, ``attempt`` 8 random hex digits), first under
``_staging/<run_id>/``. ``commit`` then:

1. moves the staged files into the table directories (new names: nothing committed is touched);
2. stages the ``--state`` index marker entry of this attempt (not yet valid: see
   ``dedup.state``);
3. writes ``_runs/<run_id>.json`` atomically (a hidden temporary file, then a rename) -- **the
   commit point**: it lists the files (path, rows, bytes) readers must read;
4. deletes the files of the superseded attempt and orphans of crashed attempts of ``run_id``;
5. finishes the ``--state`` marker, removes the staging directory, and vacuums orphans of
   other runs that no live process can commit any more (``vacuum.py``).

A crash or failure before step 3 leaves the previous manifest, and every file it lists, intact;
one after step 3 leaves the new attempt committed whole. ``CommitRun`` is the graph's single
terminal step: every writer's output flows into it, so every branch is computed on every runner.
"""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Iterator
from datetime import datetime, timezone

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pagestream.transforms.write.files import (
    delete,
    listed_files,
    match_under,
    mkdirs,
    remove_staging,
)
from pagestream.transforms.write.parquet import TABLES, StagedFile
from pagestream.transforms.write.stats import empty_stats
from pagestream.transforms.write.vacuum import vacuum

__all__ = [
    "FAULT_ENV",
    "CommitRun",
    "InjectedFault",
    "GatherRun",
    "abandon",
    "commit",
    "commit_staged",
    "fault_point",
    "list_manifests",
    "manifest_path",
    "read_manifest",
    "write_manifest",
]

#: ``PAGESTREAM_FAULT=<step>`` raises ``InjectedFault`` at that commit step,
#: ``<step>:kill`` sends the process SIGKILL there (the fault-injection tests use it).
FAULT_ENV = "PAGESTREAM_FAULT"


class InjectedFault(RuntimeError):
    """Raised by ``fault_point`` when ``PAGESTREAM_FAULT`` names the step."""


def fault_point(step: str) -> None:
    """A named step of the commit where the fault-injection tests fail or kill the run."""
    wanted = os.environ.get(FAULT_ENV)
    if not wanted:
        return
    name, _, how = wanted.partition(":")
    if name != step:
        return
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise InjectedFault(f"injected fault at commit step {step}")


def manifest_path(output: str, run_id: str) -> str:
    return f"{output.rstrip('/')}/_runs/{run_id}.json"


def read_manifest(output: str, run_id: str) -> dict | None:
    """The committed manifest of ``run_id``, or None when that run is not committed."""
    path = manifest_path(output, run_id)
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as handle:
        return json.loads(handle.read().decode("utf-8"))


def list_manifests(output: str) -> list[dict]:
    """All committed manifests in ``output``, ordered by (logical_date, run_id)."""
    manifests = []
    for path in match_under(output, "_runs/*.json"):
        if path.rsplit("/", 1)[-1].startswith((".", "_")):
            continue
        with FileSystems.open(path) as handle:
            manifests.append(json.loads(handle.read().decode("utf-8")))
    return sorted(manifests, key=lambda m: (m.get("logical_date", ""), m["run_id"]))


def write_manifest(output: str, run_id: str, manifest: dict) -> str:
    """Writes the manifest atomically (a hidden temporary file, then a rename)."""
    final = manifest_path(output, run_id)
    temporary = f"{output.rstrip('/')}/_runs/.{run_id}.json.tmp"
    mkdirs(final.rsplit("/", 1)[0])
    with FileSystems.create(temporary) as handle:
        handle.write(json.dumps(manifest, indent=2, sort_keys=True, default=str).encode("utf-8"))
    fault_point("manifest_written")
    FileSystems.rename([temporary], [final])
    return final


def _own_file(run_id: str) -> re.Pattern:
    """File names of any attempt of ``run_id`` (and of the former ``part-<run_id>-<n>``)."""
    return re.compile(rf"^part-{re.escape(run_id)}-(?:[0-9a-f]{{8}}-)?\d+\.parquet$")


def _own_files(output: str, run_id: str) -> set[str]:
    own = _own_file(run_id)
    patterns = [f"pages/*/*/part-{run_id}-*.parquet"]
    patterns += [f"{table}/part-{run_id}-*.parquet" for table in TABLES if table != "pages"]
    return {
        path
        for pattern in patterns
        for path in match_under(output, pattern)
        if own.match(path.rsplit("/", 1)[-1])
    }


def _move(files: list[StagedFile]) -> None:
    for i, file in enumerate(sorted(files), start=1):
        if not FileSystems.exists(file.staged_path) and FileSystems.exists(file.final_path):
            continue  # a retried commit: moved by the first try
        mkdirs(file.final_path.rsplit("/", 1)[0])
        FileSystems.rename([file.staged_path], [file.final_path])
        fault_point(f"moved-{i}")


def commit(output: str, run_id: str, files: list[StagedFile], manifest: dict, state=None) -> dict:
    """Commits ``files`` as run ``run_id`` with ``manifest`` (steps in the module docstring).

    Args:
        state: a ``dedup.state.StateCommit`` for the run's ``--state`` segment, or None.

    Returns:
        The manifest written: ``manifest`` plus ``files`` (per table, paths relative to
        ``output``), ``file_list`` (table, path, rows, bytes per file) and ``rows``.
    """
    root = output.rstrip("/")
    previous = read_manifest(output, run_id)
    _move(files)
    fault_point("moved")
    ordered = sorted(files, key=lambda f: f.final_path)
    rows = dict.fromkeys(TABLES, 0)
    for file in ordered:
        rows[file.table] += file.rows
    manifest = {
        **manifest,
        "files": {t: [f.final_path[len(root) + 1 :] for f in ordered if f.table == t] for t in TABLES},
        "file_list": [
            {"table": f.table, "path": f.final_path[len(root) + 1 :], "rows": f.rows, "bytes": f.bytes}
            for f in ordered
        ],
        "rows": rows,
    }  # fmt: skip
    if state is not None:
        manifest["state"] = state.entry()
        state.prepare()
        fault_point("state_prepared")
    write_manifest(output, run_id, manifest)
    fault_point("committed")
    keep = {f"{root}/{path}" for path in listed_files(manifest)}
    superseded = {f"{root}/{path}" for path in listed_files(previous or {})}
    doomed = sorted((superseded | _own_files(output, run_id)) - keep)
    for path in doomed:
        delete([path])
        fault_point("deleted_superseded")
    if state is not None:
        state.finish()
        fault_point("state_finished")
    remove_staging(output, run_id)
    try:
        vacuum(output)  # orphans of other runs' crashed attempts (see vacuum.py)
    except Exception:  # noqa: BLE001 - cleaning is best effort; the run is committed
        pass
    return manifest


def abandon(output: str, run_id: str, keep_staging: bool = False) -> None:
    """Removes what a failed, uncommitted attempt of ``run_id`` left: its files moved into
    the tables but not listed by the committed manifest, and its staging directory (unless
    ``keep_staging``: finished waves a rerun resumes from). Call it only while holding the
    run's lease (nothing else is writing ``run_id``)."""
    root = output.rstrip("/")
    keep = {f"{root}/{rel}" for rel in listed_files(read_manifest(output, run_id) or {})}
    for path in sorted(_own_files(output, run_id) - keep):
        delete([path])
    if not keep_staging:
        remove_staging(output, run_id)


def commit_staged(
    output: str, run_id: str, files: list[StagedFile], stats: dict, manifest_base: dict, state=None
) -> dict:
    """Commits a run's staged ``files`` with its statistics (``write.stats.finalise``) and the
    manifest fields known before the run (``manifest_base``); returns the manifest."""
    finished = datetime.now(timezone.utc)
    started = datetime.fromisoformat(manifest_base["started_at"])
    manifest = {
        **manifest_base,
        **stats,
        "status": "committed",
        "finished_at": finished.isoformat(timespec="seconds"),
        "duration_s": round((finished - started).total_seconds(), 3),
    }
    manifest["timings_ms"] = {
        **stats.get("timings_ms", {}),
        "total_wall": round(manifest["duration_s"] * 1000, 1),
    }
    return commit(output, run_id, files, manifest, state)


class CommitFn(beam.DoFn):
    """Commits the run once every file is staged; yields the manifest."""

    def __init__(self, output: str, run_id: str, manifest_base: dict, state=None):
        self.output = output
        self.run_id = run_id
        self.manifest_base = manifest_base
        self.state = state  # a dedup.state.StateCommit, or None

    def process(self, element) -> Iterator[dict]:
        _, items = element
        files = [item for kind, item in items if kind == "file"]
        stats = next((item for kind, item in items if kind == "stats"), None) or empty_stats()
        yield commit_staged(self.output, self.run_id, files, stats, self.manifest_base, self.state)


class GatherRun(beam.PTransform):
    """``(files, stats, *others)`` -> ``PCollection[(None, [(kind, item)])]``: one element
    holding every ``("file", StagedFile)``, the ``("stats", dict)`` (none for an empty input)
    and ``("other", str(x))`` of the other PCollections, for the run's single terminal step.

    A seed element makes an empty input gather too. Every input flows into the one grouping,
    so every branch is computed on every runner (the DaskRunner computes only the last).
    """

    def expand(self, inputs):
        files, stats, *others = inputs
        tagged = [
            files.pipeline | "Seed" >> beam.Create([("seed", None)]),
            files | "TagFiles" >> beam.Map(lambda f: ("file", f)),
            stats | "TagStats" >> beam.Map(lambda s: ("stats", s)),
        ]
        tagged += [
            other | f"TagOther{i}" >> beam.Map(lambda x: ("other", str(x)))
            for i, other in enumerate(others)
        ]
        return (
            tagged
            | "Together" >> beam.Flatten()
            | "OneKey" >> beam.Map(lambda item: (None, item))
            | "Gather" >> beam.GroupByKey()
        )


class CommitRun(beam.PTransform):
    """The terminal step: ``(files, stats, extra)`` -> a PCollection with the manifest.

    Args:
        output: the output directory.
        run_id: the run being committed.
        manifest_base: options, versions, inputs, ``attempt`` and ``started_at`` known before
            the run.
        state_commit: a picklable ``dedup.state.StateCommit`` (the ``--state`` index segment
            committed with the run), or None.

    The input is a tuple of PCollections: ``StagedFile``s, the statistics dict (zero or one
    element) and any other PCollection that must be computed before the commit (its elements
    are ignored), e.g. the paths of the ``--state`` index segment.
    """

    def __init__(self, output: str, run_id: str, manifest_base: dict, state_commit=None):
        super().__init__()
        self.output, self.run_id = output, run_id
        self.manifest_base, self.state_commit = manifest_base, state_commit

    def expand(self, inputs):
        return (
            inputs
            | "GatherRun" >> GatherRun()
            | "Commit"
            >> beam.ParDo(CommitFn(self.output, self.run_id, self.manifest_base, self.state_commit))
        )
