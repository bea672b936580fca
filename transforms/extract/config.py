"""Settings, result record and errors of HTML extraction (``ExtractConfig``, ``Extracted``).

Settings were chosen on ``shared/data/extraction-dev`` with ``benchmarks/extraction_eval.py``:
``include_comments=False`` (trafilatura's own benchmark setting) scores F1 0.9163 against
0.9121 for ``trafilatura.extract`` defaults; ``favor_precision`` 0.9128, ``favor_recall``
0.9111, ``fast`` 0.9075, precision without comments 0.9157, no tables 0.9116. Metadata costs
~15 % more CPU per page (one parse, but htmldate and the metadata XPaths; ``html_meta`` skips the
fields pagestream does not keep, which took another ~4 ms/page); title, author and date match the
annotations exactly on 63 %, 58 % and 81 % of annotated pages.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import NamedTuple

from pagestream.schemas.validation import (
    EXTRACT_TIMEOUT,
    MAX_PAGE_BYTES,
    Choice,
    Number,
    check_fields,
    fail,
    setting,
)

__all__ = [
    "EXTRACTOR_FALLBACK",
    "EXTRACTOR_TRAFILATURA",
    "ExtractConfig",
    "Extracted",
    "ExtractionError",
    "ExtractionTimeout",
    "ExtractorCrashed",
    "PageTooLarge",
]

EXTRACTOR_TRAFILATURA = "trafilatura"
EXTRACTOR_FALLBACK = "fallback"


@dataclasses.dataclass(frozen=True)
class ExtractConfig:
    """Thresholds and trafilatura options for HTML extraction.

    Attributes:
        max_page_bytes: pages whose UTF-8 size exceeds this are not parsed (1 kB .. 1 GB;
            default 5 MiB, ``--max_page_bytes``).
        timeout_s: wall-clock limit per page (0.1 .. 3600 s; default 10,
            ``--extract_timeout``); every page is extracted in a child process that is killed
            when a page overruns it.
        focus: trafilatura's trade-off, ``balanced``, ``precision`` or ``recall``.
        include_comments: keep reader comments (off: measured better on extraction-dev).
        include_tables: keep table text.
        fast: skip trafilatura's fallback extractors (faster, lower recall).
        with_metadata: extract title, author and date (same parse as the text).
        extensive_date_search: let htmldate also guess dates from the page text. Off: on
            extraction-dev it finds 4 % fewer annotated dates (80.7 vs 84.7 %) but invents far
            fewer (precision 77.6 vs 73.5 %; dateless pages left dateless 45 vs 2 %).
        latest_date: newest publication date accepted (``YYYY-MM-DD``); ``None`` means today,
            which makes dates depend on the run day, so pipelines pass ``--logical_date``.
        on_limit: ``raise`` (:class:`PageTooLarge` / :class:`ExtractionTimeout`, which the
            caller turns into dead letters) or ``fallback`` (:func:`fallback_extract` text,
            ``extractor="fallback"``).
        fallback_chars: how much of a page the fallback extractor reads (1 kB .. 100 MB).
    """

    max_page_bytes: int = setting(MAX_PAGE_BYTES)
    timeout_s: float = setting(EXTRACT_TIMEOUT)
    focus: str = setting(Choice(("balanced", "precision", "recall"), "balanced"))
    include_comments: bool = False
    include_tables: bool = True
    fast: bool = False
    with_metadata: bool = True
    extensive_date_search: bool = False
    latest_date: str | None = None
    on_limit: str = setting(Choice(("raise", "fallback"), "raise"))
    fallback_chars: int = setting(Number(int, 1_000, 100_000_000, default=1_000_000))

    def __post_init__(self) -> None:
        check_fields(self)
        if self.latest_date is not None and not _is_iso_date(self.latest_date):
            fail("ExtractConfig.latest_date", "a date YYYY-MM-DD or None", self.latest_date)


def _is_iso_date(value: object) -> bool:
    try:
        return isinstance(value, str) and date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


class Extracted(NamedTuple):
    """Text and metadata of one page.

    ``text`` is NFC-normalised, one paragraph per block separated by a blank line (``"\\n\\n"``),
    no leading/trailing whitespace; ``""`` when no main content was found. ``published_date`` is
    ``YYYY-MM-DD`` or ``None``.
    """

    text: str
    title: str | None
    author: str | None
    published_date: str | None
    extractor: str


class ExtractionError(Exception):
    """A page could not be extracted; ``reason`` is the dead-letter reason."""

    reason = "extract_error"


class PageTooLarge(ExtractionError):
    """The page is over ``max_page_bytes``; refused before parsing."""

    reason = "too_large"


class ExtractionTimeout(ExtractionError):
    """Extraction overran ``timeout_s``; the child doing it was killed."""

    reason = "timeout"


class ExtractorCrashed(ExtractionError):
    """The child process died on the page (e.g. killed by the OS for memory)."""

    reason = "extractor_crashed"
