"""Immutable records of the graph (NamedTuple + RowCoder).

Every record carries a ``kind``. Rejected pages and dead letters travel in the main flow
instead of tagged outputs (tagged outputs break on the DaskRunner), and are split off by
``Filter(kind == ...)`` just before writing.

Times are plain integers so the records stay cheap to encode on every runner:
``fetch_time`` is microseconds since the Unix epoch (UTC), ``published_date`` and
``crawl_date`` are ISO ``YYYY-MM-DD`` strings. The writers turn them into Parquet
``timestamp(us, UTC)`` and ``date32``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Optional

import apache_beam as beam

__all__ = [
    "KIND_DEAD",
    "KIND_PAGE",
    "KIND_RAW",
    "KIND_REJECTED",
    "QUALITY_COLUMNS",
    "Page",
    "RawPage",
    "file_of",
    "new_page",
]

KIND_RAW = "raw"  # a record read from an input, not yet extracted
KIND_PAGE = "page"  # a page with text, headed for `pages`
KIND_REJECTED = "rejected"  # read fine but dropped (http status, too short, language, ...)
KIND_DEAD = "dead"  # could not be processed: headed for `dead_letter`


def file_of(source: str) -> str:
    """The input file of a ``source`` column (``<path>#<position>``; the position follows the
    last ``#``, so a ``#`` in the path is kept)."""
    return source.rsplit("#", 1)[0] if "#" in source else source


class RawPage(NamedTuple):
    """One input record as read: the output of ``ReadPages``.

    ``html`` is set for HTML inputs (WARC, ``.html``, JSONL ``html``), ``text`` for plain-text
    inputs (``.txt``, JSONL ``text``). Records of kind ``rejected``/``dead`` carry
    ``stage``/``reason``/``error`` instead of content.
    """

    kind: str
    url: str
    source: str
    fetch_time: Optional[int] = None
    http_status: Optional[int] = None
    html: Optional[str] = None
    text: Optional[str] = None
    stage: Optional[str] = None
    reason: Optional[str] = None
    error: Optional[str] = None
    traceback: Optional[str] = None
    excerpt: Optional[str] = None
    text_cleaning: Optional[str] = None  # plain text: a record's own lines/repeats/off


class Page(NamedTuple):
    """A page after extraction; the columns of ``pages`` plus routing fields.

    Fields up to ``pipeline_version`` mirror the ``pages`` table (``schemas/arrow.py``);
    ``crawl_date`` is a partition key. The fields after it are for the graph only
    (``kind``, rejection/dead-letter details, a language hint from the HTML, and the
    per-stage cost in milliseconds that the manifest sums up).
    """

    doc_id: str
    url: str
    domain: str
    http_status: Optional[int]
    source: str
    fetch_time: Optional[int]
    title: Optional[str]
    author: Optional[str]
    published_date: Optional[str]
    text: str
    word_count: int
    language: str
    language_score: Optional[float]
    content_hash: str
    dup_status: str
    dup_of: Optional[str]
    dup_similarity: Optional[float]
    dup_run: Optional[str]
    topics: Sequence[str]
    topic_scores: Sequence[float]
    # quality signals (transforms/quality): null until ScoreQuality has run
    mean_word_length: Optional[float]
    symbol_word_ratio: Optional[float]
    bullet_line_frac: Optional[float]
    ellipsis_line_frac: Optional[float]
    alpha_word_frac: Optional[float]
    stop_word_count: Optional[int]
    terminal_punct_line_frac: Optional[float]
    dup_line_frac: Optional[float]
    dup_line_char_frac: Optional[float]
    dup_para_frac: Optional[float]
    dup_para_char_frac: Optional[float]
    top_2gram_char_frac: Optional[float]
    top_3gram_char_frac: Optional[float]
    top_4gram_char_frac: Optional[float]
    dup_5gram_char_frac: Optional[float]
    dup_6gram_char_frac: Optional[float]
    dup_7gram_char_frac: Optional[float]
    dup_8gram_char_frac: Optional[float]
    dup_9gram_char_frac: Optional[float]
    dup_10gram_char_frac: Optional[float]
    quality_flags: Sequence[str]
    extractor: str
    run_id: str
    pipeline_version: str
    crawl_date: str
    # --- routing and bookkeeping, not written to `pages` ---
    kind: str = KIND_PAGE
    stage: Optional[str] = None
    reason: Optional[str] = None
    error: Optional[str] = None
    traceback: Optional[str] = None
    excerpt: Optional[str] = None
    html_lang: Optional[str] = None
    extract_ms: float = 0.0
    language_ms: float = 0.0
    dedup_ms: float = 0.0
    topics_ms: float = 0.0
    text_cleaning: Optional[str] = None  # plain text: the record's own --text_cleaning mode


#: Columns of the quality signals (``transforms/quality``), null until ``ScoreQuality`` runs.
QUALITY_COLUMNS = (
    "mean_word_length", "symbol_word_ratio", "bullet_line_frac", "ellipsis_line_frac",
    "alpha_word_frac", "stop_word_count", "terminal_punct_line_frac", "dup_line_frac",
    "dup_line_char_frac", "dup_para_frac", "dup_para_char_frac", "top_2gram_char_frac",
    "top_3gram_char_frac", "top_4gram_char_frac", "dup_5gram_char_frac", "dup_6gram_char_frac",
    "dup_7gram_char_frac", "dup_8gram_char_frac", "dup_9gram_char_frac", "dup_10gram_char_frac",
)  # fmt: skip

#: The null/default value of the columns a page has before the stages fill them in
#: (``topics``/``topic_scores``/``quality_flags`` are new empty lists per page).
EMPTY_COLUMNS = dict(
    doc_id="",
    domain="",
    http_status=None,
    fetch_time=None,
    title=None,
    author=None,
    published_date=None,
    text="",
    word_count=0,
    language="und",
    language_score=None,
    content_hash="",
    dup_status="unique",
    dup_of=None,
    dup_similarity=None,
    dup_run=None,
    extractor="",
    **dict.fromkeys(QUALITY_COLUMNS),
)


def new_page(
    *, url: str, source: str, run_id: str, crawl_date: str, pipeline_version: str, **fields
) -> Page:
    """A ``Page`` with every column not given at its null/default value (``EMPTY_COLUMNS``)."""
    return Page(
        **{
            **EMPTY_COLUMNS,
            "topics": [],
            "topic_scores": [],
            "quality_flags": [],
            "url": url,
            "source": source,
            "run_id": run_id,
            "crawl_date": crawl_date,
            "pipeline_version": pipeline_version,
            **fields,
        }
    )


beam.coders.registry.register_coder(RawPage, beam.coders.RowCoder)
beam.coders.registry.register_coder(Page, beam.coders.RowCoder)
