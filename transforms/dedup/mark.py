"""MarkDuplicates: exact, URL, near and cross-run duplicate marking (``PCollection[Page]``).

How a page is marked (only ``kind == "page"``; other kinds pass through unchanged):

1. **Candidates.** Pages meet in three groupings: equal ``content_hash``, equal normalised URL,
   and equal LSH band key. In every group each member gets ONE edge to the group's first page
   in keep order (no all-pairs: a story syndicated on n sites makes O(n) edges per band, see
   ``group_edges``). Band-key edges are kept only if the two signatures (which travel with
   the group members) make a near duplicate (``near_match``: estimated Jaccard
   ``>= threshold``, or the smaller page estimated ``>= containment`` inside the other).
2. **Components.** Edges (few: only duplicates make them) are collected on one worker and
   joined by union-find into connected components; signatures never are.
3. **Keep rule, per component** (``resolve_component``): members are visited in keep order
   (earlier committed run first, then earliest ``fetch_time`` with None last, smallest
   ``doc_id``, smallest ``source``). A page becomes a duplicate of the first *kept* page it
   matches, else it is kept itself. Precedence: ``exact`` (same content hash) over ``near``
   (``near_match`` to that kept page) over ``url`` (same normalised URL, different text).

Transitivity: with A~B and B~C but not A~C, A is kept, B is ``near`` A, and C is kept (unique),
because C is not similar to any kept page. So every ``dup_of`` names a kept (``unique``) page
and every ``near`` page is verified against it: no chains and no unverified links.

Cross-run: the kept pages of every other committed run (``--state``, see ``state.py``;
older slots run late included) join the same groupings as members that sort first and are
never re-marked.

The pure parts (edges, union-find, the keep rule) are in ``keep.py``.
"""

from __future__ import annotations

import time

import apache_beam as beam
from apache_beam.metrics import Metrics

from pagestream.schemas.records import KIND_PAGE, Page
from pagestream.transforms.dedup.fingerprint import DedupConfig, Fingerprint, fingerprint_page
from pagestream.transforms.dedup.keep import (
    EXACT,
    NEAR,
    UNIQUE,
    URL,
    apply_mark,
    bucket_edges,
    connected_components,
    group_edges,
    resolve_component,
)
from pagestream.transforms.dedup.segments import read_index_segment
from pagestream.transforms.dedup.state import other_segments
from pagestream.transforms.errors import dead_page

__all__ = ["MarkDuplicates"]

STAGE = "dedup"


def _fingerprint(page: Page, config: DedupConfig, logical_date: str):
    """``(page with content_hash and dedup_ms, Fingerprint | None)``; None for other kinds."""
    if page.kind != KIND_PAGE:
        return page, None
    start = time.perf_counter()
    try:
        fp = fingerprint_page(page, config, logical_date)
    except Exception as exc:  # noqa: BLE001 - one bad page must not stop the run
        return dead_page(page, STAGE, "fingerprint", exc), None
    elapsed = (time.perf_counter() - start) * 1000.0
    return page._replace(content_hash=fp.content_hash, dedup_ms=page.dedup_ms + elapsed), fp


class _MarkJoinedFn(beam.DoFn):
    """Applies the (at most one) mark of a node to its page and counts the statuses."""

    def setup(self) -> None:
        self._counters = {s: Metrics.counter(STAGE, s) for s in (UNIQUE, EXACT, NEAR, URL)}

    def process(self, element):
        _, joined = element
        marks = list(joined["mark"])
        for page in joined["page"]:
            mark = marks[0] if marks else None
            self._counters[mark.dup_status if mark else UNIQUE].inc()
            yield apply_mark(page, mark)


