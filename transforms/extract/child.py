"""The extraction child process of :class:`~pagestream.transforms.extract.bounded.BoundedExtractor`.

``_serve`` is the child's main loop; :class:`Child` starts one and asks it for pages with a
deadline; :func:`take_idle`/:func:`park` keep ready children of closed extractors for the next
extractor of the process (killed at exit).
"""

from __future__ import annotations

import atexit
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
from collections.abc import Callable

from pagestream.transforms.extract.config import ExtractConfig, Extracted, ExtractorCrashed
from pagestream.transforms.extract.html import extract_html

__all__ = ["OVERRUN", "Child", "ExtractFunction", "kill_process", "park", "take_idle", "warm_up"]

# The child is a plain subprocess, not multiprocessing (nor a pool library built on it):
# Dask workers are daemonic processes, which multiprocessing refuses to give children, and
# forking a multi-threaded worker is unsafe. Frames on the pipes are an 8-byte length plus a
# pickle (both ends are this module).

_FRAME_HEADER = struct.Struct("!Q")
_CHILD_START_TIMEOUT_S = 120.0  # importing trafilatura and warming up, on a busy worker
_EXIT_WAIT_S = 5.0  # for the exit status of a child that closed its end of the pipe
_MAX_IDLE_CHILDREN = 4  # ready children kept per process for the next extractor (see close)
_WARMUP_PAGES = (  # an article, and a near-empty page that takes the rescue paths
    "<html><body><article><p>" + "Warm-up paragraph text. " * 20 + "</p></article></body></html>",
    "<html><body><p>Warm-up.</p></body></html>",
)

ExtractFunction = Callable[[str, str, ExtractConfig], Extracted]


def _write_frame(stream, obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_FRAME_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _read_bytes(stream) -> bytes:
    """The next frame on ``stream``, still pickled; raises EOFError when the other side is gone."""
    header = stream.read(_FRAME_HEADER.size)
    if len(header) < _FRAME_HEADER.size:
        raise EOFError
    size = _FRAME_HEADER.unpack(header)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return data


def warm_up() -> None:
    """Loads the resources trafilatura loads on first use only (the child calls it)."""
    for html in _WARMUP_PAGES:
        extract_html(html, "https://warm.up/", ExtractConfig())


def _serve() -> None:
    """Child main loop: answers ``(function, html, url, config)`` with ``("ok", Extracted)``
    or ``("error", "<Type>: <message>")`` until stdin closes. ``speedups`` in ``sys.argv``
    installs ``lxml_speedups`` first."""
    import logging

    logging.basicConfig(level=logging.ERROR)
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints from libraries go to stderr, never into the reply pipe
    requests = sys.stdin.buffer
    if "speedups" in sys.argv[1:]:
        from pagestream.transforms.extract import lxml_speedups

        lxml_speedups.install()
    warm_up()
    _write_frame(replies, ("ready", None))
    while True:
        try:
            request = _read_bytes(requests)
        except EOFError:
            return
        try:  # unpickled here: a function this child cannot import is that page's error
            function, html, url, config = pickle.loads(request)
            reply = ("ok", function(html, url, config))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which re-raises
            reply = ("error", f"{type(exc).__name__}: {exc}")
        _write_frame(replies, reply)


def _read_exactly(fd: int, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class Child:
    """One extraction subprocess, asked for one page at a time with a deadline.

    Construction only starts the process; :meth:`wait_ready` waits for its imports and
    warm-up (~0.55 s of CPU), so a child started early loads while its parent does other work.
    Replies are read by the asking thread itself, from the pipe's file descriptor, once
    ``poll`` says they are there: no reader thread to hand each page over to.
    """

    def __init__(self, speedups: bool) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        code = "from pagestream.transforms.extract.child import _serve; _serve()"
        self.speedups = speedups
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, *(["speedups"] if speedups else [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            # Its own session: Ctrl-C in the terminal reaches the run, not the child (which
            # could be importing and print a traceback); the parent kills it, and it exits
            # by itself when the parent's end of its stdin closes.
            start_new_session=True,
        )
        self._replies = self.process.stdout.fileno()  # read with os.read, never buffered
        self._poll = select.poll()  # not select.select: no limit on descriptor numbers
        self._poll.register(self._replies, select.POLLIN)
        self.ready = False

    def _receive(self, timeout_s: float) -> object:
        """The next reply: a frame, ``None`` if the child died, ``OVERRUN`` if none came."""
        if not self._poll.poll(timeout_s * 1000):
            return OVERRUN
        try:
            header = _read_exactly(self._replies, _FRAME_HEADER.size)
            return pickle.loads(_read_exactly(self._replies, _FRAME_HEADER.unpack(header)[0]))
        except (EOFError, OSError, pickle.UnpicklingError):
            return None

    def wait_ready(self) -> None:
        """Returns once the child has said it is ready; raises ExtractorCrashed if it does not."""
        if self.ready:
            return
        if self._receive(_CHILD_START_TIMEOUT_S) != ("ready", None):
            raise ExtractorCrashed("the extraction child process did not start")
        self.ready = True

    def ask(self, request: tuple, timeout_s: float) -> object:
        """The reply to ``request``: a frame, ``None`` if the child died, or ``OVERRUN``."""
        try:
            _write_frame(self.process.stdin, request)
        except OSError:
            return None
        return self._receive(timeout_s)

    def exit_status(self) -> int | None:
        """The exit status of a child that closed its replies (it is exiting), if it exits
        within a few seconds."""
        try:
            return self.process.wait(timeout=_EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        kill_process(self.process)


OVERRUN = object()  # stands for the reply of a page that got none by its deadline


def kill_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()
    for stream in (process.stdin, process.stdout):
        try:
            stream.close()
        except OSError:
            pass


# Ready children whose extractor was closed, for the next extractor in this process: runners
# that set a DoFn up for every bundle (Beam 2.77's DaskRunner) then start a child per worker
# process, not per bundle. Killed at exit.
_idle: list[Child] = []
_idle_lock = threading.Lock()


def take_idle(speedups: bool) -> Child | None:
    with _idle_lock:
        for child in _idle:
            if child.speedups == speedups:
                _idle.remove(child)
                if child.process.poll() is None:
                    return child
                child.kill()
    return None


def park(child: Child) -> bool:
    """Keeps a ready, live child for later; False (the caller kills it) when the pool is full."""
    with _idle_lock:
        if not child.ready or child.process.poll() is not None or len(_idle) >= _MAX_IDLE_CHILDREN:
            return False
        _idle.append(child)
        return True


@atexit.register
def _kill_idle() -> None:
    with _idle_lock:
        children, _idle[:] = list(_idle), []
    for child in children:
        child.kill()
