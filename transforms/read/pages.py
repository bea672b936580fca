"""Reading raw pages: WARC, WET, JSON Lines, JSON, HTML and plain-text files, compressed or not.

Globs and directories are expanded into a file list while the graph is built (``expand_inputs``),
so parallelism comes from the file list on every runner (``Read``/``Reshuffle`` are no-ops on the
DaskRunner). Each file is streamed record by record; a bad record becomes a ``dead`` record with
its position, never an exception that kills the bundle.

``source`` is ``<path>#<position>``, always with a position, so ``source.rsplit("#", 1)[0]`` is the
path even when the path holds a ``#``: the line number (from 1) for JSON Lines, the byte offset of
the record for WARC (in the decompressed stream for a WARC gzip'd as one whole file), ``0`` for
single-page files and for problems of a whole file (empty, unreadable).

Guarantees of ``read_records`` (tested on a corpus of bad inputs and with hypothesis):

- it never raises for bad content; one bad record gives one ``dead`` record, never one per line
  of it, and the records before a cut or a corrupt region are kept;
- a WARC record shorter than its ``Content-Length`` is ``truncated`` (warcio does not say so);
  a garbage region between WARC records gives one ``corrupt`` record and reading resumes at the
  next record;
- an empty file gives one ``empty`` record; binary content (images, archives, executables) named
  ``.html``/``.txt`` gives one ``binary`` record; a record over ``MAX_RECORD_BYTES`` gives one
  ``too_large`` record without being held in memory whole (JSON Lines) or decoded (others);
- every string is valid UTF-8 (lone surrogates, e.g. from JSON escapes or undecodable file
  names, are replaced), so nothing downstream fails to encode it.

This module holds ``read_records``, the ``--max_pages`` plan and the composite ``ReadPages``;
the parts live beside it: ``inputs`` (listing), ``common`` (shared helpers), ``jsonl``,
``files`` (single-page files), ``warc`` and ``warc_scan``.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from pagestream.schemas.records import RawPage
from pagestream.transforms.errors import dead_raw
from pagestream.transforms.read.common import (
    STAGE,
    file_uri,
)
from pagestream.transforms.read.files import read_whole
from pagestream.transforms.read.inputs import (
    InputFile,
)
from pagestream.transforms.read.json_file import read_json
from pagestream.transforms.read.jsonl import read_jsonl
from pagestream.transforms.read.warc import read_warc, read_wet
from pagestream.transforms.write.progress import Heartbeat, forget_read, read_position

__all__ = [
    "RECORD_WEIGHT",
    "ReadPages",
    "limit_records",
    "read_records",
    "split_files",
]

#: Readers of files with many records (the others hold one page: ``read_whole``).
_READERS = {"jsonl": read_jsonl, "json": read_json, "warc": read_warc, "wet": read_wet}


def _utf8(value: str | None) -> str | None:
    """``value`` with lone surrogates replaced, so that it encodes to UTF-8."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


_TEXT_FIELDS = ("url", "source", "html", "text", "error", "traceback", "excerpt")


def _valid_strings(record: RawPage) -> RawPage:
    fixed = {name: _utf8(getattr(record, name)) for name in _TEXT_FIELDS}
    changed = {k: v for k, v in fixed.items() if v is not getattr(record, k)}
    return record._replace(**changed) if changed else record


#: What a record weighs beyond its page's characters when records are dealt to parts: the
#: per-page work that does not grow with the page (language, dedup, topics, Beam).
RECORD_WEIGHT = 2_000


def _dealt_to(totals: list[int], record: RawPage) -> int:
    """The part ``record`` goes to: the one with the least weight so far (the lowest on a
    tie), which then carries the record's weight (characters of its page + RECORD_WEIGHT)."""
    part = totals.index(min(totals))
    totals[part] += len(record.html or record.text or "") + RECORD_WEIGHT
    return part


def _records_from(file: InputFile) -> tuple[Iterator[RawPage], int]:
    """``(records, index)``: the records of ``file`` from record ``index`` on. A later wave's
    share of a big file starts there without reading the records before it (without this,
    each of n waves would re-read the file from its start, O(n^2)): a WARC or WET reader seeks
    to ``file.offset``, the position of record ``file.skip`` (checked: if another record is
    found there, the file is read from its start); a JSON Lines reader counts the lines it
    passes over without parsing them. Other readers start at record 0."""
    if file.fmt in ("warc", "wet") and file.offset:
        records = _READERS[file.fmt](file.path, file.offset)
        try:
            first = next(records)
        except Exception:  # NotARecordStart, or the file is unreadable: read_records says so
            first = None
        if first is not None and first.source == f"{file.path}#{file.offset}":
            return itertools.chain([first], records), file.skip
        records.close()
    elif file.fmt == "jsonl" and file.skip:
        return read_jsonl(file.path, file.skip), file.skip
    reader = _READERS.get(file.fmt)
    return (reader(file.path) if reader else read_whole(file.path, file.fmt)), 0


