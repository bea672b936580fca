"""One record to one row of its table: ``pages``, ``rejected`` or ``dead_letter``.

Shared by the batch writer (``parquet``) and the streaming windows' writer; the Arrow schemas
the rows fill are in ``schemas/arrow``; ``partition_path`` names a page's Hive partition.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone

from pagestream.schemas.records import QUALITY_COLUMNS, Page

__all__ = ["dead_letter_row", "page_row", "partition_path", "rejected_row"]

_SAFE_VALUE = re.compile(r"[^A-Za-z0-9._-]")


def partition_path(crawl_date: str, language: str) -> str:
    """``crawl_date=YYYY-MM-DD/language=xx`` (values made path-safe)."""
    return (
        f"crawl_date={_SAFE_VALUE.sub('_', crawl_date)}/language={_SAFE_VALUE.sub('_', language)}"
    )


def _timestamp(micros: int | None) -> datetime | None:
    if micros is None:
        return None
    return datetime.fromtimestamp(0, tz=timezone.utc) + (datetime.resolution * micros)


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def page_row(page: Page) -> dict:
    """The ``pages`` row of a page (partition keys excluded)."""
    return {
        "doc_id": page.doc_id,
        "url": page.url,
        "domain": page.domain or None,  # NULL, not '', when the url has none (file inputs)
        "http_status": page.http_status,
        "source": page.source,
        "fetch_time": _timestamp(page.fetch_time),
        "title": page.title,
        "author": page.author,
        "published_date": _date(page.published_date),
        "text": page.text,
        "word_count": page.word_count,
        "language_score": page.language_score,
        "content_hash": page.content_hash,
        "dup_status": page.dup_status,
        "dup_of": page.dup_of,
        "dup_similarity": page.dup_similarity,
        "dup_run": page.dup_run,
        "topics": list(page.topics),
        "topic_scores": list(page.topic_scores),
        **{name: getattr(page, name) for name in QUALITY_COLUMNS},
        "quality_flags": list(page.quality_flags),
        "extractor": page.extractor,
        "run_id": page.run_id,
        "pipeline_version": page.pipeline_version,
    }


def rejected_row(page: Page) -> dict:
    return {
        "url": page.url,
        "source": page.source,
        "stage": page.stage,
        "reason": page.reason,
        "doc_id": page.doc_id or None,
        "language": page.language if page.word_count else None,
        "word_count": page.word_count or None,
        "run_id": page.run_id,
    }


def dead_letter_row(page: Page) -> dict:
    return {
        "url": page.url,
        "source": page.source,
        "excerpt": page.excerpt,
        "stage": page.stage,
        "reason": page.reason,
        "error": page.error,
        "traceback": page.traceback,
        "run_id": page.run_id,
    }
