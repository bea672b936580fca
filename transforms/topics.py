"""Topic tagging with weighted keyword lexicons: offline, explainable, retargetable.

A taxonomy (YAML; JSON is valid YAML too) lists labels and, per label and language, terms
grouped by weight. The default one (``transforms/data/taxonomy.yaml``) has the 15 labels of
INTERFACE.md with lexicons for en, de, fr and es; ``--taxonomy FILE`` replaces it::

    format: 1
    labels:
      politics:
        description: Government, elections, parties, legislation, diplomacy.
        en:
          3: [election, prime minister, parliament]   # decisive evidence
          1: [vote, campaign*]                        # supporting evidence
        de:
          3: [wahl, regierung, "*wahl"]

Terms are matched case-insensitively on letter-only tokens. A plain word or phrase matches
through the language's Snowball stemmer (``election`` also matches ``elections``); ``word*``
matches tokens that start with ``word``, ``"*word"`` tokens that end with it (German
compounds; quote it, a leading ``*`` is YAML syntax). A phrase match consumes its tokens.

Scoring (per label, TF-IDF-like): the weight is the term's specificity, term frequency is
sublinear, title tokens count ``title_weight`` times, and the sum is divided by the text
length (plus :data:`LENGTH_SMOOTHING` tokens, so a one-word match in a headline is weak)::

    density = sum(weight * log2(1 + tf)) / (tokens + LENGTH_SMOOTHING)
    score   = 1 - exp(-SCORE_SCALE * density)        # in [0, 1], rounded to 4 decimals

Labels with ``score >= threshold`` whose evidence (the sum) is at least ``min_relative``
times the best label's are kept, best first (ties by label name), at most ``max_labels``. Pages in a language the taxonomy has
no lexicon for get no labels: none rather than wrong ones.
"""

from __future__ import annotations

import importlib.resources
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import apache_beam as beam
import snowballstemmer
import yaml
from apache_beam.io.filesystems import FileSystems
from langdetect.detector_factory import PROFILES_DIRECTORY

from pagestream.schemas.records import KIND_PAGE, Page
from pagestream.transforms.errors import dead_page

__all__ = [
    "LENGTH_SMOOTHING",
    "SCORE_SCALE",
    "TagTopics",
    "TagTopicsFn",
    "Taxonomy",
    "TopicConfig",
    "explain_topics",
    "load_taxonomy",
    "score_topics",
]

STAGE = "topics"
#: Tokens added to every text length: damps scores of very short texts.
LENGTH_SMOOTHING = 30
#: Maps a weighted term density to a score in [0, 1): density 0.05 -> 0.78.
SCORE_SCALE = 30.0
MAX_WEIGHT = 10.0
_FORMAT = 1
_TOP_KEYS = {"format", "name", "description", "labels"}
_LABEL_RE = re.compile(r"^[a-z0-9][a-z0-9_.\-/]{0,63}$")
_TOKEN_RE = re.compile(r"[^\W\d_]+")
#: Languages langdetect can report, i.e. the lexicon keys a page can select.
_LANGUAGES = frozenset(os.listdir(PROFILES_DIRECTORY))
_STEMMERS = {
    "ar": "arabic", "ca": "catalan", "cs": "czech", "da": "danish", "de": "german",
    "el": "greek", "en": "english", "es": "spanish", "fa": "persian", "fi": "finnish",
    "fr": "french", "hi": "hindi", "hu": "hungarian", "id": "indonesian", "it": "italian",
    "lt": "lithuanian", "ne": "nepali", "nl": "dutch", "no": "norwegian", "pl": "polish",
    "pt": "portuguese", "ro": "romanian", "ru": "russian", "sv": "swedish", "ta": "tamil",
    "tr": "turkish",
}  # fmt: skip
_CACHE_LIMIT = 200_000

Entries = tuple[tuple[int, float, str], ...]  # (label index, weight, term as written)


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
    threshold: float = 0.3
    max_labels: int = 3
    min_relative: float = 0.4
    title_weight: float = 2.0
    max_chars: int = 20_000

    def __post_init__(self) -> None:
        _check("threshold", self.threshold, lambda v: 0.0 < v < 1.0, "a number in (0, 1)")
        _check("max_labels", self.max_labels, lambda v: 1 <= v <= 50, "an integer in 1..50", int)
        _check("min_relative", self.min_relative, lambda v: 0.0 <= v <= 1.0, "a number in [0, 1]")
        _check("title_weight", self.title_weight, lambda v: 0.0 <= v <= 10.0, "a number in [0, 10]")
        _check("max_chars", self.max_chars, lambda v: v >= 100, "an integer >= 100", int)
        if self.taxonomy is not None and not (isinstance(self.taxonomy, str) and self.taxonomy):
            raise ValueError(
                f"TopicConfig.taxonomy must be a file path or None, got {self.taxonomy!r}"
            )


def _check(
    name: str, value: object, ok: Callable, allowed: str, kind: type | tuple = (int, float)
) -> None:
    if isinstance(value, bool) or not isinstance(value, kind) or not ok(value):
        raise ValueError(f"TopicConfig.{name} must be {allowed}, got {value!r}")


