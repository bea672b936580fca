"""Line-level boilerplate removal for plain-text pages, and the line keys used per site.

trafilatura finds nothing in text that is not HTML, so plain-text scrapes (``*.txt``, JSONL
``text``) are cleaned here, line by line, with general rules in the spirit of C4
(``tensorflow_datasets/text/c4_utils.py``): a line must read like a sentence, and lines made of
widgets (share, subscribe, sign-up, login), link lists, cookie and policy notices, bylines,
code or another script are dropped. Unlike C4 the rules that look for trigger words
("cookie", "privacy policy", "sign up") spare *prose* (a sentence of several words) unless it
speaks to the reader ("you", "I agree", "Sign up ...") outside reported speech, so an article
about cookies keeps its sentences.

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
"""

from __future__ import annotations

import functools
import posixpath
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlsplit

import tldextract
import xxhash

__all__ = [
    "CleanResult",
    "CleanTextConfig",
    "clean_text",
    "line_key",
    "line_keys",
    "remove_repeated_lines",
    "site_of",
]


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

    min_words: int = 3
    prose_min_words: int = 8
    unpunctuated_min_words: int = 18
    heading_min_words: int = 3
    heading_max_words: int = 20
    title_max_gap: int = 8
    heading_max_gap: int = 2
    wrap_min_chars: int = 60
    script_min_share: float = 0.5
    repeat_max_words: int = 60

    def __post_init__(self):
        for name, low, high in (
            ("min_words", 1, 100),
            ("prose_min_words", 1, 100),
            ("unpunctuated_min_words", 1, 1000),
            ("heading_min_words", 1, 100),
            ("heading_max_words", 1, 100),
            ("title_max_gap", 0, 100),
            ("heading_max_gap", 0, 100),
            ("wrap_min_chars", 1, 100_000),
            ("repeat_max_words", 1, 100_000),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be an integer from {low} to {high}, got {value!r}")
        if self.heading_max_words < self.heading_min_words:
            raise ValueError(
                f"heading_max_words must be at least heading_min_words ({self.heading_min_words}),"
                f" got {self.heading_max_words}"
            )
        if not 0.0 <= self.script_min_share <= 1.0:
            raise ValueError(
                f"script_min_share must be from 0.0 to 1.0, got {self.script_min_share!r}"
            )


class CleanResult(NamedTuple):
    """Cleaned text (paragraphs separated by a blank line), kept lines, and
    ``(reason, number of dropped lines)`` pairs sorted by reason."""

    text: str
    kept_lines: int
    removed: tuple[tuple[str, int], ...]


DEFAULT_CONFIG = CleanTextConfig()

# --- line features ---------------------------------------------------------------------------

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_TERMINAL = re.compile(r"[.!?…。！？؟][\"'”’»)\]]*$")
_TRAILING_LINK = re.compile(
    r"(?<=[.!?”\"’])\s+(read more|continue reading|show more|see more|more)\s*[»›>…]*$", re.I
)
_REPORTED = re.compile(r"(said|says|told|added|according to|wrote|asked|stated)\b")
_READER = re.compile(
    r"(you|your|yours)\b|i (agree|accept|consent|have read)\b|sign me\b"
    r"|(our|this) (web ?site|site|newsletter|app|privacy|cookie|terms)\b"
    r"|(^|[.!?]\s+)(click|tap|see|sign|subscribe|share|follow|join|download|get|register|log"
    r"|enter|visit|accept)\b"
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


def _speaks_to_reader(line: _Line) -> bool:
    lower = line.text.lower()
    return bool(_READER.search(lower)) and not _REPORTED.search(lower)


# --- rules ---------------------------------------------------------------------------------


class _Rule(NamedTuple):
    """A line rule: ``checks`` are ``(gate words, pattern)`` pairs; a pattern runs on the
    lower-cased line only when one of its gate words is a word of the line. Small patterns that
    start with a literal, run only where they can match, keep a long paragraph at microseconds
    (one big case-insensitive alternation took milliseconds per paragraph in ``re``)."""

    reason: str
    gate: frozenset[str]  # all gate words of the checks
    checks: tuple[tuple[frozenset[str], re.Pattern[str]], ...]
    boilerplate: re.Pattern[str] | None = None  # trigger rules: what makes prose boilerplate


def _rule(reason: str, *checks: tuple[str, str], boilerplate: str | None = None) -> _Rule:
    compiled = tuple((frozenset(gate.split()), re.compile(pattern)) for gate, pattern in checks)
    return _Rule(
        reason,
        frozenset().union(*(gate for gate, _ in compiled)),
        compiled,
        re.compile(boilerplate) if boilerplate else None,
    )


def _matches(rule: _Rule, lower: str, words: set[str]) -> bool:
    if words.isdisjoint(rule.gate):
        return False
    return any(not words.isdisjoint(gate) and p.search(lower) for gate, p in rule.checks)


_GATE_WORDS = re.compile(r"[^\W\d_]+|©")
_MEDIA = "photo photos image images picture pictures slide slides page pages video videos"

# Trigger words: the line is dropped unless it is prose that neither speaks to the reader nor
# matches the rule's ``boilerplate`` pattern.
_TRIGGER_RULES = (
    _rule(
        "javascript",
        ("javascript", "javascript"),
        boilerplate=r"browser|enable|disable|turn (on|off)|support",
    ),
    _rule(
        "cookie",
        ("cookie cookies", r"cookies?\b"),
        boilerplate=r"(uses?|accept|manage|reject|allow)( all)? cookies|cookies? (policy|settings"
        r"|preferences|consent)",
    ),
    _rule(
        "policy",
        ("terms", r"terms (of|and) (use|service|conditions)|terms ?& ?conditions"),
        ("privacy", r"privacy (policy|notice|statement|settings)|^privacy$"),
        ("rights", r"all rights reserved"),
        ("legal", r"legal notice"),
        ("sell", r"do not sell my"),
        ("accessibility", r"accessibility statement"),
        ("imprint impressum disclaimer", r"^(imprint|impressum|disclaimer)$"),
        boilerplate=r"all rights reserved|©|by (using|continuing)",
    ),
    _rule(
        "widget",
        ("share", r"share (this|on|via|article|story)|^share$"),
        ("subscribe subscription subscriptions", r"subscri(be|ption)s?\b"),
        ("sign", r"sign (me )?(up|in)\b"),
        ("log login logout", r"log ?(in|out)\b"),
        ("newsletter newsletters", r"newsletters?\b"),
        ("inbox", r"your inbox"),
        ("follow", r"follow us"),
        ("comment comments", r"^comments?\b|comments$"),
        ("reply comment", r"leave a (reply|comment)"),
        (
            "print email mail loader loading sponsored register search",
            r"^(print|e-?mail|loader|"
            r"loading|sponsored|register|search)\b",
        ),
        ("menu close open", r"^(menu|close|open)$"),
        ("clipboard", r"clipboard"),
        ("embed", r"embed\b"),
        ("advertise advertisement advertisements", r"advertis(e|ement|ements)\b"),
        ("min mins minute minutes", r"\d+ min(ute)?s? read"),
        (_MEDIA, r"^\W*\d+\s+(photo|image|picture|slide|page|video)s?\b|\(\s*\d+\s+images?\s*\)"),
        ("slideshow", r"slideshow"),
        ("account", r"(my|create (an )?) account"),
        ("app", r"download (the|our) app"),
        ("here", r"(click|tap|see) here"),
    ),
)

# Shapes of non-prose lines; prose never matches these.
_SHAPE_RULES = (
    _rule(  # the header of a list of links to other articles
        "related",
        (
            "related recommended trending popular latest more most top also see read you in "
            "partner sponsored editor editors further",
            r"^(related|recommended|trending|popular|latest|more|most|top|also|see also|read (more"
            r"|next|also)|you (may|might) (also )?like|in other media|partner|sponsored|editor'?s"
            r" picks?|further reading)\b(\W+\w+){0,3}\W*$",
        ),
    ),
    _rule(
        "navigation",
        (
            "read show see view load source back go skip continue home next previous more top x",
            r"^((read|show|see|view|load) (more|all|less)\b|source link\b|(back|go|skip) to\b"
            r"|continue reading\b|(home|back|next|previous|more|top|x)$)",
        ),
        (
            "previous next prev older newer",
            r"(previous|next|prev|older|newer) (story|article|post"
            r"|page|entry|item)\b",
        ),
    ),
    _rule(
        "tags",
        (
            "tag tags topic topics category categories filed keyword keywords label labels",
            r"^(tags?|topics?|categor(y|ies)|filed under|keywords?|labels?)\s*:",
        ),
    ),
    _rule(
        "byline",
        ("©", r"^©"),
        ("c", r"\(c\)\s*\d"),
        ("copyright", r"^copyright\b"),
        (
            "credit credits photo photos image images picture pictures source sources foto fotos",
            r"(credit|photo|image|picture|source|foto)s?\s*:",
        ),
        ("published updated posted last", r"^(published|updated|posted|last (updated|modified))\b"),
    ),
)
_BY_NAME = re.compile(
    r"(By|BY|Written by|Reporting by|Additional reporting by|Words by|Photos? by)\s+[A-Z]"
)
_LABEL = re.compile(r"[^:]{1,40}:$")  # a form or metadata label without its value

_LINK_LIST = re.compile(r"[|•·»›▸►]|\s/\s|\s>\s")
_GLUED = re.compile(r"[a-z][A-Z]")
_MARKUP_TOKEN = re.compile(r"\S*\w[-_]\w+[-_]\w+[-_]\w+\S*")
_FUNCTION_WORDS = frozenset("the a an of to in on for and with at by from is are as or".split())  # noqa: SIM905


def _is_link_list(line: _Line) -> bool:
    """Menus and tag lists: several separators, links glued together, capitalised words only, or
    three or more commas between items of one to three words."""
    text = line.text
    if len(_LINK_LIST.findall(text)) >= 2:
        return True
    items = text.split(",")
    if len(items) >= 4 and all(1 <= len(item.split()) <= 3 for item in items):
        return True
    if any(len(_GLUED.findall(token)) >= 2 for token in text.split()):
        return True
    words = [w for w in text.split() if w[:1].isalpha()]
    return (
        len(words) >= 4
        and all(w[0].isupper() for w in words)
        and not any(w.lower() in _FUNCTION_WORDS for w in words)
    )


def _has_markup(line: _Line) -> bool:
    return (
        "{" in line.text
        or "}" in line.text
        or any(
            len(t) >= 25 and _MARKUP_TOKEN.fullmatch(t) and "://" not in t
            for t in line.text.split()
        )
    )


# --- scripts ---------------------------------------------------------------------------------

_SCRIPT_GROUPS = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "HANGUL": "CJK", "CJK": "CJK"}


@functools.lru_cache(maxsize=8192)
def _script(char: str) -> str:
    if char < "\u0080":
        return "LATIN"
    first = unicodedata.name(char, "UNKNOWN").split(" ", 1)[0]
    return _SCRIPT_GROUPS.get(first, first)


_ASCII_LETTERS = re.compile(r"[A-Za-z]+")
_ASCII = re.compile(r"[\x00-\x7f]+")


def _script_counts(text: str) -> Counter[str]:
    """Letters per script; ASCII is counted by regex, as most text is mostly ASCII (speed)."""
    counts = Counter(_script(c) for c in _ASCII.sub("", text) if c.isalpha())
    latin = len(text) - len(_ASCII_LETTERS.sub("", text))
    if latin:
        counts["LATIN"] += latin
    return counts


def _main_script(lines: list[_Line]) -> str | None:
    counts = _script_counts(" ".join(line.text for line in lines if line.prose))
    if not counts:
        counts = _script_counts(" ".join(line.text for line in lines))
    return min(counts, key=lambda s: (-counts[s], s)) if counts else None


def _other_script(line: _Line, main: str | None, config: CleanTextConfig) -> bool:
    if main == "LATIN" and line.text.isascii():
        return False
    counts = _script_counts(line.text)
    letters = sum(counts.values())
    return main is not None and letters >= 3 and counts[main] < config.script_min_share * letters


# --- splitting and keys ----------------------------------------------------------------------


def _normalise(line: str) -> str:
    return " ".join((line if line.isascii() else line.translate(_INVISIBLE)).split())


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


_DIGITS = re.compile(r"\d+")


def line_key(line: str) -> str:
    """A 16-hex-digit key of a line, equal for lines that differ only in case, whitespace or digits.

    Stable across runs, processes and machines: xxhash64 of the NFKC-normalised, case-folded
    line with every run of digits replaced by ``0``.
    """
    text = _normalise(line)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return xxhash.xxh64_hexdigest(_DIGITS.sub("0", text.casefold()).encode("utf-8"))


def _repeat_candidate(line: str, config: CleanTextConfig) -> bool:
    # Lines without letters (numbers, dates once digits are folded, dividers) would all share a
    # key; long lines are paragraphs, whose verbatim repeats are duplicate pages, not templates.
    return any(c.isalpha() for c in line) and len(line.split()) <= config.repeat_max_words


def line_keys(text: str, config: CleanTextConfig = DEFAULT_CONFIG) -> list[str]:
    """Sorted distinct keys of the lines of ``text`` that may count as repeated across a site.

    Lines are split as ``clean_text`` splits them; lines without a letter and lines of more
    than ``repeat_max_words`` words are not candidates.
    """
    return sorted(
        {line_key(ln) for ln in _logical_lines(text, config) if _repeat_candidate(ln, config)}
    )


@functools.lru_cache(maxsize=1)
def _tld_extract() -> tldextract.TLDExtract:
    # The bundled suffix-list snapshot only: no download, no cache directory. Private suffixes
    # count (``a.blogspot.com`` and ``b.blogspot.com`` are two sites with their own templates).
    return tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
    )


