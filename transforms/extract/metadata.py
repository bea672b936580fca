"""Title, author and publication date of a parsed page: trafilatura's metadata steps, minus
the fields pagestream does not keep.

``trafilatura.bare_extraction(with_metadata=True)`` runs ``extract_metadata``, which also
extracts the site name, categories, tags and licence, for fields no column holds: skipping
them saves 5.9 % of the extraction CPU per page (``benchmarks/bench_speedups.py``, 436
extraction-dev pages, median of 5: 49.3 -> 46.4 ms/page). :func:`page_metadata` calls the
same trafilatura and htmldate functions, in the same order and with the same fallbacks, for
the three fields pagestream keeps, so the values are the ones ``extract_metadata`` gives
(``tests/test_html_meta.py`` compares them page by page).

Those functions are trafilatura internals: :func:`available` is False when the installed
trafilatura or htmldate is not a version this was tested on (``version_guard``, one log line)
or lacks one of them, and ``html.extract_html`` then uses ``with_metadata=True``.
"""

from __future__ import annotations

import functools
from html import unescape
from typing import NamedTuple

from pagestream.transforms import version_guard

__all__ = [
    "PageMetadata",
    "available",
    "page_metadata",
]

try:
    from htmldate import find_date
    from trafilatura.metadata import (
        examine_meta,
        extract_author,
        extract_meta_json,
        extract_title,
        extract_url,
    )
    from trafilatura.utils import line_processing

    _IMPORTED = True
except ImportError:  # a trafilatura that moved or renamed them: use bare_extraction's path
    _IMPORTED = False


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """Whether :func:`page_metadata` may be used with the installed libraries (checked once)."""
    return _IMPORTED and version_guard.tested("html_meta")


#: ``Document.clean_and_trim``: longer strings are cut to this many characters plus "…".
_MAX_CHARS = 10_000


class PageMetadata(NamedTuple):
    title: str | None
    author: str | None
    date: str | None


def _clean(value: str | None) -> str | None:
    """What ``trafilatura.settings.Document.clean_and_trim`` does to each string field."""
    if not isinstance(value, str):
        return value
    if len(value) > _MAX_CHARS:
        value = value[: _MAX_CHARS - 1] + "…"
    return line_processing(unescape(value))


def page_metadata(tree, url: str | None, date_params: dict) -> PageMetadata:
    """Title, author and date of ``tree`` as ``trafilatura.metadata.extract_metadata`` finds
    them (without an author blacklist). ``tree`` is not modified.

    Args:
        tree: the page parsed by ``trafilatura.utils.load_html``.
        url: the page's url, the fallback for the canonical url htmldate reads dates from.
        date_params: htmldate keyword arguments (copied, not modified).
    """
    metadata = examine_meta(tree)
    if metadata.author and " " not in metadata.author:
        metadata.author = None
    try:
        metadata = extract_meta_json(tree, metadata)
    except Exception:  # noqa: BLE001 - as extract_metadata: a JSON-LD bug is not fatal
        pass
    if not metadata.title:
        metadata.title = extract_title(tree)
    if not metadata.author:
        metadata.author = extract_author(tree)
    if not metadata.url:
        metadata.url = extract_url(tree, url)
    date = find_date(tree, **{**date_params, "url": metadata.url})
    return PageMetadata(_clean(metadata.title), _clean(metadata.author), _clean(date))
