"""A page's fingerprint (``Fingerprint``, ``fingerprint_page``) and its ``DedupConfig``.

``MarkDuplicates`` (``mark.py``) wires fingerprints into the graph and ``state.py`` stores them
across runs. The pieces are pure functions: ``normalise.py`` (content hash, URL key, shingles)
and ``minhash.py`` (MinHash, LSH band keys, similarity estimates).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import apache_beam as beam
import numpy as np

from pagestream.schemas.validation import NEAR_DUP_THRESHOLD, Number, check_fields, fail, setting
from pagestream.transforms.dedup.minhash import (
    band_keys,
    hashes_of_lines,
    minhash,
    minhash_signature,
)
from pagestream.transforms.dedup.normalise import (
    content_hash,
    fold_text,
    normalise_url,
    normalised_lines,
    text_digest,
)

__all__ = [
    "DedupConfig",
    "Fingerprint",
    "fingerprint_page",
    "lsh_params",
    "node_id",
    "signature_of",
]


@functools.lru_cache(maxsize=64)
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """Returns ``(bands, rows)`` with ``bands * rows <= num_perm`` for an LSH ``threshold``.

    Minimises the probability mass of missed pairs (similarity >= threshold, weight 0.9) plus
    wasted candidates (below it, weight 0.1): the integrals datasketch's ``MinHashLSH`` uses
    (its helper is private, hence this copy), weighted towards recall because every candidate
    is verified afterwards. Measured with ``benchmarks/neardup_eval.py`` at 0.7: 20x6 misses
    none of the pairs that 18x7 (weights 0.25/0.75) missed (0.8 %), for 1.6x more candidates.
    """
    step = 1.0 / 2000
    s = np.arange(0.0, 1.0 + step / 2, step)
    below, above = s < threshold, s >= threshold
    best = (np.inf, 1, num_perm)
    for bands in range(1, num_perm + 1):
        rows = num_perm // bands
        p = 1.0 - (1.0 - s**rows) ** bands
        cost = (0.1 * p[below].sum() + 0.9 * (1.0 - p[above]).sum()) * step
        best = min(best, (float(cost), bands, rows))
    return best[1], best[2]


@dataclass(frozen=True)
class DedupConfig:
    """Thresholds of duplicate detection (built from CLI flags by ``pipelines/options.py``).

    Attributes:
        threshold: ``--near_dup_threshold``: estimated Jaccard of word-shingle sets at or above
            which two pages are near duplicates, in [0.05, 1]. 0.7 by measurement
            (``benchmarks/neardup_eval.py``): it keeps >= 96 % recall on added boilerplate, a
            dropped paragraph, 2 % word edits and 80 % truncation where 0.8 drops to 44-93 %,
            with no false positive on different articles sharing boilerplate or a quote.
        containment: a pair under ``threshold`` is still a near duplicate when the smaller page
            is estimated to lie at least this much inside the other (``near_match``): a copy
            cut short or missing a paragraph. In [0, 1]; 0 turns it off.
        containment_min_jaccard: ... and their estimated Jaccard is at least this, [0, 1].
        min_contained: ... and the smaller page has at least this many shingles (estimated):
            a few lines are contained in many pages.
        num_perm: MinHash permutations, in [16, 1024].
        bands, rows: LSH banding; ``None`` derives both from ``threshold`` (``lsh_params``).
            ``bands * rows`` must not exceed ``num_perm``.
        shingle_size: words per shingle, in [1, 16]. 3 by measurement: one replaced word
            changes 3 shingles instead of 5, so 3 % replaced words keep the true Jaccard at
            >= 0.75 (1st percentile; 0.63 with 5), while different articles stay <= 0.46.
        min_line_words: lines with fewer words are not shingled (navigation, "Share this",
            footers); if no line has that many, the whole text is shingled. In [0, 64].
        max_chars: only the first ``max_chars`` characters are shingled (content_hash covers all).
        seed: seed of the MinHash permutations.
        index_shards: files per run in the ``--state`` index, in [1, 4096].
    """

    threshold: float = setting(NEAR_DUP_THRESHOLD)
    containment: float = setting(Number(float, 0.0, 1.0, default=0.9))
    containment_min_jaccard: float = setting(Number(float, 0.0, 1.0, default=0.5))
    min_contained: int = setting(Number(int, 0, 10**9, default=50))
    num_perm: int = setting(Number(int, 16, 1024, default=128))
    bands: int | None = None
    rows: int | None = None
    shingle_size: int = setting(Number(int, 1, 16, default=3))
    min_line_words: int = setting(Number(int, 0, 64, default=5))
    max_chars: int = setting(Number(int, 100, 100_000_000, default=100_000))
    seed: int = setting(Number(int, 0, 2**32 - 1, default=1))
    index_shards: int = setting(Number(int, 1, 4096, default=8))

    def __post_init__(self) -> None:
        check_fields(self)
        if (self.bands is None) != (self.rows is None):
            fail(
                "DedupConfig.bands and rows",
                "both set or both None (derived from threshold)",
                (self.bands, self.rows),
            )
        if self.bands is None:
            bands, rows = lsh_params(self.threshold, self.num_perm)
            object.__setattr__(self, "bands", bands)
            object.__setattr__(self, "rows", rows)
        per_band = Number(int, 1, self.num_perm)
        per_band.check("DedupConfig.bands", self.bands)
        per_band.check("DedupConfig.rows", self.rows)
        if self.bands * self.rows > self.num_perm:
            fail(
                "DedupConfig.bands * rows",
                f"at most num_perm ({self.num_perm})",
                f"{self.bands}*{self.rows}",
            )


class Fingerprint(NamedTuple):
    """What duplicate detection knows of one page (of this run or of an earlier committed run).

    ``node`` identifies the record across runs (run id, doc_id and source: the same input read
    by two runs gives two nodes). ``signature`` is little-endian ``uint32[num_perm]``, empty when
    the page has no words or was fingerprinted with another configuration.
    """

    node: str
    doc_id: str
    source: str
    run_id: str
    logical_date: str
    fetch_time: int | None
    content_hash: str
    norm_url: str
    signature: bytes
    band_keys: Sequence[str]
    current: bool


def node_id(run_id: str, doc_id: str, source: str) -> str:
    """Unique id of a record in a run (``\\x1f``-joined: no such byte in ids or paths)."""
    return f"{run_id}\x1f{doc_id}\x1f{source}"


def fingerprint_page(page, config: DedupConfig, logical_date: str, *, current: bool = True):
    """The ``Fingerprint`` of a ``Page`` (its ``text``, ``url``, ids and ``fetch_time``).

    Equal to ``minhash(page.text, config)`` and ``content_hash(page.text)``, computed with one
    normalisation when the whole text is shingled (``len(text) <= config.max_chars``).
    """
    text = page.text
    shingled = text[: config.max_chars]  # what minhash cuts (and its error for a non-string)
    if len(shingled) == len(text):
        # The line text holds only word characters, " " and "\n" (both str.split() whitespace,
        # no word character is), so its words joined by " " are normalise_text(text): saves a
        # regex pass (~0.5 ms/page). tests/test_fingerprint.py checks every code point.
        line_text = normalised_lines(fold_text(text))
        hashes = hashes_of_lines(line_text, config.shingle_size, config.min_line_words)
        signature, digest = (
            minhash_signature(hashes, config),
            text_digest(" ".join(line_text.split())),
        )
    else:
        signature, digest = minhash(text, config), content_hash(text)
    return Fingerprint(
        node=node_id(page.run_id, page.doc_id, page.source),
        doc_id=page.doc_id,
        source=page.source,
        run_id=page.run_id,
        logical_date=logical_date,
        fetch_time=page.fetch_time,
        content_hash=digest,
        norm_url=normalise_url(page.url),
        signature=signature.astype("<u4").tobytes(),
        band_keys=band_keys(signature, config),
        current=current,
    )


def signature_of(fp: Fingerprint) -> np.ndarray:
    """The signature of ``fp`` as ``uint32`` array (empty if none)."""
    return np.frombuffer(fp.signature, dtype="<u4")


beam.coders.registry.register_coder(Fingerprint, beam.coders.RowCoder)
