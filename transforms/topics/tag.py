"""Topic tagging with weighted keyword lexicons: offline, explainable, retargetable.

Pages are scored against a taxonomy: labels with weighted terms per language, loaded and
validated by ``taxonomy.py`` (the file format is documented there; ``Taxonomy`` and
``load_taxonomy`` are re-exported here). The default one (``transforms/topics/data/taxonomy.yaml``) has
the 15 labels of INTERFACE.md with lexicons for en, de, fr and es; ``--taxonomy FILE`` replaces it.

Scoring (per label, TF-IDF-like): the weight is the term's specificity, term frequency is
sublinear, title tokens count ``title_weight`` times, and the sum is divided by the text
length (plus :data:`LENGTH_SMOOTHING` tokens, so a one-word match in a headline is weak)::

    density = sum(weight * log2(1 + tf)) / (tokens + LENGTH_SMOOTHING)
    score   = 1 - exp(-SCORE_SCALE * density)        # in [0, 1], rounded to 4 decimals

Labels with ``score >= threshold`` whose evidence (the sum) is at least ``min_relative``
times the best label's are kept, best first (ties by label name), at most ``max_labels``.
Pages in a language the taxonomy has no lexicon for get no labels: none rather than wrong ones.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import apache_beam as beam

from pagestream.schemas.records import KIND_PAGE, Page
from pagestream.schemas.validation import Number, check_fields, fail, setting
from pagestream.transforms.errors import dead_page
from pagestream.transforms.topics.lexicon import Lexicon
from pagestream.transforms.topics.taxonomy import Taxonomy, load_taxonomy

__all__ = [
    "LENGTH_SMOOTHING",
    "SCORE_SCALE",
    "TagTopics",
    "TagTopicsFn",
    "TopicConfig",
    "explain_topics",
    "score_topics",
]

STAGE = "topics"
#: Tokens added to every text length: damps scores of very short texts.
LENGTH_SMOOTHING = 30
#: Maps a weighted term density to a score in [0, 1): density 0.05 -> 0.78.
SCORE_SCALE = 30.0


@dataclass(frozen=True)
class TopicConfig:
    """Options of :class:`TagTopics`.

    Attributes:
        taxonomy: path (any Beam filesystem) of a taxonomy file; None = the default one.
        threshold: minimum score of a label, in (0, 1).
        max_labels: at most this many labels per page, 1..50.
        min_relative: a label's evidence must be at least this fraction of the best label's,
            [0, 1]; keeps side mentions out.
        title_weight: how many times a title token counts, [0, 10].
        max_chars: only the first ``max_chars`` characters of the text are scored (a cost
            bound), >= 100.
    """

    taxonomy: str | None = None
    threshold: float = setting(Number(float, 0.0, 1.0, default=0.3, open_low=True, open_high=True))
    max_labels: int = setting(Number(int, 1, 50, default=3))
    min_relative: float = setting(Number(float, 0.0, 1.0, default=0.4))
    title_weight: float = setting(Number(float, 0.0, 10.0, default=2.0))
    max_chars: int = setting(Number(int, 100, default=20_000))

    def __post_init__(self) -> None:
        check_fields(self)
        if self.taxonomy is not None and not (isinstance(self.taxonomy, str) and self.taxonomy):
            fail("TopicConfig.taxonomy", "a file path or None", self.taxonomy)


def _count_terms(text: str, lexicon: Lexicon, factor: float, counts: dict) -> int:
    """Adds ``factor`` per match to ``counts[(label, term)] = [weight, tf]``; returns #tokens."""
    info: list = []
    cached, lookup, extend = lexicon.cache.get, lexicon.lookup, info.extend
    for chunk in text.lower().split():
        hit = cached(chunk)
        extend(lookup(chunk) if hit is None else hit)
    i, n = 0, len(info)
    while i < n:
        _, entries, phrases = info[i]
        if not (entries or phrases):  # ~90 % of tokens
            i += 1
            continue
        step = 1
        for rest, phrase_entries in phrases:  # longest first; a phrase consumes its tokens
            k = len(rest)
            if i + k < n and all(info[i + 1 + j][0] == rest[j] for j in range(k)):
                entries, step = phrase_entries, k + 1
                break
        for label, weight, term in entries:
            slot = counts.setdefault((label, term), [weight, 0.0])
            slot[1] += factor
        i += step
    return n


