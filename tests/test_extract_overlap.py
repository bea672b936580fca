"""ExtractFn with ``overlap_isolated``: pages sent to the killable child do not hold up the pages
after them, and every page still comes out once, with the record of the synchronous path."""

from __future__ import annotations

import itertools
import os
import signal
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import window
from apache_beam.utils.windowed_value import PANE_INFO_UNKNOWN, WindowedValue

from pagestream.schemas.records import KIND_DEAD, KIND_RAW, RawPage
from pagestream.transforms.extract.composite import ExtractFn
from pagestream.transforms.extract.config import ExtractConfig
from pagestream.transforms.extract.html import needs_isolation
from pagestream.transforms.read.jsonl import read_jsonl

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PAGES = SHARED / "extraction-dev" / "pages.jsonl.gz"
PHYS = SHARED / "mixed" / "phys.org.tool.html"
LATEST = "2024-01-01"  # published dates must not depend on the day the test runs


def _real_pages(n: int) -> list[RawPage]:
    if not PAGES.is_file():
        pytest.skip(f"development data not found at {PAGES}")
    return list(itertools.islice(read_jsonl(str(PAGES)), n))


def _phys(i: int) -> RawPage:
    """A real page (1,800 ``<``, ~0.1 s) that runs inline, under its own source."""
    if not PHYS.is_file():
        pytest.skip(f"development data not found at {PHYS}")
    return RawPage(KIND_RAW, f"https://phys.org/{i}", f"phys#{i}", html=PHYS.read_text())


def _flat_divs(n: int, source: str) -> RawPage:
    """Isolated with ``isolate_above_tags=5_000`` from n=250; n=40,000 takes ~3 s."""
    html = "<html><body>" + "<div><span>a</span></div>" * n + "</body></html>"
    return RawPage(KIND_RAW, f"https://divs.example/{source}", source, html=html)


def _timeless(page):
    """A record without its timing (extract_ms) and traceback, which may differ by path."""
    return page._replace(extract_ms=0.0, traceback=None)


def _bundle(fn: ExtractFn, raws: list[RawPage]) -> list[tuple[str, object]]:
    """Runs one bundle as a runner does: ``(call, record)`` in output order, ``call`` being
    the source of the ``process()`` call that output the record, or ``"finish_bundle"``."""
    out = []
    fn.start_bundle()
    for raw in raws:
        for record in _process(fn, raw):
            out.append((raw.source, _value(record)))
    out += [("finish_bundle", _value(record)) for record in fn.finish_bundle()]
    return out


def _bundle_of_new_fn(fn: ExtractFn, raws: list[RawPage]) -> list[tuple[str, object]]:
    """``_bundle`` on a DoFn set up for it and torn down after."""
    fn.setup()
    try:
        return _bundle(fn, raws)
    finally:
        fn.teardown()


def _process(fn: ExtractFn, raw: RawPage) -> list:
    """``fn.process`` as a runner calls it for an element in the global window."""
    return list(fn.process(raw, 0, window.GlobalWindow(), PANE_INFO_UNKNOWN))


def _value(record):
    if isinstance(record, WindowedValue):
        assert record.timestamp == 0 and record.windows == (window.GlobalWindow(),)
        return record.value
    return record


def _synchronous(config: ExtractConfig, raws: list[RawPage]) -> dict[str, object]:
    out = _bundle_of_new_fn(ExtractFn(config, "r", "2024-05-01", overlap_isolated=False), raws)
    assert [call for call, _ in out] == [raw.source for raw in raws]  # one each, in order
    return {page.source: _timeless(page) for _, page in out}


