"""The progress line of ``pagestream run`` (a rich display on a terminal, silence elsewhere).

A background thread polls the workers' heartbeat files (``transforms.progress``) while the
pipeline runs in the main thread, and shows records read, input bytes, pages extracted and
written, the rate and an ETA. The ETA weighs the share of input bytes read by the share of
read records already extracted, because on most runners reading runs ahead of extraction.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter

from pagestream.transforms.write.progress import read_progress

__all__ = ["ProgressDisplay", "describe", "estimate_eta"]


def estimate_eta(counts: Counter, total_bytes: int, elapsed: float) -> float | None:
    """Seconds left, or None while there is nothing to extrapolate from."""
    read = counts.get("records", 0)
    extracted = counts.get("extracted", 0)
    if not read or not extracted or elapsed <= 0:
        return None
    bytes_share = min(1.0, counts.get("bytes", 0) / total_bytes) if total_bytes else 1.0
    done = bytes_share * min(1.0, extracted / read)
    if done <= 0:
        return None
    return elapsed * (1 - done) / done


def describe(counts: Counter, total_bytes: int, elapsed: float) -> str:
    """One progress line, e.g. ``read 1,200 records (40.1/120.0 MB) · extracted 900 · 85/s``."""
    extracted = counts.get("extracted", 0)
    rate = extracted / elapsed if elapsed > 0 else 0.0
    parts = [
        f"read {counts.get('records', 0):,} records "
        f"({counts.get('bytes', 0) / 1e6:.1f}/{total_bytes / 1e6:.1f} MB)",
        f"extracted {extracted:,}",
        f"{rate:.1f} pages/s",
    ]
    if counts.get("written"):
        parts.append(f"written {counts['written']:,}")
    eta = estimate_eta(counts, total_bytes, elapsed)
    if eta is not None:
        parts.append(f"ETA {int(eta // 60)}:{int(eta % 60):02d}")
    return " · ".join(parts)


class ProgressDisplay:
    """Context manager showing progress on stderr while the block runs.

    Does nothing when ``enabled`` is False or stderr is not a terminal (logs and CI stay clean).
    """

    def __init__(
        self, directory: str, total_bytes: int, enabled: bool = True, interval: float = 1.0
    ):
        self.directory = directory
        self.total_bytes = total_bytes
        self.enabled = enabled and sys.stderr.isatty()
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self):
        if self.enabled:
            self._started = time.monotonic()
            self._thread = threading.Thread(
                target=self._loop, name="pagestream-progress", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return False

    def _loop(self) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        console = Console(file=sys.stderr)
        with Live(
            Text("starting ..."), console=console, transient=True, refresh_per_second=4
        ) as live:
            while not self._stop.wait(self.interval):
                counts = read_progress(self.directory)
                elapsed = time.monotonic() - self._started
                live.update(Text(describe(counts, self.total_bytes, elapsed)))
