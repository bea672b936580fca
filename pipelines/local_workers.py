"""Local DirectRunner workers forked from a pre-loaded process (``multi_processing`` mode).

Beam starts each local worker as ``python -m apache_beam.runners.worker.sdk_worker_main``: a
new interpreter that imports Beam (~1.2 s) and then pagestream, trafilatura and lxml while it
unpickles the graph (~0.5 s), and loads the language model and taxonomy in ``setup()``. The
main process waits for all of it, after it has itself spent ~3 s importing and building the
graph with the other cores idle.

Here a *zygote* process starts as soon as the runner is made. It imports and loads all of that
once, in parallel with the main process, and then forks one worker per request: a worker is
ready in milliseconds. Forking is safe because the zygote has only imported code (one thread,
no gRPC channel yet); each fork then runs Beam's own harness (``sdk_worker_main``) with the
same environment variables Beam's subprocess would get, so the runner sees no difference.
If the zygote cannot start, workers are started the usual way.

Used by ``batch.new_pipeline`` for ``--direct_running_mode multi_processing`` with more than one
worker; pages, records and results are the same as with Beam's own workers.
"""

from __future__ import annotations

import atexit
import gc
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading

import grpc
from apache_beam.portability import python_urns
from apache_beam.portability.api import endpoints_pb2
from apache_beam.runners.portability.fn_api_runner import fn_runner, worker_handlers
from google.protobuf import json_format, text_format

__all__ = ["FORKED_WORKER_URN", "ForkingFnApiRunner", "Zygote", "shared_zygote"]

#: Environment URN of a worker forked from the zygote (rewritten from Beam's subprocess one).
FORKED_WORKER_URN = "pagestream:env:forked_python_worker:v1"
_READY_TIMEOUT_S = 120.0  # imports on a busy machine
_EXIT_TIMEOUT_S = 60.0  # a worker leaves once the runner closes its control stream
_POLL_S = 0.02  # how often the zygote reaps exited workers
_LOG = logging.getLogger("pagestream")


class ZygoteError(RuntimeError):
    """The zygote is not running or did not answer."""


def _beam_worker_command() -> str:
    """The command line Beam's FnApiRunner gives its ``multi_processing`` workers."""
    return f"{sys.executable} -m apache_beam.runners.worker.sdk_worker_main"


class Zygote:
    """The pre-loaded process that forks workers; a reader thread follows its replies.

    Protocol (JSON lines): the zygote says ``{"ready": true}`` once loaded; each request
    ``{"env": {...}}`` is answered with ``{"pid": N}``; each worker's end is reported as
    ``{"exit": N, "code": C}``. Closing its stdin ends the zygote.
    """

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from pagestream.pipelines.local_workers import _main; _main()"],
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


