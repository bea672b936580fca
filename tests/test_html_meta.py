"""``html_meta.page_metadata`` gives the title, author and date trafilatura's own
``extract_metadata`` gives, page by page, and ``extract_html`` uses it without changing any
extracted field."""

from __future__ import annotations

import logging

import pytest
from trafilatura.metadata import extract_metadata
from trafilatura.utils import load_html

from pagestream.transforms import version_guard
from pagestream.transforms.extract import metadata as html_meta
from pagestream.transforms.extract.config import ExtractConfig
from pagestream.transforms.extract.html import extract_html

DATE_PARAMS = {"original_date": True, "extensive_search": False, "max_date": "2026-01-01"}


def test_the_page_set_is_not_trivial(html_pages):
    assert len(html_pages) >= 3
    found = [
        html_meta.page_metadata(load_html(h), u or None, DATE_PARAMS) for u, h in html_pages[:1]
    ]
    assert found == [("Storm closes the harbour", "Jane Roe", "2024-03-02")]


def test_fields_equal_trafilatura_extract_metadata_on_every_page(html_pages):
    assert html_meta.available()
    differ = []
    for url, html in html_pages:
        tree = load_html(html)
        full = extract_metadata(tree, url or None, dict(DATE_PARAMS))
        lean = html_meta.page_metadata(tree, url or None, DATE_PARAMS)
        if lean != (full.title, full.author, full.date):
            differ.append((url, lean, (full.title, full.author, full.date)))
    assert differ == []


def test_extract_html_gives_the_same_result_on_either_path(monkeypatch, html_pages):
    config = ExtractConfig(latest_date="2026-01-01")
    lean = [extract_html(h, u, config) for u, h in html_pages[:60]]
    monkeypatch.setattr(html_meta, "available", lambda: False)  # bare_extraction's metadata
    full = [extract_html(h, u, config) for u, h in html_pages[:60]]
    assert lean == full
    assert any(r.title for r in lean) and any(r.author for r in lean)


@pytest.fixture
def untested_trafilatura(monkeypatch):
    """``trafilatura`` pretends to be a version ``html_meta`` was not tested on."""
    real = version_guard.installed_version
    monkeypatch.setattr(
        version_guard,
        "installed_version",
        lambda name: "2.99.0" if name == "trafilatura" else real(name),
    )
    monkeypatch.setattr(version_guard, "_logged", set())
    html_meta.available.cache_clear()
    yield
    html_meta.available.cache_clear()


def test_an_untested_trafilatura_gets_stock_metadata_and_one_log_line(
    untested_trafilatura, monkeypatch, html_pages, caplog
):
    config = ExtractConfig(latest_date="2026-01-01")
    with caplog.at_level(logging.WARNING, logger="pagestream"):
        got = [extract_html(h, u, config) for u, h in html_pages[:10]]
    assert not html_meta.available()
    assert [r.getMessage() for r in caplog.records] == [
        "pagestream: html_meta off (stock behaviour): trafilatura 2.99.0 is not a version it "
        "was tested on (2.3.x)"
    ]
    calls = []
    monkeypatch.setattr(html_meta, "page_metadata", lambda *a: calls.append(a))
    assert [extract_html(h, u, config) for u, h in html_pages[:10]] == got
    assert calls == []  # the stock path: bare_extraction(with_metadata=True)
