"""The pre-loaded process that forks DirectRunner workers (see ``local_workers``).

Kept free of Beam imports, so the ``pagestream`` command can start it (``shared_zygote``)
before it imports Beam itself: the zygote then loads on another core while the main process
imports, plans and builds the graph. The zygote side (``_main``) imports everything a worker
needs, then forks one process per request and runs Beam's worker harness in it.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import subprocess
import sys
import threading

__all__ = ["Zygote", "ZygoteError", "shared_zygote"]

_READY_TIMEOUT_S = 120.0  # imports on a busy machine
_EXIT_TIMEOUT_S = 60.0  # a worker leaves once the runner closes its control stream
_POLL_S = 0.02  # how often the zygote reaps exited workers


class ZygoteError(RuntimeError):
    """The zygote is not running or did not answer."""


class Zygote:
    """The pre-loaded process that forks workers; a reader thread follows its replies.

    Protocol (JSON lines): the zygote says ``{"ready": true}`` once loaded; each request
    ``{"env": {...}}`` is answered with ``{"pid": N}``; each worker's end is reported as
    ``{"exit": N, "code": C}``. Closing its stdin ends the zygote.
    """

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                # Ctrl-C reaches the whole process group: the zygote and the workers it forks
                # (which inherit the handler) end without tracebacks; the CLI says it in one line.
                "import os, signal; signal.signal(signal.SIGINT, lambda *_: os._exit(130)); "
                "from pagestream.pipelines.worker_zygote import _main; _main()",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._lock = threading.Lock()  # one request at a time
        self._changed = threading.Condition()
        self._ready = False
        self._pids: list[int] = []
        self._exits: dict[int, int] = {}
        self._gone = False
        threading.Thread(target=self._follow, name="pagestream-zygote", daemon=True).start()

    def _follow(self) -> None:
        for line in self.process.stdout:
            message = json.loads(line)
            with self._changed:
                if message.get("ready"):
                    self._ready = True
                elif "pid" in message:
                    self._pids.append(message["pid"])
                elif "exit" in message:
                    self._exits[message["exit"]] = message["code"]
                self._changed.notify_all()
        with self._changed:
            self._gone = True
            self._changed.notify_all()

    def alive(self) -> bool:
        return not self._gone and self.process.poll() is None

    def fork(self, env: dict[str, str]) -> int:
        """Forks a worker that runs Beam's harness with ``env``; returns its pid."""
        with self._lock:
            with self._changed:
                if not self._changed.wait_for(lambda: self._ready or self._gone, _READY_TIMEOUT_S):
                    raise ZygoteError(f"the worker zygote was not ready in {_READY_TIMEOUT_S:g} s")
                if self._gone:
                    raise ZygoteError("the worker zygote exited")
                expected = len(self._pids) + 1
            try:
                self.process.stdin.write(json.dumps({"env": env}).encode() + b"\n")
                self.process.stdin.flush()
            except OSError as exc:
                raise ZygoteError(f"the worker zygote is gone ({exc})") from exc
            with self._changed:
                self._changed.wait_for(lambda: len(self._pids) >= expected or self._gone, 30.0)
                if len(self._pids) < expected:
                    raise ZygoteError("the worker zygote did not fork")
                return self._pids[expected - 1]

    def wait_exit(self, pid: int, timeout_s: float) -> int | None:
        """The exit code of worker ``pid``, or None if it has not ended within ``timeout_s``."""
        with self._changed:
            self._changed.wait_for(lambda: pid in self._exits or self._gone, timeout_s)
            return self._exits.get(pid)

    def close(self) -> None:
        """Ends the zygote (it waits for its workers, then exits)."""
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=_EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_shared: Zygote | None = None
_shared_lock = threading.Lock()


def shared_zygote() -> Zygote:
    """This process's zygote, started on first use and reused by later runs (micro-batches)."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.alive():
            _shared = Zygote()
            atexit.register(_shared.close)
        return _shared


def _preload() -> None:
    """Imports and loads what every worker needs, so forks start with it in memory."""
    logging.getLogger().setLevel(logging.ERROR)  # Beam warns about GCP libraries on import
    import apache_beam.runners.worker.sdk_worker_main  # noqa: F401

    import pagestream.pipelines.batch  # noqa: F401 - every transform of the graph
    from pagestream.transforms.language.model import load_model
    from pagestream.transforms.topics.tag import cached_taxonomy

    load_model()
    cached_taxonomy(None)
    for handler in logging.getLogger().handlers[:]:  # a worker logs to the runner, not here
        logging.getLogger().removeHandler(handler)
    logging.getLogger().setLevel(logging.WARNING)


def _run_worker(env: dict[str, str]) -> int:
    """In a fresh fork: Beam's ``sdk_worker_main.main`` with ``env`` as the environment."""
    from apache_beam.runners.worker import sdk_worker_main

    os.environ.clear()
    os.environ.update(env)
    fn_log_handler, harness, _ = sdk_worker_main.create_harness(os.environ)
    try:
        harness.run()
        return 0
    except Exception:  # noqa: BLE001 - reported through the runner's logging service
        logging.getLogger("pagestream").critical("worker failed", exc_info=True)
        return 1
    finally:
        if fn_log_handler is not None:
            fn_log_handler.close()


def _fork_worker(env: dict[str, str], requests: int, replies: int) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(2, 1)  # the reply pipe is the zygote's alone
        for fd in (devnull, requests, replies):
            os.close(fd)
        code = _run_worker(env)
    finally:
        os._exit(code)  # no interpreter teardown: the runner waits for this exit


def _main() -> None:
    """Zygote main loop (see ``Zygote`` for the protocol)."""
    requests, replies = os.dup(0), os.dup(1)
    os.dup2(2, 1)  # stray prints go to stderr
    _preload()
    _reply(replies, {"ready": True})
    children: set[int] = set()
    pending = b""
    open_requests = True
    while open_requests or children:
        timeout = _POLL_S if children else None
        readable = select.select([requests] if open_requests else [], [], [], timeout)[0]
        if readable:
            chunk = os.read(requests, 65536)
            if not chunk:
                open_requests = False
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                pid = _fork_worker(json.loads(line)["env"], requests, replies)
                children.add(pid)
                _reply(replies, {"pid": pid})
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                children.discard(pid)
                _reply(replies, {"exit": pid, "code": os.waitstatus_to_exitcode(status)})


def _reply(fd: int, message: dict) -> None:
    try:
        os.write(fd, json.dumps(message).encode() + b"\n")
    except OSError:  # the runner is gone; its workers end when their gRPC streams close
        pass
