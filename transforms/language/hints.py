"""Evidence about a page's language other than its text: ``<html lang>`` tags and country TLDs.

``normalize_language_tag`` maps BCP 47 tags to langdetect codes; ``tld_languages`` maps a
url's country TLD to its languages by speaker share (CLDR territory data through Babel).
``language.py`` turns these hints into a prior.
"""

from __future__ import annotations

import functools
from typing import NamedTuple
from urllib.parse import urlsplit

from babel.languages import get_territory_language_info

from pagestream.schemas.records import Page
from pagestream.transforms.language.model import load_model

__all__ = [
    "LanguageHints",
    "hints_for",
    "normalize_language_tag",
    "tld_languages",
]

#: Two-letter TLDs mostly sold as generic names, whose country says nothing about the language.
_VANITY_TLDS = frozenset(
    "ac ai am cc cd co cx fm gg gl io la ly me ml nu sh tk to tv vc ws".split()  # noqa: SIM905
)
#: BCP 47 / legacy tags whose langdetect code differs from the primary subtag.
_TAG_ALIASES = {"nb": "no", "nn": "no", "fil": "tl", "iw": "he", "in": "id", "zh": "zh-cn"}
_TRADITIONAL_CHINESE = frozenset({"hant", "tw", "hk", "mo"})


class LanguageHints(NamedTuple):
    """Evidence about a page's language other than its text; every field may be ``None``."""

    html_lang: str | None = None
    url: str | None = None


def normalize_language_tag(tag: str | None) -> str | None:
    """Maps a BCP 47 tag (``en-US``, ``zh-Hant``, ``nb``, ``pt_BR``) to a langdetect code, else ``None``."""
    if not tag:
        return None
    parts = tag.strip().lower().replace("_", "-").split("-")
    primary = _TAG_ALIASES.get(parts[0], parts[0])
    if primary == "zh-cn" and _TRADITIONAL_CHINESE.intersection(parts[1:]):
        primary = "zh-tw"
    return primary if primary in load_model().langs else None


@functools.lru_cache(maxsize=512)
def _country_languages(tld: str) -> tuple[tuple[str, float], ...]:
    territory = "GB" if tld == "uk" else tld.upper()
    shares: dict[str, float] = {}
    for tag, info in get_territory_language_info(territory).items():
        code = normalize_language_tag(tag.replace("_", "-") + ("-" + tld if tag == "zh" else ""))
        if code is not None:
            shares[code] = shares.get(code, 0.0) + float(info.get("population_percent") or 0.0)
    total = sum(shares.values())
    return tuple(sorted((code, share / total) for code, share in shares.items() if total > 0))


def tld_languages(url: str | None) -> dict[str, float]:
    """Languages of the country of ``url``'s TLD, by share of speakers (CLDR), summing to 1.

    Empty for generic TLDs (``.com``), vanity ccTLDs (``.io``) and countries whose languages
    langdetect does not know.
    """
    try:
        host = urlsplit(url or "").hostname or ""
    except ValueError:
        return {}
    tld = host.rstrip(".").rsplit(".", 1)[-1]
    if len(tld) != 2 or not tld.isalpha() or tld in _VANITY_TLDS:
        return {}
    return dict(_country_languages(tld))


def hints_for(page: Page) -> LanguageHints:
    """The hints a ``Page`` carries: its ``html_lang`` and its url."""
    return LanguageHints(html_lang=page.html_lang, url=page.url)
