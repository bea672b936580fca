"""Shared fixtures: paths to the development data beside the checkout, small page factories."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"

logging.getLogger("apache_beam").setLevel(logging.ERROR)


@pytest.fixture
def shared() -> Path:
    """``../shared/data``; tests that need it skip where it is missing."""
    if not SHARED.is_dir():
        pytest.skip(f"development data not found at {SHARED}")
    return SHARED


def make_page(**fields):
    """A ``Page`` with every column at a plausible default; override any field."""
    from pagestream.schemas.records import new_page

    defaults = dict(
        doc_id="d1",
        url="https://news.example.com/a",
        domain="example.com",
        source="/in/feed.jsonl#1",
        text="Some text of a page.",
        word_count=5,
        language="en",
        language_score=0.99,
        content_hash="h1",
        extractor="trafilatura",
        run_id="r1",
        pipeline_version="0.1.0",
        crawl_date="2020-01-10",
    )
    defaults.update(fields)
    return new_page(**defaults)


@pytest.fixture
def page_factory():
    return make_page
