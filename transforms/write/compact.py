"""``pagestream compact``: rewrite the small files of committed runs into larger shared ones.

Every run writes at least one file per partition it touches, so many small runs (schedules,
streaming micro-batches) make many small files. A **compaction** rewrites the files of settled
runs (``logical_date`` before ``before``), partition by partition, into files of up to
``target_file_bytes``, through the same protocol as a run:

1. it holds the lease of every run it absorbs (no rerun can commit meanwhile) and its own;
2. writes the new files under ``_staging/_compact/`` and moves them into place
   (``part-_compact-<attempt>-<n>.parquet``);
3. writes ``_compactions/<id>.json`` atomically -- the commit point: it lists the new files and
   ``absorbs`` (run id -> the attempt whose rows it holds) and ``replaces`` (earlier
   compactions it merged);
4. deletes the absorbed runs' own files and the replaced compactions.

Readers (``effective``) read an absorbed run's rows from the compaction's files instead of its
manifest's, so a crash at any step shows every run once, whole. Run manifests are kept: the
``runs`` view and the report are unchanged. An absorbed run cannot be rerun (its rows live in
shared files): compact only runs older than your rerun window.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pagestream import SCHEMA_VERSION
from pagestream.transforms.write.commit import fault_point, list_manifests
from pagestream.transforms.write.files import (
    delete,
    file_name,
    listed_files,
    match_under,
    mkdirs,
    new_attempt,
    remove_staging,
    staging_dir,
)
from pagestream.transforms.write.lease import run_lease
from pagestream.transforms.write.parquet import TABLES, write_parquet

__all__ = ["COMPACTOR", "compact", "compactions", "effective"]

COMPACTOR = "_compact"


def compactions(output: str) -> list[dict]:
    """The committed compaction manifests of ``output`` (``_compactions/*.json``)."""
    found = []
    for path in match_under(output, "_compactions/*.json"):
        if not path.rsplit("/", 1)[-1].startswith((".", "_")):
            with FileSystems.open(path) as handle:
                found.append(json.loads(handle.read().decode("utf-8")))
    return found


def effective(manifests: list[dict], found: list[dict]) -> list[dict]:
    """The compactions readers use: those no other compaction replaces.

    Raises:
        ValueError: a compaction's absorbed run was committed again since (not through
            pagestream, which refuses to rerun an absorbed run).
    """
    replaced = {old for c in found for old in c.get("replaces", [])}
    current = {m["run_id"]: m.get("attempt") for m in manifests}
    chosen = [c for c in found if c["id"] not in replaced]
    for c in chosen:
        for run_id, attempt in c["absorbs"].items():
            if current.get(run_id) != attempt:
                raise ValueError(
                    f"compaction {c['id']} holds run {run_id} attempt {attempt}, but the "
                    f"committed attempt is {current.get(run_id)}"
                )
    return chosen


def absorbed_by(output: str, run_id: str) -> str | None:
    """The id of the compaction holding ``run_id``'s rows, or None."""
    for c in effective(list_manifests(output), compactions(output)):
        if run_id in c["absorbs"]:
            return c["id"]
    return None


def _partition(rel: str) -> str:
    parts = rel.split("/")
    return "/".join(parts[:-1])


def compact(
    output: str, before: str, target_file_bytes: int = 512 * 1024**2, row_group_rows: int = 20_000
) -> dict | None:
    """Compacts the committed runs with ``logical_date < before`` (and earlier compactions).

    Returns:
        The compaction manifest, or None when there is nothing to merge (fewer than two files
        in every partition).
    """
    root = output.rstrip("/")
    manifests = list_manifests(output)
    previous = effective(manifests, compactions(output))
    held = {run for c in previous for run in c["absorbs"]}
    runs = [m for m in manifests if m["run_id"] not in held and m["logical_date"] < before]
    sources = defaultdict(list)  # (table, directory) -> files
    for m in runs:
        for rel in listed_files(m):
            sources[rel.split("/", 1)[0], _partition(rel)].append(rel)
    for c in previous:
        for rel in listed_files(c):
            sources[rel.split("/", 1)[0], _partition(rel)].append(rel)
    if all(len(files) < 2 for files in sources.values()):
        return None
    leases = [run_lease(output, COMPACTOR)] + [run_lease(output, m["run_id"]) for m in runs]
    try:
        for lease in leases:
            lease.acquire()
        return _rewrite(root, runs, previous, sources, target_file_bytes, row_group_rows)
    finally:
        for lease in leases:
            lease.release()


def _rewrite(root, runs, previous, sources, target_file_bytes, row_group_rows) -> dict:
    attempt = new_attempt()
    staging = staging_dir(root, COMPACTOR)
    written, n = [], 0
    for (table, directory), files in sorted(sources.items()):
        rows = pa.concat_tables(
            [
                pq.read_table(FileSystems.open(f"{root}/{rel}"), schema=TABLES[table])
                for rel in files
            ]
        )
        rows = rows.sort_by([("run_id", "ascending"), ("doc_id", "ascending")])
        per_row = max(1, rows.nbytes // max(1, rows.num_rows))
        step = max(1, target_file_bytes // per_row)
        for start in range(0, rows.num_rows, step):
            name = file_name(COMPACTOR, attempt, n)
            n += 1
            staged = f"{staging}/{directory}/{name}"
            chunk = rows.slice(start, step).to_pylist()
            size = write_parquet(staged, chunk, TABLES[table], row_group_rows)
            written.append((table, staged, f"{directory}/{name}", len(chunk), size))
    for _, staged, rel, _, _ in written:
        mkdirs(f"{root}/{rel}".rsplit("/", 1)[0])
        FileSystems.rename([staged], [f"{root}/{rel}"])
    now = datetime.now(timezone.utc)
    manifest = {
        "id": f"{now.strftime('%Y%m%dT%H%M%SZ')}-{attempt}",
        "created_at": now.isoformat(timespec="seconds"),
        "schema_version": SCHEMA_VERSION,
        "absorbs": {
            **{r: a for c in previous for r, a in c["absorbs"].items()},
            **{m["run_id"]: m.get("attempt") for m in runs},
        },
        "replaces": [c["id"] for c in previous],
        "files": {t: sorted(rel for tb, _, rel, _, _ in written if tb == t) for t in TABLES},
        "file_list": [
            {"table": t, "path": rel, "rows": k, "bytes": b} for t, _, rel, k, b in written
        ],
    }
    final = f"{root}/_compactions/{manifest['id']}.json"
    mkdirs(final.rsplit("/", 1)[0])
    temporary = f"{root}/_compactions/.{manifest['id']}.json.tmp"
    with FileSystems.create(temporary) as handle:
        handle.write(json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8"))
    FileSystems.rename([temporary], [final])
    fault_point("compaction_committed")
    doomed = [f"{root}/{rel}" for m in runs for rel in listed_files(m)]
    doomed += [f"{root}/{rel}" for c in previous for rel in listed_files(c)]
    doomed += [f"{root}/_compactions/{c['id']}.json" for c in previous]
    for path in doomed:
        if FileSystems.exists(path):
            delete([path])
    remove_staging(root, COMPACTOR)
    return manifest
