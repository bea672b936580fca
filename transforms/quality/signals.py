"""Per-page quality signals: pure functions from a text (and its language) to numbers.

The statistics are those of the Gopher rules (Rae et al. 2021, "Scaling Language Models",
appendix A, table A1), C4's terminal-punctuation line rule (Raffel et al. 2020, section 2.2)
and Gopher's stop-word rule, computed the way datatrove's ``GopherQualityFilter`` /
``GopherRepetitionFilter`` and dolma's ``gopher`` tagger compute them, with two differences
documented in ``docs/quality.md``: words of scripts written without spaces (Han, kana, Thai,
Lao, Khmer, Myanmar, Tibetan) are single characters, and repeated n-grams are counted the
way the Gopher paper describes it (each character once, overlaps merged).

Definitions (``lines``: non-blank lines; ``paragraphs``: blocks separated by a blank line;
``words``: whitespace tokens, each character of a script without spaces a token of its own):

- ``dup_*_frac``: occurrences of a line/paragraph already seen earlier in the page, over all
  lines/paragraphs; ``dup_*_char_frac``: their characters over the characters of the text.
- ``top_{n}gram_char_frac``: characters (of words) in every occurrence of the most frequent
  word n-gram, over the characters of all words.
- ``dup_{n}gram_char_frac``: characters of words covered by an n-gram occurrence that repeats
  an earlier one, each word counted once, over the characters of all words.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import regex

from pagestream.transforms.scripts import UNSPACED

__all__ = [
    "DUP_NGRAMS",
    "GOPHER_STOP_WORDS",
    "TOP_NGRAMS",
    "QualitySignals",
    "compute_signals",
    "stop_words_for",
    "tokenize",
    "unspaced_share",
]

#: n of the "top n-gram" and of the "duplicate n-gram" statistics (Gopher table A1).
TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)

#: Gopher's stop-word rule for English: "at least two of the following English words".
GOPHER_STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})

#: Scripts written without spaces between words: each character is one word.
_UNSPACED_CHAR = UNSPACED
#: A word: one character of a script without spaces with its combining marks (Thai vowel
#: signs) and the punctuation after it (as "word," is one whitespace token), or a run of
#: other non-space characters.
_TOKEN = regex.compile(rf"[{_UNSPACED_CHAR}]\p{{M}}*\p{{P}}*|[^\s{_UNSPACED_CHAR}]+")
_UNSPACED = regex.compile(rf"[{_UNSPACED_CHAR}]")
#: The blocks of those scripts, for a fast (stdlib ``re``) test of whether a text has any.
_ANY_UNSPACED = re.compile(
    "[\u0e00-\u0eff\u0f00-\u0fff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]"
)
_HAS_LETTER = re.compile(r"[^\W\d_]")
_LETTER = regex.compile(r"\p{L}")
#: Scripts whose sentences end without punctuation (C4's line rule cannot apply).
_UNPUNCTUATED = regex.compile(r"[\p{Thai}\p{Lao}]")
_PARAGRAPH_BREAK = regex.compile(r"\n[ \t\r\f\v]*\n\s*")
#: Bullet characters a list line starts with (Gopher: "lines starting with a bullet point").
_BULLETS = ("•", "-", "*", "‣", "▪", "▫", "●", "○", "◦", "■", "□", "➢", "►", "–", "—", "·")
_ELLIPSES = ("...", "…")
#: A line "ends in terminal punctuation" when its last character, after closing quotes and
#: brackets, has Unicode's Sentence_Terminal property (. ! ? 。 ！ ？ । ۔ ။ ...).
_TERMINAL = regex.compile(r"\p{Sentence_Terminal}[\p{Pf}\p{Pe}\"'”’»)\]]*\s*$")
#: Stripped from both ends of a word before the stop-word lookup.
_EDGE_PUNCT = "\"'()[]{}<>«»“”„‘’‚‹›.,;:!?¡¿…-–—/*_#|"

#: langdetect codes -> jusText stop-list names (jusText ships with trafilatura).
_JUSTEXT_LISTS = {
    "af": "Afrikaans", "ar": "Arabic", "bg": "Bulgarian", "bn": "Bengali", "ca": "Catalan",
    "cs": "Czech", "cy": "Welsh", "da": "Danish", "de": "German", "el": "Greek",
    "es": "Spanish", "et": "Estonian", "fa": "Persian", "fi": "Finnish", "fr": "French",
    "gu": "Gujarati", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian",
    "id": "Indonesian", "it": "Italian", "kn": "Kannada", "ko": "Korean", "lt": "Lithuanian",
    "lv": "Latvian", "mk": "Macedonian", "ml": "Malayalam", "mr": "Marathi", "ne": "Nepali",
    "nl": "Dutch", "no": "Norwegian_Bokmal", "pl": "Polish", "pt": "Portuguese",
    "ro": "Romanian", "ru": "Russian", "sk": "Slovak", "sl": "Slovenian", "sq": "Albanian",
    "sv": "Swedish", "sw": "Swahili", "ta": "Tamil", "te": "Telugu", "tl": "Tagalog",
    "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese",
}  # fmt: skip


class QualitySignals(NamedTuple):
    """The statistics of one text; field names are the ``pages`` columns."""

    mean_word_length: float
    symbol_word_ratio: float
    bullet_line_frac: float
    ellipsis_line_frac: float
    alpha_word_frac: float
    stop_word_count: int | None
    terminal_punct_line_frac: float
    dup_line_frac: float
    dup_line_char_frac: float
    dup_para_frac: float
    dup_para_char_frac: float
    top_2gram_char_frac: float
    top_3gram_char_frac: float
    top_4gram_char_frac: float
    dup_5gram_char_frac: float
    dup_6gram_char_frac: float
    dup_7gram_char_frac: float
    dup_8gram_char_frac: float
    dup_9gram_char_frac: float
    dup_10gram_char_frac: float


def tokenize(text: str) -> list[str]:
    """Whitespace-separated words; each character of a script without spaces is one word
    (with the punctuation that follows it)."""
    return _TOKEN.findall(text) if _ANY_UNSPACED.search(text) else text.split()


def unspaced_share(text: str) -> tuple[float, float]:
    """Shares of the letters of ``text`` in a script written without spaces, and in Thai or
    Lao (scripts that end sentences without punctuation)."""
    if not _ANY_UNSPACED.search(text):
        return 0.0, 0.0
    letters = len(_LETTER.findall(text))
    if not letters:
        return 0.0, 0.0
    return len(_UNSPACED.findall(text)) / letters, len(_UNPUNCTUATED.findall(text)) / letters


@functools.lru_cache(maxsize=64)
def stop_words_for(language: str) -> frozenset[str] | None:
    """The stop words counted for ``language`` (a langdetect code); None when there is no list.

    English uses Gopher's eight words; other languages jusText's stop list (the function
    words trafilatura's boilerplate removal relies on). Scripts without spaces have none.
    """
    if language == "en":
        return GOPHER_STOP_WORDS
    name = _JUSTEXT_LISTS.get(language)
    if name is None:
        return None
    import justext

    return frozenset(justext.get_stoplist(name))


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def _repeats(items: Sequence[str]) -> tuple[int, int]:
    """(occurrences that repeat an earlier item, their characters)."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


def _word_stats(words: list[str]) -> dict[str, float]:
    """The n-gram statistics over ``words``, with numpy (a Counter of word tuples per n cost
    ~1 ms per 6 kB page, most of the quality stage).

    The n-grams are numbered exactly, not hashed: the (n+1)-grams are the distinct pairs
    (n-gram number, next word's number), numbered again by ``numpy.unique``. Per n:

    - ``top_Ngram_char_frac`` (n = 2..4): characters in all occurrences of the most frequent
      n-gram, when it occurs at least twice (ties: the one with the most characters);
    - ``dup_Ngram_char_frac`` (n = 5..10): characters of the words covered by occurrences of
      an n-gram that repeat an earlier occurrence.

    Fractions of the characters of all words (whitespace not counted).
    """
    stats = {f"top_{n}gram_char_frac": 0.0 for n in TOP_NGRAMS}
    stats.update({f"dup_{n}gram_char_frac": 0.0 for n in DUP_NGRAMS})
    index = {w: i for i, w in enumerate(dict.fromkeys(words))}
    ids = np.fromiter(map(index.__getitem__, words), np.int64, len(words))
    prefix = np.zeros(len(words) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, words), np.int64, len(words)), out=prefix[1:])
    total = int(prefix[-1])
    if not total:
        return stats
    grams = ids  # grams[i]: the number of the n-gram starting at word i
    for n in range(2, max(DUP_NGRAMS) + 1):
        width = len(words) - n + 1
        if width < 1:
            break
        pairs = grams[:width] * len(index) + ids[n - 1 : n - 1 + width]  # < positions x words
        _, first, grams, counts = np.unique(
            pairs, return_index=True, return_inverse=True, return_counts=True
        )
        top = int(counts.max())
        if top < 2:  # every n-gram occurs once: so does every longer one
            break
        if n in TOP_NGRAMS:
            starts = first[counts == top]
            chars = int((prefix[starts + n] - prefix[starts]).max())
            stats[f"top_{n}gram_char_frac"] = top * chars / total
        if n in DUP_NGRAMS:
            # a word is covered when a repeating occurrence starts at most n - 1 words before it
            repeats = first[grams] != np.arange(width)
            last = np.where(repeats, np.arange(width), -len(words) - n)
            last = np.maximum.accumulate(np.pad(last, (0, n - 1), mode="edge"))
            covered = np.arange(len(words)) - last < n
            chars = int((prefix[1:] - prefix[:-1])[covered].sum())
            stats[f"dup_{n}gram_char_frac"] = chars / total
    return stats