@dataclass(eq=False)
class _Lexicon:
    """One language's compiled terms; ``cache`` memoises chunk -> token matches.

    Hand-written matching (a dict per match kind, slices for affixes) because a regex
    alternation over thousands of terms cannot report stems and is slower per page.
    """

    stem: Callable[[str], str]
    words: dict[str, Entries]
    prefixes: dict[str, Entries]
    suffixes: dict[str, Entries]
    phrases: dict[str, tuple[tuple[tuple[str, ...], Entries], ...]]  # first stem -> longest first
    prefix_sizes: tuple[int, ...] = ()
    suffix_sizes: tuple[int, ...] = ()
    cache: dict[str, tuple] = field(default_factory=dict)

    def lookup(self, chunk: str) -> tuple[tuple[str, Entries, tuple], ...]:
        """Per token of a lower-case whitespace-free chunk: (stem, matches, phrases from here).

        Memoised per chunk: splitting on whitespace and looking chunks up is several times
        faster than a tokenising regex over the whole text, and gives the same tokens.
        """
        hit = self.cache.get(chunk)
        if hit is None:
            hit = tuple(self._token(t) for t in _TOKEN_RE.findall(chunk))
            if len(self.cache) >= _CACHE_LIMIT:
                self.cache.clear()
            self.cache[chunk] = hit
        return hit

    def _token(self, token: str) -> tuple[str, Entries, tuple]:
        stem = self.stem(token)
        found = list(self.words.get(stem, ()))
        for size in self.prefix_sizes:
            found += self.prefixes.get(token[:size], ())
        for size in self.suffix_sizes:  # on the stem too: "bürgerkriege" -> "burgerkrieg"
            found += self.suffixes.get(token[-size:], ())
            found += self.suffixes.get(stem[-size:], ())
        return stem, _best_per_label(found), self.phrases.get(stem, ())


def _best_per_label(entries: list[tuple[int, float, str]]) -> Entries:
    best: dict[int, tuple[int, float, str]] = {}
    for e in entries:
        if e[0] not in best or e[1] > best[e[0]][1]:
            best[e[0]] = e
    return tuple(best[k] for k in sorted(best))


@dataclass(frozen=True, eq=False)
class Taxonomy:
    """A loaded, validated taxonomy: ``labels`` in file order, compiled lexicons per language."""

    source: str
    labels: tuple[str, ...]
    descriptions: Mapping[str, str]
    lexicons: Mapping[str, _Lexicon]

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self.lexicons))

    def lexicon_for(self, language: str | None) -> _Lexicon | None:
        """The lexicon for a langdetect code (``zh-cn`` falls back to ``zh``), or None."""
        if not language:
            return None
        return self.lexicons.get(language) or self.lexicons.get(language.split("-")[0])


def load_taxonomy(path: str | None) -> Taxonomy:
    """Reads and validates a taxonomy file (any Beam filesystem); None = the default one.

    Raises:
        ValueError: the file is unreadable, not YAML/JSON, or breaks the format; the message
            names the file, the label and the problem.
    """
    if path is None:
        resource = importlib.resources.files("pagestream.transforms") / "data" / "taxonomy.yaml"
        source, raw = (
            "default taxonomy (pagestream/transforms/data/taxonomy.yaml)",
            resource.read_bytes(),
        )
    else:
        source = path
        try:
            with FileSystems.open(path) as f:
                raw = f.read()
        except Exception as exc:  # Beam raises IOError/BeamIOError subclasses per filesystem
            raise ValueError(f"taxonomy {path}: cannot read: {exc}") from exc
    try:
        doc = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"taxonomy {source}: not valid UTF-8 YAML/JSON: {exc}") from exc
    return _compile(doc, source)


