"""What a sentence end and a word are, in every script: the one script helper of pagestream.

The line rules (``clean``), the word counts (``min_words``), the shingles of duplicate detection
(``dedup.normalise``) and the quality signals (``quality.signals``) all take the scripts written
without spaces from here (``PER_CHARACTER``, ``UNSPACED_RUNS``, ``UNSPACED``). What they do with
them differs on purpose: a word count estimates words (a Thai run of 8 letters is 2 words),
shingles and the quality rules take each character as a token (finer, so that one changed word
changes few shingles).

* **Sentence ends** come from Unicode's sentence-break property (UAX #29, ``Sentence_Break``
  ``STerm``/``ATerm``, through the ``regex`` module): ``. ! ?`` and the full stops and question
  marks of every script (Arabic ``؟``, Urdu ``۔``, Devanagari/Bengali ``। ॥``, CJK ``。！？``,
  Armenian ``։``, Ethiopic ``። ፧``, Myanmar ``။``, Khmer ``។``...), followed by closing quotes
  or brackets. Added by hand: the Arabic comma ``،`` (Arabic news often ends a sentence with it),
  the Tibetan shad ``།``, the ellipsis ``…``, and ``;`` in Greek text (the Greek question mark).
* **Words**: whitespace-separated tokens, except in scripts written without spaces between
  words. There each Han or kana character counts as a word (as ``word_count`` always did), and
  a run of Thai, Lao, Khmer, Myanmar or Tibetan letters counts one word per ``_CHARS_PER_WORD`` code
  points (the mean word length with its vowel and tone marks, rounded), so thresholds such as
  ``min_words`` mean about the same amount of text in every language.
* **Scripts without sentence punctuation** (Thai, Lao; Khmer and Myanmar often): a long line
  in them is a sentence even without a final mark (``unpunctuated``).

Hand-written, because the one library that segments words in these scripts (ICU, through PyICU)
is a C++ build; an estimate suffices for line thresholds.
"""

from __future__ import annotations

import math

import regex

__all__ = [
    "PER_CHARACTER",
    "UNSPACED",
    "UNSPACED_RUNS",
    "ends_sentence",
    "han_or_kana",
    "strip_terminal",
    "unpunctuated_script",
    "word_count",
]

#: Sentence-final marks; a line ending with one (then closing quotes/brackets) ends a sentence.
TERMINAL_CLASS = r"\p{Sentence_Break=STerm}\p{Sentence_Break=ATerm}…،།"
_CLOSE = r"\p{Sentence_Break=Close}\"'”’»)\]"
_TERMINAL = regex.compile(rf"[{TERMINAL_CLASS}][{_CLOSE}]*$")
_GREEK_QUESTION = regex.compile(rf"[;\u037e][{_CLOSE}]*$")
_GREEK = regex.compile(r"\p{Greek}")
_TAIL = 12  # characters of the line end searched: a mark and a few closing quotes

_CHARS_PER_WORD = 4
#: Scripts written without spaces between words (``regex`` character-class bodies): Han and
#: kana, where a character is about half a word, and the scripts of runs of letters.
PER_CHARACTER = r"\p{Han}\p{Hiragana}\p{Katakana}"
UNSPACED_RUNS = r"\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}\p{Tibetan}"
UNSPACED = PER_CHARACTER + UNSPACED_RUNS
_UNSPACED = regex.compile(rf"[{PER_CHARACTER}]|[{UNSPACED_RUNS}]+")
_UNPUNCTUATED = regex.compile(rf"[{UNSPACED_RUNS}]")
_HAN_OR_KANA = regex.compile(rf"[{PER_CHARACTER}]")


def ends_sentence(text: str) -> bool:
    """True when ``text`` ends with sentence-final punctuation of any script."""
    tail = text[-_TAIL:]
    if _TERMINAL.search(tail):
        return True
    return bool(_GREEK_QUESTION.search(tail)) and bool(_GREEK.search(text))


def strip_terminal(text: str) -> str:
    """``text`` without its final sentence mark and closing quotes (for headline-like text)."""
    return regex.sub(rf"[{TERMINAL_CLASS}{_CLOSE};]+$", "", text.rstrip()).rstrip()


def word_count(text: str) -> int:
    """Words of ``text``: whitespace tokens; one per Han/kana character; one per
    ``_CHARS_PER_WORD`` characters of a Thai, Lao, Khmer or Myanmar run (rounded up)."""
    if text.isascii():
        return len(text.split())
    units = _UNSPACED.findall(text)
    if not units:
        return len(text.split())
    per_unit = sum(1 if len(u) == 1 else math.ceil(len(u) / _CHARS_PER_WORD) for u in units)
    return per_unit + len(_UNSPACED.sub(" ", text).split())


def unpunctuated_script(text: str) -> bool:
    """True when ``text`` is mostly in a script that often ends sentences without a mark."""
    if text.isascii():
        return False
    runs = len(_UNPUNCTUATED.findall(text))
    letters = sum(map(str.isalpha, text))
    return letters > 0 and runs >= 0.5 * letters


def han_or_kana(text: str) -> bool:
    """True when most letters of ``text`` are Han or kana (one word per character: a Chinese
    word is about two characters, so a headline has about twice as many "words")."""
    if text.isascii():
        return False
    letters = sum(map(str.isalpha, text))
    return letters > 0 and len(_HAN_OR_KANA.findall(text)) >= 0.5 * letters
