"""The commit protocol: move staged files into place, remove the run's stale files, write the
manifest last (INTERFACE.md "Commit protocol").

``CommitRun`` is the graph's single terminal step: every writer's output flows into it, so every
branch is computed on every runner (the DaskRunner computes only what feeds the last step), and
the run is committed exactly when ``_runs/<run_id>.json`` appears.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pagestream.transforms.write.parquet import TABLES, StagedFile, staging_dir
from pagestream.transforms.write.stats import empty_stats

__all__ = [
    "CommitRun",
    "commit_files",
    "list_manifests",
    "manifest_path",
    "read_manifest",
    "write_manifest",
]


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
    pattern = f"{output.rstrip('/')}/_runs/*.json"
    try:
        matched = FileSystems.match([pattern])[0].metadata_list
    except Exception:
        return []
    manifests = []
    for meta in matched:
        if meta.path.rsplit("/", 1)[-1].startswith("."):
            continue
        with FileSystems.open(meta.path) as handle:
            manifests.append(json.loads(handle.read().decode("utf-8")))
    return sorted(manifests, key=lambda m: (m.get("logical_date", ""), m["run_id"]))


def write_manifest(output: str, run_id: str, manifest: dict) -> str:
    """Writes the manifest atomically (a hidden temporary file, then a rename)."""
    final = manifest_path(output, run_id)
    temporary = f"{output.rstrip('/')}/_runs/.{run_id}.json.tmp"
    _mkdirs(final.rsplit("/", 1)[0])
    with FileSystems.create(temporary) as handle:
        handle.write(json.dumps(manifest, indent=2, sort_keys=True, default=str).encode("utf-8"))
    FileSystems.rename([temporary], [final])
    return final


def _mkdirs(path: str) -> None:
    try:
        FileSystems.mkdirs(path)
    except Exception:  # exists already (local), or object stores that have no directories
        pass


def _own_files(output: str, run_id: str) -> set[str]:
    """Files of ``run_id`` in the table directories (``part-<run_id>-<digits>.parquet``)."""
    own = re.compile(rf"^part-{re.escape(run_id)}-\d+\.parquet$")
    root = output.rstrip("/")
    patterns = [f"{root}/pages/*/*/part-{run_id}-*.parquet"]
    patterns += [f"{root}/{table}/part-{run_id}-*.parquet" for table in TABLES if table != "pages"]
    found = set()
    for pattern in patterns:
        try:
            matched = FileSystems.match([pattern])[0].metadata_list
        except Exception:
            continue
        found.update(m.path for m in matched if own.match(m.path.rsplit("/", 1)[-1]))
    return found


def commit_files(output: str, run_id: str, files: list[StagedFile]) -> list[str]:
    """Moves staged files into place, then removes the run's files that the new set replaces.

    Returns the final paths, relative to ``output``, sorted. Re-running a run id replaces its
    files: new files are in place before the old ones are removed.
    """
    root = output.rstrip("/")
    for file in sorted(files):
        _mkdirs(file.final_path.rsplit("/", 1)[0])
        FileSystems.rename([file.staged_path], [file.final_path])
    kept = {file.final_path for file in files}
    stale = sorted(_own_files(output, run_id) - kept)
    if stale:
        FileSystems.delete(stale)
    return sorted(path[len(root) + 1 :] for path in kept)


class CommitFn(beam.DoFn):
    """Commits the run once every file is staged; yields the manifest."""

    def __init__(self, output: str, run_id: str, manifest_base: dict, state_commit=None):
        self.output = output
        self.run_id = run_id
        self.manifest_base = manifest_base
        self.state_commit = state_commit  # callable() committing the --state segment, or None

    def process(self, element) -> Iterator[dict]:
        _, items = element
        files = [item for kind, item in items if kind == "file"]
        stats = next((item for kind, item in items if kind == "stats"), None) or empty_stats()
        final_paths = commit_files(self.output, self.run_id, files)
        by_table = {table: [] for table in TABLES}
        rows = dict.fromkeys(TABLES, 0)
        for file in files:
            by_table[file.table].append(file.final_path[len(self.output.rstrip("/")) + 1 :])
            rows[file.table] += file.rows
        finished = datetime.now(timezone.utc)
        started = datetime.fromisoformat(self.manifest_base["started_at"])
        manifest = {
            **self.manifest_base,
            **stats,
            "status": "committed",
            "finished_at": finished.isoformat(timespec="seconds"),
            "duration_s": round((finished - started).total_seconds(), 3),
            "files": {table: sorted(paths) for table, paths in by_table.items()},
            "rows": rows,
        }
        manifest["timings_ms"] = {
            **stats.get("timings_ms", {}),
            "total_wall": round(manifest["duration_s"] * 1000, 1),
        }
        assert len(final_paths) == len(files)
        write_manifest(self.output, self.run_id, manifest)
        if self.state_commit is not None:
            self.state_commit()
        try:
            FileSystems.delete([staging_dir(self.output, self.run_id)])
        except Exception:  # nothing staged (an empty run) or already gone
            pass
        yield manifest


class CommitRun(beam.PTransform):
    """The terminal step: ``(files, stats, extra)`` -> a PCollection with the manifest.

    Args:
        output: the output directory.
        run_id: the run being committed.
        manifest_base: options, versions, inputs and ``started_at`` known before the run.
        state_commit: a picklable callable run after the manifest is written (commits the
            ``--state`` index segment), or None.

    The input is a tuple of PCollections: ``StagedFile``s, the statistics dict (zero or one
    element) and any other PCollection that must be computed before the commit (its elements
    are ignored), e.g. the paths of the ``--state`` index segment.
    """

    def __init__(self, output: str, run_id: str, manifest_base: dict, state_commit=None):
        super().__init__()
        self.output, self.run_id = output, run_id
        self.manifest_base, self.state_commit = manifest_base, state_commit

    def expand(self, inputs):
        files, stats, *others = inputs
        tagged = [
            # A seed element: an empty run is committed too, with zero counts.
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
            | "Commit"
            >> beam.ParDo(CommitFn(self.output, self.run_id, self.manifest_base, self.state_commit))
        )
