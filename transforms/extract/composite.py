"""From raw records to pages with text: trafilatura for HTML, a line cleaner for plain text.

``ExtractText`` is three steps:

1. ``ExtractFn`` (``extract_fn``) parses HTML with trafilatura (bounded in size and time, see
   ``bounded.BoundedExtractor``) or takes plain text as it is;
2. ``SiteStats`` counts, per site, the lines that repeat over many of its pages (computed in
   the graph, so it works on any number of workers), joined to the site's pages by key;
3. ``finish_text`` removes boilerplate lines (all line rules for plain text; only the site's
   repeated lines for trafilatura output), applies ``--min_words`` and sets ``doc_id``.
"""

from __future__ import annotations

import hashlib
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.metrics import Metrics

from pagestream.schemas.records import KIND_PAGE, KIND_REJECTED, Page
from pagestream.schemas.validation import MIN_WORDS, Choice, check_fields, setting
from pagestream.transforms.clean.lines import CleanTextConfig
from pagestream.transforms.clean.modes import DEFAULT_TEXT_CLEANING, TEXT_CLEANING_MODES
from pagestream.transforms.clean.plain import clean_plain_text
from pagestream.transforms.clean.site_stats import SITE_MIN_PAGES, SiteStats
from pagestream.transforms.clean.sites import site_of
from pagestream.transforms.clean.text import remove_repeated_lines
from pagestream.transforms.errors import dead_page
from pagestream.transforms.extract.config import ExtractConfig
from pagestream.transforms.extract.extract_fn import STAGE, ExtractFn
from pagestream.transforms.scripts import word_count as script_word_count

__all__ = [
    "ExtractText",
    "TextConfig",
    "doc_id",
    "finish_text",
    "word_count",
]


@dataclass(frozen=True)
class TextConfig:
    """Thresholds of the text step.

    Attributes:
        min_words: pages with fewer words after cleaning go to ``rejected`` (``too_short``).
        extract: HTML extraction bounds and trafilatura settings.
        clean: plain-text line rules.
        site_min_pages: a line on at least this many pages of one site is boilerplate.
        text_cleaning: plain-text pages' cleaning (``lines``, ``repeats``, ``off``; see
            ``clean.modes``) unless a JSON Lines record sets its own.
    """

    min_words: int = setting(MIN_WORDS)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    clean: CleanTextConfig = field(default_factory=CleanTextConfig)
    site_min_pages: int = setting(SITE_MIN_PAGES)
    text_cleaning: str = setting(Choice(TEXT_CLEANING_MODES, default=DEFAULT_TEXT_CLEANING))

    def __post_init__(self):
        check_fields(self)


def doc_id(url: str, text: str) -> str:
    """Deterministic id: the same url and text give the same id in every run."""
    return hashlib.blake2b(f"{url}\n{text}".encode(), digest_size=16).hexdigest()


def word_count(text: str) -> int:
    """Whitespace-separated words; one per Han or kana character; one per 4 characters of a
    Thai, Lao, Khmer or Myanmar run (scripts without spaces: ``transforms.scripts.word_count``)."""
    return script_word_count(text)


def finish_text(page: Page, repeated: frozenset[str], config: TextConfig) -> Page:
    """Removes boilerplate lines, applies ``min_words``, sets ``doc_id`` and ``word_count``.

    Plain-text pages are cleaned as their ``text_cleaning`` mode says (the record's own, else
    ``config.text_cleaning``; ``clean_plain_text``), which also gives their title, date and
    author; text that trafilatura extracted loses only the lines its site repeats on many
    pages (``remove_repeated_lines``).
    """
    started = time.perf_counter()
    try:
        if page.extractor == "plaintext":
            mode = page.text_cleaning or config.text_cleaning
            text, meta = clean_plain_text(page.text, mode, repeated, config.clean)
            page = page._replace(
                title=meta.title, author=meta.author, published_date=meta.published_date
            )
        else:
            text = remove_repeated_lines(page.text, repeated)
    except Exception as exc:
        return dead_page(page, STAGE, "cleaning_error", exc)
    words = word_count(text)
    page = page._replace(
        text=text,
        word_count=words,
        doc_id=doc_id(page.url, text),
        extract_ms=page.extract_ms + (time.perf_counter() - started) * 1000,
    )
    if words < config.min_words:
        Metrics.counter(STAGE, "filtered:too_short").inc()
        page = page._replace(kind=KIND_REJECTED, stage=STAGE, reason="too_short")
    return page