def site_of(url: str, source: str) -> str:
    """The site a page belongs to.

    For a web url the registered domain in lower case (``news.bbc.co.uk`` -> ``bbc.co.uk``,
    ``x.blogspot.com`` -> ``x.blogspot.com``: private suffixes count; the host itself for IP
    addresses and single-label hosts). For ``file://`` urls and urls without a
    host, the directory of the input file named by ``source`` (``<path>#<position>``): pages
    scraped into one folder are one site. Never touches the network.
    """
    parts = urlsplit(url or "")
    host = (parts.hostname or "") if parts.scheme != "file" else ""
    if host:
        extracted = _tld_extract()(host)
        return (extracted.top_domain_under_public_suffix or host).lower()
    return posixpath.dirname(source.split("#", 1)[0])


# --- cleaning --------------------------------------------------------------------------------


def _reason(
    line: _Line,
    key: str,
    seen: set[str],
    repeated: frozenset[str],
    main_script: str | None,
    config: CleanTextConfig,
) -> str | None:
    """Why ``line`` is boilerplate, or None to keep it. The first matching rule names it."""
    text = line.text
    if key in repeated and _repeat_candidate(text, config):
        return "repeated"
    if key in seen:
        return "duplicate"
    if "lorem ipsum" in text.lower():
        return "lorem_ipsum"
    if _has_markup(line):
        return "code"
    lower = text.lower()
    words = set(_GATE_WORDS.findall(lower))
    for rule in _TRIGGER_RULES:
        if _matches(rule, lower, words) and (
            not line.prose
            or _speaks_to_reader(line)
            or (rule.boilerplate is not None and rule.boilerplate.search(lower))
        ):
            return rule.reason
    if not line.prose:
        for rule in _SHAPE_RULES:
            if _matches(rule, lower, words):
                return rule.reason
        if _BY_NAME.match(text):
            return "byline"
        if _LABEL.match(text):
            return "label"
        if _is_link_list(line):
            return "navigation"
    if not line.prose and _other_script(line, main_script, config):
        return "script"
    if not line.prose and not line.sentence:
        return "no_sentence"
    if line.words < config.min_words:
        return "too_few_words"
    return None