def test_overlapped_records_equal_the_synchronous_ones_in_their_windows() -> None:
    config = ExtractConfig(isolate_above_chars=150_000, latest_date=LATEST)
    raws = _real_pages(16)
    isolated = [i for i, raw in enumerate(raws) if needs_isolation(raw.html, config)]
    assert isolated == [3, 4, 7, 14]  # two in a row: the second waits for the first
    expected = _synchronous(config, raws)
    assert expected[raws[3].source].text  # the isolated pages really were extracted

    def windowed(page, at=beam.DoFn.WindowParam):
        return page.source, _timeless(page), at.start.micros // 1_000_000

    with TestPipeline() as p:
        got = (
            p
            | beam.Create([window.TimestampedValue(raw, 10 * i) for i, raw in enumerate(raws)])
            | beam.WindowInto(window.FixedWindows(25))
            | beam.ParDo(ExtractFn(config, "r", "2024-05-01", overlap_isolated=True))
            | beam.Map(windowed)
        )
        want = [(raw.source, expected[raw.source], 10 * i // 25 * 25) for i, raw in enumerate(raws)]
        assert_that(got, equal_to(want))


def test_pages_after_an_isolated_one_come_out_while_the_child_works() -> None:
    config = ExtractConfig(isolate_above_tags=5_000, timeout_s=60, latest_date=LATEST)
    raws = [_flat_divs(2_000, "isolated"), _phys(1), _phys(2), _phys(3)]
    fn = ExtractFn(config, "r", "2024-05-01")  # the batch default: prestart and overlap
    fn.setup()
    try:
        fn.extractor.extract(_flat_divs(2_000, "warm").html, "https://a.com/")  # child ready
        pid = fn.extractor.child_pid
        os.kill(pid, signal.SIGSTOP)  # the child cannot answer until the inline pages are out
        fn.start_bundle()
        calls = []
        for raw in raws:
            calls.append([_value(record).source for record in _process(fn, raw)])
        assert calls == [[], ["phys#1"], ["phys#2"], ["phys#3"]]
        assert fn.extractor.pending == 1
        os.kill(pid, signal.SIGCONT)
        [finished] = fn.finish_bundle()
    finally:
        os.kill(pid, signal.SIGCONT)
        fn.teardown()
    assert finished.timestamp == 0 and finished.windows == (window.GlobalWindow(),)
    assert _timeless(finished.value) == _synchronous(config, raws[:1])["isolated"]
    assert finished.value.extractor == "trafilatura" and fn.extractor.pending == 0


def test_an_overrun_is_the_dead_letter_of_the_synchronous_path_and_the_next_pages_follow() -> None:
    config = ExtractConfig(isolate_above_tags=5_000, timeout_s=1, latest_date=LATEST)
    raws = [
        _flat_divs(40_000, "slow"),  # ~3 s: overruns
        _phys(1),
        _flat_divs(2_000, "after"),  # waits for the overrun, then goes to a new child
        _phys(2),
    ]
    out = _bundle_of_new_fn(ExtractFn(config, "r", "2024-05-01", overlap_isolated=True), raws)
    assert sorted(page.source for _, page in out) == sorted(raw.source for raw in raws)
    assert out[0] == ("phys#1", out[0][1])  # before the slow page's deadline
    got = {page.source: page for _, page in out}
    dead = got["slow"]
    assert (dead.kind, dead.stage, dead.reason) == (KIND_DEAD, "extract", "timeout")
    assert dead.error == "ExtractionTimeout: extraction overran timeout_s=1; child killed"
    assert "ExtractionTimeout" in dead.traceback and dead.excerpt == raws[0].html[:500]
    assert got["after"].extractor == "trafilatura"
    assert {source: _timeless(page) for source, page in got.items()} == _synchronous(config, raws)


def test_a_bundle_left_with_pages_in_the_child_drops_them_at_the_next_start() -> None:
    fn = ExtractFn(ExtractConfig(isolate_above_tags=5_000), "r", "2024-05-01")
    fn.setup()
    try:
        fn.start_bundle()
        assert _process(fn, _flat_divs(2_000, "a")) == []
        pid = fn.extractor.child_pid
        fn.start_bundle()  # the bundle failed and is retried: its pages come again
        assert fn.extractor.pending == 0 and fn.extractor.child_pid is None
        assert list(fn.finish_bundle()) == []
    finally:
        fn.teardown()
    assert pid is not None


@pytest.mark.parametrize(
    ("runner", "overlap"),
    [("DirectRunner", True), ("apache_beam.runners.dask.dask_runner.DaskRunner", False)],
)
def test_the_batch_graph_overlaps_isolated_pages_except_on_dask(batch_extract_fns, runner, overlap):
    """The DaskRunner drops what ``finish_bundle`` outputs: there, every page comes out of its
    own ``process()`` call."""
    found = batch_extract_fns(runner)
    assert [fn.overlap_isolated for fn in found] == [overlap]
    if not overlap:  # the synchronous path, with the flag as the graph set it
        config = ExtractConfig(isolate_above_tags=5_000, latest_date=LATEST)
        fn = ExtractFn(config, "r", "2024-05-01", prestart_child=found[0].prestart_child)
        out = _bundle_of_new_fn(fn, [_flat_divs(2_000, "isolated"), _phys(1)])
        assert [call for call, _ in out] == ["isolated", "phys#1"]
