"""A plain-text page as logical lines: splitting, normalising, per-line features, thresholds.

``CleanTextConfig`` holds the thresholds of every line rule (re-exported by ``clean_text.py``).
``_logical_lines`` splits a page into non-blank lines with whitespace collapsed and hard-wrapped
paragraphs joined; ``_features`` tells whether a line is a sentence and whether it reads as
prose. The rules that drop lines are in ``line_rules.py``, the cleaning itself in
``clean_text.py``. All functions are pure and deterministic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from pagestream.schemas.validation import Number, check_fields, setting

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

# Zero-width and soft-hyphen characters, deleted from lines. A regex, not str.translate: on
# non-ASCII lines translate ran at ~21 us per line against ~2 us, for the same result.
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_TERMINAL = re.compile(r"[.!?…。！？؟][\"'”’»)\]]*$")
_TRAILING_LINK = re.compile(
    r"(?<=[.!?”\"’])\s+(read more|continue reading|show more|see more|more)\s*[»›>…]*$", re.I
)


class _Line(NamedTuple):
    text: str
    words: int
    prose: bool
    sentence: bool


# Scripts written without spaces between words: each character counts as a word.
_UNSPACED = re.compile(
    r"[\u0e00-\u0eff\u1000-\u109f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
)


def _features(text: str, config: CleanTextConfig) -> _Line:
    tokens = text.split()
    words = len(tokens) + (len(_UNSPACED.findall(text)) if not text.isascii() else 0)
    sentence = bool(_TERMINAL.search(text))
    alpha = [w for w in tokens if w[:1].isalpha()]
    # Caseless scripts (Han, Arabic, ...) count as lower case: only capitals mark a menu.
    mostly_lower = bool(alpha) and sum(not w[0].isupper() for w in alpha) >= len(alpha) / 2
    prose = (sentence and words >= config.prose_min_words) or (
        words >= config.unpunctuated_min_words and mostly_lower
    )
    return _Line(text, words, prose, sentence)


# --- splitting ------------------------------------------------------------------------------


def _normalise(line: str) -> str:
    return " ".join((line if line.isascii() else _INVISIBLE.sub("", line)).split())


def _continues(previous: str, line: str, config: CleanTextConfig) -> bool:
    """True when ``line`` goes on with a hard-wrapped ``previous`` line of the same paragraph."""
    if len(previous) < config.wrap_min_chars or _TERMINAL.search(previous):
        return False
    return line[:1].islower() or len(line) >= config.wrap_min_chars


def _logical_lines(text: str, config: CleanTextConfig) -> list[str]:
    """Non-blank lines, whitespace normalised, hard wraps joined, trailing "Read more" cut."""
    lines: list[str] = []
    previous_blank = True
    for raw in text.splitlines():
        line = _normalise(raw)
        if not line:
            previous_blank = True
            continue
        if lines and not previous_blank and _continues(lines[-1], line, config):
            lines[-1] = f"{lines[-1]} {line}"
        else:
            lines.append(line)
        previous_blank = False
    return [_TRAILING_LINK.sub("", line) for line in lines]
