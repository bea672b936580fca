"""HTML -> text + metadata in the calling thread: trafilatura, or an lxml tag strip as fallback.

:func:`extract_html` runs one trafilatura parse for text and metadata (title, author and date
through ``html_meta``); :func:`fallback_extract`
strips tags from a bounded prefix in linear time. ``bounded`` runs :func:`extract_html` in a
killable child process.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

import lxml.etree
import lxml.html
import trafilatura
from trafilatura import load_html

from pagestream.transforms.extract import metadata as html_meta
from pagestream.transforms.extract.config import (
    EXTRACTOR_FALLBACK,
    EXTRACTOR_TRAFILATURA,
    ExtractConfig,
    Extracted,
    PageTooLarge,
)

__all__ = [
    "extract_html",
    "fallback_extract",
    "join_paragraphs",
    "page_bytes_over",
]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def page_bytes_over(html: str, limit: int) -> bool:
    """Whether the UTF-8 encoding of ``html`` is longer than ``limit`` (encodes only if unsure)."""
    if len(html) > limit:
        return True
    if len(html) * 4 <= limit:
        return False
    return len(html.encode("utf-8", "surrogatepass")) > limit


def join_paragraphs(text: str) -> str:
    """NFC text with one paragraph per non-blank line, joined by a blank line."""
    lines = (line.strip() for line in unicodedata.normalize("NFC", text).splitlines())
    return "\n\n".join(line for line in lines if line)


def extract_html(html: str, url: str, config: ExtractConfig) -> Extracted:
    """Main text and metadata of a page, from one trafilatura parse, in this thread.

    Raises:
        PageTooLarge: the page is over ``config.max_page_bytes`` (checked before parsing).
        Exception: whatever trafilatura/lxml raise on a broken page; callers dead-letter it.
    """
    if page_bytes_over(html, config.max_page_bytes):
        raise PageTooLarge(f"page over max_page_bytes={config.max_page_bytes}")
    date_params = {
        "original_date": True,
        "extensive_search": config.extensive_date_search,
        "max_date": config.latest_date or date.today().isoformat(),
    }
    lean = config.with_metadata and html_meta.available()
    metadata = None
    page = html
    if lean:  # title/author/date only (html_meta), then the text from the same parse
        page = load_html(html)
        if page is None:
            return Extracted("", None, None, None, EXTRACTOR_TRAFILATURA)
        metadata = html_meta.page_metadata(page, url or None, date_params)
    doc = trafilatura.bare_extraction(
        page,
        url=url or None,
        fast=config.fast,
        favor_precision=config.focus == "precision",
        favor_recall=config.focus == "recall",
        include_comments=config.include_comments,
        include_tables=config.include_tables,
        with_metadata=config.with_metadata and not lean,
        date_extraction_params=date_params,  # a new dict per call: trafilatura writes into it
    )
    if doc is None:
        return Extracted("", None, None, None, EXTRACTOR_TRAFILATURA)
    if metadata is not None:
        doc.title, doc.author, doc.date = metadata
    text = "\n".join(part for part in (doc.text, getattr(doc, "comments", None)) if part)
    published = doc.date if doc.date and _ISO_DATE.fullmatch(doc.date) else None
    return Extracted(
        join_paragraphs(text),
        doc.title or None,
        doc.author or None,
        published,
        EXTRACTOR_TRAFILATURA,
    )


_FALLBACK_DROP = ("script", "style", "noscript", "template", "svg", "math", "head", "iframe")
_BLOCK_TAGS = (
    *("address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption"),
    *("figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li"),
    *("main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul"),
)
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_FALLBACK_PARSER = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, collect_ids=False)


def fallback_extract(html: str, max_chars: int = 1_000_000) -> Extracted:
    """Every visible text line of the first ``max_chars`` characters (libxml2, linear time).

    No boilerplate removal: navigation and footers stay in, so this is for pages trafilatura
    cannot be trusted with (too large, too slow), marked ``extractor="fallback"``.
    """
    prefix = _XML_INVALID.sub("", html[:max_chars])  # lxml refuses them in text it is given
    try:
        root = lxml.html.document_fromstring(prefix.encode("utf-8", "replace"), _FALLBACK_PARSER)
    except (lxml.etree.ParserError, ValueError):
        return Extracted("", None, None, None, EXTRACTOR_FALLBACK)
    title = root.findtext(".//title")
    lxml.etree.strip_elements(root, *_FALLBACK_DROP, with_tail=False)
    for element in root.iter(*_BLOCK_TAGS):  # line breaks around blocks; inline tags join
        element.tail = "\n" + (element.tail or "")
        element.text = "\n" + (element.text or "")
    text = "\n".join(" ".join(line.split()) for line in root.text_content().splitlines())
    return Extracted(
        join_paragraphs(text), (title or "").strip() or None, None, None, EXTRACTOR_FALLBACK
    )
