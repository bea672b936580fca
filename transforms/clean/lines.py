"""A plain-text page as logical lines: splitting, normalising, per-line features, thresholds.

``CleanTextConfig`` holds the thresholds of every line rule (re-exported by ``clean_text.py``).
``logical_lines`` splits a page into non-blank lines with whitespace collapsed and hard-wrapped
paragraphs joined; ``line_features`` tells whether a line is a sentence and whether it reads as
prose. The rules that drop lines are in ``line_rules.py``, the cleaning itself in
``clean_text.py``. All functions are pure and deterministic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from pagestream.schemas.validation import Number, check_fields, setting
from pagestream.transforms.scripts import (
    ends_sentence,
    han_or_kana,
    unpunctuated_script,
    word_count,
)

__all__ = ["CleanTextConfig"]


@dataclass(frozen=True)
class CleanTextConfig:
    """Thresholds of the line rules.

    Attributes:
        min_words: a sentence line with fewer words is dropped (``too_few_words``; C4 uses 3).
        prose_min_words: a sentence line with at least this many words is prose: trigger words
            alone do not drop it, and it can follow a kept heading.
        unpunctuated_min_words: a line without terminal punctuation is still prose when it has at
            least this many words, most of them lower case (a standfirst, a cut-off paragraph).
        heading_min_words: fewest words of a kept heading.
        heading_max_words: most words of a kept heading.
        title_max_gap: dropped lines allowed between the title and the first prose line.
        heading_max_gap: dropped lines allowed between a later subheading and its paragraph.
        wrap_min_chars: a line at least this long without terminal punctuation is joined with the
            next line when that one continues it (hard-wrapped paragraphs).
        script_min_share: a line whose letters are less than this share in the page's main
            script (Latin, Cyrillic, Han, ...) is dropped (``script``).
        repeat_max_words: longer lines are never "repeated across the site": verbatim repeats of
            long paragraphs are duplicate pages, which ``MarkDuplicates`` marks.
    """

    min_words: int = setting(Number(int, 1, 100, default=3))
    prose_min_words: int = setting(Number(int, 1, 100, default=8))
    unpunctuated_min_words: int = setting(Number(int, 1, 1000, default=18))
    heading_min_words: int = setting(Number(int, 1, 100, default=3))
    heading_max_words: int = setting(Number(int, 1, 100, default=20))
    title_max_gap: int = setting(Number(int, 0, 100, default=8))
    heading_max_gap: int = setting(Number(int, 0, 100, default=2))
    wrap_min_chars: int = setting(Number(int, 1, 100_000, default=60))
    script_min_share: float = setting(Number(float, 0.0, 1.0, default=0.5))
    repeat_max_words: int = setting(Number(int, 1, 100_000, default=60))

    def __post_init__(self):
        check_fields(self)
        Number(int, self.heading_min_words, 100, note="at least heading_min_words").check(
            "CleanTextConfig.heading_max_words", self.heading_max_words
        )


DEFAULT_CONFIG = CleanTextConfig()

# --- line features ---------------------------------------------------------------------------

# Zero-width space, word joiner, BOM and soft hyphen, deleted from lines. Not the zero-width
# (non-)joiners U+200C/U+200D: they are spelling in Persian, Indic scripts and emoji. A regex,
# not str.translate: on non-ASCII lines translate ran at ~21 us per line against ~2 us.
_INVISIBLE = re.compile("[\u200b\u2060\ufeff\u00ad]")
# "Read more" links glued to a paragraph's end, in the languages of most of the web.
_TRAILING_LINK = re.compile(
    r"(?<=[.!?”\"’。！？।۔؟])\s*(read more|continue reading|show more|see more|more|weiterlesen"
    r"|mehr lesen|lire la suite|en savoir plus|leer más|seguir leyendo|leggi (di più|tutto)"
    r"|continua a leggere|lees meer|ler mais|leia mais|czytaj (więcej|dalej)|читать (далее|дальше)"
    r"|подробнее|devamını oku|číst dále|citește mai mult|lue lisää|läs mer|les mer|læs mere"
    r"|اقرأ المزيد|और पढ़ें|阅读全文|阅读更多|続きを読む|더 보기|자세히 보기)\s*[»›>…]*$",
    re.I,
)


class LineFeatures(NamedTuple):
    text: str
    words: int
    prose: bool
    sentence: bool


_INTRO_MIN_WORDS = 6


def _introduces_list(text: str, words: int) -> bool:
    """ "The measures include:" -- a sentence that a list follows; never prose (so trigger words
    drop it: "Copy the embed link below:")."""
    return text.endswith(":") and words >= _INTRO_MIN_WORDS


def line_features(text: str, config: CleanTextConfig) -> LineFeatures:
    """Words (script-aware, see ``scripts.py``), sentence, prose. A line in a script often
    written without sentence marks (Thai, Lao, ...) is a sentence from ``unpunctuated_min_words``
    on (a headline is shorter). Han/kana lines, where a character counts as a word, need twice
    as many "words" to be unpunctuated prose (a Chinese word is about two characters)."""
    tokens = text.split()
    words = word_count(text)
    unpunctuated_min = config.unpunctuated_min_words
    if words >= unpunctuated_min and han_or_kana(text):  # (most lines are shorter: no test)
        unpunctuated_min *= 2
    sentence = (
        ends_sentence(text)
        or (words >= config.unpunctuated_min_words and unpunctuated_script(text))
        or _introduces_list(text, words)
    )
    alpha = [w for w in tokens if w[:1].isalpha()]
    # Caseless scripts (Han, Arabic, ...) count as lower case: only capitals mark a menu.
    mostly_lower = bool(alpha) and sum(not w[0].isupper() for w in alpha) >= len(alpha) / 2
    prose = (sentence and words >= config.prose_min_words and not text.endswith(":")) or (
        words >= unpunctuated_min and mostly_lower
    )
    return LineFeatures(text, words, prose, sentence)


# --- splitting ------------------------------------------------------------------------------


def normalise(line: str) -> str:
    return " ".join((line if line.isascii() else _INVISIBLE.sub("", line)).split())


def _continues(previous: str, line: str, config: CleanTextConfig) -> bool:
    """True when ``line`` goes on with a hard-wrapped ``previous`` line of the same paragraph."""
    if len(previous) < config.wrap_min_chars or ends_sentence(previous):
        return False
    return line[:1].islower() or len(line) >= config.wrap_min_chars


def logical_lines(text: str, config: CleanTextConfig) -> list[str]:
    """Non-blank lines, whitespace normalised, hard wraps joined, trailing "Read more" cut."""
    lines: list[str] = []
    previous_blank = True
    for raw in text.splitlines():
        line = normalise(raw)
        if not line:
            previous_blank = True
            continue
        if lines and not previous_blank and _continues(lines[-1], line, config):
            lines[-1] = f"{lines[-1]} {line}"
        else:
            lines.append(line)
        previous_blank = False
    return [_TRAILING_LINK.sub("", line) for line in lines]
