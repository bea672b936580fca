"""Progress of a running pipeline, from heartbeat files the workers write as they go.

Runner metrics arrive only at the end on the DirectRunner and not at all on the DaskRunner, so
each DoFn that wants to report progress keeps a ``Heartbeat``: a few counters that it writes, at
most every ``interval`` seconds, as a small JSON file under the run's staging directory
(``_staging/<run_id>/_progress/<stage>-<host>-<pid>-<n>.json``). The driver sums those files
(``read_progress``) while the pipeline runs. It works on any runner whose workers can write to
the output location, and costs one small write every few seconds per worker.

Input bytes are counted where the file is opened: ``track_read`` remembers the (compressed)
file handle a reader opens in this thread, and ``read_position`` says how far into it the
reader has got, for every format alike (JSON Lines included, which has no byte offsets).
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

__all__ = [
    "Heartbeat",
    "forget_read",
    "progress_dir",
    "read_position",
    "read_progress",
    "track_read",
]

_SEQUENCE = itertools.count()
_OPENED = threading.local()


def track_read(handle):
    """Remembers ``handle``, a file just opened for reading in this thread; returns it.

    Readers call it on the raw (still compressed) file object, so ``read_position`` counts
    bytes of the file as stored, the unit of the run's input size.
    """
    _OPENED.handle = handle
    return handle


def read_position() -> int | None:
    """Bytes read so far of the file last opened in this thread (``tell()`` of the handle given
    to ``track_read``); None when there is none or it is closed."""
    handle = getattr(_OPENED, "handle", None)
    if handle is None:
        return None
    try:
        return int(handle.tell())
    except Exception:  # closed, or a stream without tell()
        return None


def forget_read() -> None:
    """Drops the handle remembered by ``track_read`` (before the next file is read)."""
    _OPENED.handle = None


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
