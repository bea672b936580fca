"""Lines a site repeats over many of its pages (templates: menus, footers, promos), per site.

``SiteStats`` counts, in the graph, on how many distinct pages of a site each line occurs
(``CombinePerKey`` over ``(site, line_key)``), so it gives the same answer on any runner and
worker count; no worker holds a global dictionary. Its output feeds the cleaning step as a side
input, turned into one frozenset of line keys per site by ``repeated_by_site``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import apache_beam as beam
import xxhash

from pagestream.transforms.clean_text import line_keys

__all__ = ["SiteStats", "SiteStatsConfig", "repeated_by_site"]


@dataclass(frozen=True)
class SiteStatsConfig:
    """When a line counts as repeated across its site.

    Attributes:
        min_pages: the line occurs on at least this many distinct pages of the site.
        min_share: and on at least this share of the site's distinct pages (0 = no share test).
            The absolute count alone suits sites with few pages in a run; a share also spares
            lines that a large site repeats on a handful of its pages only (stock phrases).
    """

    min_pages: int = 3
    min_share: float = 0.0

    def __post_init__(self):
        if isinstance(self.min_pages, bool) or not isinstance(self.min_pages, int):
            raise ValueError(
                f"min_pages must be an integer from 2 to 1000000, got {self.min_pages!r}"
            )
        if not 2 <= self.min_pages <= 1_000_000:
            raise ValueError(
                f"min_pages must be an integer from 2 to 1000000, got {self.min_pages!r}"
            )
        if not 0.0 <= self.min_share <= 1.0:
            raise ValueError(f"min_share must be from 0.0 to 1.0, got {self.min_share!r}")


def _page_entry(site_text: tuple[str, str]) -> tuple[str, str, tuple[str, ...]]:
    """``(site, text hash, line keys)``: identical pages of a site collapse into one entry."""
    site, text = site_text
    return site, xxhash.xxh64_hexdigest(text.encode("utf-8")), tuple(line_keys(text))


def _site_line_pairs(entry: tuple[str, str, tuple[str, ...]]) -> Iterator[tuple[str, str]]:
    site, _, keys = entry
    for key in keys:
        yield site, key


def _frequent(config: SiteStatsConfig):
    def keep(pair_count: tuple[tuple[str, str], int]) -> bool:
        return pair_count[1] >= config.min_pages

    return keep


def _shared_enough(config: SiteStatsConfig):
    def emit(site_groups: tuple[str, dict]) -> Iterator[tuple[str, str]]:
        site, groups = site_groups
        pages = sum(groups["pages"])
        for key, count in sorted(groups["lines"]):
            if count >= config.min_share * pages:
                yield site, key

    return emit


class SiteStats(beam.PTransform):
    """``PCollection[tuple[str, str]]`` of ``(site, text)`` -> ``PCollection[tuple[str, str]]``
    of ``(site, line_key)``.

    Emits each ``(site, line_key)`` whose line occurs on at least ``min_pages`` distinct pages of
    the site (and on at least ``min_share`` of them), once, in no particular order. Pages with
    identical text count once, so exact duplicate pages do not make their own lines "repeated".
    Which lines are candidates is decided by ``clean_text.line_keys``.
    """

    def __init__(self, min_pages: int = 3, min_share: float = 0.0):
        super().__init__()
        self.config = SiteStatsConfig(min_pages=min_pages, min_share=min_share)

    def expand(self, site_texts):
        pages = (
            site_texts | "PageEntry" >> beam.Map(_page_entry) | "DistinctPages" >> beam.Distinct()
        )
        frequent = (
            pages
            | "SiteLinePairs" >> beam.FlatMap(_site_line_pairs)
            | "PagesPerLine" >> beam.combiners.Count.PerElement()
            | "MinPages" >> beam.Filter(_frequent(self.config))
        )
        if self.config.min_share == 0.0:
            return frequent | "Pairs" >> beam.Keys()
        page_counts = (
            pages
            | "SiteOfPage" >> beam.Map(lambda entry: (entry[0], 1))
            | "PagesPerSite" >> beam.CombinePerKey(sum)
        )
        lines = frequent | "BySite" >> beam.Map(lambda pc: (pc[0][0], (pc[0][1], pc[1])))
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