def _compile(doc: object, source: str) -> Taxonomy:
    def fail(problem: str, label: str | None = None) -> ValueError:
        where = f"label {label!r}: " if label is not None else ""
        return ValueError(f"taxonomy {source}: {where}{problem}")

    if not isinstance(doc, dict):
        raise fail("the top level must be a mapping with a 'labels' key")
    if unknown := sorted(map(str, set(doc) - _TOP_KEYS)):
        raise fail(f"unknown key(s) {unknown}; allowed: {sorted(_TOP_KEYS)}")
    if doc.get("format", _FORMAT) != _FORMAT:
        raise fail(f"format must be {_FORMAT}, got {doc.get('format')!r}")
    labels = doc.get("labels")
    if not isinstance(labels, dict) or not labels:
        raise fail("'labels' is missing or empty: it must map each label to its lexicons")
    terms: dict[str, list[tuple[int, float, str]]] = {}
    descriptions = {}
    for index, (label, body) in enumerate(labels.items()):
        if not isinstance(label, str) or not _LABEL_RE.match(label):
            raise fail(
                f"bad label name {label!r}: use lower-case letters, digits, '_-./', 1-64 chars"
            )
        if not isinstance(body, dict):
            raise fail("must be a mapping of 'description' and language codes", label)
        descriptions[label] = str(body.get("description", ""))
        languages = {k: v for k, v in body.items() if k != "description"}
        if not languages:
            raise fail("has no terms: add a language code (e.g. 'en') with weighted terms", label)
        for lang, tiers in languages.items():
            if lang not in _LANGUAGES:
                raise fail(f"unknown key {lang!r}: expected 'description' or a language code "
                           f"langdetect reports ({', '.join(sorted(_LANGUAGES))})", label)  # fmt: skip
            if not isinstance(tiers, dict) or not tiers:
                raise fail(f"{lang}: must map weights to lists of terms, e.g. {{3: [word]}}", label)
            for weight, words in tiers.items():
                w = _weight(weight)
                if w is None:
                    raise fail(
                        f"{lang}: bad weight {weight!r}: a number in (0, {MAX_WEIGHT:g}]", label
                    )
                if not isinstance(words, list) or not all(
                    isinstance(t, str) and t.strip() for t in words
                ):
                    raise fail(
                        f"{lang}: weight {weight}: terms must be a list of non-empty strings", label
                    )
                terms.setdefault(lang, []).extend((index, w, t.strip().lower()) for t in words)
    lexicons = {}
    for lang, entries in terms.items():
        try:
            lexicons[lang] = _build_lexicon(lang, entries)
        except _TermError as exc:
            raise fail(f"{lang}: {exc.problem}", list(labels)[exc.label]) from None
    return Taxonomy(source, tuple(labels), descriptions, lexicons)


class _TermError(Exception):
    def __init__(self, label: int, problem: str):
        super().__init__(problem)
        self.label, self.problem = label, problem


def _weight(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        w = float(value)  # YAML gives int/float keys, JSON gives strings
    except (TypeError, ValueError):
        return None
    return w if 0.0 < w <= MAX_WEIGHT else None


def _build_lexicon(lang: str, entries: list[tuple[int, float, str]]) -> _Lexicon:
    stem = snowballstemmer.stemmer(_STEMMERS[lang]).stemWord if lang in _STEMMERS else str
    words: dict[str, list] = {}
    prefixes: dict[str, list] = {}
    suffixes: dict[str, list] = {}
    phrases: dict[str, dict[tuple[str, ...], list]] = {}
    for label, weight, term in entries:
        core = term.strip("*")
        tokens = _TOKEN_RE.findall(core)
        if any(c.isdigit() for c in term):
            raise _TermError(label, f"term {term!r}: only letters are matched, drop the digits")
        if not tokens:
            raise _TermError(label, f"term {term!r} has no letters")
        if "*" in core or term != core:
            if "*" in core or len(tokens) != 1 or tokens[0] != core or term.count("*") != 1:
                raise _TermError(label, f"term {term!r}: '*' goes at the start or end of one word")
            if term.endswith("*"):
                prefixes.setdefault(core, []).append((label, weight, term))
            else:  # "*krieg" matches a token ending in "krieg" or a stem ending in stem("krieg")
                for key in {core, stem(core)}:
                    suffixes.setdefault(key, []).append((label, weight, term))
        elif len(tokens) == 1:
            words.setdefault(stem(tokens[0]), []).append((label, weight, term))
        else:
            stems = tuple(stem(t) for t in tokens)
            phrases.setdefault(stems[0], {}).setdefault(stems[1:], []).append((label, weight, term))
    return _Lexicon(
        stem=stem,
        words={k: _best_per_label(v) for k, v in words.items()},
        prefixes={k: _best_per_label(v) for k, v in prefixes.items()},
        suffixes={k: _best_per_label(v) for k, v in suffixes.items()},
        phrases={
            first: tuple(
                sorted(
                    ((rest, _best_per_label(v)) for rest, v in tails.items()),
                    key=lambda p: (-len(p[0]), p[0]),
                )
            )  # fmt: skip
            for first, tails in phrases.items()
        },
        prefix_sizes=tuple(sorted({len(a) for a in prefixes})),
        suffix_sizes=tuple(sorted({len(a) for a in suffixes})),
    )


def _count_terms(text: str, lexicon: _Lexicon, factor: float, counts: dict) -> int:
    """Adds ``factor`` per match to ``counts[(label, term)] = [weight, tf]``; returns #tokens."""
    info: list = []
    cached, lookup, extend = lexicon.cache.get, lexicon.lookup, info.extend
    for chunk in text.lower().split():
        hit = cached(chunk)
        extend(lookup(chunk) if hit is None else hit)
    i, n = 0, len(info)
    while i < n:
        _, entries, phrases = info[i]
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


def _cached_taxonomy(path: str | None) -> Taxonomy:
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
        self._taxonomy = _cached_taxonomy(self._config.taxonomy)

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
        _cached_taxonomy(self._config.taxonomy)

    def expand(self, pages):
        return pages | "TagTopicsFn" >> beam.ParDo(TagTopicsFn(self._config))