#: Pages of one site are spread over this many keys when joined with the site's repeated
#: lines, so one huge site does not land on one worker.
SITE_SHARDS = 16


def _keyed_by_site_shard(page: Page) -> Iterator[tuple[tuple[str, int], Page]]:
    """Pages keyed by (site, shard); the site is computed once per page and read back by
    ``_site_and_text`` from the key."""
    if page.kind == KIND_PAGE:
        shard = zlib.crc32(page.source.encode()) % SITE_SHARDS
        yield (site_of(page.url, page.source), shard), page


def _lines_to_shards(
    site_lines: tuple[str, list[str]],
) -> Iterator[tuple[tuple[str, int], list[str]]]:
    site, keys = site_lines
    keys = sorted(keys)
    for shard in range(SITE_SHARDS):
        yield (site, shard), keys


def _site_and_text(keyed: tuple[tuple[str, int], Page]) -> tuple[str, str]:
    (site, _), page = keyed
    return site, page.text


class ExtractText(beam.PTransform):
    """``PCollection[RawPage]`` -> ``PCollection[Page]``.

    Pages with text come out with kind ``page``; pages without text or with fewer than
    ``min_words`` words after cleaning come out ``rejected`` (stage ``extract``, reason
    ``no_text``/``too_short``); pages over the size or time bound and parser failures come
    out ``dead``. Records that arrive rejected or dead pass through as Pages of that kind.

    ``lxml_speedups``: the extraction child processes install ``lxml_speedups`` (the same
    output for less CPU; stock trafilatura when its version is not one they were tested on).
    Off by default; ``pagestream run`` turns it on.
    """

    def __init__(
        self,
        config: TextConfig,
        run_id: str,
        logical_date: str,
        progress_dir: str | None = None,
        lxml_speedups: bool = False,
    ):
        super().__init__()
        self.config = config
        self.progress_dir = progress_dir
        self.run_id = run_id
        self.logical_date = logical_date
        self.lxml_speedups = lxml_speedups

    def expand(self, raw_pages):
        config = self.config
        extracted = raw_pages | "Extract" >> beam.ParDo(
            ExtractFn(
                config.extract,
                self.run_id,
                self.logical_date,
                self.progress_dir,
                lxml_speedups=self.lxml_speedups,
            )
        )
        # The repeated lines of each site are joined to its pages by key (CoGroupByKey), not
        # passed as a side input: side inputs are recomputed per task on the DaskRunner and
        # grow with the crawl.
        pages = extracted | "KeyBySite" >> beam.FlatMap(_keyed_by_site_shard)
        repeated = (
            pages
            | "SiteAndText" >> beam.Map(_site_and_text)
            | "SiteStats" >> SiteStats(min_pages=config.site_min_pages)
            | "LinesBySite" >> beam.GroupByKey()
            | "ToShards" >> beam.FlatMap(_lines_to_shards)
        )
        finished = (
            {"pages": pages, "repeated": repeated}
            | "JoinSiteLines" >> beam.CoGroupByKey()
            | "FinishText"
            >> beam.FlatMap(
                lambda joined: [
                    finish_text(page, frozenset(sum(joined[1]["repeated"], [])), config)
                    for page in joined[1]["pages"]
                ]
            )
        )
        others = extracted | "NotPages" >> beam.Filter(lambda page: page.kind != KIND_PAGE)
        return (finished, others) | "AllRecords" >> beam.Flatten()
