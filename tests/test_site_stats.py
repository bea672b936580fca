"""Tests of SiteStats: lines repeated over the pages of one site, counted in the graph."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections import Counter

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pagestream.transforms.clean.site_stats import (
    LINE_SHARDS,
    SiteStats,
    SiteStatsConfig,
    _PagesPerLineFn,
    _shard_of,
    repeated_by_site,
)
from pagestream.transforms.clean.sites import line_key, line_keys
from pagestream.transforms.clean.text import clean_text

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


def test_min_share_counts_identical_pages_once():
    # The footer is on 4 of 5 distinct pages (80 %); with the 9 extra copies of the page
    # without it counted, it would be on 4 of 14 (29 %).
    pages = [("a.com", _page(n, FOOTER)) for n in range(1, 5)] + [("a.com", _page(5))] * 10
    with TestPipeline() as p:
        pairs = p | beam.Create(pages) | SiteStats(min_pages=3, min_share=0.5)
        assert_that(pairs, equal_to([("a.com", line_key(FOOTER)), ("a.com", line_key(MENU))]))


WORDS = [
    "amber",
    "birch",
    "cedar",
    "delta",
    "ember",
    "fjord",
    "grove",
    "heath",
    "islet",
    "juniper",
    "kestrel",
    "lark",
    "moss",
]


def _random_pages(seed: int) -> list[tuple[str, str]]:
    """Pages of four sites: lines from a per-site template pool (repeated, with digits and case
    varied), lines of their own, pages without candidate lines, and exact copies."""
    rng = random.Random(seed)
    pages = []
    for site in ("a.com", "b.org", "c.net", "d.io"):
        pool = [" ".join(rng.choices(WORDS, k=rng.randint(2, 5))) for _ in range(60)]
        shares = [rng.random() for _ in pool]  # on about this share of the site's pages
        for n in range(rng.randint(3, 25)):
            lines = [line for line, share in zip(pool, shares, strict=True) if rng.random() < share]
            lines = [line.upper() if rng.random() < 0.2 else line for line in lines]
            lines.append(f"{rng.choice(WORDS)} page {rng.randrange(10**6)} {n}")  # digits fold
            lines.append(" ".join(rng.choices(WORDS, k=70)))  # too long to be a candidate
            if rng.random() < 0.1:
                lines = ["2024-01-0" + str(n % 10), "---"]  # no candidate line at all
            pages.append((site, "\n".join(lines)))
    return pages + rng.sample(pages, 15)  # exact copies, on the same site


def _reference(pages: list[tuple[str, str]], min_pages: int, min_share: float) -> set:
    """The count SiteStats makes, in plain Python: distinct texts per site, pages per line."""
    distinct = set(pages)
    per_site = Counter(site for site, _ in distinct)
    per_line = Counter((site, key) for site, text in distinct for key in line_keys(text))
    return {
        pair
        for pair, count in per_line.items()
        if count >= min_pages and count >= min_share * per_site[pair[0]]
    }


@pytest.mark.parametrize(
    "seed, min_pages, min_share", [(1, 2, 0.0), (2, 3, 0.0), (3, 3, 0.4), (4, 2, 0.75)]
)
def test_same_pairs_as_a_plain_count(seed, min_pages, min_share):
    pages = _random_pages(seed)
    expected = _reference(pages, min_pages, min_share)
    all_keys = {key for _, text in pages for key in line_keys(text)}
    assert {_shard_of(key) for key in all_keys} == set(range(LINE_SHARDS))
    assert 20 < len(expected) < len({(s, k) for s, t in pages for k in line_keys(t)})
    with TestPipeline() as p:
        pairs = p | beam.Create(pages) | SiteStats(min_pages=min_pages, min_share=min_share)
        assert_that(pairs, equal_to(sorted(expected)))


def test_pages_per_line_merges_partial_counts():
    fn = _PagesPerLineFn(min_pages=3)
    first = fn.add_input(fn.add_input(fn.create_accumulator(), ("k1", "k2")), ("k1",))
    second = fn.add_input(fn.create_accumulator(), ("k1", "k2", "k3"))
    third = fn.add_input(fn.create_accumulator(), ("k2",))
    merged = fn.merge_accumulators([first, second, third])
    assert fn.extract_output(merged) == [("k1", 3), ("k2", 3)]
    assert second == {"k1": 1, "k2": 1, "k3": 1} and third == {"k2": 1}  # left unmodified


def test_shard_of_does_not_depend_on_the_hash_seed():
    keys = [line_key(f"line {word}") for word in WORDS]
    script = (
        "import sys; from pagestream.transforms.clean.site_stats import _shard_of; "
        "print([_shard_of(k) for k in sys.argv[1:]])"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script, *keys],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert outputs == {f"{[_shard_of(key) for key in keys]}\n"}
