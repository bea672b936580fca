"""MinHash signatures, LSH band keys and the similarity estimates made from signatures.

Pure functions over a ``DedupConfig`` (``fingerprint.py``):

* ``minhash`` is deterministic for a given ``DedupConfig`` on every machine and Python version
  (xxhash of the shingle, datasketch's ``affine32`` permutations from ``config.seed``).
* Signatures and band keys are only comparable between equal ``fingerprint_tag(config)``; band keys
  embed the tag so keys of different configurations never collide.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np
import xxhash

from pagestream.transforms.dedup.normalise import fold_text, kept_lines, normalised_lines

if TYPE_CHECKING:
    from pagestream.transforms.dedup.fingerprint import DedupConfig

__all__ = [
    "band_keys",
    "estimated_containment",
    "estimated_jaccard",
    "estimated_size",
    "fingerprint_tag",
    "minhash",
    "near_match",
    "shingle_hashes",
]

#: Bump when tokenisation/shingling changes: old --state signatures then stop matching.
FINGERPRINT_VERSION = 1

_MIX = np.random.default_rng(0x5EED).integers(0, 2**63, 16, dtype=np.uint64) * np.uint64(2) + 1


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def shingle_hashes(text: str, n: int, min_line_words: int = 0) -> np.ndarray:
    """Sorted unique 32-bit hashes of ``shingles(text, n, min_line_words)`` (as ``uint64``).

    Vectorised by hand (numpy) rather than hashing each joined shingle string: tokens are
    hashed once (xxh3), each window is an odd-multiplier combination of its token hashes,
    finished with the MurmurHash3 mixer. Measured (``benchmarks/neardup_eval.py``): ~1.9 CPU
    ms/page for ``minhash`` on 900-word articles vs ~2.9 with string shingles through
    datasketch's per-value ``update_batch``; tokenising is most of the remaining cost.
    """
    return hashes_of_lines(normalised_lines(fold_text(text)), n, min_line_words)


def hashes_of_lines(line_text: str, n: int, min_line_words: int) -> np.ndarray:
    kept = kept_lines(line_text, min_line_words)
    if not kept:
        return np.zeros(0, dtype=np.uint64)
    flat = [t for line in kept for t in line]
    hashed = {t: xxhash.xxh3_64_intdigest(t.encode("utf-8")) for t in dict.fromkeys(flat)}
    tok = np.fromiter(map(hashed.__getitem__, flat), np.uint64, len(flat))
    lengths = np.fromiter(map(len, kept), dtype=np.intp, count=len(kept))
    ends = np.cumsum(lengths)
    parts = []
    if len(tok) >= n:
        width = len(tok) - n + 1
        acc = np.zeros(width, dtype=np.uint64)
        for k in range(n):
            acc += tok[k : k + width] * _MIX[k]
        line_end = np.repeat(ends, lengths)[:width]  # end of the line each window starts in
        parts.append(acc[np.arange(width) + n <= line_end])
    for end, length in zip(ends, lengths, strict=True):
        if length < n:  # a whole short line is one shingle
            parts.append(np.array([(tok[end - length : end] * _MIX[:length]).sum()]))
    hashes = _fmix64(np.concatenate(parts).astype(np.uint64)) >> np.uint64(32)
    return np.unique(hashes)


@functools.lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's ``affine32`` permutation parameters (``MinHash(num_perm, seed,
    scheme="affine32").permutations``): odd ``a`` and any ``b``, drawn in that order from
    ``numpy.random.RandomState(seed)``. Written out rather than imported because importing
    datasketch loads scipy (0.8 s in every worker); ``tests/test_fingerprint.py`` checks the
    values against datasketch's."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def minhash(text: str, config: DedupConfig) -> np.ndarray:
    """MinHash signature (``uint32[num_perm]``) of ``shingles(text[:max_chars])``.

    Permutations are datasketch's ``affine32`` scheme (``a * h + b mod 2**32``, parameters from
    ``config.seed``) applied to all shingle hashes at once. An empty array when the text has no
    words: such pages are never near duplicates of anything (``estimated_jaccard`` gives 0.0).
    """
    hashes = shingle_hashes(text[: config.max_chars], config.shingle_size, config.min_line_words)
    return minhash_signature(hashes, config)


def minhash_signature(hashes: np.ndarray, config: DedupConfig) -> np.ndarray:
    if len(hashes) == 0:
        return np.zeros(0, dtype=np.uint32)
    a, b = _permutations(config.num_perm, config.seed)
    signature = np.full(config.num_perm, np.iinfo(np.uint32).max, dtype=np.uint32)
    for chunk in range(0, len(hashes), 4096):  # bounds the temporary matrix to 2 MB
        h = hashes[chunk : chunk + 4096].astype(np.uint32)[:, None]
        np.minimum(signature, (h * a + b).min(axis=0), out=signature)
    return signature


def fingerprint_tag(config: DedupConfig) -> str:
    """Short id of everything that makes signatures and band keys comparable."""
    spec = (
        f"v{FINGERPRINT_VERSION}/{config.num_perm}/{config.seed}/{config.shingle_size}/"
        f"{config.min_line_words}/{config.max_chars}/{config.bands}x{config.rows}"
    )
    return xxhash.xxh32_hexdigest(spec.encode("utf-8"))


def band_keys(signature: np.ndarray, config: DedupConfig) -> list[str]:
    """One LSH key per band, ``"<tag>:<band>:<hash of the band's rows>"``; none if empty."""
    if len(signature) != config.num_perm:
        return []
    tag = fingerprint_tag(config)
    sig = np.ascontiguousarray(signature, dtype="<u4")
    r = config.rows
    return [
        f"{tag}:{b}:{xxhash.xxh3_64_hexdigest(sig[b * r : (b + 1) * r].tobytes())}"
        for b in range(config.bands)
    ]


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Share of equal MinHash values; 0.0 if either is empty or their lengths differ."""
    if len(a) == 0 or len(a) != len(b):
        return 0.0
    return float(np.count_nonzero(np.asarray(a) == np.asarray(b))) / len(a)


