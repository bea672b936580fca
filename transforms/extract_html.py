"""HTML -> text + metadata, with bounded size and time (issues 3 and 9, extraction part).

Pure functions first: :func:`decode_html` (bytes -> str), the cheap head scans
:func:`html_lang` and :func:`canonical_url`, :func:`extract_html` (one trafilatura parse for
text and metadata) and :func:`fallback_extract` (an lxml tag strip on a bounded prefix).
:class:`BoundedExtractor` adds the limits: pages over ``max_page_bytes`` are refused before
parsing, and pages a cheap pre-check finds risky run in a persistent child process that is
killed and restarted when a page overruns ``timeout_s``. Normal pages run inline, so they pay
no inter-process round trip. The Beam composite ``ExtractText`` lives in ``extract.py``.

Settings were chosen on ``shared/data/extraction-dev`` with ``benchmarks/extraction_eval.py``:
``include_comments=False`` (trafilatura's own benchmark setting) scores F1 0.9163 against
0.9121 for ``trafilatura.extract`` defaults; ``favor_precision`` 0.9128, ``favor_recall``
0.9111, ``fast`` 0.9075, precision without comments 0.9157, no tables 0.9116. Metadata costs
~40 % more time per page (one parse, but htmldate and the metadata XPaths); title, author and
date match the annotations exactly on 63 %, 58 % and 81 % of annotated pages.
"""

from __future__ import annotations

import codecs
import dataclasses
import html as htmllib
import os
import pickle
import queue
import re
import struct
import subprocess
import sys
import threading
import unicodedata
import weakref
from datetime import date
from typing import NamedTuple
from urllib.parse import urlsplit

import lxml.etree
import lxml.html
import trafilatura

__all__ = [
    "BoundedExtractor",
    "ExtractConfig",
    "Extracted",
    "ExtractionError",
    "ExtractionTimeout",
    "ExtractorCrashed",
    "PageTooLarge",
    "canonical_url",
    "decode_html",
    "extract_html",
    "fallback_extract",
    "html_lang",
    "join_paragraphs",
    "needs_isolation",
    "page_bytes_over",
]

EXTRACTOR_TRAFILATURA = "trafilatura"
EXTRACTOR_FALLBACK = "fallback"


# --------------------------------------------------------------------------- config, records


@dataclasses.dataclass(frozen=True)
class ExtractConfig:
    """Thresholds and trafilatura options for HTML extraction.

    Attributes:
        max_page_bytes: pages whose UTF-8 size exceeds this are not parsed (1 kB .. 1 GB).
        timeout_s: wall-clock limit per page in the child process (0 < t <= 3600).
        focus: trafilatura's trade-off, ``balanced``, ``precision`` or ``recall``.
        include_comments: keep reader comments (off: measured better on extraction-dev).
        include_tables: keep table text.
        fast: skip trafilatura's fallback extractors (faster, lower recall).
        with_metadata: extract title, author and date (same parse as the text).
        extensive_date_search: let htmldate also guess dates from the page text. Off: on
            extraction-dev it finds 4 % fewer annotated dates (80.7 vs 84.7 %) but invents far
            fewer (precision 77.6 vs 73.5 %; dateless pages left dateless 45 vs 2 %).
        latest_date: newest publication date accepted (``YYYY-MM-DD``); ``None`` means today,
            which makes dates depend on the run day, so pipelines pass ``--logical_date``.
        isolation: ``auto`` runs only pages that :func:`needs_isolation` flags in the killable
            child, ``always`` runs every page there (hard bound, slower), ``never`` none.
        isolate_above_chars: ``auto`` isolates pages longer than this (>= 1).
        isolate_above_tags: ``auto`` isolates pages with more ``<`` than this (>= 1).
        on_limit: ``raise`` (:class:`PageTooLarge` / :class:`ExtractionTimeout`, which the
            caller turns into dead letters) or ``fallback`` (:func:`fallback_extract` text,
            ``extractor="fallback"``).
        fallback_chars: how much of a page the fallback extractor reads (1 kB .. 100 MB).
    """

    max_page_bytes: int = 5_000_000
    timeout_s: float = 10.0
    focus: str = "balanced"
    include_comments: bool = False
    include_tables: bool = True
    fast: bool = False
    with_metadata: bool = True
    extensive_date_search: bool = False
    latest_date: str | None = None
    isolation: str = "auto"
    isolate_above_chars: int = 1_000_000
    isolate_above_tags: int = 8_000
    on_limit: str = "raise"
    fallback_chars: int = 1_000_000

    def __post_init__(self) -> None:
        _check_range("max_page_bytes", self.max_page_bytes, 1_000, 1_000_000_000)
        if not isinstance(self.timeout_s, (int, float)) or not 0 < self.timeout_s <= 3600:
            raise ValueError(f"timeout_s must be in (0, 3600] seconds, got {self.timeout_s!r}")
        _check_choice("focus", self.focus, ("balanced", "precision", "recall"))
        _check_choice("isolation", self.isolation, ("auto", "always", "never"))
        _check_choice("on_limit", self.on_limit, ("raise", "fallback"))
        _check_range("isolate_above_chars", self.isolate_above_chars, 1, 10**9)
        _check_range("isolate_above_tags", self.isolate_above_tags, 1, 10**9)
        _check_range("fallback_chars", self.fallback_chars, 1_000, 100_000_000)
        if self.latest_date is not None and not _is_iso_date(self.latest_date):
            raise ValueError(f"latest_date must be YYYY-MM-DD or None, got {self.latest_date!r}")


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _is_iso_date(value: object) -> bool:
    try:
        return isinstance(value, str) and date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


