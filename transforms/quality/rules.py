"""Quality rules: thresholds from the papers, and the names of the rules a page fails.

Each rule is a named group of thresholds on :class:`~.signals.QualitySignals` (and the page's
``word_count``); a page that fails any threshold of a group gets the group's name in
``quality_flags``. Thresholds, with their sources (``docs/quality.md`` has the details):

- ``gopher_quality`` (Rae et al. 2021, appendix A): 50 <= words <= 100,000; mean word
  length 3..10; hash or ellipsis per word <= 0.1; bullet-start lines <= 0.9; ellipsis-end
  lines <= 0.3; words with a letter >= 0.8; stop words >= 2.
- ``gopher_repetition`` (Rae et al. 2021, table A1): duplicate lines <= 0.3 and paragraphs
  <= 0.3, their characters <= 0.2; top 2/3/4-gram characters <= 0.20/0.18/0.16; duplicate
  5..10-gram characters <= 0.15, 0.14, 0.13, 0.12, 0.11, 0.10.
- ``c4_lines``: C4 (Raffel et al. 2020) keeps only lines ending in terminal punctuation; as a
  page rule, FineWeb (Penedo et al. 2024) drops a page when fewer than 12 % of its lines do.

Script-aware: on text mainly (``unspaced_min_share``) in a script without spaces, the rules
that need word boundaries (word count, mean word length, stop words, word n-grams) are not
applied, and
``c4_lines`` is not applied to Thai and Lao text, whose sentences end without punctuation.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from pagestream.schemas.validation import Number, check_fields, fail, setting
from pagestream.transforms.quality.signals import QualitySignals

__all__ = ["FLAGS", "QualityConfig", "failed_checks", "quality_flags"]

# The kinds of threshold (``schemas/validation``), given their default.
_COUNT = partial(Number, int, 0, None)
_LENGTH = partial(Number, float, 0.0, None)
_SHARE = partial(Number, float, 0.0, 1.0)

#: Every flag name, in the order they are listed on a page.
FLAGS = ("gopher_quality", "gopher_repetition", "c4_lines")


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of the quality rules (defaults: the papers') and what to do with a flag.

    The ``min_``/``max_`` fields are the thresholds listed in the module docstring, named
    after the signal they bound (``max_top_ngram_char_frac``: n = 2, 3, 4;
    ``max_dup_ngram_char_frac``: n = 5..10); a check passes at the bound itself.

    Attributes:
        drop: move flagged pages to ``rejected`` (reason: the first flag) instead of
            only listing the flags.
        unspaced_min_share: share of letters in scripts without spaces from which a text is
            treated as unspaced, (0, 1].
    """

    drop: bool = False
    min_words: int = setting(_COUNT(50))
    max_words: int = setting(_COUNT(100_000))
    min_mean_word_length: float = setting(_LENGTH(3.0))
    max_mean_word_length: float = setting(_LENGTH(10.0))
    max_symbol_word_ratio: float = setting(_SHARE(0.1))
    max_bullet_line_frac: float = setting(_SHARE(0.9))
    max_ellipsis_line_frac: float = setting(_SHARE(0.3))
    min_alpha_word_frac: float = setting(_SHARE(0.8))
    min_stop_words: int = setting(_COUNT(2))
    max_dup_line_frac: float = setting(_SHARE(0.3))
    max_dup_para_frac: float = setting(_SHARE(0.3))
    max_dup_line_char_frac: float = setting(_SHARE(0.2))
    max_dup_para_char_frac: float = setting(_SHARE(0.2))
    max_top_ngram_char_frac: tuple[float, float, float] = (0.20, 0.18, 0.16)
    max_dup_ngram_char_frac: tuple[float, ...] = (0.15, 0.14, 0.13, 0.12, 0.11, 0.10)
    min_terminal_punct_line_frac: float = setting(_SHARE(0.12))
    unspaced_min_share: float = setting(Number(float, 0.0, 1.0, default=0.5, open_low=True))

    def __post_init__(self) -> None:
        check_fields(self)
        if not isinstance(self.drop, bool):
            fail("QualityConfig.drop", "true or false", self.drop)
        for name, size in (("max_top_ngram_char_frac", 3), ("max_dup_ngram_char_frac", 6)):
            value = getattr(self, name)
            if not isinstance(value, tuple) or len(value) != size:
                fail(f"QualityConfig.{name}", f"{size} numbers from 0 to 1", value)
            for item in value:
                _SHARE(None).check(f"QualityConfig.{name}", item)


