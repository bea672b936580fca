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

Cross-run: the kept pages of every other committed run (``--state``, see ``dedup_state``;
older slots run late included) join the same groupings as members that sort first and are
never re-marked.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import NamedTuple

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from pagestream.schemas.records import KIND_PAGE, Page
from pagestream.transforms.dedup.fingerprint import (
    DedupConfig,
    Fingerprint,
    fingerprint_page,
    signature_of,
)
from pagestream.transforms.dedup.minhash import estimated_jaccard, estimated_size, near_match
from pagestream.transforms.dedup.state import other_runs, read_index_segment
from pagestream.transforms.errors import dead_page

__all__ = [
    "DupMark",
    "MarkDuplicates",
    "apply_mark",
    "bucket_edges",
    "connected_components",
    "group_edges",
    "keep_order",
    "resolve_component",
]

STAGE = "dedup"
UNIQUE, EXACT, NEAR, URL = "unique", "exact", "near", "url"


class DupMark(NamedTuple):
    """The duplicate columns of one page of this run (absent: the page is unique)."""

    node: str
    dup_status: str
    dup_of: str
    dup_similarity: float
    dup_run: str


def keep_order(fp: Fingerprint) -> tuple:
    """Sort key of the INTERFACE keep rule: the smallest key is the kept page. Pages of
    committed runs (``current=False``) come first whatever their date: they are never re-marked."""
    return (
        fp.current,
        fp.logical_date,
        fp.run_id,
        fp.fetch_time is None,
        fp.fetch_time or 0,
        fp.doc_id,
        fp.source,
    )


