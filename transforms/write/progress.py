"""Progress of a running pipeline, from heartbeat files the workers write as they go.

Runner metrics arrive only at the end on the DirectRunner and not at all on the DaskRunner, so
each DoFn that wants to report progress keeps a ``Heartbeat``: a few counters that it writes, at
most every ``interval`` seconds, as a small JSON file under the run's staging directory
(``_staging/<run_id>/_progress/<stage>-<host>-<pid>-<n>.json``). The driver sums those files
(``read_progress``) while the pipeline runs. It works on any runner whose workers can write to
the output location, and costs one small write every few seconds per worker.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import threading
import time
from collections import Counter

from apache_beam.io.filesystems import FileSystems

__all__ = ["Heartbeat", "progress_dir", "read_progress"]

_SEQUENCE = itertools.count()


def progress_dir(staging: str) -> str:
    return f"{staging.rstrip('/')}/_progress"


class Heartbeat:
    """Counters of one DoFn instance, written now and then to its own file.

    Never raises: progress is best effort and must not fail a run.
    """

    def __init__(self, directory: str | None, stage: str, interval: float = 2.0):
        self.directory = directory
        self.interval = interval
        self.counts: Counter = Counter()
        self.path = None
        if directory:
            name = f"{stage}-{socket.gethostname()}-{os.getpid()}-{next(_SEQUENCE)}"
            self.path = f"{directory.rstrip('/')}/{name}.json"
        self._last = 0.0
        self._lock = threading.Lock()

    def add(self, key: str, amount: int = 1) -> None:
        self.counts[key] += amount
        if self.path and time.monotonic() - self._last >= self.interval:
            self.flush()

    def flush(self) -> None:
        if not self.path:
            return
        with self._lock:
            self._last = time.monotonic()
            temporary = self.path + ".tmp"
            try:  # write then rename, so a reader never sees half a file
                with FileSystems.create(temporary) as handle:
                    handle.write(json.dumps(dict(self.counts)).encode())
                FileSystems.rename([temporary], [self.path])
            except Exception:  # the staging directory may be gone after the commit
                pass


def read_progress(directory: str) -> Counter:
    """The sum of all heartbeat files in ``directory`` (empty when there are none yet)."""
    total: Counter = Counter()
    try:
        matched = FileSystems.match([f"{directory.rstrip('/')}/*.json"])[0].metadata_list
    except Exception:
        return total
    for meta in matched:
        try:
            with FileSystems.open(meta.path) as handle:
                total.update(json.loads(handle.read().decode()))
        except Exception:  # being rewritten or already removed
            continue
    return total
