"""Turning a failure on one record into a dead-letter record (never a crashed run)."""

from __future__ import annotations

import traceback as tb

from pagestream.schemas.records import KIND_DEAD, Page, RawPage

__all__ = ["EXCERPT_CHARS", "dead_page", "dead_raw", "describe"]

#: How much of the offending input a dead letter keeps, so a user can see what it was.
EXCERPT_CHARS = 500


def describe(exc: BaseException) -> tuple[str, str]:
    """Returns ``("<Type>: <message>", formatted traceback)`` for an exception."""
    message = f"{type(exc).__name__}: {exc}"
    return message[:2000], "".join(tb.format_exception(type(exc), exc, exc.__traceback__))[-8000:]


def _excerpt(content: str | bytes | None) -> str | None:
    if content is None:
        return None
    if isinstance(content, bytes):
        content = content[: EXCERPT_CHARS * 4].decode("utf-8", "replace")
    return content[:EXCERPT_CHARS]


def dead_raw(
    url: str,
    source: str,
    stage: str,
    reason: str,
    exc: BaseException | None = None,
    *,
    error: str | None = None,
    content: str | bytes | None = None,
) -> RawPage:
    """A dead-letter ``RawPage`` for a record that could not be read."""
    trace = None
    if exc is not None:
        error, trace = describe(exc)
    return RawPage(
        kind=KIND_DEAD,
        url=url,
        source=source,
        stage=stage,
        reason=reason,
        error=error,
        traceback=trace,
        excerpt=_excerpt(content),
    )


def dead_page(
    page: Page,
    stage: str,
    reason: str,
    exc: BaseException | None = None,
    *,
    error: str | None = None,
) -> Page:
    """Turns ``page`` into a dead letter, keeping an excerpt of its text."""
    trace = None
    if exc is not None:
        error, trace = describe(exc)
    return page._replace(
        kind=KIND_DEAD,
        stage=stage,
        reason=reason,
        error=error,
        traceback=trace,
        excerpt=page.excerpt or _excerpt(page.text),
    )