class MarkDuplicates(beam.PTransform):
    """``PCollection[Page] -> PCollection[Page]``: sets content_hash, dup_* and dedup_ms.

    Only ``kind == "page"`` records are marked; others pass through unchanged. A page that
    cannot be fingerprinted becomes a dead letter (stage ``dedup``). Output rows are the same
    on every runner and worker count.

    Args:
        config: thresholds and fingerprint parameters.
        run_id: this run's id (``dup_run`` of duplicates within the run).
        logical_date: this run's ``--logical_date`` (orders runs in ``--state``).
        state_dir: the ``--state`` directory; the kept pages of every other committed run
            are read from it at graph construction time.
        earlier: ``(segment file, logical_date)`` of the kept pages to dedup against, instead
            of those ``state_dir`` lists: a wave of a run (``pipelines.waves``) adds the
            segments of the run's earlier waves to the committed runs'.
        filter_earlier: read only the earlier kept pages that share a key with a page of this
            run (a side input holding this run's keys; see ``_earlier``). Off for runners that
            recompute a side input's upstream in every task reading it (Beam 2.77's
            DaskRunner): same rows, the whole index then goes through the groupings.
    """

    def __init__(
        self,
        config: DedupConfig,
        run_id: str,
        logical_date: str,
        state_dir: str | None = None,
        earlier: list[tuple[str, str]] | None = None,
        filter_earlier: bool = True,
    ) -> None:
        super().__init__()
        self._config, self._run_id, self._date, self._state = (
            config,
            run_id,
            logical_date,
            state_dir,
        )
        self._earlier_files = earlier
        self._filter_earlier = filter_earlier

    def expand(self, pages):
        config = self._config
        both = pages | "Fingerprint" >> beam.Map(_fingerprint, config, self._date)
        passthrough = both | "NotMarked" >> beam.Filter(lambda pf: pf[1] is None)
        passthrough = passthrough | "Unwrap" >> beam.Map(lambda pf: pf[0])
        keyed = both | "Marked" >> beam.Filter(lambda pf: pf[1] is not None)
        members = keyed | "Members" >> beam.Map(lambda pf: pf[1])
        files = self._earlier_segments()
        if files:  # none on a first run: no branch, no key set
            earlier = self._earlier(pages.pipeline, members, files)
            members = (members, earlier) | "WithEarlier" >> beam.Flatten()

        by_key = {
            "Hash": (lambda m: [(m.content_hash, m)], group_edges),
            "Url": (lambda m: [(m.norm_url, m)] if m.norm_url else [], group_edges),
            "Band": (keyed_by_band, lambda ms: bucket_edges(ms, config.threshold, config)),
        }
        edge_sets = [
            members
            | f"{name}Key" >> beam.FlatMap(key_fn)
            | f"{name}Group" >> beam.GroupByKey()
            | f"{name}Edges" >> beam.FlatMap(lambda kv, fn=edges_fn: fn(kv[1]))
            for name, (key_fn, edges_fn) in by_key.items()
        ]
        components = (
            edge_sets
            | "AllEdges" >> beam.Flatten()
            | "DistinctEdges" >> beam.Distinct()
            | "OneKey" >> beam.Map(lambda edge: (None, edge))
            | "CollectEdges" >> beam.GroupByKey()
            | "UnionFind" >> beam.FlatMap(lambda kv: sorted(connected_components(kv[1]).items()))
        )
        marks = (
            {"fp": members | "ByNode" >> beam.Map(lambda m: (m.node, m)), "comp": components}
            | "JoinComponent" >> beam.CoGroupByKey()
            | "ByComponent" >> beam.FlatMap(_by_component)
            | "GroupComponent" >> beam.GroupByKey()
            | "Resolve"
            >> beam.FlatMap(lambda kv: resolve_component(kv[1], config.threshold, config))
            | "MarkByNode" >> beam.Map(lambda mark: (mark.node, mark))
        )
        marked = (
            {
                "page": keyed | "PageByNode" >> beam.Map(lambda pf: (pf[1].node, pf[0])),
                "mark": marks,
            }
            | "JoinMarks" >> beam.CoGroupByKey()
            | "ApplyMarks" >> beam.ParDo(_MarkJoinedFn())
        )
        return (marked, passthrough) | "Merge" >> beam.Flatten()

    def _earlier_segments(self) -> list[tuple[str, str]]:
        """``(segment file, logical_date)`` of the kept pages to dedup against."""
        if self._earlier_files is not None:
            return list(self._earlier_files)
        return other_segments(self._state, self._run_id) if self._state else []

    def _earlier(self, pipeline, members, files):
        """The kept pages of the earlier runs (and waves) that share a key (content hash,
        URL or band) with a page of this run: only those can make an edge (``group_edges``
        needs a current page in the group), so the groupings carry what matches, not the
        whole index (which grows with every run committed to ``--state``)."""
        config = self._config
        if not self._filter_earlier:
            return (
                pipeline
                | "EarlierSegments" >> beam.Create(files)
                | "ReadEarlier" >> beam.FlatMap(lambda f: read_index_segment(f[0], f[1], config))
            )
        wanted = (
            members
            | "RunKeys" >> beam.FlatMap(member_keys)
            | "KeysOneKey" >> beam.Map(lambda key: (None, key))
            | "KeySet" >> beam.CombinePerKey(_KeySetFn())
            | "KeySetValue" >> beam.Values()
        )
        return (
            pipeline
            | "EarlierSegments" >> beam.Create(files)
            | "ReadEarlier" >> beam.FlatMap(_matching_earlier, config, beam.pvalue.AsList(wanted))
        )


def member_keys(member: Fingerprint) -> list[str]:
    """The keys a page meets others by: ``h:`` content hash, ``u:`` URL, ``b:`` band keys."""
    keys = [f"h:{member.content_hash}"]
    if member.norm_url:
        keys.append(f"u:{member.norm_url}")
    keys.extend(f"b:{key}" for key in member.band_keys)
    return keys


class _KeySetFn(beam.CombineFn):
    """The set of the keys of a run's pages (a side input of ``ReadEarlier``)."""

    def create_accumulator(self):
        return set()

    def add_input(self, acc, key):
        acc.add(key)
        return acc

    def merge_accumulators(self, accumulators):
        merged = set()
        for acc in accumulators:
            merged |= acc
        return merged

    def extract_output(self, acc):
        return frozenset(acc)


def _matching_earlier(f, config: DedupConfig, wanted: list[frozenset]):
    keys = wanted[0] if wanted else frozenset()
    for fp in read_index_segment(f[0], f[1], config):
        if any(key in keys for key in member_keys(fp)):
            yield fp


def keyed_by_band(member: Fingerprint) -> list[tuple[str, Fingerprint]]:
    """The member once per LSH band key, without its band keys: a bucket needs its node,
    keep order and signature only, and the 20 keys were most of the ~30 KiB a page sent."""
    slim = member._replace(band_keys=())
    return [(key, slim) for key in member.band_keys]


def _by_component(element):
    _, joined = element
    comps = list(joined["comp"])
    if comps:
        for fp in joined["fp"]:
            yield comps[0], fp
