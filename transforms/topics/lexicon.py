"""Compiled per-language lexicons of a taxonomy: ``build_lexicon`` and ``Lexicon.lookup``.

A lexicon maps a language's stemmed words, prefixes (``word*``), suffixes (``*word``) and
phrases to ``(label index, weight, term)`` entries, the best per label; ``taxonomy.py`` builds
one per language of a validated taxonomy file, ``tag.py`` looks page tokens up in them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import snowballstemmer

_TOKEN_RE = re.compile(r"[^\W\d_]+")
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


@dataclass(eq=False)
class Lexicon:
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


class TermError(Exception):
    def __init__(self, label: int, problem: str):
        super().__init__(problem)
        self.label, self.problem = label, problem


def _stemmer(lang: str) -> Callable[[str], str]:
    if lang not in _STEMMERS:
        return str
    stemmer = snowballstemmer.stemmer(_STEMMERS[lang])
    # PyStemmer's own word cache makes each new word 2-3x slower (a KeyError, and purges),
    # and lexicons memoise tokens anyway; same stems without it.
    if hasattr(stemmer, "maxCacheSize"):
        stemmer.maxCacheSize = 0
    return stemmer.stemWord


def build_lexicon(lang: str, entries: list[tuple[int, float, str]]) -> Lexicon:
    stem = _stemmer(lang)
    words: dict[str, list] = {}
    prefixes: dict[str, list] = {}
    suffixes: dict[str, list] = {}
    phrases: dict[str, dict[tuple[str, ...], list]] = {}
    for label, weight, term in entries:
        core = term.strip("*")
        tokens = _TOKEN_RE.findall(core)
        if any(c.isdigit() for c in term):
            raise TermError(label, f"term {term!r}: only letters are matched, drop the digits")
        if not tokens:
            raise TermError(label, f"term {term!r} has no letters")
        if "*" in core or term != core:
            if "*" in core or len(tokens) != 1 or tokens[0] != core or term.count("*") != 1:
                raise TermError(label, f"term {term!r}: '*' goes at the start or end of one word")
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
    return Lexicon(
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
