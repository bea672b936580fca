"""Fingerprints for duplicate detection: content hash, normalised URL, MinHash and LSH band keys.

Pure functions only; ``MarkDuplicates`` (``dedup.py``) wires them into the graph and
``dedup_state.py`` stores them across runs.

Guarantees:

* ``content_hash(a) == content_hash(b)`` whenever ``normalise_text(a) == normalise_text(b)``
  (NFKC, case fold, punctuation and whitespace collapsed).
* ``minhash`` is deterministic for a given ``DedupConfig`` on every machine and Python version
  (xxhash of the shingle, datasketch's ``affine32`` permutations from ``config.seed``).
* Signatures and band keys are only comparable between equal ``fingerprint_tag(config)``; band keys
  embed the tag so keys of different configurations never collide.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import apache_beam as beam
import numpy as np
import regex
import xxhash

from pagestream.schemas.validation import NEAR_DUP_THRESHOLD, Number, check_fields, fail, setting

__all__ = [
    "DedupConfig",
    "Fingerprint",
    "band_keys",
    "content_hash",
    "estimated_containment",
    "estimated_jaccard",
    "estimated_size",
    "fingerprint_page",
    "fingerprint_tag",
    "lsh_params",
    "minhash",
    "near_match",
    "node_id",
    "normalise_text",
    "normalise_url",
    "shingle_hashes",
    "shingles",
    "signature_of",
    "tokens",
]

#: Bump when tokenisation/shingling changes: old --state signatures then stop matching.
FINGERPRINT_VERSION = 1

# `regex` (not `re`) because `re`'s \w drops combining marks (Devanagari vowel signs, ...),
# which would cut words of many scripts into pieces.
_NON_WORD = regex.compile(r"[^\p{L}\p{N}\p{M}]+")
_NON_WORD_BUT_NEWLINE = regex.compile(r"[^\p{L}\p{N}\p{M}\n]+")
# Scripts written without spaces between words are shingled per character.
_UNSPACED = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
_TOKEN = regex.compile(rf"[{_UNSPACED}]|[^\s{_UNSPACED}]+")

_DEFAULT_PORTS = {"http": "80", "https": "443"}
# Query parameters that only track the visitor; conservative: only well-known names.
_TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "mc_cid", "mc_eid"}
    | {"igshid", "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id", "vero_id"}
)


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


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def normalise_text(text: str) -> str:
    """NFKC, case-folded, every run of punctuation/symbols/whitespace turned into one space."""
    return _NON_WORD.sub(" ", _fold(text)).strip()


def content_hash(text: str) -> str:
    """128-bit xxh3 hex digest of ``normalise_text(text)``: equal normalised text, equal hash."""
    return _digest(normalise_text(text))


def _digest(normalised: str) -> str:
    return xxhash.xxh3_128_hexdigest(normalised.encode("utf-8"))


def normalise_url(url: str) -> str:
    """A URL key for "same page": equal keys mean the same resource for every usual site.

    Drops the scheme (http/https), a leading ``www.``, default ports, user info, the fragment,
    tracking parameters (``utm_*``, ``fbclid``, ``gclid``, ...) and one trailing slash of the
    path; lower-cases the host; sorts the query. Path case and other parameters are kept
    (conservative: they can name different pages). Strings that are not ``scheme://host`` URLs
    are returned stripped and otherwise unchanged. Never raises.
    """
    raw = url.strip()
    try:
        parts = urlsplit(raw)
        host = (parts.hostname or "").rstrip(".")
        if not parts.scheme or not host:
            return raw
        port = parts.port
    except ValueError:
        return raw
    host = host.removeprefix("www.")
    host = f"[{host}]" if ":" in host else host  # IPv6 literal
    if port is not None and str(port) != _DEFAULT_PORTS.get(parts.scheme.lower()):
        host = f"{host}:{port}"
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in _TRACKING_PARAMS
    )
    path = parts.path if parts.path != "/" else ""
    path = path[:-1] if path.endswith("/") else path
    return urlunsplit(("", host, path, urlencode(query), "")).removeprefix("//")


def tokens(text: str) -> list[str]:
    """Word tokens of normalised text; characters of unspaced scripts (Han, Kana, Thai...)."""
    return _split_tokens(normalise_text(text))


def _split_tokens(normalised: str) -> list[str]:
    # Fast path: every unspaced script starts at or above U+0E00 (Thai).
    if not normalised or max(normalised) < "\u0e00":
        return normalised.split()
    return _TOKEN.findall(normalised)


def _line_text(folded: str) -> str:
    """Word characters, spaces (for each other run) and "\\n" (for each line break)."""
    return _NON_WORD_BUT_NEWLINE.sub(" ", "\n".join(folded.splitlines()))


def _kept_lines(line_text: str, min_line_words: int) -> list[list[str]]:
    lines = [t for t in map(_split_tokens, line_text.split("\n")) if t]
    kept = [t for t in lines if len(t) >= max(min_line_words, 1)]
    if not kept and lines:
        kept = [[tok for line in lines for tok in line]]
    return kept


def shingles(text: str, n: int, min_line_words: int = 0) -> set[str]:
    """Word ``n``-grams of each line of ``text`` (shingles never span lines).

    Lines with fewer than ``min_line_words`` tokens are skipped, so short boilerplate lines
    (menus, "Read more", copyright) do not make different pages look alike; if that skips every
    line, the whole text is shingled as one line. A kept line of at most ``n`` tokens is one
    shingle. This is the reference definition; ``minhash`` hashes the same set without building
    the strings.
    """
    out: set[str] = set()
    for toks in _kept_lines(_line_text(_fold(text)), min_line_words):
        if len(toks) <= n:
            out.add(" ".join(toks))
        else:
            out.update(" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1))
    return out


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
    return _hashes_of_lines(_line_text(_fold(text)), n, min_line_words)


def _hashes_of_lines(line_text: str, n: int, min_line_words: int) -> np.ndarray:
    kept = _kept_lines(line_text, min_line_words)
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
    return _signature(hashes, config)


def _signature(hashes: np.ndarray, config: DedupConfig) -> np.ndarray:
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
        line_text = _line_text(_fold(text))
        hashes = _hashes_of_lines(line_text, config.shingle_size, config.min_line_words)
        signature, digest = _signature(hashes, config), _digest(" ".join(line_text.split()))
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