def _edge(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def group_edges(members: Iterable[Fingerprint]) -> list[tuple[str, str]]:
    """One edge from every member to the first in keep order; none without a current page."""
    ordered = sorted(members, key=keep_order)
    if len(ordered) < 2 or not any(m.current for m in ordered):
        return []
    head = ordered[0].node
    return sorted({_edge(head, m.node) for m in ordered[1:] if m.node != head})


def _rule(threshold: float, config: DedupConfig | None) -> DedupConfig:
    """The near-duplicate rule: ``config``, else estimated Jaccard ``>= threshold`` alone."""
    return config if config is not None else DedupConfig(threshold=threshold, containment=0.0)


def bucket_edges(
    members: Iterable[Fingerprint], threshold: float, config: DedupConfig | None = None
) -> list[tuple[str, str]]:
    """``group_edges`` of an LSH bucket, keeping the edges of near duplicates (``near_match``
    under ``config``; without one, estimated Jaccard ``>= threshold``)."""
    rule = _rule(threshold, config)
    ordered = sorted(members, key=keep_order)
    if len(ordered) < 2 or not any(m.current for m in ordered):
        return []
    head, head_sig = ordered[0].node, signature_of(ordered[0])
    return sorted(
        {
            _edge(head, m.node)
            for m in ordered[1:]
            if m.node != head and near_match(head_sig, signature_of(m), rule)[0]
        }
    )


def connected_components(edges: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Maps every node of ``edges`` to the smallest node id of its connected component."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {node: find(node) for node in parent}


class _KeptPages:
    """The kept pages of a component so far, signatures stacked for one vectorised compare."""

    def __init__(self, capacity: int) -> None:
        self.by_hash: dict[str, Fingerprint] = {}
        self.by_url: dict[str, Fingerprint] = {}
        self.signed: list[Fingerprint] = []  # kept pages with a signature, rows of _sigs
        self._sigs: np.ndarray | None = None
        self._sizes = np.zeros(capacity)  # estimated shingle-set sizes, same rows
        self._capacity = capacity

    def add(self, fp: Fingerprint) -> None:
        self.by_hash.setdefault(fp.content_hash, fp)
        if fp.norm_url:
            self.by_url.setdefault(fp.norm_url, fp)
        sig = signature_of(fp)
        if len(sig) and (self._sigs is None or len(sig) == self._sigs.shape[1]):
            if self._sigs is None:
                self._sigs = np.empty((self._capacity, len(sig)), dtype=sig.dtype)
            self._sizes[len(self.signed)] = estimated_size(sig)
            self._sigs[len(self.signed)] = sig
            self.signed.append(fp)

    def first_similar(self, sig: np.ndarray, rule: DedupConfig) -> tuple[Fingerprint, float] | None:
        """The first kept page (keep order) that ``sig`` is a near duplicate of (``near_match``
        under ``rule``, vectorised over the kept pages), and their estimated Jaccard."""
        if self._sigs is None or len(sig) != self._sigs.shape[1]:
            return None
        n = len(self.signed)
        sims = (self._sigs[:n] == sig).mean(axis=1)
        near = sims >= rule.threshold
        if rule.containment:
            size, sizes = estimated_size(sig), self._sizes[:n]
            smaller = np.minimum(sizes, size)
            with np.errstate(divide="ignore", invalid="ignore"):
                contained = sims * (sizes + size) / (1.0 + sims) / smaller
            near |= (
                (sims >= rule.containment_min_jaccard)
                & (smaller >= rule.min_contained)
                & (contained >= rule.containment)
            )
        hits = np.flatnonzero(near)
        return (self.signed[hits[0]], float(sims[hits[0]])) if len(hits) else None

    def match(self, fp: Fingerprint, rule: DedupConfig) -> DupMark | None:
        """The mark of ``fp`` against the kept pages: exact, then near, then url; else None."""
        head = self.by_hash.get(fp.content_hash)
        if head is not None:
            return DupMark(fp.node, EXACT, head.doc_id, 1.0, head.run_id)
        sig = signature_of(fp)
        similar = self.first_similar(sig, rule)
        if similar is not None:
            return DupMark(fp.node, NEAR, similar[0].doc_id, similar[1], similar[0].run_id)
        head = self.by_url.get(fp.norm_url) if fp.norm_url else None
        if head is not None:
            similarity = estimated_jaccard(signature_of(head), sig)
            return DupMark(fp.node, URL, head.doc_id, similarity, head.run_id)
        return None


def resolve_component(
    members: Iterable[Fingerprint], threshold: float, config: DedupConfig | None = None
) -> list[DupMark]:
    """Marks of the current-run duplicates of one component (module docstring, step 3).

    Members are visited in keep order; each current page is marked against the pages kept so
    far, or kept itself. Earlier-run members are kept pages already and never re-marked.
    Cost: one vectorised compare with the kept pages per member. Output is sorted by node.
    """
    rule = _rule(threshold, config)
    ordered = sorted(members, key=keep_order)
    kept = _KeptPages(len(ordered))
    marks = []
    for fp in ordered:
        mark = kept.match(fp, rule) if fp.current else None
        if mark is None:
            kept.add(fp)
        else:
            marks.append(mark)
    return sorted(marks)


def apply_mark(page: Page, mark: DupMark | None) -> Page:
    """The page with its dup_* columns set from ``mark`` (``unique`` when None)."""
    if mark is None:
        return page._replace(dup_status=UNIQUE, dup_of=None, dup_similarity=None, dup_run=None)
    return page._replace(
        dup_status=mark.dup_status,
        dup_of=mark.dup_of,
        dup_similarity=mark.dup_similarity,
        dup_run=mark.dup_run,
    )


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
    """

    def __init__(
        self, config: DedupConfig, run_id: str, logical_date: str, state_dir: str | None = None
    ) -> None:
        super().__init__()
        self._config, self._run_id, self._date, self._state = (
            config,
            run_id,
            logical_date,
            state_dir,
        )

    def expand(self, pages):
        config = self._config
        both = pages | "Fingerprint" >> beam.Map(_fingerprint, config, self._date)
        passthrough = both | "NotMarked" >> beam.Filter(lambda pf: pf[1] is None)
        passthrough = passthrough | "Unwrap" >> beam.Map(lambda pf: pf[0])
        keyed = both | "Marked" >> beam.Filter(lambda pf: pf[1] is not None)
        members = keyed | "Members" >> beam.Map(lambda pf: pf[1])
        if self._state:
            members = (members, self._earlier(pages.pipeline)) | "WithEarlier" >> beam.Flatten()

        by_key = {
            "Hash": (lambda m: [(m.content_hash, m)], group_edges),
            "Url": (lambda m: [(m.norm_url, m)] if m.norm_url else [], group_edges),
            "Band": (_by_band, lambda ms: bucket_edges(ms, config.threshold, config)),
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

    def _earlier(self, pipeline):
        config = self._config
        runs = other_runs(self._state, self._run_id)
        files = [(path, run.logical_date) for run in runs for path in run.files]
        return (
            pipeline
            | "EarlierSegments" >> beam.Create(files)
            | "ReadEarlier" >> beam.FlatMap(lambda f: read_index_segment(f[0], f[1], config))
        )


def _by_band(member: Fingerprint) -> list[tuple[str, Fingerprint]]:
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