def _stop_word_count(words: list[str], language: str) -> int | None:
    stop = stop_words_for(language)
    if stop is None:
        return None
    return sum(1 for w in words if w.lower() in stop or w.strip(_EDGE_PUNCT).lower() in stop)


def compute_signals(text: str, language: str = "und") -> QualitySignals:
    """All statistics of ``text``; fractions are in [0, 1] and 0.0 for an empty text.

    Deterministic and pure. ``stop_word_count`` is None when ``language`` has no stop list
    (``und``, scripts without spaces, languages jusText does not cover).
    """
    words = tokenize(text)
    n_words = len(words)
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    paragraphs = [p.strip() for p in _PARAGRAPH_BREAK.split(text.strip()) if p.strip()]
    dup_lines, dup_line_chars = _repeats(lines)
    dup_paras, dup_para_chars = _repeats(paragraphs)
    hashes = text.count("#")
    ellipses = text.count("...") + text.count("…")
    return QualitySignals(
        mean_word_length=_ratio(sum(map(len, words)), n_words),
        symbol_word_ratio=_ratio(max(hashes, ellipses), n_words),
        bullet_line_frac=_ratio(sum(line.startswith(_BULLETS) for line in lines), len(lines)),
        ellipsis_line_frac=_ratio(sum(line.endswith(_ELLIPSES) for line in lines), len(lines)),
        alpha_word_frac=_ratio(
            sum(1 for w in words if w.isalpha() or _HAS_LETTER.search(w)), n_words
        ),
        stop_word_count=_stop_word_count(words, language),
        terminal_punct_line_frac=_ratio(
            sum(_TERMINAL.search(line) is not None for line in lines), len(lines)
        ),
        dup_line_frac=_ratio(dup_lines, len(lines)),
        dup_line_char_frac=_ratio(dup_line_chars, len(text)),
        dup_para_frac=_ratio(dup_paras, len(paragraphs)),
        dup_para_char_frac=_ratio(dup_para_chars, len(text)),
        **_word_stats(words),
    )
