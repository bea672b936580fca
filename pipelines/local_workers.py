"""Local DirectRunner workers forked from a pre-loaded process (``multi_processing`` mode).

Beam starts each local worker as ``python -m apache_beam.runners.worker.sdk_worker_main``: a
new interpreter that imports Beam (~1.2 s) and then pagestream, trafilatura and lxml while it
unpickles the graph (~0.5 s), and loads the language model and taxonomy in ``setup()``. The
main process waits for all of it, after it has itself spent ~3 s importing and building the
graph with the other cores idle.

Here a *zygote* (``worker_zygote``) imports and loads all of that once, in parallel with the
main process, and then forks one worker per request: a worker is ready in milliseconds.
Forking is safe because the zygote has only imported code (one thread, no gRPC channel yet);
each fork runs Beam's own harness (``sdk_worker_main``) with the environment variables Beam's
subprocess would get, so the runner sees no difference. If the zygote cannot fork, workers
are started the usual way.

Used by ``runner.new_pipeline`` for ``--direct_running_mode multi_processing`` with more than one
worker; pages, records and results are the same as with Beam's own workers. This relies on Beam
internals (``GrpcWorkerHandler``'s constructor, ``SubprocessSdkWorker``,
``sdk_worker_main.create_harness``, the worker command line), so ``runner.forks_workers`` uses it
only on the Beam versions it was tested on (``version_guard``); on others Beam starts its
workers itself, after one log line. Should Beam's worker command change, no environment
matches ``_beam_worker_command`` and Beam's own workers run.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

import grpc
from apache_beam.portability import python_urns
from apache_beam.portability.api import endpoints_pb2
from apache_beam.runners.portability.fn_api_runner import fn_runner, worker_handlers
from google.protobuf import json_format, text_format

from pagestream.pipelines.worker_zygote import Zygote, ZygoteError, shared_zygote

__all__ = ["FORKED_WORKER_URN", "ForkingFnApiRunner"]

#: Environment URN of a worker forked from the zygote (rewritten from Beam's subprocess one).
FORKED_WORKER_URN = "pagestream:env:forked_python_worker:v1"
_EXIT_TIMEOUT_S = 60.0  # a worker leaves once the runner closes its control stream
_LOG = logging.getLogger("pagestream")


def _beam_worker_command() -> str:
    """The command line Beam's FnApiRunner gives its ``multi_processing`` workers."""
    return f"{sys.executable} -m apache_beam.runners.worker.sdk_worker_main"


@worker_handlers.WorkerHandler.register_environment(FORKED_WORKER_URN, bytes)
class ForkedWorkerHandler(worker_handlers.GrpcWorkerHandler):
    """A worker forked from the zygote; falls back to Beam's subprocess worker without one."""

    def __init__(self, payload, state, provision_info, grpc_server) -> None:
        super().__init__(state, provision_info, grpc_server)
        self._pid: int | None = None
        self._zygote: Zygote | None = None
        self._logging_server = None
        self._fallback: threading.Thread | None = None  # Beam's subprocess worker, run by a thread

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

    The zygote starts with the runner at the latest (the ``pagestream`` command starts it
    earlier), so it loads while the graph is built. Only the worker command of Beam's
    environment is swapped (``FORKED_WORKER_URN``).
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
