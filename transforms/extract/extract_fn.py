"""``ExtractFn``: one raw record in, one ``Page`` out (trafilatura on HTML, plain text as is).

The first step of ``ExtractText`` (``composite``); ``finish_text`` there does the cleaning.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timezone

import apache_beam as beam
from apache_beam.metrics import Metrics

from pagestream import __version__
from pagestream.schemas.records import KIND_PAGE, KIND_RAW, KIND_REJECTED, Page, RawPage, new_page
from pagestream.transforms.clean.sites import registered_domain
from pagestream.transforms.errors import dead_page
from pagestream.transforms.extract.bounded import BoundedExtractor
from pagestream.transforms.extract.child import ExtractFunction
from pagestream.transforms.extract.config import (
    ExtractConfig,
    Extracted,
    ExtractionError,
    PageTooLarge,
)
from pagestream.transforms.extract.html import extract_html, page_bytes_over
from pagestream.transforms.read.html_head import html_lang
from pagestream.transforms.write.progress import Heartbeat

__all__ = ["STAGE", "ExtractFn", "crawl_date", "page_from_raw"]

STAGE = "extract"


def crawl_date(fetch_time_us: int | None, logical_date: str) -> str:
    """The partition date: the fetch time's UTC date, else the run's logical date."""
    if fetch_time_us is None:
        return logical_date
    moment = datetime.fromtimestamp(fetch_time_us / 1_000_000, tz=timezone.utc)
    return moment.date().isoformat()


def page_from_raw(raw: RawPage, run_id: str, logical_date: str) -> Page:
    """A Page with every column at its null/default value, carrying the raw record's routing."""
    return new_page(
        url=raw.url,
        source=raw.source,
        run_id=run_id,
        crawl_date=crawl_date(raw.fetch_time, logical_date),
        pipeline_version=__version__,
        domain=registered_domain(raw.url),
        http_status=raw.http_status,
        fetch_time=raw.fetch_time,
        kind=KIND_PAGE if raw.kind == KIND_RAW else raw.kind,
        stage=raw.stage,
        reason=raw.reason,
        error=raw.error,
        traceback=raw.traceback,
        excerpt=raw.excerpt,
    )


class ExtractFn(beam.DoFn):
    """RawPage -> Page: trafilatura on HTML (bounded in size and time), plain text as is.

    Every record comes out of the ``process()`` call that got it (nothing is held back for
    ``finish_bundle``, whose outputs some runners drop).

    Args:
        extract: the function the extraction child runs (see ``BoundedExtractor``).
        lxml_speedups: the extraction child installs ``lxml_speedups`` (same output).
    """

    def __init__(
        self,
        config: ExtractConfig,
        run_id: str,
        logical_date: str,
        progress_dir: str | None = None,
        extract: ExtractFunction = extract_html,
        lxml_speedups: bool = False,
    ):
        self.config = config
        self.progress_dir = progress_dir
        self.run_id = run_id
        self.logical_date = logical_date
        self.extract = extract
        self.lxml_speedups = lxml_speedups
        self.no_text = Metrics.counter(STAGE, "filtered:no_text")
        self.failed = Metrics.counter(STAGE, "dead")

    def setup(self):
        self.extractor = BoundedExtractor(self.config, self.extract, self.lxml_speedups)
        self.extractor.prestart()  # the child's imports overlap the reading of the first pages
        self.heartbeat = Heartbeat(self.progress_dir, STAGE)

    def finish_bundle(self):
        self.heartbeat.flush()

    def teardown(self):
        self.extractor.close()

    def process(self, raw: RawPage) -> Iterator[Page]:
        self.heartbeat.add("extracted")
        page = page_from_raw(raw, self.run_id, self.logical_date)
        if raw.kind != KIND_RAW:
            yield page
        elif raw.html is None:
            text = raw.text or ""
            if page_bytes_over(text, self.config.max_page_bytes):  # the bound of HTML pages too
                too_large = PageTooLarge(f"text over max_page_bytes={self.config.max_page_bytes}")
                yield self._dead(page, text, too_large)
            else:
                yield page._replace(
                    text=text, extractor="plaintext", text_cleaning=raw.text_cleaning
                )
        else:
            yield self._extract(page, raw)

    def _extract(self, page: Page, raw: RawPage) -> Page:
        started = time.perf_counter()
        try:
            result = self.extractor.extract(raw.html, raw.url)
        except Exception as exc:  # a parser bug on one page must not kill the run
            return self._dead(page, raw.html, exc)
        return self._extracted(page, raw.html, result, time.perf_counter() - started)

    def _dead(self, page: Page, html: str, exc: Exception) -> Page:
        self.failed.inc()
        # too large, timeout, extractor crashed: exc.reason says
        reason = exc.reason if isinstance(exc, ExtractionError) else "extraction_error"
        return dead_page(page._replace(excerpt=html[:500]), STAGE, reason, exc)

    def _extracted(self, page: Page, html: str, result: Extracted, elapsed_s: float) -> Page:
        page = page._replace(
            text=result.text or "",
            title=result.title,
            author=result.author,
            published_date=result.published_date,
            extractor=result.extractor,
            html_lang=html_lang(html),
            extract_ms=elapsed_s * 1000,
        )
        if not page.text.strip():
            self.no_text.inc()
            page = page._replace(kind=KIND_REJECTED, stage=STAGE, reason="no_text")
        return page