def _evidence(text, title, language, taxonomy, config) -> tuple[dict, int]:
    lexicon = taxonomy.lexicon_for(language)
    counts: dict[tuple[int, str], list[float]] = {}
    if lexicon is None:
        return counts, 0
    n = _count_terms((text or "")[: config.max_chars], lexicon, 1.0, counts)
    if title and config.title_weight > 0:
        n += _count_terms(title[:1000], lexicon, config.title_weight, counts)
    return counts, n


def score_topics(
    text: str, title: str | None, language: str, taxonomy: Taxonomy, config: TopicConfig
) -> list[tuple[str, float]]:
    """Labels of a text with their scores, best first (ties by label); may be empty.

    Deterministic: the same text, title, language, taxonomy and config give the same list.
    Scores are in [0, 1], rounded to 4 decimals; every score >= ``config.threshold``.
    """
    counts, n = _evidence(text, title, language, taxonomy, config)
    raw = [0.0] * len(taxonomy.labels)
    for (label, _), (weight, tf) in counts.items():
        raw[label] += weight * math.log2(1.0 + tf)
    best = max(raw, default=0.0)
    if best <= 0.0:
        return []
    kept = [
        (round(1.0 - math.exp(-SCORE_SCALE * r / (n + LENGTH_SMOOTHING)), 4), taxonomy.labels[i])
        for i, r in enumerate(raw)
        if r > 0.0 and r >= config.min_relative * best
    ]
    ranked = sorted((p for p in kept if p[0] >= config.threshold), key=lambda p: (-p[0], p[1]))
    return [(label, score) for score, label in ranked[: config.max_labels]]


def explain_topics(
    text: str, title: str | None, language: str, taxonomy: Taxonomy, config: TopicConfig
) -> dict[str, list[tuple[str, float]]]:
    """Why a text gets its scores: per label, the matched terms and ``weight * log2(1 + tf)``.

    Covers every label with a match (also those under the threshold), terms largest first.
    """
    counts, _ = _evidence(text, title, language, taxonomy, config)
    out: dict[str, list[tuple[str, float]]] = {}
    for (label, term), (weight, tf) in sorted(counts.items()):
        out.setdefault(taxonomy.labels[label], []).append(
            (term, round(weight * math.log2(1 + tf), 3))
        )
    return {k: sorted(v, key=lambda p: (-p[1], p[0])) for k, v in sorted(out.items())}


_TAXONOMIES: dict[str | None, Taxonomy] = {}
_LOCK = threading.Lock()


def cached_taxonomy(path: str | None) -> Taxonomy:
    with _LOCK:
        if path not in _TAXONOMIES:
            _TAXONOMIES[path] = load_taxonomy(path)
        return _TAXONOMIES[path]


class TagTopicsFn(beam.DoFn):
    """Sets ``topics``/``topic_scores``/``topics_ms`` on pages; other kinds pass unchanged.

    A page that fails becomes a dead letter (stage ``topics``); the taxonomy loads once per
    worker process in ``setup()``.
    """

    def __init__(self, config: TopicConfig):
        self._config = config
        self._taxonomy: Taxonomy | None = None
        self._untagged = beam.metrics.Metrics.counter(STAGE, "untagged")

    def setup(self) -> None:
        self._taxonomy = cached_taxonomy(self._config.taxonomy)

    def process(self, page: Page) -> Iterator[Page]:
        if page.kind != KIND_PAGE:
            yield page
            return
        start = time.perf_counter()
        try:
            tags = score_topics(page.text, page.title, page.language, self._taxonomy, self._config)
        except Exception as exc:  # one bad page must not crash the run
            yield dead_page(page, STAGE, "error", exc)
            return
        if not tags:
            self._untagged.inc()
        yield page._replace(
            topics=[label for label, _ in tags],
            topic_scores=[score for _, score in tags],
            topics_ms=(time.perf_counter() - start) * 1000.0,
        )


class TagTopics(beam.PTransform):
    """``PCollection[Page] -> PCollection[Page]``: tags pages of kind ``page`` with topics.

    Fills ``topics`` (labels, best first, possibly empty) and ``topic_scores`` (same order);
    records of other kinds pass through unchanged. The taxonomy is validated while the graph
    is built, so a bad ``--taxonomy`` file fails before the pipeline starts.
    """

    def __init__(self, config: TopicConfig | None = None):
        super().__init__()
        self._config = config or TopicConfig()
        cached_taxonomy(self._config.taxonomy)

    def expand(self, pages):
        return pages | "TagTopicsFn" >> beam.ParDo(TagTopicsFn(self._config))