class Extracted(NamedTuple):
    """Text and metadata of one page.

    ``text`` is NFC-normalised, one paragraph per block separated by a blank line (``"\\n\\n"``),
    no leading/trailing whitespace; ``""`` when no main content was found. ``published_date`` is
    ``YYYY-MM-DD`` or ``None``.
    """

    text: str
    title: str | None
    author: str | None
    published_date: str | None
    extractor: str


class ExtractionError(Exception):
    """A page could not be extracted; ``reason`` is the dead-letter reason."""

    reason = "extract_error"


class PageTooLarge(ExtractionError):
    """The page is over ``max_page_bytes``; refused before parsing."""

    reason = "too_large"


class ExtractionTimeout(ExtractionError):
    """Extraction overran ``timeout_s``; the child doing it was killed."""

    reason = "timeout"


class ExtractorCrashed(ExtractionError):
    """The child process died on the page (e.g. killed by the OS for memory)."""

    reason = "extractor_crashed"


# --------------------------------------------------------------------------- decoding

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
    best = from_bytes(sample[:cut] if cut > len(sample) // 2 else sample).best()
    return _codec(best.encoding) if best is not None else None


# --------------------------------------------------------------------------- head scans

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


# --------------------------------------------------------------------------- extraction

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
    doc = trafilatura.bare_extraction(
        html,
        url=url or None,
        fast=config.fast,
        favor_precision=config.focus == "precision",
        favor_recall=config.focus == "recall",
        include_comments=config.include_comments,
        include_tables=config.include_tables,
        with_metadata=config.with_metadata,
        date_extraction_params=date_params,  # a new dict per call: trafilatura writes into it
    )
    if doc is None:
        return Extracted("", None, None, None, EXTRACTOR_TRAFILATURA)
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


def needs_isolation(html: str, config: ExtractConfig) -> bool:
    """Whether a page should run in the killable child under ``config.isolation``.

    ``auto`` flags pages over ``isolate_above_chars`` characters or with more ``<`` than
    ``isolate_above_tags``: trafilatura's time grows with the number of elements (measured
    ~0.1-0.25 ms per element, superlinear for long runs of unclosed inline tags), while
    nesting depth is harmless because libxml2 caps it at 256 without ``huge_tree``.
    """
    if config.isolation != "auto":
        return config.isolation == "always"
    return len(html) > config.isolate_above_chars or html.count("<") > config.isolate_above_tags


# --------------------------------------------------------------------------- bounded execution
#
# Threads cannot be killed and signal.alarm only works on the main thread (Beam runs DoFns
# elsewhere), so a page that may run long goes to a child process the parent can kill. The
# child is a plain subprocess, not multiprocessing: Dask workers are daemonic processes, which
# multiprocessing refuses to give children, and forking a multi-threaded worker is unsafe.
# Frames on the pipes are an 8-byte length plus a pickle (the child is our own code).

_FRAME_HEADER = struct.Struct("!Q")
_CHILD_START_TIMEOUT_S = 120.0  # importing trafilatura and warming up, on a busy worker
_WARMUP_PAGES = (  # an article, and a near-empty page that takes the rescue paths
    "<html><body><article><p>" + "Warm-up paragraph text. " * 20 + "</p></article></body></html>",
    "<html><body><p>Warm-up.</p></body></html>",
)


def _write_frame(stream, obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_FRAME_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _read_frame(stream) -> object:
    """The next object on ``stream``; raises EOFError when the other side is gone."""
    header = stream.read(_FRAME_HEADER.size)
    if len(header) < _FRAME_HEADER.size:
        raise EOFError
    size = _FRAME_HEADER.unpack(header)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


def _serve() -> None:
    """Child main loop: answers ``(html, url, config)`` with ``("ok", Extracted)`` or
    ``("error", "<Type>: <message>")`` until stdin closes."""
    import logging

    logging.basicConfig(level=logging.ERROR)
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints from libraries go to stderr, never into the reply pipe
    requests = sys.stdin.buffer
    for html in _WARMUP_PAGES:  # trafilatura loads some resources on first use only
        extract_html(html, "https://warm.up/", ExtractConfig())
    _write_frame(replies, ("ready", None))
    while True:
        try:
            html, url, config = _read_frame(requests)
        except EOFError:
            return
        try:
            reply = ("ok", extract_html(html, url, config))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which re-raises
            reply = ("error", f"{type(exc).__name__}: {exc}")
        _write_frame(replies, reply)


def _pump(stream, replies: queue.Queue) -> None:
    """Reader thread: moves frames from the child's stdout to ``replies``; ``None`` at EOF."""
    try:
        while True:
            replies.put(_read_frame(stream))
    except (EOFError, OSError, pickle.UnpicklingError):
        replies.put(None)


class _Child:
    """One extraction subprocess with a reply queue fed by a reader thread."""

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from pagestream.transforms.extract_html import _serve; _serve()",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self.replies: queue.Queue = queue.Queue()
        threading.Thread(
            target=_pump, args=(self.process.stdout, self.replies), daemon=True
        ).start()
        try:
            ready = self._reply(_CHILD_START_TIMEOUT_S)
        except ExtractionTimeout:
            ready = None
        if ready != ("ready", None):
            self.kill()
            raise ExtractorCrashed("the extraction child process did not start")

    def _reply(self, timeout_s: float) -> object:
        try:
            return self.replies.get(timeout=timeout_s)
        except queue.Empty:
            raise ExtractionTimeout(f"no reply within {timeout_s:g} s") from None

    def call(self, request: tuple, timeout_s: float) -> object:
        """Sends ``request``; the reply, ``None`` if the child died, or ExtractionTimeout."""
        try:
            _write_frame(self.process.stdin, request)
        except OSError:
            return None
        return self._reply(timeout_s)

    def kill(self) -> None:
        _kill(self.process)


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()
    for stream in (process.stdin, process.stdout):
        try:
            stream.close()
        except OSError:
            pass


class BoundedExtractor:
    """:func:`extract_html` with ``max_page_bytes`` and ``timeout_s`` enforced.

    Pages :func:`needs_isolation` flags run in a persistent child process, which is killed
    (and started again on the next such page) when a page overruns ``timeout_s``; other pages
    run inline, without a round trip. The time bound is therefore hard for isolated pages
    only; ``isolation="always"`` makes it hard for all. Make one per ``DoFn.setup()`` and use
    it from one thread; :meth:`close` (or garbage collection) ends the child.

    Raises (from :meth:`extract`, with ``on_limit="raise"``): :class:`PageTooLarge`,
    :class:`ExtractionTimeout`, :class:`ExtractorCrashed`, and :class:`ExtractionError`
    for a failure inside the child. Inline failures propagate as they are.
    """

    def __init__(self, config: ExtractConfig) -> None:
        self.config = config
        self._child: _Child | None = None
        self._finalizer: weakref.finalize | None = None

    def extract(self, html: str, url: str) -> Extracted:
        """Text and metadata of ``html``, within the configured bounds."""
        config = self.config
        try:
            if page_bytes_over(html, config.max_page_bytes):
                raise PageTooLarge(f"page over max_page_bytes={config.max_page_bytes}")
            if needs_isolation(html, config):
                return self._extract_isolated(html, url)
        except (PageTooLarge, ExtractionTimeout, ExtractorCrashed):
            if config.on_limit == "fallback":
                return fallback_extract(html, config.fallback_chars)
            raise
        return extract_html(html, url, config)

    def _extract_isolated(self, html: str, url: str) -> Extracted:
        if self._child is None:
            self._start_child()
        try:
            reply = self._child.call((html, url, self.config), self.config.timeout_s)
        except ExtractionTimeout:
            self._stop_child()
            raise ExtractionTimeout(
                f"extraction overran timeout_s={self.config.timeout_s:g}; child killed"
            ) from None
        if reply is None:
            code = self._child.process.poll()
            self._stop_child()
            raise ExtractorCrashed(f"extraction child died (exit status {code})")
        status, value = reply
        if status == "error":
            raise ExtractionError(f"in the extraction child: {value}")
        return value

    def _start_child(self) -> None:
        self._child = _Child()
        self._finalizer = weakref.finalize(self, _kill, self._child.process)

    def _stop_child(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # kills the child, once
        self._child = self._finalizer = None

    @property
    def child_pid(self) -> int | None:
        """Process id of the running child, if one is running (for monitoring and tests)."""
        return self._child.process.pid if self._child is not None else None

    def close(self) -> None:
        """Ends the child process, if any; the extractor can still be used afterwards."""
        self._stop_child()

    def __enter__(self) -> BoundedExtractor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
