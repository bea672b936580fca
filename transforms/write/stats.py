"""Run statistics computed as data in the graph (the DaskRunner has no metrics).

``RunStats`` folds every record of a run, whatever its kind, into one ``dict`` that becomes
the manifest's counts: records read, per table, per (stage, reason), per input file, and the
distributions the report draws (languages, topics, duplicates, dates, domains, word counts,
time per stage). ``records_read == pages + rejected + dead_letter`` holds by construction:
every record is counted once, under its kind.
"""

from __future__ import annotations

import bisect
from collections import Counter
from typing import NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics

from pagestream.schemas.records import KIND_DEAD, KIND_PAGE, KIND_REJECTED, Page, file_of

__all__ = [
    "WORD_COUNT_EDGES",
    "AccumulateStatsFn",
    "RunStats",
    "Summary",
    "StatsCombineFn",
    "empty_accumulator",
    "empty_stats",
    "finalise",
    "merge_stats",
    "summarise",
]

TABLE_OF_KIND = {KIND_PAGE: "pages", KIND_REJECTED: "rejected", KIND_DEAD: "dead_letter"}

#: Bucket edges of the word-count histogram in the manifest.
WORD_COUNT_EDGES = [0, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000]

STAGE_TIMINGS = ("extract", "language", "dedup", "topics")


class Summary(NamedTuple):
    """What the statistics need of one record (the text stays behind)."""

    table: str
    file: str
    stage: str | None
    reason: str | None
    language: str
    topics: tuple[str, ...]
    dup_status: str
    crawl_date: str
    domain: str
    word_count: int
    timings: tuple[float, float, float, float]
    quality_flags: tuple[str, ...] = ()


def summarise(page: Page) -> Summary:
    return Summary(
        table=TABLE_OF_KIND.get(page.kind, "dead_letter"),
        file=file_of(page.source),
        stage=page.stage,
        reason=page.reason,
        language=page.language,
        topics=tuple(page.topics),
        dup_status=page.dup_status,
        crawl_date=page.crawl_date,
        domain=page.domain,
        word_count=page.word_count,
        timings=(page.extract_ms, page.language_ms, page.dedup_ms, page.topics_ms),
        quality_flags=tuple(page.quality_flags),
    )


def _empty() -> dict:
    return {
        "tables": Counter(),
        "reasons": Counter(),
        "per_file": {},
        "languages": Counter(),
        "topics": Counter(),
        "dup_status": Counter(),
        "crawl_dates": Counter(),
        "domains": Counter(),
        "word_counts": [0] * len(WORD_COUNT_EDGES),
        "timings_ms": dict.fromkeys(STAGE_TIMINGS, 0.0),
        "quality_flags": Counter(),
    }


def _add(acc: dict, s: Summary) -> dict:
    acc["tables"][s.table] += 1
    per_file = acc["per_file"].setdefault(s.file, Counter())
    per_file["read"] += 1
    per_file[s.table] += 1
    for name, ms in zip(STAGE_TIMINGS, s.timings, strict=False):
        acc["timings_ms"][name] += ms
    for flag in s.quality_flags:  # pages, and pages --drop_low_quality rejected
        acc["quality_flags"][(s.domain, flag)] += 1
    if s.table != "pages":
        acc["reasons"][(s.table, s.stage or "", s.reason or "")] += 1
        return acc
    acc["languages"][s.language] += 1
    acc["topics"].update(s.topics)
    acc["dup_status"][s.dup_status] += 1
    acc["crawl_dates"][s.crawl_date] += 1
    if s.domain:
        acc["domains"][s.domain] += 1
    acc["word_counts"][bisect.bisect_right(WORD_COUNT_EDGES, s.word_count) - 1] += 1
    return acc


def _merge(a: dict, b: dict) -> dict:
    for key in ("tables", "reasons", "languages", "topics", "dup_status", "crawl_dates", "domains",
                "quality_flags"):  # fmt: skip
        a[key].update(b[key])
    for file, counts in b["per_file"].items():
        a["per_file"].setdefault(file, Counter()).update(counts)
    a["word_counts"] = [x + y for x, y in zip(a["word_counts"], b["word_counts"], strict=False)]
    for name in STAGE_TIMINGS:
        a["timings_ms"][name] += b["timings_ms"][name]
    return a


