"""BoundedExtractor and ExtractFn: every page is extracted in the killable child, within
``max_page_bytes`` and ``timeout_s``; slow, dying and failing pages are injected
(``tests/hooks/slow_extract.py``), so no test depends on how long a real page takes."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pagestream.schemas.records import KIND_DEAD, KIND_RAW, RawPage
from pagestream.transforms.extract import child as extraction_child
from pagestream.transforms.extract import lxml_speedups
from pagestream.transforms.extract.bounded import BoundedExtractor
from pagestream.transforms.extract.config import (
    ExtractConfig,
    ExtractionError,
    ExtractionTimeout,
    ExtractorCrashed,
    PageTooLarge,
)
from pagestream.transforms.extract.extract_fn import ExtractFn
from pagestream.transforms.extract.html import extract_html

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PHYS = SHARED / "mixed" / "phys.org.tool.html"
HOOKS = Path(__file__).resolve().parent / "hooks"
LATEST = "2024-01-01"  # published dates must not depend on the day the test runs
#: Generous for the few-ms pages the tests extract; the injected slow page never returns.
TIMEOUT_S = 2.0


@pytest.fixture
def slow_extract(monkeypatch):
    """The ``slow_extract`` hooks module, importable here and in children started from now."""
    monkeypatch.syspath_prepend(str(HOOKS))
    extraction_child._kill_idle()  # children started earlier cannot import it
    import slow_extract

    yield slow_extract
    extraction_child._kill_idle()
    sys.modules.pop("slow_extract", None)


def page(body: str) -> str:
    return f"<html><body><article><p>{body}</p></article></body></html>"


def article(i: int) -> str:
    return page(f"Paragraph {i} of an article about river otters and their habitats. " * 8)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_every_page_runs_in_the_child_and_equals_inline_extraction(slow_extract) -> None:
    config = ExtractConfig(latest_date=LATEST)
    with BoundedExtractor(config) as extractor:
        for html in (article(1), page("tiny"), PHYS.read_text() if PHYS.is_file() else article(2)):
            assert extractor.extract(html, "https://a.com/x") == extract_html(
                html, "https://a.com/x", config
            )
    with BoundedExtractor(config, extract=slow_extract.whereabouts) as extractor:
        ran_in = extractor.extract(page("tiny"), "https://a.com/").text
        assert int(ran_in) == extractor.child_pid != os.getpid()


def test_a_small_slow_page_overruns_the_child_is_killed_and_the_next_page_runs(
    slow_extract,
) -> None:
    config = ExtractConfig(timeout_s=TIMEOUT_S, latest_date=LATEST)
    with BoundedExtractor(config, extract=slow_extract.marked) as extractor:
        assert extractor.extract(article(1), "https://a.com/1").text
        pid = extractor.child_pid
        with pytest.raises(ExtractionTimeout) as info:
            extractor.extract(page("three words only"), "https://a.com/hang")
        assert str(info.value) == "extraction overran timeout_s=2; child killed"
        assert info.value.reason == "timeout" and isinstance(info.value, ExtractionError)
        assert extractor.child_pid is None and not pid_alive(pid)  # the work really stopped
        assert extractor.extract(article(2), "https://a.com/2") == extract_html(
            article(2), "https://a.com/2", config
        )
        assert extractor.child_pid not in (None, pid)


def test_an_overrun_with_fallback_gives_the_fallback_text(slow_extract) -> None:
    config = ExtractConfig(timeout_s=TIMEOUT_S, on_limit="fallback")
    with BoundedExtractor(config, extract=slow_extract.marked) as extractor:
        got = extractor.extract(page("stuck words"), "https://a.com/hang")
    assert (got.extractor, got.text) == ("fallback", "stuck words")


def test_a_child_dying_on_a_page_is_a_crash_and_is_replaced(slow_extract) -> None:
    config = ExtractConfig(timeout_s=TIMEOUT_S)
    with BoundedExtractor(config, extract=slow_extract.marked) as extractor:
        extractor.prestart()
        pid = extractor.child_pid
        with pytest.raises(ExtractorCrashed, match=r"^extraction child died \(exit status 3\)$"):
            extractor.extract(page("x"), "https://a.com/die")
        assert extractor.child_pid is None and not pid_alive(pid)
        assert extractor.extract(article(1), "https://a.com/1").extractor == "trafilatura"
        assert extractor.child_pid not in (None, pid)


def test_an_error_in_the_child_is_the_pages_error_and_the_child_stays(slow_extract) -> None:
    with BoundedExtractor(ExtractConfig(), extract=slow_extract.marked) as extractor:
        extractor.extract(article(1), "https://a.com/1")
        pid = extractor.child_pid
        with pytest.raises(ExtractionError) as info:
            extractor.extract(page("x"), "https://a.com/fail")
        assert type(info.value) is ExtractionError
        assert (
            str(info.value)
            == "in the extraction child: ValueError: cannot parse https://a.com/fail"
        )
        assert extractor.extract(article(2), "https://a.com/2").text
        assert extractor.child_pid == pid


def test_a_child_dying_before_it_is_ready_is_a_crash_and_is_replaced() -> None:
    with BoundedExtractor(ExtractConfig()) as extractor:
        extractor.prestart()
        pid = extractor.child_pid
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(ExtractorCrashed, match="did not start"):
            extractor.extract(article(1), "https://a.com/")
        assert extractor.child_pid is None and not pid_alive(pid)
        assert extractor.extract(article(1), "https://a.com/").extractor == "trafilatura"
        assert extractor.child_pid not in (None, pid)


def test_a_30mb_page_is_refused_before_the_child_or_falls_back() -> None:
    huge = "<html><body>" + "<p>Some words in a paragraph.</p>" * 1_000_000 + "</body></html>"
    assert len(huge) > 30_000_000
    with BoundedExtractor(ExtractConfig()) as extractor, pytest.raises(PageTooLarge):
        extractor.extract(huge, "https://a.com/")
    assert extractor.child_pid is None  # refused without a child
    config = ExtractConfig(on_limit="fallback", fallback_chars=100_000)
    with BoundedExtractor(config) as extractor:
        got = extractor.extract(huge, "https://a.com/")
    assert got.extractor == "fallback" and got.text.startswith("Some words in a paragraph.")
    assert len(got.text) < 100_000


def test_a_pathologically_nested_page_returns() -> None:
    # libxml2 caps depth at 256 (no huge_tree), so 100k nested divs parse quickly
    nested = "<html><body>" + "<div>" * 100_000 + "deep text " * 50 + "</div>" * 100_000
    with BoundedExtractor(ExtractConfig()) as extractor:
        assert extractor.extract(nested + "</body></html>", "https://a.com/").extractor == (
            "trafilatura"
        )


def test_the_speedups_are_installed_in_the_child_only_when_asked(slow_extract) -> None:
    was_installed = lxml_speedups.installed()
    lxml_speedups.uninstall()
    try:
        for speedups in (False, True):
            with BoundedExtractor(
                ExtractConfig(), extract=slow_extract.whereabouts, speedups=speedups
            ) as extractor:
                assert extractor.extract(page("x"), "https://a.com/").title == str(speedups)
        assert not lxml_speedups.installed()  # never in the calling process
    finally:
        if was_installed:
            lxml_speedups.install()


def test_a_closed_extractor_hands_its_ready_child_to_the_next_one() -> None:
    """Runners that set DoFns up per bundle (Dask) start one child per process, not per bundle."""
    extraction_child._kill_idle()
    with BoundedExtractor(ExtractConfig()) as first:
        first.extract(article(1), "https://a.com/")
        pid = first.child_pid
    assert pid_alive(pid)
    with BoundedExtractor(ExtractConfig(), speedups=True) as other:
        other.prestart()  # another kind of child: a new one
        assert other.child_pid != pid
    with BoundedExtractor(ExtractConfig()) as second:
        second.prestart()
        assert second.child_pid == pid
    extraction_child._kill_idle()  # what happens at exit
    assert not pid_alive(pid)


# --------------------------------------------------------------------------- ExtractFn


def raw_html(url: str, html: str) -> RawPage:
    return RawPage(KIND_RAW, url, url.rsplit("/", 1)[-1], html=html)


def test_every_record_comes_out_of_its_own_process_call(slow_extract) -> None:
    config = ExtractConfig(timeout_s=TIMEOUT_S, latest_date=LATEST)
    fn = ExtractFn(config, "r", "2024-05-01", extract=slow_extract.marked)
    raws = [
        raw_html("https://a.com/one", article(1)),
        raw_html("https://a.com/hang", page("stuck")),
        raw_html("https://a.com/two", article(2)),
    ]
    fn.setup()
    try:
        fn.start_bundle()
        out = [[record.source for record in fn.process(raw)] for raw in raws]
        assert list(fn.finish_bundle() or []) == []
    finally:
        fn.teardown()
    assert out == [["one"], ["hang"], ["two"]]


def test_extract_fn_turns_overruns_crashes_and_errors_into_dead_letters(slow_extract) -> None:
    config = ExtractConfig(timeout_s=TIMEOUT_S, latest_date=LATEST)
    raws = [
        raw_html("https://a.com/one", article(1)),
        raw_html("https://a.com/hang", page("stuck")),
        raw_html("https://a.com/die", page("dies")),
        raw_html("https://a.com/fail", page("fails")),
        raw_html("https://a.com/two", article(2)),
    ]
    expected_text = {raw.source: extract_html(raw.html, raw.url, config).text for raw in raws[::4]}

    def summary(page):
        return page.source, page.kind, page.stage, page.reason, page.error, page.text

    with TestPipeline() as p:
        got = (
            p
            | beam.Create(raws)
            | beam.ParDo(ExtractFn(config, "r", "2024-05-01", extract=slow_extract.marked))
            | beam.Map(summary)
        )
        assert_that(
            got,
            equal_to(
                [
                    ("one", "page", None, None, None, expected_text["one"]),
                    ("two", "page", None, None, None, expected_text["two"]),
                    (
                        "hang",
                        KIND_DEAD,
                        "extract",
                        "timeout",
                        "ExtractionTimeout: extraction overran timeout_s=2; child killed",
                        "",
                    ),
                    (
                        "die",
                        KIND_DEAD,
                        "extract",
                        "extractor_crashed",
                        "ExtractorCrashed: extraction child died (exit status 3)",
                        "",
                    ),
                    (
                        "fail",
                        KIND_DEAD,
                        "extract",
                        "extract_error",
                        "ExtractionError: in the extraction child: ValueError: cannot parse "
                        "https://a.com/fail",
                        "",
                    ),
                ]  # fmt: skip
            ),
        )
