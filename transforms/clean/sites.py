"""Which site a page belongs to, and the keys that identify a line across a site's pages.

``SiteStats`` counts ``line_keys`` per ``site_of`` to find the lines a site repeats on many
pages (templates, footers); ``clean_text`` and ``remove_repeated_lines`` drop lines whose
``line_key`` is among them. Keys and sites are stable across runs, processes and machines, and
never touch the network.
"""

from __future__ import annotations

import functools
import posixpath
import re
import unicodedata
from urllib.parse import urlsplit

import tldextract
import xxhash

from pagestream.schemas.records import file_of
from pagestream.transforms.clean.lines import (
    DEFAULT_CONFIG,
    CleanTextConfig,
    logical_lines,
    normalise,
)

__all__ = ["line_key", "line_keys", "registered_domain", "site_of"]

_DIGITS = re.compile(r"\d+")


def line_key(line: str) -> str:
    """A 16-hex-digit key of a line, equal for lines that differ only in case, whitespace or digits.

    Stable across runs, processes and machines: xxhash64 of the NFKC-normalised, case-folded
    line with every run of digits replaced by ``0``.
    """
    return logical_line_key(normalise(line))


def logical_line_key(line: str) -> str:
    """``line_key`` of a line from ``logical_lines``, which is normalised already (idempotent
    ``normalise``): saves normalising every line twice."""
    if not line.isascii():
        line = unicodedata.normalize("NFKC", line)
    return xxhash.xxh64_hexdigest(_DIGITS.sub("0", line.casefold()).encode("utf-8"))


def repeat_candidate(line: str, config: CleanTextConfig) -> bool:
    # Lines without letters (numbers, dates once digits are folded, dividers) would all share a
    # key; long lines are paragraphs, whose verbatim repeats are duplicate pages, not templates.
    return any(c.isalpha() for c in line) and len(line.split()) <= config.repeat_max_words


def line_keys(text: str, config: CleanTextConfig = DEFAULT_CONFIG) -> list[str]:
    """Sorted distinct keys of the lines of ``text`` that may count as repeated across a site.

    Lines are split as ``clean_text`` splits them; lines without a letter and lines of more
    than ``repeat_max_words`` words are not candidates.
    """
    return sorted(
        {logical_line_key(ln) for ln in logical_lines(text, config) if repeat_candidate(ln, config)}
    )


@functools.lru_cache(maxsize=1)
def _tld_extract() -> tldextract.TLDExtract:
    """The one public-suffix lookup of pagestream (``site_of`` and ``registered_domain``).

    The bundled suffix-list snapshot only: no download, no cache directory. It knows private
    suffixes (``blogspot.com``); ``registered_domain`` looks past them."""
    return tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
    )


def registered_domain(url: str) -> str:
    """The registered domain of a web url, lower case (``news.bbc.co.uk`` -> ``bbc.co.uk``,
    ``x.blogspot.com`` -> ``blogspot.com``: ICANN suffixes only; the ``domain`` column).

    Hosts without a public suffix (IP addresses, ``localhost``) are returned as they are;
    urls without a host (``file://``) give ``""``.
    """
    try:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""
    if not host:
        return ""
    return _tld_extract()(host).top_domain_under_registry_suffix or host


def site_of(url: str, source: str) -> str:
    """The site a page belongs to (for boilerplate statistics; ``registered_domain`` is the
    ``domain`` column).

    For a web url the registered domain in lower case (``news.bbc.co.uk`` -> ``bbc.co.uk``,
    ``x.blogspot.com`` -> ``x.blogspot.com``: private suffixes count; the host itself for IP
    addresses and single-label hosts). For ``file://`` urls and urls without a
    host, the directory of the input file named by ``source`` (``<path>#<position>``): pages
    scraped into one folder are one site. Never touches the network.
    """
    parts = urlsplit(url or "")
    host = (parts.hostname or "") if parts.scheme != "file" else ""
    if host:
        extracted = _tld_extract()(host)
        return (extracted.top_domain_under_public_suffix or host).lower()
    return posixpath.dirname(file_of(source))
