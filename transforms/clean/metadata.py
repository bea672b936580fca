"""Title, published date and author of a plain-text page, read from its lines.

trafilatura reads them from HTML markup; a scraped text page has only lines, so they are found
where the line cleaner's analysis puts them (``text.analyse``):

* **title**: the headline, i.e. the heading the cleaner keeps right before the first run of
  article prose (at most ``title_max_gap`` lines before it; never a line of a "Related" list,
  a menu or a widget). If no heading was kept, the nearest heading-like line before the prose
  that was dropped only for its shape (no sentence, too few words). No prose, no title.
* **published_date**: the first line with a full date (``dates.parse_date_line``) among the
  lines between the title and the first prose line, then the lines before the title (nearest
  first), then the start of the first prose line (a dateline such as "MOSCOW, January 16,
  2019 /TASS/."). A date of a menu or a "Related" list is not taken (only lines within
  ``title_max_gap`` of the prose are read).
* **author**: a byline among the same lines: "By Jane Smith", "Von ...", "Par ...", "Autor:
  ...", ... The name is cut at "with", "and", "|", a comma or a digit.

Lines that give metadata stay in the text when they are body text (the title, a dateline in
the first paragraph); a date line or a byline alone was already dropped by the line rules.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from pagestream.transforms.clean.dates import parse_date_line
from pagestream.transforms.clean.lines import DEFAULT_CONFIG, CleanTextConfig, LineFeatures
from pagestream.transforms.clean.text import analyse, heading_like, run_start

__all__ = ["TextMetadata", "metadata_from", "text_metadata"]


class TextMetadata(NamedTuple):
    """What a plain-text page says about itself; None where it says nothing."""

    title: str | None = None
    published_date: str | None = None  # ISO YYYY-MM-DD
    author: str | None = None


_SHAPE_ONLY = frozenset({None, "no_sentence", "too_few_words"})
_BYLINE = re.compile(
    r"^(?:by|written by|words by|reporting by|von|par|por|di|door|av|af|przez|från|"
    r"author|auteur|autor|autore|autorin|forfatter|författare|kirjoittaja|yazar|автор)"
    r"\s*:?\s+(?P<name>.+)$",
    re.IGNORECASE,
)
_NAME_END = re.compile(
    r"\s+(?:with|and|for|in|und|et|y|e|i|og|och|ja|ve|и)\s+|\s*[|,;(•·\-–—/]|\s+\d", re.I
)
_DATE_HEAD_CHARS = 120  # of the first prose line, for a dateline


def _author(text: str) -> str | None:
    match = _BYLINE.match(text)
    if not match or len(text.split()) > 12:
        return None
    name = _NAME_END.split(match["name"], maxsplit=1)[0].strip(" .:")
    words = name.split()
    if not 1 <= len(words) <= 5 or not all(w[:1].isalpha() for w in words):
        return None
    if not all(w[0].isupper() or not w[0].islower() for w in words):  # names are capitalised
        return None
    return name


def metadata_from(
    lines: list[LineFeatures], reasons: list[str | None], config: CleanTextConfig = DEFAULT_CONFIG
) -> TextMetadata:
    """Title, date and author from the analysis of a page (``text.analyse``)."""
    first = next(
        (i for i, (ln, r) in enumerate(zip(lines, reasons, strict=True)) if r is None and ln.prose),
        None,
    )
    if first is None:
        return TextMetadata()
    first = run_start(lines, reasons, first)  # short sentences before the prose: the article
    start = max(0, first - config.title_max_gap - 1)
    title_at = next((j for j in range(first - 1, start - 1, -1) if reasons[j] is None), None)
    if title_at is None:
        title_at = next(
            (
                j
                for j in range(first - 1, start - 1, -1)
                if reasons[j] in _SHAPE_ONLY
                and heading_like(lines[j], config)
                and not (j > 0 and reasons[j - 1] == "related")
            ),
            None,
        )
    title = lines[title_at].text if title_at is not None else None
    pivot = title_at if title_at is not None else first
    order = [*range(pivot + 1, first), *range(pivot - 1, start - 1, -1)]
    date = next((d for j in order if (d := parse_date_line(lines[j].text))), None)
    if date is None:
        date = parse_date_line(lines[first].text[:_DATE_HEAD_CHARS])
    author = next((a for j in order if (a := _author(lines[j].text))), None)
    return TextMetadata(title, date, author)


def text_metadata(
    text: str, repeated: frozenset[str] = frozenset(), config: CleanTextConfig = DEFAULT_CONFIG
) -> TextMetadata:
    """Title, published date (ISO) and author of a plain-text page (see the module doc)."""
    lines, reasons = analyse(text, repeated, config)
    return metadata_from(lines, reasons, config)
