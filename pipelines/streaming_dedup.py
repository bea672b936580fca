"""Cross-window duplicates of the streaming graph: ``MarkEarlierDuplicates``.

Every page is probed, by each of its duplicate keys (content hash, normalised URL, LSH band
keys), against ``RememberKeptFn``, a stateful DoFn in the global window that remembers the kept
pages of earlier windows per key; groups that met an earlier page are resolved again with the
batch keep rule (see ``streaming_graph.py`` for the whole graph).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.transforms import userstate, window
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.utils.timestamp import Timestamp

from pagestream.pipelines.streaming_runs import utc_datetime
from pagestream.schemas.records import KIND_PAGE, Page
from pagestream.transforms.dedup.fingerprint import (
    DedupConfig,
    Fingerprint,
    fingerprint_page,
    signature_of,
)
from pagestream.transforms.dedup.keep import UNIQUE, apply_mark, resolve_component
from pagestream.transforms.dedup.minhash import near_match

if TYPE_CHECKING:
    from pagestream.pipelines.streaming_graph import StreamConfig

__all__ = ["MarkEarlierDuplicates", "RememberKeptFn"]


class Probe(NamedTuple):
    """A page's fingerprint on its way to one duplicate key's state."""

    head: str  # doc_id of the page's in-window kept page (its own when unique)
    kept: bool  # unique within its window: may be remembered for later windows
    window_end: int  # microseconds
    fp: Fingerprint


def _probes(page: Page, config: DedupConfig, win=beam.DoFn.WindowParam):
    if page.kind != KIND_PAGE:
        return
    day = utc_datetime(win.start).date().isoformat()
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
    day = utc_datetime(win.start).date().isoformat()
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
