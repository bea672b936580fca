"""The progress line of ``pagestream run`` (a rich display on a terminal, silence elsewhere).

A background thread polls the workers' heartbeat files (``transforms.write.progress``) while
the pipeline runs in the main thread, and shows the pages extracted first (the work), their
rate, then records and input bytes read, and an ETA.

The share of the work done is the share of input bytes read (the readers report how far into
each file they are, every format alike) times the share of the records read that are already
extracted, since on some runners reading runs ahead of extraction. The ETA extrapolates the
rate since the first page was extracted, so Beam's start-up does not count as work: with a
steady rate it falls with the time left and reaches 0:00 when the work is done.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter

from pagestream.transforms.write.progress import read_progress

__all__ = ["EtaEstimator", "ProgressDisplay", "describe", "done_share"]


def done_share(counts: Counter, total_bytes: int, total_records: int | None = None) -> float:
    """The share of the run's work done, from 0 to 1 (see the module docstring); with
    ``total_records`` (a wave, whose files are record ranges) records stand for bytes."""
    read = counts.get("records", 0)
    if not read:
        return 0.0
    if total_records:
        bytes_share = min(1.0, read / total_records)
    else:
        bytes_share = min(1.0, counts.get("bytes", 0) / total_bytes) if total_bytes else 1.0
    return bytes_share * min(1.0, counts.get("extracted", 0) / read)


class EtaEstimator:
    """Seconds left from successive ``(elapsed, done share)`` samples.

    The rate is measured from the first sample with work done to the latest one that moved,
    so the time before the first page (start-up) is not extrapolated. Between two heartbeats
    (the share unchanged) the last estimate counts down instead of growing.
    """

    def __init__(self):
        self._start: tuple[float, float] | None = None
        self._last: tuple[float, float, float] | None = None  # elapsed, done, eta

    def update(self, elapsed: float, done: float) -> float | None:
        """Seconds left, or None while there is nothing to extrapolate from."""
        if done <= 0:
            return None
        if done >= 1.0:
            return 0.0
        if self._start is None:
            self._start = (elapsed, done)
            return None
        if self._last is not None and done == self._last[1]:
            return max(0.0, self._last[2] - (elapsed - self._last[0]))
        start_elapsed, start_done = self._start
        if done <= start_done or elapsed <= start_elapsed:
            return None
        eta = (elapsed - start_elapsed) * (1 - done) / (done - start_done)
        self._last = (elapsed, done, eta)
        return eta


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def describe(
    counts: Counter,
    total_bytes: int,
    elapsed: float,
    eta: float | None = None,
    label: str = "",
    total_records: int | None = None,
) -> str:
    """One progress line, e.g.
    ``extracted 900 pages (62%) · 85.0 pages/s · read 1,200 records, 40.1/120.0 MB · ETA 0:11``;
    a wave's starts with its ``label`` (``wave 2/5``) and counts records of ``total_records``.
    """
    extracted = counts.get("extracted", 0)
    rate = extracted / elapsed if elapsed > 0 else 0.0
    done = done_share(counts, total_bytes, total_records)
    read = f"read {counts.get('records', 0):,} records"
    if total_records:
        read += f" of {total_records:,}"
    else:
        read += f", {counts.get('bytes', 0) / 1e6:.1f}/{total_bytes / 1e6:.1f} MB"
    parts = [
        f"extracted {extracted:,} page{'' if extracted == 1 else 's'} ({done:.0%})",
        f"{rate:.1f} pages/s",
        read,
    ]
    if label:
        parts.insert(0, label)
    if counts.get("written"):
        parts.append(f"written {counts['written']:,}")
    elif done >= 1.0:
        parts.append("finishing: duplicates, topics, writing")
    if eta is not None and done < 1.0:
        parts.append(f"ETA {_clock(eta)}")
    return " · ".join(parts)


class ProgressDisplay:
    """Context manager showing progress on stderr while the block runs.

    Does nothing when ``enabled`` is False or stderr is not a terminal (logs and CI stay clean).
    """

    def __init__(
        self,
        directory: str,
        total_bytes: int,
        enabled: bool = True,
        interval: float = 1.0,
        label: str = "",
        total_records: int | None = None,
    ):
        self.directory = directory
        self.total_bytes = total_bytes
        self.label, self.total_records = label, total_records
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
        eta = EtaEstimator()
        counts: Counter = Counter()
        with Live(
            Text("starting ..."), console=console, transient=True, refresh_per_second=4
        ) as live:
            while not self._stop.wait(self.interval):
                # The heartbeats go with the staging directory at the commit: keep the last.
                counts = read_progress(self.directory) or counts
                elapsed = time.monotonic() - self._started
                done = done_share(counts, self.total_bytes, self.total_records)
                left = eta.update(elapsed, done)
                line = describe(
                    counts, self.total_bytes, elapsed, left, self.label, self.total_records
                )
                live.update(Text(line))
