"""Shared helpers of the speed benchmarks: machine facts, test corpora, measured subprocesses.

Nothing here asserts a speed. Every figure a benchmark reports is a median of repeated runs,
recorded with the 1-minute load average seen when the run started (the machines are shared,
so load is part of every number).

Peak memory is measured by sampling the resident set size of the *whole process tree* of a
subprocess (psutil, every ``SAMPLE_S`` seconds, summed over the process and all its
descendants): ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` would give the largest single
process only, which hides the second worker of a two-worker run.
"""

from __future__ import annotations

import gzip
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import psutil

__all__ = [
    "DATA",
    "ROOT",
    "Measured",
    "build_corpus",
    "load_average",
    "machine_info",
    "median",
    "run_measured",
    "run_parallel_measured",
    "tree_rss",
]

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PAGESTREAM_SHARED_DATA", ROOT.parent / "shared" / "data"))
PYTHON = sys.executable
SAMPLE_S = 0.1
WARC_HTML_PAGES = 156  # text/html responses in the dev data's warc/ files (counted once)

_LIBRARIES = (
    "apache-beam",
    "trafilatura",
    "lxml",
    "langdetect",
    "datasketch",
    "pyarrow",
    "warcio",
    "fastwarc",
    "numpy",
    "duckdb",
)


# --------------------------------------------------------------------------- machine


def load_average() -> float:
    """The 1-minute load average (runnable processes), rounded to 2 decimals."""
    return round(os.getloadavg()[0], 2)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict:
    """Date, CPU, core count, RAM, OS, Python and library versions, current load."""
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "nproc": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "load_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


def median(values: list[float]) -> float:
    """The median, or NaN for no values."""
    return statistics.median(values) if values else float("nan")


# --------------------------------------------------------------------------- corpora