def read_records(file: InputFile) -> Iterator[RawPage]:
    """Streams the records of one input file; never raises for bad content.

    Skips the first ``file.skip`` records (a wave's share of a file starts there, see
    ``pipelines.waves``) and yields at most ``file.limit`` records after them. A file that cannot be opened
    yields one dead record for the file (position 0). With ``file.parts > 1`` only the
    records dealt to ``file.part`` are yielded: in file order (within ``skip``/``limit``), each record
    goes to the part with the least weight so far, its weight being its page's length plus
    ``RECORD_WEIGHT``. Every part deals the same way, so the parts of a file together yield
    what the whole file does, each record once, and their weights differ by at most one
    record's. (Records of equal size go round-robin. Dealing by index alone gave two workers
    23.0 and 19.1 s of extraction on the benchmark's 800 pages, by weight 21.3 and 20.8 s:
    extraction time grows with page size, and a few large pages decide the split.) The
    file's dead record comes from part 0 only.
    """
    records, count = _records_from(file)  # count: records of the file seen so far
    end = None if file.limit is None else file.skip + file.limit
    totals = [0] * file.parts
    try:
        for record in records:
            if end is not None and count >= end:
                return
            count += 1
            if count <= file.skip:
                continue
            if file.parts == 1 or _dealt_to(totals, record) == file.part:
                yield _valid_strings(record)
    except Exception as exc:  # opening failed (permissions, vanished file, ...)
        if file.skip <= count and (end is None or count < end) and file.part == 0:
            yield _valid_strings(
                dead_raw(file_uri(file.path), f"{file.path}#0", STAGE, "unreadable", exc)
            )


def split_files(files: list[InputFile], parts: int) -> list[InputFile]:
    """Each WARC and JSON Lines file as ``parts`` parts of about equal weight (records dealt
    by size, see ``read_records``), so that workers given whole items share every file's pages.

    Each part still reads (decompresses and parses) the whole file and drops the records of
    the other parts: ~1 % of extraction's time per extra part, for an even split of the
    expensive work when files are few or uneven (a WARC of slow pages).
    """
    if parts <= 1:
        return list(files)
    return [
        file._replace(part=part, parts=parts) if file.fmt in _READERS else file
        for file in files
        for part in range(parts if file.fmt in _READERS else 1)
    ]


def limit_records(files: list[InputFile], max_pages: int | None) -> list[InputFile]:
    """Plans ``--max_pages``: the first ``max_pages`` records in file order, as per-file limits."""
    if max_pages is None:
        return files
    planned, left = [], max_pages
    for file in files:
        if left <= 0:
            break
        count = sum(1 for _ in zip(range(left), read_records(file), strict=False))
        planned.append(file._replace(limit=count))
        left -= count
    return planned


def _offset(source: str) -> int:
    position = source.rsplit("#", 1)[-1]
    return int(position) if position.isdigit() else 0


class ReadRecordsFn(beam.DoFn):
    """InputFile -> RawPage records, streamed; reports records and bytes read as progress."""

    def __init__(self, progress_dir: str | None = None):
        self.progress_dir = progress_dir
        self.read = Metrics.counter(STAGE, "records")

    def setup(self):
        self.heartbeat = Heartbeat(self.progress_dir, STAGE)

    def process(self, file: InputFile) -> Iterator[RawPage]:
        # Bytes of this file accounted for: how far the reader has got into the file as
        # stored (``read_position``; else a WARC record's offset), so progress moves with
        # every record of every format. Each of a split file's parts reports its share of the
        # file's size, part 0 the remainder.
        share = file.size // file.parts + (file.size % file.parts if file.part == 0 else 0)
        done = 0
        forget_read()
        for record in read_records(file):
            self.read.inc()
            position = read_position()
            if position is None and file.fmt in ("warc", "wet"):
                position = _offset(record.source)
            if position is not None:
                position = min(position * share // max(file.size, 1), share)
                self.heartbeat.add("bytes", max(0, position - done))
                done = max(done, position)
            self.heartbeat.add("records")
            yield record
        self.heartbeat.add("bytes", max(0, share - done))
        if file.part == 0:
            self.heartbeat.add("files")

    def finish_bundle(self):
        self.heartbeat.flush()


class ReadPages(beam.PTransform):
    """Reads input files into ``RawPage`` records.

    Input: the pipeline root. Output: ``PCollection[RawPage]`` with kind ``raw`` (content to
    extract), ``rejected`` (e.g. non-2xx WARC responses) or ``dead`` (unreadable records).

    Args:
        files: the planned input files (``expand_inputs``, ``limit_records``).
        redistribute: spread records over workers after reading (a fusion break); on the
            DaskRunner, where ``Reshuffle`` is a no-op, a keyed ``GroupByKey`` does it.
        shards: number of keys used by the GroupByKey redistribution.
        parts: read each WARC and JSON Lines file as this many parts (dealt by size)
            (``split_files``); for runners that share out whole input elements among
            workers without redistributing (the multi-process DirectRunner).
        progress_dir: where workers write heartbeat files (``transforms.progress``), or None.
    """

    def __init__(
        self,
        files: list[InputFile],
        redistribute: str = "reshuffle",
        shards: int = 16,
        progress_dir: str | None = None,
        parts: int = 1,
    ):
        super().__init__()
        self.progress_dir = progress_dir
        if redistribute not in ("reshuffle", "group", "none"):
            raise ValueError(f"redistribute must be reshuffle, group or none, got {redistribute!r}")
        self.files = split_files(files, parts)
        self.redistribute = redistribute
        self.shards = shards

    def expand(self, pbegin):
        records = (
            pbegin
            | "Files" >> beam.Create(self.files)
            | "ReadRecords" >> beam.ParDo(ReadRecordsFn(self.progress_dir))
        )
        if self.redistribute == "reshuffle":
            return records | "Redistribute" >> beam.Reshuffle()
        if self.redistribute == "group":
            shards = self.shards
            return (
                records
                | "KeyByShard" >> beam.Map(lambda r: (zlib.crc32(r.source.encode()) % shards, r))
                | "GroupByShard" >> beam.GroupByKey()
                | "Ungroup" >> beam.FlatMap(lambda kv: sorted(kv[1], key=lambda r: r.source))
            )
        return records