def _heading_like(line: _Line, config: CleanTextConfig) -> bool:
    text = line.text
    tokens = text.split()
    return (
        config.heading_min_words <= line.words <= config.heading_max_words
        and (text[0].isupper() or text[0].isdigit() or text[0] in "\"'“‘«")
        and not text.endswith(":")
        and not any(c in text for c in "@|©•·»›#")
        and sum(t[:1].isalpha() for t in tokens) >= 0.6 * len(tokens)
    )


def _restore_headings(
    lines: list[_Line], reasons: list[str | None], config: CleanTextConfig
) -> None:
    """Keeps the heading-like line that leads to each run of article prose (see module doc)."""
    seen_prose = False
    for i, line in enumerate(lines):
        if reasons[i] is not None or not line.prose:
            continue
        if i > 0 and reasons[i - 1] is None:
            seen_prose = True
            continue
        max_gap = config.heading_max_gap if seen_prose else config.title_max_gap
        seen_prose = True
        for j in range(i - 1, max(-1, i - max_gap - 2), -1):
            if reasons[j] is None:
                break
            after_list = j > 0 and reasons[j - 1] == "related"
            if reasons[j] == "no_sentence" and _heading_like(lines[j], config) and not after_list:
                reasons[j] = None
                break


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
    lines = [_features(ln, config) for ln in _logical_lines(text, config)]
    main_script = _main_script(lines)
    seen: set[str] = set()
    reasons: list[str | None] = []
    for line in lines:
        key = line_key(line.text)
        reasons.append(_reason(line, key, seen, repeated, main_script, config))
        seen.add(key)
    _restore_headings(lines, reasons, config)
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
    kept = [
        line
        for line in _logical_lines(text, config)
        if not (line_key(line) in repeated and _repeat_candidate(line, config))
    ]
    return "\n\n".join(kept)