def _ranked(counts: Counter, top: int | None = None) -> dict:
    """Most common first, ties by name: ``Counter.most_common`` breaks ties by insertion
    order, which depends on how the runner merged the accumulators."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top])


def _flags_by_domain(counts: Counter, top_domains: int) -> dict:
    """``{domain: {flag: pages}}`` for the ``top_domains`` domains with the most flags."""
    per_domain: dict[str, Counter] = {}
    for (domain, flag), n in counts.items():
        per_domain.setdefault(domain, Counter())[flag] += n
    top = _ranked(Counter({d: sum(c.values()) for d, c in per_domain.items()}), top_domains)
    return {d: dict(sorted(per_domain[d].items())) for d in top}


def finalise(acc: dict, top_domains: int = 50) -> dict:
    """The accumulator as the JSON-ready statistics block of the manifest."""
    tables = acc["tables"]
    flags = Counter()
    for (_, flag), n in acc["quality_flags"].items():
        flags[flag] += n
    return {
        "counts": {
            "records_read": sum(tables.values()),
            "pages": tables["pages"],
            "rejected": tables["rejected"],
            "dead_letter": tables["dead_letter"],
        },
        "reasons": [
            {"table": t, "stage": s, "reason": r, "count": n}
            for (t, s, r), n in sorted(acc["reasons"].items())
        ],
        "per_file": {
            f: {k: c.get(k, 0) for k in ("read", "pages", "rejected", "dead_letter")}
            for f, c in sorted(acc["per_file"].items())
        },
        "languages": _ranked(acc["languages"]),
        "topics": _ranked(acc["topics"]),
        "dup_status": dict(sorted(acc["dup_status"].items())),
        "crawl_dates": dict(sorted(acc["crawl_dates"].items())),
        "domains": _ranked(acc["domains"], top_domains),
        "word_count_histogram": {"edges": WORD_COUNT_EDGES, "counts": acc["word_counts"]},
        "timings_ms": {k: round(v, 1) for k, v in acc["timings_ms"].items()},
        "quality_flags": dict(sorted(flags.items())),
        "quality_flags_by_domain": _flags_by_domain(acc["quality_flags"], top_domains),
    }


def empty_accumulator() -> dict:
    return _empty()


def empty_stats() -> dict:
    return finalise(_empty())


class StatsCombineFn(beam.CombineFn):
    def create_accumulator(self):
        return _empty()

    def add_input(self, acc, summary):
        return _add(acc, summary)

    def merge_accumulators(self, accumulators):
        accumulators = iter(accumulators)
        merged = next(accumulators)
        for acc in accumulators:
            merged = _merge(merged, acc)
        return merged

    def extract_output(self, acc):
        return finalise(acc)


class AccumulateStatsFn(StatsCombineFn):
    """``StatsCombineFn`` that outputs the accumulator itself (a wave's statistics, merged with
    the other waves' by ``merge_stats`` before ``finalise``)."""

    def extract_output(self, acc):
        return acc


def merge_stats(accumulators: list[dict]) -> dict:
    """One accumulator of several (``_empty()`` for none)."""
    return StatsCombineFn().merge_accumulators([_empty(), *accumulators])


class _MirrorMetricsFn(beam.DoFn):
    """Mirrors the counts as Beam metrics for runner UIs (the data is the source of truth)."""

    def process(self, summary: Summary):
        Metrics.counter("records", summary.table).inc()
        if summary.table != "pages":
            Metrics.counter(summary.stage or "unknown", f"{summary.table}:{summary.reason}").inc()
        yield summary


class RunStats(beam.PTransform):
    """``PCollection[Page]`` (all kinds) -> a PCollection with one statistics ``dict``.

    Keyed by a constant and combined with ``CombinePerKey`` (not ``CombineGlobally``, whose
    empty-input default branch the DaskRunner does not compute); an empty run yields nothing
    and the commit step uses ``empty_stats()``. With ``accumulate`` the dict is the
    accumulator (``finalise`` makes the statistics of it), for a wave of a run.
    """

    def __init__(self, accumulate: bool = False):
        super().__init__()
        self._combine = AccumulateStatsFn() if accumulate else StatsCombineFn()

    def expand(self, pages):
        return (
            pages
            | "Summarise" >> beam.Map(summarise)
            | "MirrorMetrics" >> beam.ParDo(_MirrorMetricsFn())
            | "Key" >> beam.Map(lambda s: ("stats", s))
            | "Combine" >> beam.CombinePerKey(self._combine)
            | "Values" >> beam.Values()
        )
