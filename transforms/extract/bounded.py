"""Extraction with bounded size and time: :class:`BoundedExtractor` (issues 3 and 9).

Pages over ``max_page_bytes`` are refused before parsing, and pages a cheap pre-check finds
risky run in a persistent child process that is killed and restarted when a page overruns
``timeout_s``. Normal pages run inline, so they pay no inter-process round trip.
:meth:`BoundedExtractor.submit` lets the caller go on with inline pages while the child works.
"""

from __future__ import annotations

import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import time
import weakref

from pagestream.transforms.extract import lxml_speedups
from pagestream.transforms.extract.config import (
    ExtractConfig,
    Extracted,
    ExtractionError,
    ExtractionTimeout,
    ExtractorCrashed,
    PageTooLarge,
)
from pagestream.transforms.extract.html import (
    extract_html,
    fallback_extract,
    needs_isolation,
    page_bytes_over,
)

__all__ = ["BoundedExtractor", "IsolatedPage", "warm_up"]

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


def warm_up() -> None:
    """Readies this process for extraction: the lxml speed-ups installed, and the resources
    trafilatura loads on first use only loaded (the child, and the worker zygote, call it)."""
    lxml_speedups.install()
    for html in _WARMUP_PAGES:
        extract_html(html, "https://warm.up/", ExtractConfig())


def _serve() -> None:
    """Child main loop: answers ``(html, url, config)`` with ``("ok", Extracted)`` or
    ``("error", "<Type>: <message>")`` until stdin closes."""
    import logging

    logging.basicConfig(level=logging.ERROR)
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints from libraries go to stderr, never into the reply pipe
    requests = sys.stdin.buffer
    warm_up()
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
    """Reader thread: moves frames from the child's stdout to ``replies`` as ``(arrival time,
    frame)`` (``time.perf_counter``), the frame ``None`` at EOF."""
    try:
        while True:
            frame = _read_frame(stream)
            replies.put((time.perf_counter(), frame))
    except (EOFError, OSError, pickle.UnpicklingError):
        replies.put((time.perf_counter(), None))


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
                # Ctrl-C reaches the whole process group: the child ends without a traceback
                # (the parent reports the interrupt in one line).
                "import os, signal; signal.signal(signal.SIGINT, lambda *_: os._exit(130)); "
                "from pagestream.transforms.extract.bounded import _serve; _serve()",
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
            _, reply = self.replies.get(timeout=_CHILD_START_TIMEOUT_S)
        except queue.Empty:
            reply = None
        if reply != ("ready", None):
            raise ExtractorCrashed("the extraction child process did not start")
        self.ready = True

    def send(self, request: tuple) -> bool:
        """Sends ``request``; False if the child is gone."""
        try:
            _write_frame(self.process.stdin, request)
        except OSError:
            return False
        return True


_OVERRUN = object()  # stands for the reply of a page that got none by its deadline

#: How long, as a share of ``timeout_s``, the caller of ``submit`` goes on with inline pages
#: while a page is in the child: past that, ``collect`` waits for it. When the cores are busy,
#: the child shares its worker's core during the overlap, and ``timeout_s`` is wall-clock
#: time: overlapping a whole budget made a 3.3 s page overrun 10 s in a loaded 2-worker run.
_OVERLAP_SHARE = 0.1


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()
    for stream in (process.stdin, process.stdout):
        try:
            stream.close()
        except OSError:
            pass


class IsolatedPage:
    """A page :meth:`BoundedExtractor.submit` sent to the extraction child.

    Attributes:
        tag: what the caller passed to ``submit``, to find its record again.
        elapsed_s: seconds from ``submit`` to the child's reply (or to the overrun or crash),
            not counting a wait for the page sent before it; set once the page is done.
    """

    def __init__(self, html: str, url: str, tag: object, started: float, deadline: float):
        self.html, self.url, self.tag = html, url, tag
        self.started, self.deadline = started, deadline
        self.elapsed_s: float | None = None
        self._value: Extracted | None = None
        self._error: ExtractionError | None = None

    def _finish(self, at: float, value: Extracted | None, error: ExtractionError | None):
        self.elapsed_s = at - self.started
        self._value, self._error = value, error

    def result(self) -> Extracted:
        """What :meth:`BoundedExtractor.extract` would have returned for the page, or raises
        what it would have raised."""
        if self._error is not None:
            raise self._error
        return self._value


