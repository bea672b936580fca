"""Topic taxonomies: the file format, its validation, and the compiled per-language lexicons.

A taxonomy (YAML; JSON is valid YAML too) lists labels and, per label and language, terms
grouped by weight. The default one (``transforms/topics/data/taxonomy.yaml``) has the 15 labels of
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

How matches become scores is in ``topics.py``, which re-exports ``Taxonomy`` and
``load_taxonomy``.
"""

from __future__ import annotations

import importlib.resources
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import snowballstemmer
import yaml
from apache_beam.io.filesystems import FileSystems
from langdetect.detector_factory import PROFILES_DIRECTORY

__all__ = [
    "MAX_WEIGHT",
    "Taxonomy",
    "load_taxonomy",
]

#: Largest weight a term may have in a taxonomy file.
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
#: libyaml's loader when PyYAML was built with it: the same documents, ~10x faster (0.02 s
#: instead of 0.2 s for the default taxonomy, in the graph-building process and each worker).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Entries = tuple[tuple[int, float, str], ...]  # (label index, weight, term as written)


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
    # (cut, {first/last ``cut`` characters: affix sizes}), see _index_affixes.
    _prefix_index: tuple[int, dict[str, tuple[int, ...]] | None] = field(init=False)
    _suffix_index: tuple[int, dict[str, tuple[int, ...]] | None] = field(init=False)

    def __post_init__(self) -> None:
        self._prefix_index = _index_affixes(self.prefixes, lambda a, n: a[:n])
        self._suffix_index = _index_affixes(self.suffixes, lambda a, n: a[-n:])

    def lookup(self, chunk: str) -> tuple[tuple[str, Entries, tuple], ...]:
        """Per token of a lower-case whitespace-free chunk: (stem, matches, phrases from here).

        Memoised per chunk: splitting on whitespace and looking chunks up is several times
        faster than a tokenising regex over the whole text, and gives the same tokens.
        """
        hit = self.cache.get(chunk)
        if hit is None:
            if len(self.cache) >= _CACHE_LIMIT:
                self.cache.clear()
            if chunk.isalpha():  # most chunks: letters only, one token (what _TOKEN_RE gives)
                hit = (self._match(chunk),)
            else:
                hit = tuple(map(self._token, _TOKEN_RE.findall(chunk)))
            self.cache[chunk] = hit
        return hit

    def _token(self, token: str) -> tuple[str, Entries, tuple]:
        # "election," and "(election" share the entry of the chunk "election" (a third of
        # the tokens of a cold cache: each saves a stemming and the matching).
        hit = self.cache.get(token)
        if hit is None:
            hit = self.cache[token] = (self._match(token),)
        return hit[0]

    def _match(self, token: str) -> tuple[str, Entries, tuple]:
        """Words, then prefixes by size, then suffixes by size (the token's, then the stem's).

        Only sizes from the affix indexes are tried, and no prefix longer than the token
        (``token[:size]`` is then the token, already tried): the same matches as trying all.
        """
        stem = self.stem(token)
        words = self.words.get(stem, ())
        found = []
        if self.prefixes:
            cut, by_head = self._prefix_index
            sizes = self.prefix_sizes if by_head is None else by_head.get(token[:cut], ())
            for size in sizes:
                if size > len(token):
                    break
                found += self.prefixes.get(token[:size], ())
        if self.suffixes:  # on the stem too: "bürgerkriege" -> "burgerkrieg"
            cut, by_tail = self._suffix_index
            if by_tail is None:
                sizes = self.suffix_sizes
            else:
                sizes = by_tail.get(token[-cut:], ())
                if stem != token and (more := by_tail.get(stem[-cut:])):
                    sizes = sorted({*sizes, *more})
            for size in sizes:
                found += self.suffixes.get(token[-size:], ())
                found += self.suffixes.get(stem[-size:], ())
        if not found:  # 96 %+ of tokens; words values already hold the best entry per label
            return stem, words, self.phrases.get(stem, ())
        return stem, _best_per_label([*words, *found]), self.phrases.get(stem, ())


def _index_affixes(
    affixes: Mapping[str, Entries], end: Callable[[str, int], str]
) -> tuple[int, dict[str, tuple[int, ...]] | None]:
    """``(cut, {end(affix, cut): sizes of those affixes, ascending})``, cut = shortest size.

    An affix of a token (``token[:size]`` / ``token[-size:]``, size <= len(token)) has the
    token's ``end(token, cut)``: one lookup gives every size worth trying, usually none
    (about 24 per token before; 96 % of German tokens match no affix). None instead of the
    dict if an affix is empty (a ``"*word"`` whose stem is empty): then no narrowing.
    """
    cut = min(map(len, affixes), default=0)
    if cut == 0:
        return 0, None
    index: dict[str, set[int]] = {}
    for affix in affixes:
        index.setdefault(end(affix, cut), set()).add(len(affix))
    return cut, {k: tuple(sorted(v)) for k, v in index.items()}


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
        resource = importlib.resources.files("pagestream.transforms.topics") / "data" / "taxonomy.yaml"
        source, raw = (
            "default taxonomy (pagestream/transforms/topics/data/taxonomy.yaml)",
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
        doc = yaml.load(raw.decode("utf-8"), Loader=_SAFE_LOADER)
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


def _stemmer(lang: str) -> Callable[[str], str]:
    if lang not in _STEMMERS:
        return str
    stemmer = snowballstemmer.stemmer(_STEMMERS[lang])
    # PyStemmer's own word cache makes each new word 2-3x slower (a KeyError, and purges),
    # and lexicons memoise tokens anyway; same stems without it.
    if hasattr(stemmer, "maxCacheSize"):
        stemmer.maxCacheSize = 0
    return stemmer.stemWord


def _build_lexicon(lang: str, entries: list[tuple[int, float, str]]) -> _Lexicon:
    stem = _stemmer(lang)
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
