"""The streaming-runner graph (Dataflow, Flink): the batch composites in processing-time windows.

::

    WatchFiles (fileio.MatchContinuously) | ReadPubSubPages    RawPage, timestamp = arrival time
      -> ProcessStream:
           WindowInto(FixedWindows(window_s))    one window = one committed run <base>-<start>
           ExtractText -> DetectLanguage -> ScoreQuality -> MarkDuplicates  within the window (keep rule)
           NameWindowRun                         run_id, dup_run, crawl_date of the window
           MarkEarlierDuplicates                 against kept pages of earlier windows (state)
           TagTopics
           WriteWindowRuns                       Parquet per window + its manifest, written last

Windows are by **arrival** (processing) time: ``WatchFiles`` and ``ReadPubSubPages`` stamp each
record with the wall clock when it is read (``fetch_time`` stays a value that decides
``crawl_date``; archived crawls would all be late in event time). So on a live source nothing is
late; a record that still arrives behind the watermark (``TestStream`` can make one) is kept
when it is less than ``allowed_lateness_s`` late and committed as its own run
``<base>-<start>-late<k>`` (``free_run_id``: never replacing the committed on-time run), and
dropped by Beam beyond that.

**Cross-window duplicates** (``MarkEarlierDuplicates``): every page is probed, by each of its
duplicate keys (content hash, normalised URL, LSH band keys), against a stateful DoFn in the
global window that remembers, per key, the first ``max_per_key`` *kept* pages of earlier
windows, each for ``dup_ttl_s`` seconds after its window (an event-time timer clears expired
ones: state stays bounded). Each in-window group
(a kept page and its duplicates) that met an earlier page is resolved again with
``dedup.resolve_component``, the batch keep rule: an earlier window's page wins, and every
``dup_of`` still names a kept page. Known gap: a page kept under one key but marked a
duplicate through another key in the same window stays remembered under the first key.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import NamedTuple

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms import trigger, userstate, window
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.utils.timestamp import Duration, Timestamp

from pagestream import SCHEMA_VERSION, __version__
from pagestream.schemas.records import KIND_DEAD, KIND_PAGE, KIND_REJECTED, Page, RawPage
from pagestream.transforms.dedup.fingerprint import (
    DedupConfig,
    Fingerprint,
    fingerprint_page,
    signature_of,
)
from pagestream.transforms.dedup.mark import (
    UNIQUE,
    MarkDuplicates,
    apply_mark,
    resolve_component,
)
from pagestream.transforms.dedup.minhash import near_match
from pagestream.transforms.errors import dead_raw
from pagestream.transforms.extract.composite import ExtractText, TextConfig
from pagestream.transforms.language.detect import DetectLanguage, LanguageConfig
from pagestream.transforms.quality.rules import QualityConfig
from pagestream.transforms.quality.score import ScoreQuality
from pagestream.transforms.read.inputs import InputFile, input_format
from pagestream.transforms.read.pages import read_records
from pagestream.transforms.topics.tag import TagTopics, TopicConfig
from pagestream.transforms.write.commit import commit, manifest_path
from pagestream.transforms.write.files import file_name, new_attempt, staging_dir
from pagestream.transforms.write.parquet import (
    TABLES,
    StagedFile,
    dead_letter_row,
    page_row,
    partition_path,
    rejected_row,
    write_parquet,
)

__all__ = [
    "MarkEarlierDuplicates",
    "ProcessStream",
    "ReadPubSubPages",
    "StreamConfig",
    "WatchFiles",
    "message_records",
    "free_run_id",
    "window_run_id",
]

STAGE = "dedup"
_ROWS = {
    KIND_PAGE: ("pages", page_row),
    KIND_REJECTED: ("rejected", rejected_row),
    KIND_DEAD: ("dead_letter", dead_letter_row),
}


@dataclass(frozen=True)
class StreamConfig:
    """Windowing and cross-window state of the streaming graph.

    Attributes:
        window_s: length of the processing-time windows, one committed run each, in
            [1, 86400] seconds (``--trigger_interval``).
        allowed_lateness_s: how late (behind the watermark) a record may arrive and still be
            committed, as a late run of its window, in [0, 7 days]; later records are dropped.
        dup_ttl_s: how long a kept page stays matchable by later windows, in [window_s,
            365 days]; bounds the state per key.
        max_per_key: kept pages remembered per duplicate key, in [1, 64].
    """

    window_s: float = 60.0
    allowed_lateness_s: float = 0.0
    dup_ttl_s: float = 7 * 86400.0
    max_per_key: int = 4

    def __post_init__(self) -> None:
        _check("window_s", self.window_s, 1.0, 86400.0)
        _check("allowed_lateness_s", self.allowed_lateness_s, 0.0, 7 * 86400.0)
        _check("dup_ttl_s", self.dup_ttl_s, self.window_s, 365 * 86400.0)
        _check("max_per_key", self.max_per_key, 1, 64)


def _check(name: str, value, low, high) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")


def _utc(ts: Timestamp) -> datetime:
    return datetime.fromtimestamp(ts.micros / 1e6, tz=timezone.utc)


def window_run_id(base: str, win: window.BoundedWindow) -> str:
    """``<base>-<window start, UTC, YYYYmmddTHHMMSSZ>``: ids sort in window order."""
    return f"{base}-{_utc(win.start).strftime('%Y%m%dT%H%M%SZ')}"


def free_run_id(output: str, run: str) -> str:
    """``run`` if it is not committed in ``output``, else the first free ``<run>-late<k>``.

    A late pane of a window must not replace the window's committed run.
    """
    candidate, k = run, 0
    while FileSystems.exists(manifest_path(output, candidate)):
        k += 1
        candidate = f"{run}-late{k}"
    return candidate


# --- sources --------------------------------------------------------------------------------


def _stamp(record):
    """Timestamps a record with the wall clock when it is read (processing-time windows)."""
    return window.TimestampedValue(record, time.time())


def _input_file(meta) -> list[InputFile]:
    name = meta.path.rsplit("/", 1)[-1]
    fmt = input_format(meta.path)
    if fmt is None or name.startswith((".", "_")):
        return []
    return [InputFile(meta.path, meta.size_in_bytes, fmt)]


class WatchFiles(beam.PTransform):
    """``PBegin -> PCollection[RawPage]``: records of files as they land under ``pattern``.

    Each file is read once (``MatchContinuously`` with ``has_deduplication``); hidden names and
    unknown formats are ignored. Records are timestamped with their reading time.
    """

    def __init__(self, pattern: str, interval_s: float = 10.0) -> None:
        super().__init__()
        self.pattern, self.interval_s = pattern, interval_s

    def expand(self, pbegin):
        return (
            pbegin
            | "Match" >> fileio.MatchContinuously(self.pattern, interval=self.interval_s)
            | "InputFiles" >> beam.FlatMap(_input_file)
            | "Read" >> beam.FlatMap(read_records)
            | "StampArrival" >> beam.Map(_stamp)
        )


def message_records(data: bytes, message_id: str = "") -> Iterator[RawPage]:
    """The records of one Pub/Sub message: a JSON record (``url`` + ``html``/``text``) or the
    path of an input file (``gs://bucket/crawl/part-1.warc.gz``). Never raises: a bad message
    becomes one dead record."""
    from pagestream.transforms.read.jsonl import jsonl_record

    source = f"pubsub#{message_id}"
    text = data.strip()
    if text.startswith(b"{"):
        yield jsonl_record(text, source)
        return
    path = text.decode("utf-8", "replace")
    fmt = input_format(path)
    if fmt is None or "\n" in path:
        yield dead_raw(
            "", source, "read", "bad_message", content=data,
            error="a message must be a JSON record or the path of an input file",
        )  # fmt: skip
        return
    yield from read_records(InputFile(path, 0, fmt))


class ReadPubSubPages(beam.PTransform):
    """``PBegin -> PCollection[RawPage]`` from a Pub/Sub subscription (or topic); see
    ``message_records``. Records are timestamped with their reading time."""

    def __init__(self, subscription: str | None = None, topic: str | None = None) -> None:
        super().__init__()
        if (subscription is None) == (topic is None):
            raise ValueError("ReadPubSubPages: give exactly one of subscription or topic")
        self.subscription, self.topic = subscription, topic

    def expand(self, pbegin):
        from apache_beam.io.gcp.pubsub import ReadFromPubSub

        return (
            pbegin
            | "Pull"
            >> ReadFromPubSub(
                topic=self.topic, subscription=self.subscription, with_attributes=True
            )
            | "Records" >> beam.FlatMap(lambda m: message_records(m.data, m.message_id or ""))
            | "StampArrival" >> beam.Map(_stamp)
        )


# --- naming the window's run ----------------------------------------------------------------


class NameWindowRunFn(beam.DoFn):
    """Sets ``run_id`` (and ``dup_run`` of in-window duplicates) to the window's run id, and
    ``crawl_date`` of pages without a fetch time to the window's UTC date."""

    def __init__(self, base: str) -> None:
        self.base = base

    def process(self, page: Page, win=beam.DoFn.WindowParam):
        run = window_run_id(self.base, win)
        day = _utc(win.start).date().isoformat()
        yield page._replace(
            run_id=run,
            dup_run=run if page.dup_run == self.base else page.dup_run,
            crawl_date=page.crawl_date if page.fetch_time is not None else day,
        )


# --- cross-window duplicates ------------------------------------------------------------------


class Probe(NamedTuple):
    """A page's fingerprint on its way to one duplicate key's state."""

    head: str  # doc_id of the page's in-window kept page (its own when unique)
    kept: bool  # unique within its window: may be remembered for later windows
    window_end: int  # microseconds
    fp: Fingerprint


def _probes(page: Page, config: DedupConfig, win=beam.DoFn.WindowParam):
    if page.kind != KIND_PAGE:
        return
    day = _utc(win.start).date().isoformat()
    fp = fingerprint_page(page, config, day)
    kept = page.dup_status == UNIQUE
    probe = Probe(page.doc_id if kept else page.dup_of, kept, win.end.micros, fp)
    keys = [f"h:{fp.content_hash}"] + ([f"u:{fp.norm_url}"] if fp.norm_url else [])
    for key in keys + [f"b:{k}" for k in fp.band_keys]:
        yield key, probe


def _matches(key: str, earlier: Fingerprint, fp: Fingerprint, rule: DedupConfig) -> bool:
    if key.startswith("b:"):
        return near_match(signature_of(earlier), signature_of(fp), rule)[0]
    return True  # equal content hash or equal normalised URL


_KEPT = userstate.ReadModifyWriteStateSpec("kept", PickleCoder())  # list[Probe] remembered
_EXPIRE = userstate.TimerSpec("expire", TimeDomain.WATERMARK)
# Module-level parameter singletons (ruff B008: no calls in argument defaults).
_KEPT_P, _EXPIRE_P = beam.DoFn.StateParam(_KEPT), beam.DoFn.TimerParam(_EXPIRE)


class RememberKeptFn(beam.DoFn):
    """Per duplicate key (global window): earlier windows' kept pages -> candidates.

    Yields ``(head, Fingerprint of the earlier page)`` for every probe that matches a page
    remembered from an earlier window, with the probe's timestamp (so it rejoins the probe's
    window). A kept probe that matched nothing is remembered (at most ``max_per_key``) until
    ``ttl_s`` after its window ends; an event-time timer then clears it.

    Probes are handled as they arrive (a buffer flushed by a timer would let the downstream
    join fire first: the Python runners do not hold the watermark for timers). They arrive in
    window order because each window's pages leave the in-window ``MarkDuplicates`` when the
    watermark passes the window's end.
    """

    def __init__(self, rule: DedupConfig, ttl_s: float, max_per_key: int) -> None:
        self.rule, self.ttl_us, self.max_per_key = rule, int(ttl_s * 1e6), max_per_key

    def process(
        self,
        element,
        timestamp=beam.DoFn.TimestampParam,
        kept=_KEPT_P,
        expire=_EXPIRE_P,
    ):
        key, probe = element
        remembered: list[Probe] = list(kept.read() or [])
        hits = [
            r
            for r in remembered
            if r.window_end < probe.window_end and _matches(key, r.fp, probe.fp, self.rule)
        ]
        for hit in hits:
            yield window.TimestampedValue((probe.head, hit.fp._replace(current=False)), timestamp)
        if probe.kept and not hits and len(remembered) < self.max_per_key:
            remembered.append(probe)
            kept.write(remembered)
            expire.set(Timestamp(micros=min(r.window_end for r in remembered) + self.ttl_us))

    @userstate.on_timer(_EXPIRE)
    def on_expire(
        self,
        fired=beam.DoFn.TimestampParam,
        kept=_KEPT_P,
        expire=_EXPIRE_P,
    ):
        alive = [r for r in kept.read() or [] if r.window_end + self.ttl_us > fired.micros]
        if alive:
            kept.write(alive)
            expire.set(Timestamp(micros=min(r.window_end for r in alive) + self.ttl_us))
        else:
            kept.clear()
        return []


def _resolve_group(element, config: DedupConfig, win=beam.DoFn.WindowParam):
    """One in-window group (kept page + its duplicates) against the earlier pages it met."""
    _, joined = element
    pages, earlier = list(joined["page"]), list(joined["earlier"])
    if not earlier:
        yield from pages
        return
    day = _utc(win.start).date().isoformat()
    fps = {p.doc_id + "\x1f" + p.source: fingerprint_page(p, config, day) for p in pages}
    unique_earlier = {fp.node: fp for fp in earlier}.values()
    marks = {
        m.node: m
        for m in resolve_component([*fps.values(), *unique_earlier], config.threshold, config)
    }
    for page in pages:
        yield apply_mark(page, marks.get(fps[page.doc_id + "\x1f" + page.source].node))


class MarkEarlierDuplicates(beam.PTransform):
    """``PCollection[Page] -> PCollection[Page]`` (windowed, after ``MarkDuplicates`` and
    ``NameWindowRunFn``): marks pages that duplicate a kept page of an earlier window.

    Only ``kind == "page"`` records are marked; others pass through. Windows are rejoined after
    the global-window state, so the output keeps the input's windows.
    """

    def __init__(self, dedup: DedupConfig, config: StreamConfig) -> None:
        super().__init__()
        self.dedup, self.config = dedup, config

    def expand(self, pages):
        dedup, config = self.dedup, self.config
        windowing = pages.windowing
        earlier = (
            pages
            | "Probes" >> beam.FlatMap(_probes, dedup)
            | "Global" >> beam.WindowInto(window.GlobalWindows())
            | "Remember" >> beam.ParDo(RememberKeptFn(dedup, config.dup_ttl_s, config.max_per_key))
            | "BackToWindows" >> beam.WindowInto(windowing.windowfn)
        )
        groups = pages | "ByHead" >> beam.Map(
            lambda p: (p.doc_id if p.kind != KIND_PAGE or p.dup_status == UNIQUE else p.dup_of, p)
        )
        return (
            {"page": groups, "earlier": earlier}
            | "Join" >> beam.CoGroupByKey()
            | "Resolve" >> beam.FlatMap(_resolve_group, dedup)
        )


# --- writing one run per window ---------------------------------------------------------------


def _table_rows(page: Page):
    table, to_row = _ROWS[page.kind]
    partition = partition_path(page.crawl_date, page.language) if table == "pages" else ""
    yield (page.run_id, table, partition), to_row(page)


class WriteWindowFilesFn(beam.DoFn):
    """((run, table, partition), rows) -> ``(run, StagedFile)``, one file per group.

    Every file gets a fresh attempt token (``part-<run>-<attempt>-<n>.parquet``): a retried
    bundle never overwrites a file another try wrote, and the run's manifest lists the ones
    committed (the others are orphans that ``pagestream vacuum`` removes)."""

    def __init__(self, output: str, row_group_rows: int = 20_000) -> None:
        self.output, self.row_group_rows = output.rstrip("/"), row_group_rows

    def process(self, element):
        (run, table, partition), rows = element
        target = free_run_id(self.output, run)
        if target != run:  # a late pane: its own run, same window
            rows = [_renamed(row, run, target) for row in rows]
            run = target
        rows = sorted(
            rows, key=lambda r: (r.get("doc_id") or "", r["source"] or "", r["url"] or "")
        )
        directory = f"{table}/{partition}" if partition else table
        name = file_name(run, new_attempt(), _file_number(table, partition))
        staged = f"{staging_dir(self.output, run)}/{directory}/{name}"
        size = write_parquet(staged, rows, TABLES[table], self.row_group_rows)
        yield run, StagedFile(table, staged, f"{self.output}/{directory}/{name}", len(rows), size)


def _renamed(row: dict, run: str, target: str) -> dict:
    row = {**row, "run_id": target}
    if row.get("dup_run") == run:
        row["dup_run"] = target
    return row


def _file_number(table: str, partition: str) -> int:
    """A stable number per (table, partition): file names never clash within a run."""
    return zlib.crc32(f"{table}/{partition}".encode()) % 100_000_000


class CommitWindowFn(beam.DoFn):
    """(run, staged files) -> the run committed by ``write.commit`` (the batch protocol)."""

    def __init__(self, output: str, base: str, options: dict) -> None:
        self.output, self.base, self.options = output, base, options

    def process(self, element, win=beam.DoFn.WindowParam):
        run, files = element
        files = sorted(files)
        rows = dict.fromkeys(TABLES, 0)
        for file in files:
            rows[file.table] += file.rows
        manifest = {
            "run_id": run,
            "logical_date": _utc(win.start).date().isoformat(),
            "schema_version": SCHEMA_VERSION,
            "pipeline_version": __version__,
            "status": "committed",
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "window": {"start": _utc(win.start).isoformat(), "end": _utc(win.end).isoformat()},
            "streaming": {"base_run_id": self.base},
            "options": self.options,
            "counts": {"records_read": sum(rows.values()), **rows},
        }
        yield commit(self.output, run, files, manifest)


class ProcessStream(beam.PTransform):
    """``PCollection[RawPage]`` (timestamped by arrival) -> ``PCollection[dict]`` manifests.

    Every window of ``config.window_s`` seconds becomes one committed run ``<base>-<start>``
    in ``output`` (the batch layout: ``pages/crawl_date=/language=/part-<run>-<n>.parquet``,
    ``rejected/``, ``dead_letter/``, ``_runs/<run>.json`` written last), so ``pagestream
    query`` reads committed windows only. Duplicates are marked within a window (the batch
    keep rule) and against kept pages of earlier windows (``MarkEarlierDuplicates``); rows of
    committed windows are never rewritten.
    """

    def __init__(
        self,
        output: str,
        base_run_id: str,
        config: StreamConfig | None = None,
        text: TextConfig | None = None,
        language: LanguageConfig | None = None,
        dedup: DedupConfig | None = None,
        topics: TopicConfig | None = None,
        manifest_options: dict | None = None,
        quality: QualityConfig | None = None,
    ) -> None:
        super().__init__()
        self.quality = quality or QualityConfig()
        self.output, self.base = output, base_run_id
        self.config = config or StreamConfig()
        self.text, self.language = text or TextConfig(), language or LanguageConfig()
        self.dedup, self.topics = dedup or DedupConfig(), topics or TopicConfig()
        self.manifest_options = manifest_options or {}

    def expand(self, raw):
        config, base = self.config, self.base
        pages = (
            raw
            | "Window"
            >> beam.WindowInto(
                window.FixedWindows(config.window_s),
                trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
                allowed_lateness=Duration(seconds=config.allowed_lateness_s),
                accumulation_mode=trigger.AccumulationMode.DISCARDING,
            )
            | "ExtractText" >> ExtractText(self.text, base, "")
            | "DetectLanguage" >> DetectLanguage(self.language)
            | "ScoreQuality" >> ScoreQuality(self.quality)
            | "MarkDuplicates" >> MarkDuplicates(self.dedup, base, "")
            | "NameWindowRun" >> beam.ParDo(NameWindowRunFn(base))
            | "MarkEarlier" >> MarkEarlierDuplicates(self.dedup, config)
            | "TagTopics" >> TagTopics(self.topics)
        )
        return (
            pages
            | "TableRows" >> beam.FlatMap(_table_rows)
            | "GroupFiles" >> beam.GroupByKey()
            | "WriteFiles" >> beam.ParDo(WriteWindowFilesFn(self.output))
            | "GroupRun" >> beam.GroupByKey()
            | "Commit" >> beam.ParDo(CommitWindowFn(self.output, base, self.manifest_options))
        )
