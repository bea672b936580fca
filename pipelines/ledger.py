"""The streaming loop's ledger: which version of which input file is ingested, and which files
a tick takes.

A file is keyed by its path plus identity: size, ``mtime_ns`` and the SHA-256 of its bytes.
``FileWatcher.poll`` takes a file when it has the same size and mtime in two consecutive
listings *and* has not changed for ``settle_s`` seconds (a writer that pauses mid-file is
waited for). A path already in the ledger with the same size and mtime is passed over unread;
with another, its bytes are hashed: the same bytes (touched, copied over with the same
content) are not read again, other bytes (replaced by tmp+rename, appended to after a pause)
are a new version, whose ledger entry names the micro-batch it ``replaces``. Non-regular
files (FIFOs, sockets, devices) are never opened: reported once each and counted.

The ledger itself is derived from committed manifests (``read_ledger``); see
``pipelines.streaming`` for why that makes each version ingested exactly once.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pagestream.transforms.read.inputs import SkippedFile, expand_inputs

__all__ = [
    "FileWatcher",
    "LedgerEntry",
    "NOT_FILES",
    "file_sha256",
    "file_stat",
    "ledger_entries",
    "read_ledger",
    "stable_files",
]

#: Skip reasons of paths that are not regular files (``expand_inputs``).
NOT_FILES = ("fifo", "socket", "device", "not_a_file")


class LedgerEntry(NamedTuple):
    """One ingested version of an input file and the micro-batch that committed it.

    ``mtime_ns`` and ``sha256`` are None in entries written before they were recorded."""

    path: str
    size: int
    mtime: float
    run_id: str
    mtime_ns: int | None = None
    sha256: str | None = None

    def same_stat(self, size: int, mtime_ns: int) -> bool:
        """Whether a file with this size and mtime is, by its metadata, this version."""
        if self.mtime_ns is not None:
            return (self.size, self.mtime_ns) == (size, mtime_ns)
        return self.size == size and abs(self.mtime - mtime_ns / 1e9) < 1e-5


def ledger_entries(run_id: str, files: Iterable[dict]) -> list[LedgerEntry]:
    """The entries of one micro-batch from its manifest's ``streaming.files``."""
    return [_entry(run_id, f) for f in files]


def _entry(run_id: str, f: dict) -> LedgerEntry:
    size, mtime = int(f["size"]), float(f["mtime"])
    return LedgerEntry(f["path"], size, mtime, run_id, f.get("mtime_ns"), f.get("sha256"))


def read_ledger(state: str, manifests: Iterable[dict]) -> dict[str, LedgerEntry]:
    """The latest ingested version of every file (the one of the latest micro-batch, by run
    id): the ``STATE/ledger`` copies plus committed streaming manifests."""
    batches: dict[str, list[dict]] = {}
    pattern = f"{state.rstrip('/')}/ledger/*.json"
    try:
        paths = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
    except Exception:
        paths = []
    for path in paths:
        if path.rsplit("/", 1)[-1].startswith((".", "_")):
            continue
        with FileSystems.open(path) as handle:
            entry = json.loads(handle.read().decode("utf-8"))
        batches[entry["run_id"]] = entry["files"]
    for manifest in manifests:
        section = manifest.get("streaming") or {}
        if "files" in section:
            batches[manifest["run_id"]] = section["files"]
    found: dict[str, LedgerEntry] = {}
    for run_id in sorted(batches):  # micro-batch ids sort in commit order
        found.update((e.path, e) for e in ledger_entries(run_id, batches[run_id]))
    return found


def stable_files(
    listing: dict[str, tuple[int, int]],
    previous: dict[str, tuple[int, int]],
    now_ns: int | None = None,
    settle_s: float = 0.0,
) -> list[str]:
    """Paths whose (size, mtime_ns) did not change since the previous listing and, with
    ``now_ns``, whose mtime is at least ``settle_s`` seconds before it; sorted."""
    return sorted(
        path
        for path, sig in listing.items()
        if previous.get(path) == sig and (now_ns is None or now_ns - sig[1] >= settle_s * 1e9)
    )