def _gopher_quality_checks(s: QualitySignals, words: int, spaced: bool, c: QualityConfig):
    if spaced:
        yield "word_count", words, c.min_words <= words <= c.max_words
        yield (
            "mean_word_length",
            s.mean_word_length,
            c.min_mean_word_length <= s.mean_word_length <= c.max_mean_word_length,
        )
        if s.stop_word_count is not None:
            yield "stop_word_count", s.stop_word_count, s.stop_word_count >= c.min_stop_words
    yield "symbol_word_ratio", s.symbol_word_ratio, s.symbol_word_ratio <= c.max_symbol_word_ratio
    yield "bullet_line_frac", s.bullet_line_frac, s.bullet_line_frac <= c.max_bullet_line_frac
    yield (
        "ellipsis_line_frac",
        s.ellipsis_line_frac,
        s.ellipsis_line_frac <= c.max_ellipsis_line_frac,
    )
    yield "alpha_word_frac", s.alpha_word_frac, s.alpha_word_frac >= c.min_alpha_word_frac


def _gopher_repetition_checks(s: QualitySignals, spaced: bool, c: QualityConfig):
    for name in ("dup_line_frac", "dup_para_frac", "dup_line_char_frac", "dup_para_char_frac"):
        value = getattr(s, name)
        yield name, value, value <= getattr(c, f"max_{name}")
    if not spaced:
        # Word n-grams need word boundaries: over single characters the thresholds, set for
        # English words, flag ordinary Thai text.
        return
    for n, limit in zip((2, 3, 4), c.max_top_ngram_char_frac, strict=True):
        value = getattr(s, f"top_{n}gram_char_frac")
        yield f"top_{n}gram_char_frac", value, value <= limit
    for n, limit in zip(range(5, 11), c.max_dup_ngram_char_frac, strict=True):
        value = getattr(s, f"dup_{n}gram_char_frac")
        yield f"dup_{n}gram_char_frac", value, value <= limit


def _c4_lines_checks(s: QualitySignals, unpunctuated: bool, c: QualityConfig):
    if not unpunctuated:
        value = s.terminal_punct_line_frac
        yield "terminal_punct_line_frac", value, value >= c.min_terminal_punct_line_frac


def failed_checks(
    signals: QualitySignals,
    word_count: int,
    config: QualityConfig,
    *,
    unspaced_share: float = 0.0,
    no_sentence_punctuation: bool = False,
) -> dict[str, list[tuple[str, float]]]:
    """Per flag of :data:`FLAGS` that the page gets, the checks it fails: ``(signal, value)``.

    Args:
        unspaced_share: share of the text's letters in scripts written without spaces
            (``signals.unspaced_share``): from ``config.unspaced_min_share`` on, the checks
            that need word boundaries are skipped.
        no_sentence_punctuation: the text is mainly Thai or Lao: ``c4_lines`` is skipped.
    """
    spaced = unspaced_share < config.unspaced_min_share
    groups = {
        "gopher_quality": _gopher_quality_checks(signals, word_count, spaced, config),
        "gopher_repetition": _gopher_repetition_checks(signals, spaced, config),
        "c4_lines": _c4_lines_checks(signals, no_sentence_punctuation, config),
    }
    failed = {}
    for flag, checks in groups.items():
        bad = [(name, value) for name, value, ok in checks if not ok]
        if bad:
            failed[flag] = bad
    return failed


def quality_flags(
    signals: QualitySignals, word_count: int, config: QualityConfig, **script
) -> list[str]:
    """Names of the rules the page fails, in :data:`FLAGS` order; empty when it passes all.

    ``script``: the keyword arguments of :func:`failed_checks`.
    """
    return list(failed_checks(signals, word_count, config, **script))
