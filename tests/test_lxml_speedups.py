"""``lxml_speedups``: every rewritten XPath selects the same nodes as trafilatura's original,
and extraction gives the same text and metadata with and without the speed-ups, page by page."""

from __future__ import annotations

import dataclasses
import logging

import lxml.etree
import lxml.html
import pytest
import trafilatura
import trafilatura.utils
import trafilatura.xpaths

from pagestream.transforms import version_guard
from pagestream.transforms.extract import lxml_speedups
from pagestream.transforms.extract.bounded import BoundedExtractor
from pagestream.transforms.extract.config import ExtractConfig
from pagestream.transforms.extract.html import extract_html


@pytest.fixture
def restore():
    """Leaves the process as the test found it (the speed-ups installed or not)."""
    was_installed = lxml_speedups.installed()
    lxml_speedups.uninstall()
    yield
    lxml_speedups.uninstall()
    if was_installed:
        lxml_speedups.install()


def test_guard_wraps_tests_whose_pattern_cannot_match_empty():
    path = "//*[re:test(@class, 'author|byline') or re:test(@id, 'x', 'i')]"
    assert lxml_speedups.guard_regex_tests(path) == (
        "//*[(@class and re:test(@class, 'author|byline')) or (@id and re:test(@id, 'x', 'i'))]"
    )


def test_guard_parenthesises_attribute_unions():
    assert lxml_speedups.guard_regex_tests("//*[re:test(@id|@class, '^nav')]") == (
        "//*[((@id|@class) and re:test(@id|@class, '^nav'))]"
    )


@pytest.mark.parametrize("pattern", ["^$", "a*", "(^|x)", "x?", "(?:)"])
def test_guard_leaves_tests_that_match_the_empty_string(pattern):
    path = f"//*[re:test(@class, '{pattern}')]"
    assert lxml_speedups.guard_regex_tests(path) == path


def test_guarded_and_original_select_the_same_nodes_on_a_tricky_page():
    page = lxml.html.fromstring(
        '<html><body><div class="">empty class</div><div>no class</div>'
        '<p id="Author-1">by id</p><span class="the-Byline x">byline</span>'
        '<div id="a" class="byline">both</div></body></html>'
    )
    ns = {"re": "http://exslt.org/regular-expressions"}
    for path in (
        "//*[re:test(@class, '[Bb]yline')]",
        "//*[re:test(@id|@class, '^[Aa]uthor|byline')]",
        "//*[re:test(@class, '^$')]",  # matches "": must stay unguarded (it selects class-less)
        "//*[re:test(@id, 'author', 'i')]",
    ):
        guarded = lxml_speedups.guard_regex_tests(path)
        assert lxml.etree.XPath(guarded, namespaces=ns)(page) == page.xpath(path, namespaces=ns)
    unguarded = page.xpath("//*[re:test(@class, '^$')]", namespaces=ns)
    assert len(unguarded) > 1  # the class-less elements too: a guard would have lost them


def test_install_replaces_and_uninstall_restores(restore):
    original = trafilatura.xpaths.AUTHOR_XPATHS[2]
    assert lxml_speedups.install() > 0
    assert lxml_speedups.install() == 0  # idempotent
    assert lxml_speedups.installed()
    assert trafilatura.xpaths.AUTHOR_XPATHS[2] is not original
    assert "(@class and re:test(@class" in trafilatura.xpaths.AUTHOR_XPATHS[2].path
    form = trafilatura.utils.load_html("<html><body><form><p>x</p></form></body></html>")
    assert type(form.find(".//form")) is lxml.html.HtmlElement
    lxml_speedups.uninstall()
    assert trafilatura.xpaths.AUTHOR_XPATHS[2] is original
    form = trafilatura.utils.load_html("<html><body><form><p>x</p></form></body></html>")
    assert type(form.find(".//form")) is lxml.html.FormElement


def _xpath_lists() -> dict[str, list]:
    return {
        name: value
        for name, value in vars(trafilatura.xpaths).items()
        if isinstance(value, list) and any(isinstance(x, lxml.etree.XPath) for x in value)
    }


def test_every_rewritten_xpath_selects_the_same_nodes_on_every_page(restore, html_pages):
    originals = {name: list(value) for name, value in _xpath_lists().items()}
    lxml_speedups.install()
    pairs = [
        (original, new)
        for name, value in _xpath_lists().items()
        for original, new in zip(originals[name], value, strict=True)
        if new is not original
    ]
    lxml_speedups.uninstall()
    assert len(pairs) >= 10
    differ = []
    for url, html in html_pages[::3]:  # every page: 37 s; the extraction test covers them all
        tree = trafilatura.utils.load_html(html)
        if tree is None:
            continue
        for original, new in pairs:
            if new(tree) != original(tree):
                differ.append((url, original.path[:80]))
    assert not differ, differ[:5]


def _outputs(pages, config):
    return [extract_html(html, url, config) for url, html in pages]


def test_extraction_is_identical_with_and_without_speedups(restore, html_pages):
    config = ExtractConfig()
    pages = html_pages
    before = _outputs(pages, config)
    other = [
        dataclasses.replace(config, focus=f, include_comments=True) for f in ("precision", "recall")
    ]
    some = pages[::10]
    before_other = [_outputs(some, c) for c in other]
    before_defaults = [trafilatura.extract(html, url=url or None) for url, html in some]
    lxml_speedups.install()
    assert _outputs(pages, config) == before
    assert [_outputs(some, c) for c in other] == before_other
    assert [trafilatura.extract(html, url=url or None) for url, html in some] == before_defaults
    assert sum(1 for x in before if x.text) >= 0.9 * len(pages)


def test_using_the_composites_leaves_the_process_stock(restore):
    with BoundedExtractor(ExtractConfig(), speedups=True) as extractor:
        assert extractor.extract("<html><body><p>x</p></body></html>", "https://a.com/")
    assert not lxml_speedups.installed()


@pytest.mark.parametrize("library", ["trafilatura", "htmldate", "justext"])
def test_an_untested_library_version_keeps_stock_behaviour_with_one_log_line(
    restore, monkeypatch, caplog, library
):
    real = version_guard.installed_version
    monkeypatch.setattr(
        version_guard, "installed_version", lambda name: "0.1.0" if name == library else real(name)
    )
    monkeypatch.setattr(version_guard, "_logged", set())
    original = trafilatura.xpaths.AUTHOR_XPATHS[2]
    with caplog.at_level(logging.WARNING, logger="pagestream"):
        assert lxml_speedups.install() == 0
        assert lxml_speedups.install() == 0
    assert not lxml_speedups.installed()
    assert trafilatura.xpaths.AUTHOR_XPATHS[2] is original
    form = trafilatura.utils.load_html("<html><body><form><p>x</p></form></body></html>")
    assert type(form.find(".//form")) is lxml.html.FormElement  # lxml.html's own lookup
    tested = ", ".join(f"{v}.x" for v in version_guard.TESTED["lxml_speedups"][library])
    assert [r.getMessage() for r in caplog.records] == [
        f"pagestream: lxml_speedups off (stock behaviour): {library} 0.1.0 is not a version "
        f"it was tested on ({tested})"
    ]