def _extraction_pages() -> list[dict]:
    with gzip.open(DATA / "extraction-dev" / "pages.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


_FIRST_P = re.compile(r"<p(\s[^>]*)?>", re.IGNORECASE)


def _perturbed(page: dict, copy: int, rng: random.Random) -> dict:
    """Copy ``copy`` of a page: its own url, and one different word in its first paragraph.

    Copy 0 is the page unchanged. Later copies are real near-duplicates (not byte-identical),
    so duplicate detection has the work it has on real syndicated content.
    """
    if copy == 0:
        return page
    word = f"variant{copy}x{rng.randrange(10**6)}"
    html, hits = _FIRST_P.subn(lambda m: f"{m.group(0)}{word} ", page["html"], count=1)
    if not hits:
        html = html.replace("<body", f"<p>{word}</p><body", 1)
    sep = "&" if "?" in page["url"] else "?"
    return {"url": f"{page['url']}{sep}pagestream_copy={copy}", "html": html}


def build_corpus(
    directory: Path, pages: int, shards: int = 8, warcs: bool = True, seed: int = 0
) -> list[Path]:
    """Writes a benchmark corpus of about ``pages`` HTML pages into ``directory``.

    The extraction-dev pages (436 real pages) are repeated, copies perturbed by
    ``_perturbed``, and written round-robin into ``shards`` ``.jsonl.gz`` files; with
    ``warcs`` and at least ``2 * WARC_HTML_PAGES`` pages, the two shared WARC files (156 HTML
    responses) are copied in as well and count towards ``pages`` (below that they would be
    most of the corpus). Deterministic for a given ``seed``. Returns the files, largest first.
    """
    directory.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    jsonl_pages = pages
    if warcs and pages >= 2 * WARC_HTML_PAGES:
        for name in ("warcfile.warc.gz", "example.warc.gz"):
            target = directory / name
            target.write_bytes((DATA / "warc" / name).read_bytes())
            files.append(target)
        jsonl_pages = pages - WARC_HTML_PAGES
    source = _extraction_pages()
    rng = random.Random(seed)
    lines: list[list[str]] = [[] for _ in range(shards)]
    for i in range(jsonl_pages):
        page = _perturbed(source[i % len(source)], i // len(source), rng)
        lines[i % shards].append(json.dumps(page, ensure_ascii=False) + "\n")
    for shard, shard_lines in enumerate(lines):
        path = directory / f"pages-{shard:03d}.jsonl.gz"
        files.append(path)
        with gzip.GzipFile(path, "wb", compresslevel=1, mtime=0) as handle:  # same bytes each time
            handle.write("".join(shard_lines).encode("utf-8"))
    return sorted(files, key=lambda p: (-p.stat().st_size, p.name))


# --------------------------------------------------------------------------- measured runs


@dataclass
class Measured:
    """One measured subprocess run (or several run at once)."""

    wall_s: float
    cpu_s: float  # user + system of the whole tree, from RUSAGE_CHILDREN deltas
    peak_rss_mib: float  # sampled sum over the process tree
    load: float  # 1-minute load average when the run started
    returncodes: list[int] = field(default_factory=list)
    stdout: list[str] = field(default_factory=list)
    walls_s: list[float] = field(default_factory=list)  # each command's own wall time

    @property
    def ok(self) -> bool:
        return all(code == 0 for code in self.returncodes)


def tree_rss(procs: list[psutil.Process]) -> int:
    """RSS summed over ``procs`` and all their descendants, in bytes."""
    total = 0
    for proc in procs:
        try:
            members = [proc, *proc.children(recursive=True)]
        except psutil.Error:
            continue
        for member in members:
            try:
                total += member.memory_info().rss
            except psutil.Error:
                pass
    return total


def _children_cpu() -> float:
    usage = os.times()
    return usage.children_user + usage.children_system


def _cpu_of(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            for member in [proc, *proc.children(recursive=True)]:
                times = member.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            pass
    return total


def run_parallel_measured(
    commands: list[list[str]], env: dict | None = None, beside: list[int] = ()
) -> Measured:
    """Starts all ``commands`` at once and waits for all; wall time is until the last ends,
    ``walls_s`` each command's own (from the common start to its end).

    Peak RSS is the highest sampled sum over all their process trees and the trees of the
    already running processes ``beside`` (pids: a Dask cluster the commands submit to), whose
    CPU over the run is added to the commands'.
    """
    load = load_average()
    others = [psutil.Process(pid) for pid in beside]
    cpu_before = _children_cpu() + _cpu_of(others)
    started = time.perf_counter()
    popens = [
        subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        for cmd in commands
    ]
    procs = [psutil.Process(p.pid) for p in popens] + others
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss(procs))
            done.wait(SAMPLE_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    outputs: list[tuple[str, str]] = [("", "")] * len(popens)
    walls = [0.0] * len(popens)

    def wait(index: int) -> None:  # one thread each, so every command's end is its own
        outputs[index] = popens[index].communicate()
        walls[index] = time.perf_counter() - started

    waiters = [threading.Thread(target=wait, args=(i,)) for i in range(len(popens))]
    for waiter in waiters:
        waiter.start()
    for waiter in waiters:
        waiter.join()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    for (_out, err), popen in zip(outputs, popens, strict=True):
        if popen.returncode != 0:
            sys.stderr.write(f"command failed ({popen.returncode}): {popen.args}\n{err[-3000:]}\n")
    return Measured(
        wall_s=wall,
        cpu_s=_children_cpu() + _cpu_of(others) - cpu_before,
        peak_rss_mib=peak[0] / 1024**2,
        load=load,
        returncodes=[p.returncode for p in popens],
        stdout=[out for out, _ in outputs],
        walls_s=walls,
    )


def run_measured(command: list[str], env: dict | None = None, beside: list[int] = ()) -> Measured:
    """Runs one command to completion, measuring wall, CPU and peak tree RSS (with the trees
    of the processes ``beside``, as ``run_parallel_measured``)."""
    return run_parallel_measured([command], env, beside)
