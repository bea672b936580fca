"""Extraction with bounded size and time: :class:`BoundedExtractor` (issues 3 and 9).

Pages over ``max_page_bytes`` are refused before parsing, and pages a cheap pre-check finds
risky run in a persistent child process that is killed and restarted when a page overruns
``timeout_s``. Normal pages run inline, so they pay no inter-process round trip.
"""

from __future__ import annotations

import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import weakref

from pagestream.transforms import lxml_speedups
from pagestream.transforms.extract_config import (
    ExtractConfig,
    Extracted,
    ExtractionError,
    ExtractionTimeout,
    ExtractorCrashed,
    PageTooLarge,
)
from pagestream.transforms.html_text import (
    extract_html,
    fallback_extract,
    needs_isolation,
    page_bytes_over,
)

__all__ = ["BoundedExtractor"]

# Threads cannot be killed and signal.alarm only works on the main thread (Beam runs DoFns
# elsewhere), so a page that may run long goes to a child process the parent can kill. The
# child is a plain subprocess, not multiprocessing: Dask workers are daemonic processes, which
# multiprocessing refuses to give children, and forking a multi-threaded worker is unsafe.
# Frames on the pipes are an 8-byte length plus a pickle (the child is our own code).

_FRAME_HEADER = struct.Struct("!Q")
_CHILD_START_TIMEOUT_S = 120.0  # importing trafilatura and warming up, on a busy worker
_WARMUP_PAGES = (  # an article, and a near-empty page that takes the rescue paths
    "<html><body><article><p>" + "Warm-up paragraph text. " * 20 + "</p></article></body></html>",
    "<html><body><p>Warm-up.</p></body></html>",
)