@worker_handlers.WorkerHandler.register_environment(FORKED_WORKER_URN, bytes)
class ForkedWorkerHandler(worker_handlers.GrpcWorkerHandler):
    """A worker forked from the zygote; falls back to Beam's subprocess worker without one."""

    def __init__(self, payload, state, provision_info, grpc_server) -> None:
        super().__init__(state, provision_info, grpc_server)
        self._pid: int | None = None
        self._zygote: Zygote | None = None
        self._logging_server = None
        self._fallback: worker_handlers.SubprocessSdkWorkerHandler | None = None

    def start_worker(self) -> None:
        self._logging_server, logging_port = _worker_logging_server()
        env = dict(
            os.environ,
            CONTROL_API_SERVICE_DESCRIPTOR=_descriptor(self.control_address),
            LOGGING_API_SERVICE_DESCRIPTOR=_descriptor(f"localhost:{logging_port}"),
            PIPELINE_OPTIONS=json_format.MessageToJson(
                self.provision_info.provision_info.pipeline_options
            ),
            WORKER_ID=self.worker_id,
        )
        try:
            self._zygote = shared_zygote()
            self._pid = self._zygote.fork(env)
        except ZygoteError as exc:
            _LOG.warning("starting a Beam subprocess worker instead: %s", exc)
            self._logging_server.stop(0)
            self._logging_server = None
            self._start_subprocess_worker()

    def _start_subprocess_worker(self) -> None:
        from apache_beam.runners.portability import local_job_service

        worker = local_job_service.SubprocessSdkWorker(
            _beam_worker_command().encode(), self.control_address, self.provision_info,
            self.worker_id,
        )  # fmt: skip
        self._fallback = threading.Thread(name="run_worker", target=worker.run)
        self._fallback.start()

    def stop_worker(self) -> None:
        if self._fallback is not None:
            self._fallback.join()
        elif self._pid is not None and self._zygote.wait_exit(self._pid, _EXIT_TIMEOUT_S) is None:
            try:
                os.kill(self._pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._logging_server is not None:
            self._logging_server.stop(0)


def _worker_logging_server():
    """A gRPC logging service for one worker, as Beam's ``SubprocessSdkWorker`` runs: worker
    log records are re-logged in this process under ``apache_beam``, so its logging settings
    apply (the ``pagestream`` command keeps them off the terminal)."""
    from apache_beam.portability.api import beam_fn_api_pb2_grpc
    from apache_beam.runners.portability.local_job_service import BeamFnLoggingServicer
    from apache_beam.utils import thread_pool_executor

    server = grpc.server(
        thread_pool_executor.shared_unbounded_instance(),
        options=[("grpc.http2.max_pings_without_data", 0), ("grpc.http2.max_ping_strikes", 0)],
    )
    port = server.add_insecure_port("localhost:0")
    beam_fn_api_pb2_grpc.add_BeamFnLoggingServicer_to_server(BeamFnLoggingServicer(), server)
    server.start()
    return server, port


def _descriptor(url: str) -> str:
    return text_format.MessageToString(endpoints_pb2.ApiServiceDescriptor(url=url))


class ForkingFnApiRunner(fn_runner.FnApiRunner):
    """The FnApiRunner with its ``multi_processing`` workers forked from the zygote.

    The zygote starts with the runner, so it loads while the graph is built. The runner's
    own environment choice is kept; only its worker command is swapped (``FORKED_WORKER_URN``).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        shared_zygote()

    def run_via_runner_api(self, pipeline_proto, options):
        command = _beam_worker_command().encode()
        for environment in pipeline_proto.components.environments.values():
            if environment.urn == python_urns.SUBPROCESS_SDK and environment.payload == command:
                environment.urn, environment.payload = FORKED_WORKER_URN, b""
        return super().run_via_runner_api(pipeline_proto, options)


# ---- the zygote process -------------------------------------------------------------------


def _preload() -> None:
    """Imports and loads what every worker needs, so forks start with it in memory."""
    logging.getLogger().setLevel(logging.ERROR)  # Beam warns about GCP libraries on import
    import apache_beam.runners.worker.sdk_worker_main  # noqa: F401

    import pagestream.pipelines.batch  # noqa: F401 - every transform of the graph
    from pagestream.transforms import lxml_speedups
    from pagestream.transforms.bounded_extract import _WARMUP_PAGES
    from pagestream.transforms.extract_config import ExtractConfig
    from pagestream.transforms.html_text import extract_html
    from pagestream.transforms.language_model import load_model
    from pagestream.transforms.topics import _cached_taxonomy

    lxml_speedups.install()
    for html in _WARMUP_PAGES:  # trafilatura loads some resources on first use only
        extract_html(html, "https://warm.up/", ExtractConfig())
    load_model()
    _cached_taxonomy(None)
    for handler in logging.getLogger().handlers[:]:  # a worker logs to the runner, not here
        logging.getLogger().removeHandler(handler)
    logging.getLogger().setLevel(logging.WARNING)
    gc.collect()
    gc.freeze()  # shared with the forks, never walked by their collections


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
