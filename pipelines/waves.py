"""Waves: a batch run cut into parts of bounded size, run one after another, committed once.

The FnApiRunner (what the DirectRunner runs) holds every PCollection that crosses a grouping
in memory, and the duplicate groupings join whole pages: a run of n pages
needs memory in proportion to n (~0.15 MB per light page). So ``pagestream run`` cuts its input,
in file order, into **waves** of at most ``--wave_pages`` records and ``WAVE_BYTES`` of page
content, runs the whole graph once per wave, and commits the run once, after the last wave:
peak memory is that of one wave, whatever the input size.

What a wave boundary changes (every other answer is the same as in one wave):

- **Duplicates across waves.** A wave dedups against the kept pages of the earlier waves (their
  index segments, written as the ``--state`` index is) as it does against committed runs: the
  copy in the **earlier wave is kept**, even where the later copy has the earlier
  ``fetch_time``. Waves follow file order, so across waves the first copy in input order wins;
  within a wave the keep rule is unchanged (``dedup/mark.py``).
- **Site statistics** (lines a site repeats, for plain-text scrapes) are counted per wave.
- **Files.** Each wave writes its own files: a run of n waves has up to n files per partition
  (``pagestream compact`` merges them).

**Resume.** Each finished wave leaves a sidecar (``_staging/<run_id>/waves/wave-<k>.json``:
its staged files, statistics and index segment files; ``wave_files``) beside ``plan.json`` (which inputs and
options the waves were cut for, and the run's file-name tokens). Rerunning a run that did not
commit, with the same ``--run_id``, the same inputs and options, finds them and runs only the
waves not finished; a wave counts as finished only when its sidecar and every file it lists
are there. Nothing is visible to readers before the one commit, so a kill at any moment leaves
the committed runs as they were.

With one wave (the default for inputs of up to ``--wave_pages`` records) the graph is exactly
the unwaved one: same files, same rows.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from typing import NamedTuple

from pagestream import __version__
from pagestream.pipelines.options import RunOptions
from pagestream.pipelines.wave_files import read_plan
from pagestream.schemas.records import KIND_DEAD
from pagestream.transforms.read.inputs import InputFile
from pagestream.transforms.read.pages import read_records
from pagestream.transforms.write.progress import forget_read, read_position

__all__ = [
    "DEFAULT_WAVE_PAGES",
    "FILES_PER_WAVE",
    "MULTI_PROCESS_WAVE_PAGES",
    "WAVE_BYTES",
    "Wave",
    "cut_waves",
    "estimate_records",
    "plan_key",
    "plan_waves",
    "wave_pages",
]

#: ``--wave_pages`` on the DirectRunner, which holds a run's groupings in memory.
#: Measured on 16,000 light pages, one worker (BENCHMARKS.md, memory): peak RSS 718 MiB in
#: waves of 2,000, ~970 in waves of 4,000, ~1,130 in waves of 5,000, 2,390 in one wave; the
#: wall time was the same within noise (~30 s per 2,000-page wave, ~1 s of it starting it).
DEFAULT_WAVE_PAGES = 2_000

#: The default with several DirectRunner worker processes (the runner and each worker hold a
#: share). 16,000 light pages, 2 workers: peak RSS of the tree 1,616 MiB in waves of 1,000 (160
#: s), 1,845 in waves of 1,500 (141 s), 2,046 in waves of 2,000 (140 s).
MULTI_PROCESS_WAVE_PAGES = 1_500

#: A wave also ends before its page content (HTML or text characters) passes this.
WAVE_BYTES = 512 * 1024 * 1024

#: Wave k numbers its output files from ``(k + 1) * FILES_PER_WAVE`` (``WriteConfig.first_file``).
FILES_PER_WAVE = 10**8

#: Inputs smaller than this (bytes on disk) are one wave without counting their records: even
#: compressed they cannot hold a wave's worth of content.
_COUNT_FROM_BYTES = 4 * 1024 * 1024

#: Formats whose files hold one record each (no need to read them to count).
_ONE_RECORD = {"html", "txt"}

#: Records read from the start of a file to estimate how many it holds (``estimate_records``).
_SAMPLE_RECORDS = 50


class Wave(NamedTuple):
    """One wave: its input files (record ranges: ``skip``/``limit``), records and content bytes."""

    index: int  # from 0
    files: tuple[InputFile, ...]
    records: int | None  # None: not counted (one wave of a small input)
    content_bytes: int


def _record_sizes(file: InputFile) -> Iterator[tuple[int, int]]:
    """``(content size, offset)`` of each record of ``file``: the offset where a reader can
    start at the record (``InputFile.offset``: WARC and WET records that are not dead), else 0."""
    if file.fmt in _ONE_RECORD:
        yield file.size, 0
        return
    seekable = file.fmt in ("warc", "wet")
    for record in read_records(file):
        offset = 0
        if seekable and record.kind != KIND_DEAD:
            position = record.source.rpartition("#")[2]
            offset = int(position) if position.isdigit() else 0
        yield len(record.html or record.text or ""), offset


def estimate_records(file: InputFile) -> float:
    """About how many records ``file`` holds: its size over the stored bytes per record of
    its first ``_SAMPLE_RECORDS`` records (exact for a file that has no more)."""
    if file.fmt in _ONE_RECORD:
        return 1
    forget_read()
    count, position = 0, None
    records = read_records(file)  # held: the file stays open until its position is read
    for _ in records:
        count += 1
        if count == _SAMPLE_RECORDS:
            position = read_position()
            break
    records.close()
    forget_read()
    if count < _SAMPLE_RECORDS or not position:
        return count
    return file.size * count / max(position, 1)


def plan_waves(
    files: list[InputFile], wave_pages: int, wave_bytes: int = WAVE_BYTES, count_small: bool = False
) -> list[Wave]:
    """The waves of a run over ``files`` (in file order); one wave when ``wave_pages`` is 0.

    Reads every multi-record file once to count its records (~1 ms per record of 170 KB HTML,
    ~2 % of what the pipeline spends on it) unless the input is too small to need a second
    wave: under 4 MB on disk, or estimated (``estimate_records``, which errs high: the reader
    is ahead of the records it has yielded) at no more than ``wave_pages`` records;
    ``count_small`` (``--wave_pages`` given) counts those too. A single wave keeps the planned
    files as they are.
    """
    total_size = sum(f.size for f in files)
    if wave_pages == 0:
        return [Wave(0, tuple(files), None, total_size)]
    if not count_small and (
        total_size < _COUNT_FROM_BYTES or sum(estimate_records(f) for f in files) <= wave_pages
    ):
        return [Wave(0, tuple(files), None, total_size)]
    waves: list[Wave] = []
    current: list[InputFile] = []
    records = content = 0

    def close() -> None:
        nonlocal current, records, content
        waves.append(Wave(len(waves), tuple(current), records, content))
        current, records, content = [], 0, 0

    for file in files:
        start = count = 0
        offset = file.offset  # where the reader can start at record ``start``
        for size, at in _record_sizes(file):
            if records and (records >= wave_pages or content + size > wave_bytes):
                if count > start:
                    current.append(
                        file._replace(skip=file.skip + start, limit=count - start, offset=offset)
                    )
                close()
                start, offset = count, at
            count += 1
            records += 1
            content += size
        if count > start:
            current.append(
                file._replace(skip=file.skip + start, limit=count - start, offset=offset)
            )
    if current:
        close()
    if len(waves) == 1:
        return [Wave(0, tuple(files), waves[0].records, waves[0].content_bytes)]
    return waves


def plan_key(files: list[InputFile], options: dict, wave_pages: int) -> str:
    """What a resumed run must share with the interrupted one: inputs (path, size, mtime,
    range), options and pagestream's version."""
    described = {
        "files": [[f.path, f.size, f.mtime_ns, f.skip, f.limit] for f in files],
        "options": options,
        "wave_pages": wave_pages,
        "wave_bytes": WAVE_BYTES,
        "version": __version__,
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()


def wave_pages(options: RunOptions, runner: str, processes: int = 1) -> int:
    """``--wave_pages``, else the runner's default: waves on the DirectRunner, which holds a
    run's groupings in memory, smaller ones (``MULTI_PROCESS_WAVE_PAGES``) with several worker
    processes; one wave elsewhere.

    Not on the DaskRunner, whose workers spill to disk: there a wave dedups against the run's
    earlier waves without the side-input filter (``MarkDuplicates(filter_earlier=False)``), so
    every wave shuffles the whole index of the waves before it. Measured on a local cluster of
    two workers (light pages, BENCHMARKS.md): 16,000 pages took 278 s in waves of 2,000 and
    152 s in one wave (peak 2,307 and 3,836 MiB); 50,000 took 1,497 s in waves of 2,000 and 491
    s in one wave (4,080 and 8,831 MiB).
    """
    if options.wave_pages is not None:
        return options.wave_pages
    name = runner.rsplit(".", 1)[-1]
    if name not in ("DirectRunner", "FnApiRunner", "SwitchingDirectRunner"):
        return 0
    return DEFAULT_WAVE_PAGES if processes == 1 else MULTI_PROCESS_WAVE_PAGES


def cut_waves(options: RunOptions, runner: str, files: list[InputFile], processes: int = 1):
    """``(waves, staged plan, plan key)``: the run's waves, the staged plan of an interrupted
    attempt at the same waves (same inputs and options) to resume or None, and the key that
    identifies them (``plan_key``)."""
    per_wave = wave_pages(options, runner, processes)
    waves = plan_waves(files, per_wave, count_small=options.wave_pages is not None)
    if len(waves) == 1:
        return waves, None, ""
    staged = read_plan(options.output, options.run_id)
    key = plan_key(files, options.as_manifest(), per_wave)
    if staged is not None and staged.get("key") != key:
        print(
            f"pagestream run: the staged waves of run {options.run_id} were cut for other "
            "inputs or options; starting over",
            file=sys.stderr,
        )
        staged = None
    if not options.quiet:
        records = sum(w.records or 0 for w in waves)
        print(
            f"pagestream run: {records:,} records in {len(waves)} waves of at most "
            f"{per_wave:,} records (--wave_pages); one commit at the end",
            file=sys.stderr,
        )
    return waves, staged, key
