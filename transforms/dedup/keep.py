"""The keep rule of duplicate marking: candidate edges, components and marks (pure functions).

``group_edges``/``bucket_edges`` turn a grouping (equal content hash, URL key or LSH band key)
into edges, ``connected_components`` joins them, ``resolve_component`` marks the duplicates of
one component in keep order (``keep_order``) and ``apply_mark`` sets a page's ``dup_*``
columns. ``mark.py`` describes the whole procedure and wires it into ``MarkDuplicates``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from pagestream.schemas.records import Page
from pagestream.transforms.dedup.fingerprint import DedupConfig, Fingerprint, signature_of
from pagestream.transforms.dedup.minhash import estimated_jaccard, estimated_size, near_match

__all__ = [
    "DupMark",
    "apply_mark",
    "bucket_edges",
    "connected_components",
    "group_edges",
    "keep_order",
    "resolve_component",
]

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
