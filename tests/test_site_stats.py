"""Tests of SiteStats: lines repeated over the pages of one site, counted in the graph."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pagestream.transforms.clean_text import clean_text
from pagestream.transforms.site_stats import SiteStats, SiteStatsConfig, repeated_by_site
from pagestream.transforms.sites import line_key

FOOTER = "Our Standards: The Example Trust Principles."
MENU = "Home | World | Business"


TOWNS = ["Alton", "Bury", "Cray", "Dent", "Eyam", "Ford", "Gale", "Hove", "Ince", "Jarrow", "Kew"]


def _page(n: int, *extra: str) -> str:
    town = TOWNS[n]
    body = f"This story tells what happened in {town} on the first day of the festival, one said."
    return "\n\n".join([MENU, f"Festival opens in {town}", body, *extra])


PAGES = [
    ("a.com", _page(1, FOOTER)),
    ("a.com", _page(2, FOOTER)),
    ("a.com", _page(3, FOOTER)),
    ("a.com", _page(4)),
    ("b.org", _page(5, FOOTER)),
]


def test_footer_on_three_pages_of_one_site_only():
    with TestPipeline() as p:
        pairs = p | beam.Create(PAGES) | SiteStats(min_pages=3)
        # The footer is on 3 a.com pages and 1 b.org page; the menu on 4 a.com pages and 1 b.org.
        assert_that(pairs, equal_to([("a.com", line_key(FOOTER)), ("a.com", line_key(MENU))]))


def test_identical_pages_count_once():
    copies = [("c.net", _page(7, FOOTER))] * 3
    with TestPipeline() as p:
        pairs = p | beam.Create(copies) | SiteStats(min_pages=2)
        assert_that(pairs, equal_to([]))


def test_min_share_drops_lines_on_too_few_of_the_sites_pages():
    pages = [("a.com", _page(n, FOOTER if n <= 3 else "")) for n in range(1, 11)]
    with TestPipeline() as p:
        pairs = p | beam.Create(pages) | SiteStats(min_pages=3, min_share=0.5)
        # The footer is on 3 of 10 pages (< 50 %), the menu on all 10.
        assert_that(pairs, equal_to([("a.com", line_key(MENU))]))


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"min_pages": 1}, "min_pages"),
        ({"min_pages": 2.5}, "min_pages"),
        ({"min_share": -0.1}, "min_share"),
    ],
)
def test_config_rejects_out_of_range(kwargs, field):
    with pytest.raises(ValueError, match=field):
        SiteStatsConfig(**kwargs)
    with pytest.raises(ValueError, match=field):
        SiteStats(**kwargs)


def test_repeated_by_site_feeds_clean_text():
    pairs = [("a.com", line_key(FOOTER)), ("a.com", line_key(MENU)), ("b.org", "0" * 16)]
    repeated = repeated_by_site(pairs)
    assert repeated == {
        "a.com": frozenset({line_key(FOOTER), line_key(MENU)}),
        "b.org": frozenset({"0" * 16}),
    }
    text = clean_text(_page(1, FOOTER), repeated["a.com"]).text
    assert FOOTER not in text
    assert "This story tells what happened in Bury" in text
