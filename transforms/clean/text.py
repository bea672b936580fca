"""Line-level boilerplate removal for plain-text pages, and the line keys used per site.

trafilatura finds nothing in text that is not HTML, so plain-text scrapes (``*.txt``, JSONL
``text``) are cleaned here, line by line, with general rules in the spirit of C4
(``tensorflow_datasets/text/c4_utils.py``): a line must read like a sentence, and lines made of
widgets (share, subscribe, sign-up, login), link lists, cookie and policy notices, bylines,
code or another script are dropped. Unlike C4 the rules that look for trigger words
("cookie", "privacy policy", "sign up") spare *prose* (a sentence of several words) unless it
speaks to the reader ("you", "I agree", "Sign up ...") outside reported speech, so an article
about cookies keeps its sentences.

Every script: a sentence ends with the full stop or question mark of any script and words are
counted per script (``scripts.py``); structure (separators, short lines, lines the site
repeats) finds menus in any language, and small vocabularies of the main web languages add
their share/subscribe/cookie/"read more" widgets. A short line that is only a date is a
``date`` line (``dates.py``).

Headings: C4 drops every line without terminal punctuation, and so the headline and the
subheadings. For news the headline is the densest summary of the article and subheadings
structure it, so a short heading-like line is kept when an article paragraph follows it: the
title may be separated from the first paragraph by up to ``title_max_gap`` dropped lines
(byline, date, share buttons, photo credit), a later subheading by ``heading_max_gap``. Lines in
a list after "Related"/"Read more" are never headings.

Text already extracted from HTML by trafilatura only loses the lines its site repeats
(``remove_repeated_lines``), so extraction precision and recall are left as trafilatura made them.

All functions are pure and deterministic; hand-written because no maintained library offers
line rules for plain text (datatrove's C4 filter drops headings and every trigger-word line).

This module decides per line (the first matching rule names the reason), restores headings and
offers the two entry points. Splitting, line features and ``CleanTextConfig`` are in
``lines.py``, the rule tables and predicates in ``line_rules.py``, ``site_of``/``line_key``/
``line_keys`` in ``sites.py``; the public names are re-exported here.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

from pagestream.transforms.clean.dates import is_date_line
from pagestream.transforms.clean.lines import (
    DEFAULT_CONFIG,
    CleanTextConfig,
    LineFeatures,
    line_features,
    logical_lines,
)
from pagestream.transforms.clean.rules import (
    BY_NAME,
    GATE_WORDS,
    LABEL,
    SHAPE_RULES,
    TRIGGER_RULES,
    has_markup,
    is_link_list,
    native_widget,
    other_script,
    page_main_script,
    rule_matches,
    speaks_to_reader,
)
from pagestream.transforms.clean.sites import (
    logical_line_key,
    repeat_candidate,
)
from pagestream.transforms.scripts import han_or_kana

__all__ = [
    "CleanResult",
    "clean_text",
    "remove_repeated_lines",
]


_DATE_MAX_WORDS = 8


class CleanResult(NamedTuple):
    """Cleaned text (paragraphs separated by a blank line), kept lines, and
    ``(reason, number of dropped lines)`` pairs sorted by reason."""

    text: str
    kept_lines: int
    removed: tuple[tuple[str, int], ...]


# --- cleaning --------------------------------------------------------------------------------


def _reason(
    line: LineFeatures,
    key: str,
    seen: set[str],
    repeated: frozenset[str],
    main_script: str | None,
    config: CleanTextConfig,
) -> str | None:
    """Why ``line`` is boilerplate, or None to keep it. The first matching rule names it."""
    text = line.text
    if key in repeated and repeat_candidate(text, config):
        return "repeated"
    if key in seen:
        return "duplicate"
    if "lorem ipsum" in text.lower():
        return "lorem_ipsum"
    if has_markup(line):
        return "code"
    lower = text.lower()
    words = set(GATE_WORDS.findall(lower))
    for rule in TRIGGER_RULES:
        if rule_matches(rule, lower, words) and (
            not line.prose
            or speaks_to_reader(line)
            or (rule.boilerplate is not None and rule.boilerplate.search(lower))
        ):
            return rule.reason
    if not line.prose:
        for rule in SHAPE_RULES:
            if rule_matches(rule, lower, words):
                return rule.reason
        if native_widget(line):
            return "widget"
        if BY_NAME.match(text):
            return "byline"
        if LABEL.match(text) or (text.endswith(":") and speaks_to_reader(line)):
            return "label"  # also "Get a weekly summary of our stories:" (a call to the reader)
        if is_link_list(line):
            return "navigation"
    if not line.prose and other_script(line, main_script, config):
        return "script"
    if not line.prose and not line.sentence:
        return "no_sentence"
    if not line.prose and line.words <= _DATE_MAX_WORDS and is_date_line(text):
        return "date"  # "4 октомври 2021 г.", "2016. szeptember 2.": a dateline, not a sentence
    if line.words < config.min_words:
        return "too_few_words"
    return None


def heading_like(line: LineFeatures, config: CleanTextConfig) -> bool:
    text = line.text
    tokens = text.split()
    max_words = config.heading_max_words * (2 if han_or_kana(text) else 1)
    return (
        config.heading_min_words <= line.words <= max_words
        # a capital, or a letter of a caseless script (Han, Arabic, Devanagari, ...)
        and (
            text[0].isupper()
            or text[0].isdigit()
            or text[0] in "\"'“‘«「『"
            or (text[0].isalpha() and not text[0].islower())
        )
        and not text.endswith(":")
        and not any(c in text for c in "@|©•·»›#")
        and sum(t[:1].isalpha() for t in tokens) >= 0.6 * len(tokens)
        and not is_date_line(text)  # "22 de agosto de 2023" is a date line
    )


def run_start(lines: list[LineFeatures], reasons: list[str | None], i: int) -> int:
    """Where the run of article text that prose line ``i`` is in starts: back over the short
    sentences kept right before it (a sentence that is not prose)."""
    while i > 0 and reasons[i - 1] is None and lines[i - 1].sentence and not lines[i - 1].prose:
        i -= 1
    return i


def _restore_headings(
    lines: list[LineFeatures], reasons: list[str | None], config: CleanTextConfig
) -> None:
    """Keeps the heading-like line that leads to each run of article prose (see module doc).
    Short sentences kept right before the prose ("Nobody was hurt.") belong to its run."""
    seen_prose = False
    for i, line in enumerate(lines):
        if reasons[i] is not None or not line.prose:
            continue
        start = run_start(lines, reasons, i)
        if start > 0 and reasons[start - 1] is None:
            seen_prose = True
            continue
        max_gap = config.heading_max_gap if seen_prose else config.title_max_gap
        seen_prose = True
        for j in range(start - 1, max(-1, start - max_gap - 2), -1):
            if reasons[j] is None:
                break
            after_list = j > 0 and reasons[j - 1] == "related"
            if reasons[j] == "no_sentence" and heading_like(lines[j], config) and not after_list:
                reasons[j] = None
                break


#: A line without a sentence mark just before the article's prose is the article's (a
#: standfirst, a subheading, a caption) from this many words; "Contact us" is not.
_INSIDE_MIN_WORDS = 5


def _restore_inside_body(lines: list[LineFeatures], reasons: list[str | None]) -> None:
    """Keeps a sentence too short for ``min_words`` ("He agreed.", "그것뿐이 아니었다.") when
    it is next to a kept prose line: inside an article it is body text, whatever its length.
    A line without a sentence mark, or a label ending in a colon, is kept from
    ``_INSIDE_MIN_WORDS`` words between a kept line and kept prose: a subheading or a caption
    inside the article. "Contact us", "24 September
    2019", a call to the reader ("Share it on:") and every line a rule names by its words or a
    site repeats stay dropped. Decided on the reasons before any restoring, so runs of short
    lines stay out."""
    kept = [reason is None for reason in reasons]
    prose = [k and line.prose for line, k in zip(lines, kept, strict=True)]
    for i, line in enumerate(lines):
        before = i > 0 and prose[i - 1]
        after = i + 1 < len(lines) and prose[i + 1]
        short_sentence = reasons[i] == "too_few_words" and line.sentence and (before or after)
        if short_sentence or (_leads_to_prose(line, reasons[i]) and kept[i - 1] and after):
            reasons[i] = None


def _leads_to_prose(line: LineFeatures, reason: str | None) -> bool:
    """A line dropped for its shape that, right before the article's prose, is the article's."""
    shape = reason == "no_sentence" or (reason == "label" and not speaks_to_reader(line))
    return shape and line.words >= _INSIDE_MIN_WORDS


def clean_text(
    text: str, repeated: frozenset[str] = frozenset(), config: CleanTextConfig = DEFAULT_CONFIG
) -> CleanResult:
    """Drops the boilerplate lines of a plain-text page.

    Args:
        text: the page as scraped; lines may be hard-wrapped, whitespace is arbitrary.
        repeated: ``line_key`` values of lines repeated across the page's site (``SiteStats``).
        config: thresholds.

    Returns:
        The kept lines in their order, whitespace inside lines collapsed, joined by a blank line;
        their number; and the number of dropped lines per reason. A line that occurs twice in the
        page is kept once. Never raises on any ``str``; the same input gives the same output.
    """
    lines, reasons = analyse(text, repeated, config)
    return result(lines, reasons)


def analyse(
    text: str, repeated: frozenset[str], config: CleanTextConfig
) -> tuple[list[LineFeatures], list[str | None]]:
    """The logical lines of ``text`` and why each is dropped (None: kept), headings restored."""
    lines = [line_features(ln, config) for ln in logical_lines(text, config)]
    main_script = page_main_script(lines)
    seen: set[str] = set()
    reasons: list[str | None] = []
    for line in lines:
        key = logical_line_key(line.text)
        reasons.append(_reason(line, key, seen, repeated, main_script, config))
        seen.add(key)
    _restore_inside_body(lines, reasons)
    _restore_headings(lines, reasons, config)
    return lines, reasons


def result(lines: list[LineFeatures], reasons: list[str | None]) -> CleanResult:
    kept = [line.text for line, reason in zip(lines, reasons, strict=True) if reason is None]
    removed = Counter(reason for reason in reasons if reason is not None)
    return CleanResult("\n\n".join(kept), len(kept), tuple(sorted(removed.items())))


def remove_repeated_lines(
    text: str, repeated: frozenset[str], config: CleanTextConfig = DEFAULT_CONFIG
) -> str:
    """Drops only the lines of ``text`` that its site repeats; for text trafilatura extracted.

    Every other line is kept as is (whitespace collapsed); paragraphs come out separated by a
    blank line.
    """
    lines = logical_lines(text, config)
    if repeated:  # most sites repeat no line: then no line needs its key (0.25 of ~1 ms/page)
        lines = [
            line
            for line in lines
            if not (repeat_candidate(line, config) and logical_line_key(line) in repeated)
        ]
    return "\n\n".join(lines)
