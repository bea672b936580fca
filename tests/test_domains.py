"""The one site/domain helper: ``registered_domain`` (the ``domain`` column) and ``site_of``
(boilerplate statistics) share one public-suffix lookup and differ only on private suffixes."""

from __future__ import annotations

import pytest

from pagestream.transforms.clean import sites
from pagestream.transforms.clean.sites import registered_domain, site_of

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("url", "domain", "site"),
    [
        ("https://News.BBC.co.uk./world", "bbc.co.uk", "bbc.co.uk"),
        ("http://x.blogspot.com/post", "blogspot.com", "x.blogspot.com"),
        ("https://a.b.github.io/p", "github.io", "b.github.io"),
        ("http://127.0.0.1:8080/x", "127.0.0.1", "127.0.0.1"),
        ("http://localhost/", "localhost", "localhost"),
        ("http://[bad/", "", None),
        ("file:///data/scrapes/a.html", "", "file:///data/scrapes"),
    ],
)
def test_domain_and_site(url, domain, site):
    assert registered_domain(url) == domain
    if site is not None:
        assert site_of(url, "file:///data/scrapes/a.html#0") == site


def test_one_suffix_lookup_serves_both():
    sites._tld_extract.cache_clear()
    registered_domain("https://news.example.co.uk/")
    site_of("https://news.example.co.uk/", "s#0")
    assert sites._tld_extract.cache_info().misses == 1
