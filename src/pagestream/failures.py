"""How a failed or interrupted ``pagestream run`` is told: the whole cause, in a few lines.

Beam's runners wrap what went wrong: a worker's exception comes back as a ``RuntimeError``
whose message embeds the worker's traceback, and Ctrl-C as ``RuntimeError: KeyboardInterrupt
[while running ...]``. These helpers recover the cause for the command line.
"""

from __future__ import annotations

import logging
import signal
import threading

__all__ = ["CatchInterrupt", "caused_by_interrupt", "failure_message"]

#: Without ``-v``, a failure's message is cut to this many lines (the cause comes first).
MAX_CAUSE_LINES = 40


class CatchInterrupt:
    """Notes a SIGINT (Ctrl-C) before raising ``KeyboardInterrupt`` as Python does: Beam's
    runners re-raise it wrapped (``RuntimeError: KeyboardInterrupt [while running ...]``)."""

    def __init__(self):
        self.caught = False
        self._previous = None

    def _on_sigint(self, signum, frame):
        if not self.caught:
            self.caught = True
            # Beam's gRPC threads die with the run; their tracebacks would bury the one line
            # that says what happened (kept for the rest of this process, which is ending).
            threading.excepthook = _quiet_thread_exception
        signal.default_int_handler(signum, frame)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc_info):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def _quiet_thread_exception(args) -> None:
    logging.getLogger("pagestream").debug(
        "thread %s ended after the interrupt", args.thread, exc_info=args.exc_value
    )


def caused_by_interrupt(exc: BaseException | None) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt) or str(exc).startswith("KeyboardInterrupt"):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def failure_message(exc: BaseException, max_lines: int | None = MAX_CAUSE_LINES) -> str:
    """The whole cause of a failed run: every line of the exception's message and of the
    exceptions it was raised from, tracebacks that Beam embeds in messages left out (``-v``
    prints them), at most ``max_lines`` lines."""
    lines, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if lines:
            lines.append("caused by:")
        lines.extend(_without_tracebacks(text.splitlines()))
        exc = exc.__cause__
    lines = [line.rstrip() for line in lines if line.strip()]
    if max_lines is not None and len(lines) > max_lines:
        lines = [*lines[:max_lines], f"... ({len(lines) - max_lines} more lines; -v shows all)"]
    return "\n".join(lines)


def _without_tracebacks(lines: list[str]) -> list[str]:
    """Drops ``Traceback (most recent call last):`` blocks, keeping their exception line
    (``RuntimeError: Traceback ...`` + ``ValueError: x`` -> ``RuntimeError: ValueError: x``)."""
    marker = "Traceback (most recent call last):"
    kept, skipping, head = [], False, ""
    for line in lines:
        if marker in line:
            skipping, head = True, line[: line.index(marker)].strip()
            continue
        if skipping and (line.startswith(" ") or not line.strip()):
            continue
        kept.append(f"{head} {line}".strip() if skipping else line)
        skipping, head = False, ""
    return kept
