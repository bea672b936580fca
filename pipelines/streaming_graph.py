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

Modules: this one holds the sources (``WatchFiles``, ``ReadPubSubPages``), ``StreamConfig``
and ``ProcessStream``; ``streaming_dedup.py`` holds ``MarkEarlierDuplicates``;
``streaming_runs.py`` names, writes and commits each window's run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.transforms import trigger, window
from apache_beam.utils.timestamp import Duration

from pagestream.pipelines.streaming_dedup import MarkEarlierDuplicates
from pagestream.pipelines.streaming_runs import (
    CommitWindowFn,
    NameWindowRunFn,
    WriteWindowFilesFn,
    table_rows,
)
from pagestream.schemas.records import RawPage
from pagestream.schemas.validation import TRIGGER_INTERVAL, Number, check_fields, setting
from pagestream.transforms.dedup.fingerprint import DedupConfig
from pagestream.transforms.dedup.mark import MarkDuplicates
from pagestream.transforms.errors import dead_raw
from pagestream.transforms.extract.composite import ExtractText, TextConfig
from pagestream.transforms.language.detect import DetectLanguage, LanguageConfig
from pagestream.transforms.quality.rules import QualityConfig
from pagestream.transforms.quality.score import ScoreQuality
from pagestream.transforms.read.inputs import InputFile, input_format
from pagestream.transforms.read.pages import read_records
from pagestream.transforms.topics.tag import TagTopics, TopicConfig

__all__ = [
    "ProcessStream",
    "ReadPubSubPages",
    "StreamConfig",
    "WatchFiles",
    "message_records",
]

STAGE = "dedup"


@dataclass(frozen=True)
class StreamConfig:
    """Windowing and cross-window state of the streaming graph.

    Attributes:
        window_s: length of the processing-time windows, one committed run each, in
            [1, 86400] seconds; ``--trigger_interval`` (its default too).
        allowed_lateness_s: how late (behind the watermark) a record may arrive and still be
            committed, as a late run of its window, in [0, 7 days]; later records are dropped.
        dup_ttl_s: how long a kept page stays matchable by later windows, in [window_s,
            365 days]; bounds the state per key.
        max_per_key: kept pages remembered per duplicate key, in [1, 64].
    """

    window_s: float = setting(
        Number(float, 1.0, TRIGGER_INTERVAL.high, default=TRIGGER_INTERVAL.default)
    )
    allowed_lateness_s: float = setting(Number(float, 0.0, 7 * 86400.0, default=0.0))
    dup_ttl_s: float = 7 * 86400.0
    max_per_key: int = setting(Number(int, 1, 64, default=4))

    def __post_init__(self) -> None:
        check_fields(self)
        Number(float, self.window_s, 365 * 86400.0).check("StreamConfig.dup_ttl_s", self.dup_ttl_s)


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
            | "TableRows" >> beam.FlatMap(table_rows)
            | "GroupFiles" >> beam.GroupByKey()
            | "WriteFiles" >> beam.ParDo(WriteWindowFilesFn(self.output))
            | "GroupRun" >> beam.GroupByKey()
            | "Commit" >> beam.ParDo(CommitWindowFn(self.output, base, self.manifest_options))
        )
