"""Extraction with bounded size and time for every page: :class:`BoundedExtractor`.

Pages over ``max_page_bytes`` are refused before parsing. Every other page is extracted in a
child process (``child``) the caller waits for at most ``timeout_s``: on an overrun the child
is killed, and the next page starts a new one. One mechanism for every page, in the calling
thread: a page's record comes out of the call that got the page, on every runner.

Why a process: threads cannot be killed (trafilatura may be deep in libxml2, where not even an
asynchronous exception reaches it), and ``signal.setitimer`` works on the main thread only,
while Beam runs DoFns on other threads.
"""

from __future__ import annotations

import weakref

from pagestream.transforms.extract.child import (
    OVERRUN,
    Child,
    ExtractFunction,
    kill_process,
    park,
    take_idle,
)
from pagestream.transforms.extract.config import (
    ExtractConfig,
    Extracted,
    ExtractionError,
    ExtractionTimeout,
    ExtractorCrashed,
    PageTooLarge,
)
from pagestream.transforms.extract.html import extract_html, fallback_extract, page_bytes_over

__all__ = ["BoundedExtractor", "ExtractFunction"]


class BoundedExtractor:
    """``extract_html`` with ``max_page_bytes`` and ``timeout_s`` enforced on every page.

    Each page runs in a persistent child process; a page that overruns ``timeout_s`` (counted
    from when the page is sent, not from the child's start-up) gets the child killed, and the
    next page starts a new one. Make one per ``DoFn.setup()`` and use it from one thread;
    :meth:`close` hands the child to the next extractor of the process (or ends it).

    Args:
        config: bounds and trafilatura settings.
        extract: the function the child runs, ``(html, url, config) -> Extracted``; it must be
            importable by name (pickled by reference). Default :func:`extract_html`.
        speedups: the child installs ``lxml_speedups`` (same output, less CPU) first. Off by
            default: the ``pagestream`` command turns it on, a Python API user opts in.

    Raises (from :meth:`extract`, with ``on_limit="raise"``): :class:`PageTooLarge`,
    :class:`ExtractionTimeout`, :class:`ExtractorCrashed`, and :class:`ExtractionError` for a
    failure inside the child.
    """

    def __init__(
        self,
        config: ExtractConfig,
        extract: ExtractFunction = extract_html,
        speedups: bool = False,
    ) -> None:
        self.config = config
        self.extract_function = extract
        self.speedups = speedups
        self._child: Child | None = None
        self._finalizer: weakref.finalize | None = None

    def extract(self, html: str, url: str) -> Extracted:
        """Text and metadata of ``html``, within the configured bounds."""
        config = self.config
        try:
            if page_bytes_over(html, config.max_page_bytes):
                raise PageTooLarge(f"page over max_page_bytes={config.max_page_bytes}")
            return self._in_child(html, url)
        except (PageTooLarge, ExtractionTimeout, ExtractorCrashed):
            if config.on_limit == "fallback":
                return fallback_extract(html, config.fallback_chars)
            raise

    def prestart(self) -> None:
        """Starts the child now, so that its imports overlap the caller's other work."""
        if self._child is None:
            self._start_child()

    def _in_child(self, html: str, url: str) -> Extracted:
        self.prestart()
        try:
            self._child.wait_ready()
        except ExtractorCrashed:
            self._stop_child()
            raise
        request = (self.extract_function, html, url, self.config)
        reply = self._child.ask(request, self.config.timeout_s)
        if reply is OVERRUN:
            self._stop_child()
            timeout = self.config.timeout_s
            raise ExtractionTimeout(f"extraction overran timeout_s={timeout:g}; child killed")
        if reply is None:
            code = self._child.exit_status()
            self._stop_child()
            raise ExtractorCrashed(f"extraction child died (exit status {code})")
        status, value = reply
        if status == "error":
            raise ExtractionError(f"in the extraction child: {value}")
        return value

    def _start_child(self) -> None:
        self._child = take_idle(self.speedups) or Child(self.speedups)
        self._finalizer = weakref.finalize(self, kill_process, self._child.process)

    def _stop_child(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # kills the child, once
        self._child = self._finalizer = None

    @property
    def child_pid(self) -> int | None:
        """Process id of the running child, if one is running (for monitoring and tests)."""
        return self._child.process.pid if self._child is not None else None

    def close(self) -> None:
        """Hands a ready child to the next extractor of this process (up to a few are kept,
        and killed at exit), or ends it; the extractor can still be used afterwards."""
        child = self._child
        if child is not None and self._finalizer is not None:
            self._finalizer.detach()
            if not park(child):
                child.kill()
        self._child = self._finalizer = None

    def __enter__(self) -> BoundedExtractor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
