"""How a failed or interrupted ``pagestream run`` is told: the whole cause, in a few lines.

Beam's runners wrap what went wrong: a worker's exception comes back as a ``RuntimeError``
whose message embeds the worker's traceback, and Ctrl-C as ``RuntimeError: KeyboardInterrupt
[while running ...]``. These helpers recover the cause for the command line, and report a
failed run (exit 1: its whole cause, the traceback with ``-v``) or an interrupted one (exit 130:
one line; the run's staging directory removed).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import traceback

__all__ = [
    "CatchInterrupt",
    "caused_by_interrupt",
    "committed_manifest",
    "failure_message",
    "report_failure",
    "report_interrupt",
]

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


def committed_manifest(options) -> dict | None:
    """The run id's committed manifest, if any (an unreadable one counts as none: the run
    itself reports it)."""
    from pagestream.transforms.write.commit import read_manifest

    try:
        return read_manifest(options.output, options.run_id)
    except Exception:  # noqa: BLE001 - only compared before/after an interrupt
        return None


def report_interrupt(options, manifest_before: dict | None) -> int:
    """Ctrl-C: removes the run's staging directory and says in one line what is committed;
    returns 130."""
    from apache_beam.io.filesystems import FileSystems

    from pagestream.transforms.write.files import staging_dir

    staging = staging_dir(options.output, options.run_id)
    try:
        if FileSystems.exists(staging):
            FileSystems.delete([staging])
        parent = os.path.dirname(staging)
        local = FileSystems.get_scheme(staging) is None
        if local and os.path.isdir(parent) and not os.listdir(parent):
            os.rmdir(parent)
    except Exception as exc:  # the message below still holds; the next run clears it
        logging.getLogger("pagestream").debug("could not remove %s: %s", staging, exc)
    if committed_manifest(options) != manifest_before:
        # Ctrl-C came after the manifest was written: the run is committed.
        print(f"pagestream run: interrupted after run {options.run_id} was committed",
              file=sys.stderr)  # fmt: skip
    else:
        print("pagestream run: interrupted; nothing was committed", file=sys.stderr)
    return 130


def report_failure(options, exc: Exception, verbose: bool) -> int:
    """A failed run: the traceback with ``verbose``, then the cause on stderr; returns 1."""
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    if "No space left on device" in str(exc):
        cause = f"the output location {options.output} is full (No space left on device)"
    else:
        cause = failure_message(exc, max_lines=None if verbose else MAX_CAUSE_LINES)
    first, _, rest = cause.partition("\n")
    print(f"pagestream run: the run failed; nothing was committed: {first}", file=sys.stderr)
    if rest:
        print("\n".join(f"  {line}" for line in rest.splitlines()), file=sys.stderr)
    return 1