class BoundedExtractor:
    """:func:`extract_html` with ``max_page_bytes`` and ``timeout_s`` enforced.

    Pages :func:`needs_isolation` flags run in a persistent child process, which is killed
    (and started again on the next such page) when a page overruns ``timeout_s``; other pages
    run inline, without a round trip. The time bound is therefore hard for isolated pages
    only; ``isolation="always"`` makes it hard for all. Make one per ``DoFn.setup()`` and use
    it from one thread; :meth:`close` (or garbage collection) ends the child.

    :meth:`extract` waits for an isolated page; :meth:`submit` does not: the caller extracts
    the next pages inline meanwhile (for a tenth of ``timeout_s`` at most) and gets the
    isolated ones from :meth:`collect`. The child has at most one page: submitting another
    isolated page first waits for the one it has.

    Raises (from :meth:`extract`, with ``on_limit="raise"``): :class:`PageTooLarge`,
    :class:`ExtractionTimeout`, :class:`ExtractorCrashed`, and :class:`ExtractionError`
    for a failure inside the child. Inline failures propagate as they are.
    """

    def __init__(self, config: ExtractConfig) -> None:
        lxml_speedups.install()  # same output, ~15 % less CPU (see lxml_speedups)
        self.config = config
        self._child: _Child | None = None
        self._finalizer: weakref.finalize | None = None
        self._sent: IsolatedPage | None = None  # in the child, no outcome yet
        self._done: list[IsolatedPage] = []  # outcome known, not collected yet

    def extract(self, html: str, url: str) -> Extracted:
        """Text and metadata of ``html``, within the configured bounds."""
        result = self.submit(html, url)
        if result is not None:
            return result
        return self._settle(wait=True).result()

    def submit(self, html: str, url: str, tag: object = None) -> Extracted | None:
        """Like :meth:`extract`, except that a page needing isolation is only sent to the child:
        then returns ``None``, and :meth:`collect` later gives the page as an
        :class:`IsolatedPage` carrying ``tag``. Its ``timeout_s`` runs from the send."""
        config = self.config
        try:
            if page_bytes_over(html, config.max_page_bytes):
                raise PageTooLarge(f"page over max_page_bytes={config.max_page_bytes}")
            if needs_isolation(html, config):
                self._send(html, url, tag)
                return None
        except (PageTooLarge, ExtractionTimeout, ExtractorCrashed):
            if config.on_limit == "fallback":
                return fallback_extract(html, config.fallback_chars)
            raise
        return extract_html(html, url, config)

    def collect(self, wait: bool = False) -> list[IsolatedPage]:
        """The submitted pages whose outcome is known, in submission order, each once.

        With ``wait``, the page in the child is waited for too (at most until its deadline),
        so that nothing is left pending. Without, waits only for a page that has been in the
        child for more than a tenth of ``timeout_s`` (see ``_OVERLAP_SHARE``).
        """
        settled = self._settle(wait)
        if settled is not None:
            self._done.append(settled)
        done, self._done = self._done, []
        return done

    @property
    def pending(self) -> int:
        """Submitted pages not collected yet."""
        return len(self._done) + (self._sent is not None)

    def prestart(self) -> None:
        """Starts the child now if pages may need it (``isolation`` other than ``never``), so
        its imports overlap the pages extracted inline before the first isolated one."""
        if self._child is None and self.config.isolation != "never":
            self._start_child()

    def _send(self, html: str, url: str, tag: object) -> None:
        previous = self._settle(wait=True)  # one page at a time in the child
        if previous is not None:
            self._done.append(previous)
        started = time.perf_counter()
        if self._child is None:
            self._start_child()
        try:
            self._child.wait_ready()
        except ExtractorCrashed:
            self._stop_child()
            raise
        if not self._child.send((html, url, self.config)):
            raise self._crashed()
        self._sent = IsolatedPage(
            html, url, tag, started, time.perf_counter() + self.config.timeout_s
        )

    def _settle(self, wait: bool) -> IsolatedPage | None:
        """The page in the child, with its outcome, if it has one by now (or, with ``wait``,
        by its deadline); ``None`` while it runs or when there is none."""
        page = self._sent
        if page is None:
            return None
        sent = page.deadline - self.config.timeout_s
        if time.perf_counter() > sent + self.config.timeout_s * _OVERLAP_SHARE:
            wait = True  # no more overlap: the child gets the core back for the rest
        try:
            if wait:
                remaining = max(page.deadline - time.perf_counter(), 0.0)
                arrived, reply = self._child.replies.get(timeout=remaining)
            else:
                arrived, reply = self._child.replies.get_nowait()
        except queue.Empty:
            arrived, reply = time.perf_counter(), _OVERRUN
            if not wait and arrived < page.deadline:
                return None
        if arrived > page.deadline:
            reply = _OVERRUN  # also a late reply: the outcome must not depend on when one looks
        self._sent = None
        value, error = self._outcome(reply)
        if isinstance(error, (ExtractionTimeout, ExtractorCrashed)) and (
            self.config.on_limit == "fallback"
        ):
            value, error = fallback_extract(page.html, self.config.fallback_chars), None
        page._finish(arrived, value, error)
        return page

    def _outcome(self, reply: object) -> tuple[Extracted | None, ExtractionError | None]:
        if reply is _OVERRUN:
            self._stop_child()
            timeout = ExtractionTimeout(
                f"extraction overran timeout_s={self.config.timeout_s:g}; child killed"
            )
            return None, timeout
        if reply is None:
            return None, self._crashed()
        status, value = reply
        if status == "error":
            return None, ExtractionError(f"in the extraction child: {value}")
        return value, None

    def _crashed(self) -> ExtractorCrashed:
        code = self._child.process.poll()
        self._stop_child()
        return ExtractorCrashed(f"extraction child died (exit status {code})")

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
        """Ends the child process, if any, dropping the pages submitted and not collected;
        the extractor can still be used afterwards."""
        self._stop_child()
        self._sent, self._done = None, []

    def __enter__(self) -> BoundedExtractor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