def _write_frame(stream, obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_FRAME_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _read_frame(stream) -> object:
    """The next object on ``stream``; raises EOFError when the other side is gone."""
    header = stream.read(_FRAME_HEADER.size)
    if len(header) < _FRAME_HEADER.size:
        raise EOFError
    size = _FRAME_HEADER.unpack(header)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


def _serve() -> None:
    """Child main loop: answers ``(html, url, config)`` with ``("ok", Extracted)`` or
    ``("error", "<Type>: <message>")`` until stdin closes."""
    import logging

    logging.basicConfig(level=logging.ERROR)
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints from libraries go to stderr, never into the reply pipe
    requests = sys.stdin.buffer
    lxml_speedups.install()
    for html in _WARMUP_PAGES:  # trafilatura loads some resources on first use only
        extract_html(html, "https://warm.up/", ExtractConfig())
    _write_frame(replies, ("ready", None))
    while True:
        try:
            html, url, config = _read_frame(requests)
        except EOFError:
            return
        try:
            reply = ("ok", extract_html(html, url, config))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which re-raises
            reply = ("error", f"{type(exc).__name__}: {exc}")
        _write_frame(replies, reply)


def _pump(stream, replies: queue.Queue) -> None:
    """Reader thread: moves frames from the child's stdout to ``replies``; ``None`` at EOF."""
    try:
        while True:
            replies.put(_read_frame(stream))
    except (EOFError, OSError, pickle.UnpicklingError):
        replies.put(None)


class _Child:
    """One extraction subprocess with a reply queue fed by a reader thread.

    Construction only starts the process; :meth:`wait_ready` waits for its imports and
    warm-up (~0.8 s), so a child started early loads while its parent extracts other pages.
    """

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from pagestream.transforms.bounded_extract import _serve; _serve()",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self.replies: queue.Queue = queue.Queue()
        self.ready = False
        threading.Thread(
            target=_pump, args=(self.process.stdout, self.replies), daemon=True
        ).start()

    def wait_ready(self) -> None:
        """Returns once the child has said it is ready; raises ExtractorCrashed if it does not."""
        if self.ready:
            return
        try:
            reply = self._reply(_CHILD_START_TIMEOUT_S)
        except ExtractionTimeout:
            reply = None
        if reply != ("ready", None):
            raise ExtractorCrashed("the extraction child process did not start")
        self.ready = True

    def _reply(self, timeout_s: float) -> object:
        try:
            return self.replies.get(timeout=timeout_s)
        except queue.Empty:
            raise ExtractionTimeout(f"no reply within {timeout_s:g} s") from None

    def call(self, request: tuple, timeout_s: float) -> object:
        """Sends ``request``; the reply, ``None`` if the child died, or ExtractionTimeout."""
        try:
            _write_frame(self.process.stdin, request)
        except OSError:
            return None
        return self._reply(timeout_s)


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()
    for stream in (process.stdin, process.stdout):
        try:
            stream.close()
        except OSError:
            pass


class BoundedExtractor:
    """:func:`extract_html` with ``max_page_bytes`` and ``timeout_s`` enforced.

    Pages :func:`needs_isolation` flags run in a persistent child process, which is killed
    (and started again on the next such page) when a page overruns ``timeout_s``; other pages
    run inline, without a round trip. The time bound is therefore hard for isolated pages
    only; ``isolation="always"`` makes it hard for all. Make one per ``DoFn.setup()`` and use
    it from one thread; :meth:`close` (or garbage collection) ends the child.

    Raises (from :meth:`extract`, with ``on_limit="raise"``): :class:`PageTooLarge`,
    :class:`ExtractionTimeout`, :class:`ExtractorCrashed`, and :class:`ExtractionError`
    for a failure inside the child. Inline failures propagate as they are.
    """

    def __init__(self, config: ExtractConfig) -> None:
        lxml_speedups.install()  # same output, ~15 % less CPU (see lxml_speedups)
        self.config = config
        self._child: _Child | None = None
        self._finalizer: weakref.finalize | None = None

    def extract(self, html: str, url: str) -> Extracted:
        """Text and metadata of ``html``, within the configured bounds."""
        config = self.config
        try:
            if page_bytes_over(html, config.max_page_bytes):
                raise PageTooLarge(f"page over max_page_bytes={config.max_page_bytes}")
            if needs_isolation(html, config):
                return self._extract_isolated(html, url)
        except (PageTooLarge, ExtractionTimeout, ExtractorCrashed):
            if config.on_limit == "fallback":
                return fallback_extract(html, config.fallback_chars)
            raise
        return extract_html(html, url, config)

    def prestart(self) -> None:
        """Starts the child now if pages may need it (``isolation`` other than ``never``), so
        its imports overlap the pages extracted inline before the first isolated one."""
        if self._child is None and self.config.isolation != "never":
            self._start_child()

    def _extract_isolated(self, html: str, url: str) -> Extracted:
        if self._child is None:
            self._start_child()
        try:
            self._child.wait_ready()
        except ExtractorCrashed:
            self._stop_child()
            raise
        try:
            reply = self._child.call((html, url, self.config), self.config.timeout_s)
        except ExtractionTimeout:
            self._stop_child()
            raise ExtractionTimeout(
                f"extraction overran timeout_s={self.config.timeout_s:g}; child killed"
            ) from None
        if reply is None:
            code = self._child.process.poll()
            self._stop_child()
            raise ExtractorCrashed(f"extraction child died (exit status {code})")
        status, value = reply
        if status == "error":
            raise ExtractionError(f"in the extraction child: {value}")
        return value

    def _start_child(self) -> None:
        self._child = _Child()
        self._finalizer = weakref.finalize(self, _kill, self._child.process)

    def _stop_child(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # kills the child, once
        self._child = self._finalizer = None

    @property
    def child_pid(self) -> int | None:
        """Process id of the running child, if one is running (for monitoring and tests)."""
        return self._child.process.pid if self._child is not None else None

    def close(self) -> None:
        """Ends the child process, if any; the extractor can still be used afterwards."""
        self._stop_child()

    def __enter__(self) -> BoundedExtractor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
