"""Text and URL keys for duplicate detection: normalised text, content hash, URL key, shingles.

Pure functions. ``content_hash(a) == content_hash(b)`` whenever ``normalise_text(a) ==
normalise_text(b)`` (NFKC, case fold, punctuation and whitespace collapsed). ``shingles`` is the
reference definition of the word shingles that ``minhash.py`` hashes.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import regex
import xxhash

from pagestream.transforms.scripts import UNSPACED

__all__ = ["content_hash", "normalise_text", "normalise_url", "shingles", "tokens"]

# `regex` (not `re`) because `re`'s \w drops combining marks (Devanagari vowel signs, ...),
# which would cut words of many scripts into pieces.
_NON_WORD = regex.compile(r"[^\p{L}\p{N}\p{M}]+")
_NON_WORD_BUT_NEWLINE = regex.compile(r"[^\p{L}\p{N}\p{M}\n]+")
# Scripts written without spaces between words are shingled per character.
_TOKEN = regex.compile(rf"[{UNSPACED}]|[^\s{UNSPACED}]+")

_DEFAULT_PORTS = {"http": "80", "https": "443"}
# Query parameters that only track the visitor; conservative: only well-known names.
_TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "mc_cid", "mc_eid"}
    | {"igshid", "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id", "vero_id"}
)


def fold_text(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def normalise_text(text: str) -> str:
    """NFKC, case-folded, every run of punctuation/symbols/whitespace turned into one space."""
    return _NON_WORD.sub(" ", fold_text(text)).strip()


def content_hash(text: str) -> str:
    """128-bit xxh3 hex digest of ``normalise_text(text)``: equal normalised text, equal hash."""
    return text_digest(normalise_text(text))


def text_digest(normalised: str) -> str:
    return xxhash.xxh3_128_hexdigest(normalised.encode("utf-8"))


def normalise_url(url: str) -> str:
    """A URL key for "same page": equal keys mean the same resource for every usual site.

    Drops the scheme (http/https), a leading ``www.``, default ports, user info, the fragment,
    tracking parameters (``utm_*``, ``fbclid``, ``gclid``, ...) and one trailing slash of the
    path; lower-cases the host; sorts the query. Path case and other parameters are kept
    (conservative: they can name different pages). Strings that are not ``scheme://host`` URLs
    are returned stripped and otherwise unchanged. Never raises.
    """
    raw = url.strip()
    try:
        parts = urlsplit(raw)
        host = (parts.hostname or "").rstrip(".")
        if not parts.scheme or not host:
            return raw
        port = parts.port
    except ValueError:
        return raw
    host = host.removeprefix("www.")
    host = f"[{host}]" if ":" in host else host  # IPv6 literal
    if port is not None and str(port) != _DEFAULT_PORTS.get(parts.scheme.lower()):
        host = f"{host}:{port}"
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in _TRACKING_PARAMS
    )
    path = parts.path if parts.path != "/" else ""
    path = path[:-1] if path.endswith("/") else path
    return urlunsplit(("", host, path, urlencode(query), "")).removeprefix("//")


def tokens(text: str) -> list[str]:
    """Word tokens of normalised text; characters of unspaced scripts (Han, Kana, Thai...)."""
    return _split_tokens(normalise_text(text))


def _split_tokens(normalised: str) -> list[str]:
    # Fast path: every unspaced script starts at or above U+0E00 (Thai).
    if not normalised or max(normalised) < "\u0e00":
        return normalised.split()
    return _TOKEN.findall(normalised)


def normalised_lines(folded: str) -> str:
    """Word characters, spaces (for each other run) and "\\n" (for each line break)."""
    return _NON_WORD_BUT_NEWLINE.sub(" ", "\n".join(folded.splitlines()))


def kept_lines(line_text: str, min_line_words: int) -> list[list[str]]:
    lines = [t for t in map(_split_tokens, line_text.split("\n")) if t]
    kept = [t for t in lines if len(t) >= max(min_line_words, 1)]
    if not kept and lines:
        kept = [[tok for line in lines for tok in line]]
    return kept


def shingles(text: str, n: int, min_line_words: int = 0) -> set[str]:
    """Word ``n``-grams of each line of ``text`` (shingles never span lines).

    Lines with fewer than ``min_line_words`` tokens are skipped, so short boilerplate lines
    (menus, "Read more", copyright) do not make different pages look alike; if that skips every
    line, the whole text is shingled as one line. A kept line of at most ``n`` tokens is one
    shingle. This is the reference definition; ``minhash`` hashes the same set without building
    the strings.
    """
    out: set[str] = set()
    for toks in kept_lines(normalised_lines(fold_text(text)), min_line_words):
        if len(toks) <= n:
            out.add(" ".join(toks))
        else:
            out.update(" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1))
    return out