def file_stat(path: str) -> tuple[int, int]:
    """(size, mtime_ns) of a file on any Beam filesystem (mtime 0 where it gives none);
    raises OSError when it is gone."""
    if FileSystems.get_scheme(path) is None:
        info = os.stat(path)
        return info.st_size, info.st_mtime_ns
    meta = FileSystems.match([path])[0].metadata_list
    if not meta:
        raise OSError(f"{path}: gone")
    return meta[0].size_in_bytes, int((meta[0].last_updated_in_seconds or 0) * 1e9)


def file_sha256(path: str) -> str:
    """The SHA-256 of a file's bytes, read in 1 MB blocks (any Beam filesystem)."""
    digest = hashlib.sha256()
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class FileWatcher:
    """Lists the inputs every tick and says which files to ingest (see the module doc).

    Args:
        inputs: the ``--input`` paths (directories, globs, files).
        settle_s: how long a file must be unchanged before it is taken.
        ledger: path -> latest ingested version (``read_ledger``); ``record`` adds to it.
        say: where one-line notices go (a changed file, a FIFO).
        clock: the settle time's clock, in ns (tests pass a fake one).
    """

    def __init__(
        self,
        inputs: Sequence[str],
        settle_s: float,
        ledger: dict[str, LedgerEntry],
        say: Callable[[str], None],
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.inputs, self.settle_s, self.ledger = list(inputs), settle_s, ledger
        self.say, self.clock = say, clock
        self.previous: dict[str, tuple[int, int]] = {}  # path -> (size, mtime_ns), last tick
        self.ready: dict[str, dict] = {}  # path -> its ledger entry, for the next micro-batch
        self.not_files: dict[str, str] = {}  # non-regular files seen -> fifo, socket, ...
        self.waiting = 0

    def poll(self) -> list[str]:
        """The settled files whose version is not in the ledger, sorted; their entries
        (path, size, mtime, mtime_ns, sha256, and replaces) are in ``ready``.

        Raises:
            InputError: the inputs cannot be listed.
        """
        files, skipped = expand_inputs(self.inputs)
        self._report(skipped)
        listing = {}
        for file in files:  # (a filesystem that gives no mtime: the size alone)
            sig = (file.size, file.mtime_ns or 0)
            known = self.ledger.get(file.path)
            if known is None or not known.same_stat(*sig):
                listing[file.path] = sig
        settled = stable_files(listing, self.previous, self.clock(), self.settle_s)
        self.previous = listing
        self.ready = {}
        for path in settled:
            entry = self._new_version(path, listing[path])
            if entry is not None:
                self.ready[path] = entry
        self.waiting = len(listing) - len(settled)
        return sorted(self.ready)

    def record(self, run_id: str, files: list[dict]) -> None:
        """Adds a committed micro-batch's files to the ledger."""
        self.ledger.update((e.path, e) for e in ledger_entries(run_id, files))

    def _new_version(self, path: str, sig: tuple[int, int]) -> dict | None:
        """The ledger entry of ``path`` if its bytes are not the ingested ones, else None."""
        try:
            digest = file_sha256(path)
            if file_stat(path) != sig:  # changed while hashed: wait for the next tick
                self.previous.pop(path, None)
                return None
        except OSError:
            return None
        size, mtime_ns = sig
        entry = {"path": path, "size": size, "mtime": mtime_ns / 1e9, "mtime_ns": mtime_ns,
                 "sha256": digest}  # fmt: skip
        known = self.ledger.get(path)
        if known is None:
            return entry
        if known.sha256 == digest:  # touched, or rewritten with the same bytes: not read again
            self.ledger[path] = known._replace(size=size, mtime=mtime_ns / 1e9, mtime_ns=mtime_ns)
            return None
        self.say(f"{path} changed since {known.run_id}: ingesting its new version")
        return {**entry, "replaces": known.run_id}

    def _report(self, skipped: list[SkippedFile]) -> None:
        for item in skipped:
            if item.reason in NOT_FILES and item.path not in self.not_files:
                self.not_files[item.path] = item.reason
                self.say(f"skipping {item.path}: not a regular file ({item.reason})")
