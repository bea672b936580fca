"""Lines a site repeats over many of its pages (templates: menus, footers, promos), per site.

``SiteStats`` counts, in the graph, on how many distinct pages of a site each line occurs
(``CombinePerKey`` over ``(site, shard of the line key)``, one element per page and shard), so
it gives the same answer on any runner and worker count; no worker holds a global dictionary.
Its output feeds the cleaning step (``extract.ExtractText`` joins it to the pages by site);
``repeated_by_site`` turns a collected output into one frozenset of line keys per site.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import apache_beam as beam
import xxhash

from pagestream.schemas.validation import Number, check_fields, setting
from pagestream.transforms.clean.sites import line_keys

__all__ = ["SITE_MIN_PAGES", "SiteStats", "SiteStatsConfig", "repeated_by_site"]

#: On how many distinct pages of a site a line must occur to be the site's boilerplate
#: (``SiteStatsConfig.min_pages`` and ``TextConfig.site_min_pages``).
SITE_MIN_PAGES = Number(int, 2, 1_000_000, default=3)


@dataclass(frozen=True)
class SiteStatsConfig:
    """When a line counts as repeated across its site.

    Attributes:
        min_pages: the line occurs on at least this many distinct pages of the site.
        min_share: and on at least this share of the site's distinct pages (0 = no share test).
            The absolute count alone suits sites with few pages in a run; a share also spares
            lines that a large site repeats on a handful of its pages only (stock phrases).
    """

    min_pages: int = setting(SITE_MIN_PAGES)
    min_share: float = setting(Number(float, 0.0, 1.0, default=0.0))

    def __post_init__(self):
        check_fields(self)


# Each page sends one element per shard its line keys fall in, not one per line key: 8.4 instead
# of 34.4 per page on the extraction-dev pages (a page with 36 keys: ~14), and Beam's cost per
# element (encoding, combiner tables, grouping buffers) was most of what site statistics cost.
# A site's distinct lines are spread over this many keys, so one key (one counting dict on one
# worker) holds ~1/16 of them. Fewer shards: fewer elements per page, more memory per key.
LINE_SHARDS = 16


def _shard_of(key: str) -> int:
    """The shard of a line key: the same in every process (crc32, not the seeded ``hash``)."""
    return zlib.crc32(key.encode("utf-8")) % LINE_SHARDS


def _page_entry(site_text: tuple[str, str]) -> tuple[tuple[str, str], tuple[str, ...]]:
    """``((site, text hash), line keys)``: identical pages of a site share the key."""
    site, text = site_text
    return (site, xxhash.xxh3_128_hexdigest(text.encode("utf-8"))), tuple(line_keys(text))


def _one_copy(copies: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    # The copies under one (site, text hash) are the line keys of one text; the least is taken
    # so that the choice is deterministic. Not the builtin ``min``: Beam would let the combiner
    # table before the shuffle hold 1,000,000 pages instead of 100,000.
    return min(copies)


def _shard_entries(
    entry: tuple[tuple[str, str], tuple[str, ...]],
) -> Iterator[tuple[tuple[str, int], tuple[str, ...]]]:
    """``((site, shard), keys of the page in that shard)`` for each shard the page has keys in."""
    (site, _), keys = entry
    shards: dict[int, list[str]] = defaultdict(list)
    for key in keys:
        shards[_shard_of(key)].append(key)
    for shard, shard_keys in shards.items():
        yield (site, shard), tuple(shard_keys)


class _PagesPerLineFn(beam.CombineFn):
    """Tuples of line keys (one per distinct page) -> ``[(key, pages)]`` for the keys on at
    least ``min_pages`` pages, sorted. The accumulator is a dict ``{key: pages}``."""

    def __init__(self, min_pages: int):
        super().__init__()
        self.min_pages = min_pages

    def create_accumulator(self) -> dict[str, int]:
        return {}

    def add_input(self, counts: dict[str, int], keys: tuple[str, ...]) -> dict[str, int]:
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
        return counts

    def merge_accumulators(self, accumulators: Iterable[dict[str, int]]) -> dict[str, int]:
        accumulators = iter(accumulators)
        merged = next(accumulators)  # Beam lets the first accumulator be modified, only it
        for counts in accumulators:
            for key, pages in counts.items():
                merged[key] = merged.get(key, 0) + pages
        return merged

    def extract_output(self, counts: dict[str, int]) -> list[tuple[str, int]]:
        return sorted((key, pages) for key, pages in counts.items() if pages >= self.min_pages)


def _site_pairs(
    shard_lines: tuple[tuple[str, int], list[tuple[str, int]]],
) -> Iterator[tuple[str, str]]:
    (site, _), lines = shard_lines
    for key, _ in lines:
        yield site, key


def _lines_by_site(
    shard_lines: tuple[tuple[str, int], list[tuple[str, int]]],
) -> Iterator[tuple[str, list[tuple[str, int]]]]:
    (site, _), lines = shard_lines
    if lines:
        yield site, lines


def _shared_enough(config: SiteStatsConfig):
    def emit(site_groups: tuple[str, dict]) -> Iterator[tuple[str, str]]:
        site, groups = site_groups
        pages = sum(groups["pages"])
        for lines in groups["lines"]:
            for key, count in lines:
                if count >= config.min_share * pages:
                    yield site, key

    return emit


class SiteStats(beam.PTransform):
    """``PCollection[tuple[str, str]]`` of ``(site, text)`` -> ``PCollection[tuple[str, str]]``
    of ``(site, line_key)``.

    Emits each ``(site, line_key)`` whose line occurs on at least ``min_pages`` distinct pages of
    the site (and on at least ``min_share`` of them), once, in no particular order. Pages with
    identical text count once, so exact duplicate pages do not make their own lines "repeated".
    Which lines are candidates is decided by ``clean_text.line_keys``. Lines are counted per
    ``(site, shard of the line key)`` (``LINE_SHARDS``), so no key holds all of a large site's
    lines.
    """

    def __init__(self, min_pages: int = 3, min_share: float = 0.0):
        super().__init__()
        self.config = SiteStatsConfig(min_pages=min_pages, min_share=min_share)

    def expand(self, site_texts):
        pages = (
            site_texts
            | "PageEntry" >> beam.Map(_page_entry)
            | "DistinctPages" >> beam.CombinePerKey(_one_copy)
        )
        frequent = (
            pages
            | "LineShards" >> beam.FlatMap(_shard_entries)
            | "PagesPerLine" >> beam.CombinePerKey(_PagesPerLineFn(self.config.min_pages))
        )
        if self.config.min_share == 0.0:
            return frequent | "Pairs" >> beam.FlatMap(_site_pairs)
        page_counts = (
            pages
            | "SiteOfPage" >> beam.Map(lambda entry: (entry[0][0], 1))
            | "PagesPerSite" >> beam.CombinePerKey(sum)
        )
        lines = frequent | "BySite" >> beam.FlatMap(_lines_by_site)
        return (
            {"lines": lines, "pages": page_counts}
            | "JoinSite" >> beam.CoGroupByKey()
            | "MinShare" >> beam.FlatMap(_shared_enough(self.config))
        )


def repeated_by_site(pairs: Iterable[tuple[str, str]]) -> dict[str, frozenset[str]]:
    """Groups ``SiteStats`` output (e.g. a side input ``AsList``) into ``{site: line keys}``."""
    grouped: dict[str, set[str]] = defaultdict(set)
    for site, key in pairs:
        grouped[site].add(key)
    return {site: frozenset(keys) for site, keys in grouped.items()}
