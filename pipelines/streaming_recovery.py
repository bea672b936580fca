"""Micro-batch ids, the ``STATE/ledger`` copies and ``reconcile`` (crash recovery).

A micro-batch's committed manifest is its ledger entry; the copy under ``STATE/ledger`` is an
index written after the commit. ``reconcile`` rewrites what a crash after the manifest left
missing (see ``streaming.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from apache_beam.io.filesystems import FileSystems

from pagestream.transforms.dedup import state as dedup_state

__all__ = ["micro_batch_id", "reconcile"]


def micro_batch_id(base: str, seq: int) -> str:
    """``<base>-<seq>``, zero-padded so that run ids sort in commit order."""
    return f"{base}-{seq:06d}"


def ledger_path(state: str, run_id: str) -> str:
    return f"{state.rstrip('/')}/ledger/{run_id}.json"


def write_json(path: str, payload: dict) -> None:
    """Writes ``payload`` atomically: a hidden temporary name, then a rename."""
    directory, name = path.rsplit("/", 1)
    try:
        FileSystems.mkdirs(directory)
    except Exception:  # exists already, or an object store without directories
        pass
    temporary = f"{directory}/.{name}.tmp"
    with FileSystems.create(temporary) as handle:
        handle.write(json.dumps(payload, indent=1, sort_keys=True).encode("utf-8"))
    FileSystems.rename([temporary], [path])


def reconcile(state: str, manifests: Iterable[dict], output: str | None = None) -> list[str]:
    """Finishes what a crash after a micro-batch's manifest left undone; returns the run ids.

    Writes the missing ``STATE/ledger`` copies and commits the ``--state`` index segment of
    committed micro-batches whose marker is missing. Idempotent.
    """
    repaired = []
    committed = {run.run_id for run in dedup_state.committed_runs(state)}
    for manifest in manifests:
        section = manifest.get("streaming")
        if not section:
            continue
        run_id = manifest["run_id"]
        fixed = False
        if not FileSystems.exists(ledger_path(state, run_id)):
            write_json(ledger_path(state, run_id), {"run_id": run_id, "files": section["files"]})
            fixed = True
        if run_id not in committed and section.get("state_attempt"):
            dedup_state.commit_run(
                state, run_id, section["state_attempt"], manifest["logical_date"], output
            )
            fixed = True
        if fixed:
            repaired.append(run_id)
    return repaired
