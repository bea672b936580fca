"""One writer per run id: a lease file with owner, host, pid and a heartbeat.

``OUT/_leases/<run_id>.json`` is held by the process that plans, runs and commits ``run_id``;
a second process asking for it is refused (``LeaseHeld``) while the holder lives. A streamer
also holds ``OUT/_leases/_streamer.json`` and ``STATE/_leases/_streamer.json`` (run ids never
start with ``_``), so two streamers never share an output or a ``--state`` directory.

A lease is **stale**, and taken over, when its heartbeat is older than ``STALE_AFTER_S`` or
its holder ran on this host and that pid is gone (``kill -9``). The holder rewrites the
heartbeat every ``HEARTBEAT_S`` seconds from a daemon thread.

Locally the lease is created with ``O_CREAT | O_EXCL`` and a stale one is first renamed away
(both atomic: of two processes taking over, exactly one wins). Beam's filesystems have no
exclusive create, so on object stores (``gs://``, ``s3://``) the lease is best effort: written,
then read back to check the owner token. Hand-written because no maintained library covers
both local files and Beam filesystems (``filelock`` is local-only and holds no owner data).
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
import time
import uuid
from datetime import datetime, timezone

from apache_beam.io.filesystems import FileSystems

from pagestream.transforms.write.files import delete

__all__ = ["HEARTBEAT_S", "STALE_AFTER_S", "Lease", "LeaseHeld", "run_lease", "streamer_lease"]

HEARTBEAT_S = 10.0
STALE_AFTER_S = 120.0
STREAMER = "_streamer"


class LeaseHeld(Exception):
    """Another live process holds the lease; the message names it."""


def _lease_path(directory: str, name: str) -> str:
    return f"{directory.rstrip('/')}/_leases/{name}.json"


def _local(path: str) -> bool:
    return FileSystems.get_scheme(path) is None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _whoami() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers)
        return str(os.getuid())


class Lease:
    """A lease file; ``acquire()`` then ``release()`` (or use it as a context manager).

    Args:
        path: the lease file.
        what: how the refusal message names the leased thing (``--run_id r1``).
    """

    def __init__(self, path: str, what: str) -> None:
        self.path, self.what = path, what
        self.token = uuid.uuid4().hex
        self.held = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _record(self) -> dict:
        return {
            "owner": _whoami(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "token": self.token,
            "heartbeat": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "heartbeat_unix": time.time(),
        }

    def read(self) -> dict | None:
        """The lease's content, None when there is none (or it is half-written)."""
        return self._read()

    def _read(self) -> dict | None:
        try:
            with FileSystems.open(self.path) as handle:
                return json.loads(handle.read().decode("utf-8"))
        except Exception:  # gone meanwhile, or half-written by a crashed holder
            return None

    def stale(self, holder: dict | None, own_process_stale: bool = True) -> bool:
        """Whether ``holder`` (a lease's content) can be taken over. A lease of this process
        counts as stale for ``acquire`` (an earlier plan of the run that was not released)."""
        if holder is None:
            return True
        if holder.get("host") == socket.gethostname():
            if holder.get("pid") == os.getpid():
                return own_process_stale
            if not _pid_alive(int(holder.get("pid", -1))):
                return True
        return time.time() - float(holder.get("heartbeat_unix", 0)) > STALE_AFTER_S

    def acquire(self) -> Lease:
        """Takes the lease, taking over a stale one.

        Raises:
            LeaseHeld: a live holder has it.
        """
        directory = self.path.rsplit("/", 1)[0]
        try:
            FileSystems.mkdirs(directory)
        except Exception:  # exists already, or an object store without directories
            pass
        for _ in range(5):
            if self._create():
                self.held = True
                self._thread = threading.Thread(target=self._beat, daemon=True)
                self._thread.start()
                return self
            holder = self._read()
            if not self.stale(holder):
                raise LeaseHeld(
                    f"{self.what} is being written by another process (owner "
                    f"{holder.get('owner')}, host {holder.get('host')}, pid {holder.get('pid')}, "
                    f"last heartbeat {holder.get('heartbeat')}; lease {self.path}); wait for it "
                    f"to finish, or remove the lease if that process is gone"
                )
            self._break()
        raise LeaseHeld(f"{self.what}: could not take the lease {self.path}")

    def _create(self) -> bool:
        payload = json.dumps(self._record(), indent=1).encode("utf-8")
        if _local(self.path):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
            return True
        if FileSystems.exists(self.path):
            return False
        with FileSystems.create(self.path) as handle:
            handle.write(payload)
        return (self._read() or {}).get("token") == self.token

    def _break(self) -> None:
        """Moves a stale lease aside (atomic locally: one of two breakers wins)."""
        aside = f"{self.path.rsplit('/', 1)[0]}/.stale-{uuid.uuid4().hex[:8]}"
        try:
            FileSystems.rename([self.path], [aside])
            delete([aside])
        except Exception:  # someone else broke it first
            pass

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            holder = self._read()
            if holder is None or holder.get("token") != self.token:
                return  # taken over (we were presumed dead): stop touching it
            try:
                temporary = f"{self.path.rsplit('/', 1)[0]}/.{self.token}.tmp"
                with FileSystems.create(temporary) as handle:
                    handle.write(json.dumps(self._record(), indent=1).encode("utf-8"))
                FileSystems.rename([temporary], [self.path])
            except Exception:  # the directory went away (tests' tmp dirs): best effort
                return

    def release(self) -> None:
        """Deletes the lease if this process still holds it; idempotent."""
        self._stop.set()
        if not self.held:
            return
        self.held = False
        holder = self._read()
        if holder is not None and holder.get("token") == self.token:
            try:
                delete([self.path])
            except Exception:  # already gone
                pass
        directory = self.path.rsplit("/", 1)[0]
        if _local(directory):
            try:
                os.rmdir(directory)  # only when empty: leaves no trace of a finished run
            except OSError:
                pass

    def __enter__(self) -> Lease:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def run_lease(output: str, run_id: str) -> Lease:
    """The lease of ``run_id`` in ``output`` (not yet acquired)."""
    return Lease(_lease_path(output, run_id), f"--run_id {run_id} in --output {output}")


def streamer_lease(directory: str, flag: str) -> Lease:
    """The lease of the one streamer writing ``directory`` (``flag``: --output or --state)."""
    return Lease(_lease_path(directory, STREAMER), f"{flag} {directory} (a streamer)")