def estimated_size(signature: np.ndarray) -> float:
    """Number of distinct shingles, estimated from the signature alone (0.0 if empty).

    Each MinHash value is the minimum of ``n`` (nearly) uniform 32-bit values, so
    ``(k - 1) / sum(value / 2**32)`` estimates ``n`` (relative error ~ ``1 / sqrt(k)``, 9 % at
    128 permutations). Needs nothing but the signature, so pages of earlier runs (``--state``
    stores signatures) get the same estimate as this run's.
    """
    k = len(signature)
    if k < 2:
        return 0.0
    total = float(np.asarray(signature, dtype=np.float64).sum()) / 2.0**32
    return (k - 1) / total if total > 0 else float("inf")


def estimated_containment(a: np.ndarray, b: np.ndarray, jaccard: float | None = None) -> float:
    """Estimated share of the smaller shingle set that is in the other one (0.0 if empty).

    ``|A & B| = J * (|A| + |B|) / (1 + J)``, with the sizes from ``estimated_size``: a copy
    cut short or missing a paragraph is contained in the original although their Jaccard is low.
    """
    j = estimated_jaccard(a, b) if jaccard is None else jaccard
    if j <= 0.0:
        return 0.0
    size_a, size_b = estimated_size(a), estimated_size(b)
    smaller = min(size_a, size_b)
    if smaller <= 0.0:
        return 0.0
    return min(1.0, j * (size_a + size_b) / (1.0 + j) / smaller)


def near_match(a: np.ndarray, b: np.ndarray, config: DedupConfig) -> tuple[bool, float]:
    """``(near duplicates?, estimated Jaccard)`` of two signatures under ``config``.

    Near duplicates: estimated Jaccard ``>= config.threshold``, or (``config.containment > 0``)
    the smaller page has at least ``config.min_contained`` shingles, the Jaccard is at least
    ``config.containment_min_jaccard`` and the estimated containment is
    ``>= config.containment``.
    """
    j = estimated_jaccard(a, b)
    if j >= config.threshold:
        return True, j
    if not config.containment or j < config.containment_min_jaccard:
        return False, j
    if min(estimated_size(a), estimated_size(b)) < config.min_contained:
        return False, j
    return estimated_containment(a, b, j) >= config.containment, j
