"""Cheap scans of the head of an HTML page: its declared language and its canonical URL.

Regular expressions over the first 64 kB, no parse, so they cost little beside extraction and
work on pages that never reach it.
"""

from __future__ import annotations

import html as htmllib
import re
from urllib.parse import urlsplit

__all__ = ["canonical_url", "html_lang"]

_HEAD_CHARS = 65536
_HTML_TAG = re.compile(r"<html\b[^>]*>", re.I)
_META_TAG = re.compile(r"<meta\b[^>]*>", re.I)
_LINK_TAG = re.compile(r"<link\b[^>]*>", re.I)
_ATTR = re.compile(r"""([a-z_:][-a-z0-9_:.]*)\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)""", re.I)
# "und"etermined, "mul"tiple, no content, and junk seen in crawls (lang="utf-8")
_NOT_LANGUAGES = frozenset({None, "und", "mul", "zxx", "utf", "iso"})
_PRIMARY_SUBTAG = re.compile(r"\s*([a-z]{2,3})(?![a-z])", re.I)


def _attrs(tag: str) -> dict[str, str]:
    """Lower-cased attribute names -> unescaped values; the first occurrence wins."""
    found: dict[str, str] = {}
    for name, value in _ATTR.findall(tag):
        found.setdefault(name.lower(), htmllib.unescape(value.strip("\"'")).strip())
    return found


def _primary_subtag(value: str | None) -> str | None:
    match = _PRIMARY_SUBTAG.match(value or "")
    code = match.group(1).lower() if match else None
    return None if code in _NOT_LANGUAGES else code


def html_lang(html: str) -> str | None:
    """Primary language subtag of ``<html lang>`` (or ``xml:lang``), else of a
    ``content-language`` meta, lower case (``"de-AT"`` -> ``"de"``); ``None`` if absent."""
    head = html[:_HEAD_CHARS]
    tag = _HTML_TAG.search(head)
    if tag:
        attrs = _attrs(tag.group(0))
        code = _primary_subtag(attrs.get("lang") or attrs.get("xml:lang"))
        if code:
            return code
    for meta in _META_TAG.finditer(head):
        attrs = _attrs(meta.group(0))
        if attrs.get("http-equiv", "").lower() == "content-language":
            return _primary_subtag(attrs.get("content"))
    return None


def _absolute_http(url: str | None) -> str | None:
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.hostname else None


def canonical_url(html: str) -> str | None:
    """``<link rel=canonical href>`` else ``<meta property=og:url content>``, only if absolute
    ``http(s)`` (relative or other schemes are skipped); looks at the first 64 kB only."""
    head = html[:_HEAD_CHARS]
    for link in _LINK_TAG.finditer(head):
        attrs = _attrs(link.group(0))
        if "canonical" in attrs.get("rel", "").lower().split():
            url = _absolute_http(attrs.get("href"))
            if url:
                return url
    for meta in _META_TAG.finditer(head):
        attrs = _attrs(meta.group(0))
        if (attrs.get("property") or attrs.get("name", "")).lower() == "og:url":
            url = _absolute_http(attrs.get("content"))
            if url:
                return url
    return None
