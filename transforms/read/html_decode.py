"""Decoding an HTML payload (bytes) into ``str`` the way browsers do; never raises.

Used by the readers (``read_files``, ``read_warc``) on file contents and WARC payloads.
"""

from __future__ import annotations

import codecs
import re

__all__ = ["decode_html"]

_BOMS = (  # UTF-32 first: its little-endian BOM starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Labels browsers decode as a superset (WHATWG Encoding Standard), by Python codec name.
_SUPERSETS = {
    "ascii": "cp1252",
    "iso8859-1": "cp1252",
    "iso8859-9": "cp1254",
    "tis-620": "cp874",
    "iso8859-11": "cp874",
    "gb2312": "gbk",
    "euc_kr": "cp949",
    "shift_jis": "cp932",
    "big5": "big5hkscs",
}
_META_CHARSET = re.compile(rb"<meta[^>]*?charset\s*=\s*[\"']?\s*([a-z0-9_.:+-]{1,40})", re.I)
_META_SCAN_BYTES = 4096
_NON_ASCII = re.compile(rb"[\x80-\xff]")
_SNIFF_BYTES = 65536
_STRAY = re.compile("[\udc80-\udcff]")  # bytes that surrogateescape could not decode


def decode_html(payload: bytes, declared_charset: str | None = None) -> str:
    """Decodes an HTML payload; never raises.

    Order: a byte-order mark; strict UTF-8; UTF-8 with stray legacy bytes read as cp1252 (when
    valid multi-byte UTF-8 dominates: pages stitched from two encodings); the declared (HTTP)
    charset, then ``<meta charset>``/``http-equiv`` in the first 4 kB, strictly, then with
    replacement characters; charset_normalizer on a sample; cp1252. Valid UTF-8 goes before
    the declarations because servers often declare ISO-8859-1 by default for UTF-8 pages,
    while legacy-encoded text is almost never valid multi-byte UTF-8 (trafilatura does the
    same). Labels are read as browsers do (WHATWG): ISO-8859-1 as cp1252, GB2312 as GBK, ...
    """
    try:
        return _decode(bytes(payload), declared_charset)
    except Exception:  # noqa: BLE001 - the contract is "never raises"; this is the last resort
        return bytes(payload).decode("utf-8", "replace") if payload else ""


def _decode(payload: bytes, declared_charset: str | None) -> str:
    for bom, encoding in _BOMS:
        if payload.startswith(bom):
            return payload[len(bom) :].decode(encoding, "replace")
    text = _strict(payload, "utf-8")
    if text is None:
        text = _utf8_with_stray_bytes(payload)
    if text is not None:
        return text
    meta = _META_CHARSET.search(payload[:_META_SCAN_BYTES])
    labels = (declared_charset, meta.group(1).decode("ascii") if meta else None)
    declared = [c for c in dict.fromkeys(_codec(label) for label in labels) if c and c != "utf-8"]
    for codec in declared:
        text = _strict(payload, codec)
        if text is not None:
            return text
    codec = declared[0] if declared else _sniff(payload) or "cp1252"
    return payload.decode(codec, "replace")


def _codec(label: str | None) -> str | None:
    """Python codec name for a charset label; ``None`` if unknown or UTF-16/32 (no BOM)."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
    except (LookupError, ValueError):
        return None
    if name.startswith(("utf-16", "utf-32")):
        return None  # without a BOM, a UTF-16 declaration on ASCII-readable bytes is wrong
    return "utf-8" if name == "utf-8-sig" else _SUPERSETS.get(name, name)


def _strict(payload: bytes, codec: str) -> str | None:
    try:
        return payload.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _utf8_with_stray_bytes(payload: bytes) -> str | None:
    """UTF-8 with invalid bytes read as cp1252, if valid multi-byte UTF-8 dominates.

    Legacy text rarely forms valid UTF-8 (a cp1251 letter is never followed by a continuation
    byte; GBK pairs form one by chance ~10 % of the time), so ``valid >= 2 * stray`` keeps it out.
    """
    text = payload.decode("utf-8", "surrogateescape")
    stray = len(_STRAY.findall(text))
    valid = len(text) - len(text.encode("ascii", "ignore")) - stray
    if valid < 2 * stray:
        return None
    return _STRAY.sub(lambda m: bytes([ord(m.group(0)) - 0xDC00]).decode("cp1252", "replace"), text)


def _sniff(payload: bytes) -> str | None:
    """charset_normalizer's guess on a sample starting near the first non-ASCII byte."""
    from charset_normalizer import from_bytes  # a trafilatura dependency; rarely needed

    first = _NON_ASCII.search(payload)
    start = max(0, first.start() - 1024) if first else 0
    sample = payload[start : start + _SNIFF_BYTES]
    cut = sample.rfind(b"<")  # "<" never occurs inside a multi-byte character
    matches = list(from_bytes(sample[:cut] if cut > len(sample) // 2 else sample))
    if not matches:
        return None
    best = matches[0]
    # On a short text several single-byte codecs fit equally well (charset_normalizer
    # ranks "Café crème" cp1250 -> "crčme" first, tied with cp1252); among the tied best,
    # prefer cp1252, the browsers' default for legacy pages and the most common one.
    tied = [
        m.encoding for m in matches
        if (m.percent_chaos, m.percent_coherence) == (best.percent_chaos, best.percent_coherence)
    ]  # fmt: skip
    return _codec("cp1252" if "cp1252" in tied else best.encoding)
