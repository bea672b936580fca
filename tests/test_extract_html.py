"""Tests for transforms/extract/html.py and the head scans of read/: decoding, head scans,
extraction in this thread and the fallback extractor (bounds: test_extract_bounded.py)."""

from __future__ import annotations

import codecs
import gzip
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import trafilatura
from hypothesis import given, settings
from hypothesis import strategies as st

from pagestream.transforms.extract.config import (
    ExtractConfig,
    Extracted,
    PageTooLarge,
)
from pagestream.transforms.extract.html import (
    extract_html,
    fallback_extract,
    join_paragraphs,
)
from pagestream.transforms.read.html_decode import decode_html
from pagestream.transforms.read.html_head import canonical_url, html_lang

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PHYS = SHARED / "mixed" / "phys.org.tool.html"
VANCOUVER = SHARED / "mixed" / "vancouversun.com.microsoft.html.gz"

RU = "Привет, как дела? Это тестовая страница на русском языке. Москва и Санкт-Петербург. " * 3
FR = "Les élèves ont été très contents de la journée à la plage, où ils ont mangé des crêpes."
QUOTES = "He said “hello” — it’s fine… café"
ZH = "这是一个中文网页，用于测试编码检测。北京欢迎你。" * 3
JA = "これは日本語のテストページです。東京へようこそ。" * 3


def page(body: str, head: str = "") -> str:
    return f"<html><head>{head}</head><body><p>{body}</p></body></html>"


def meta_charset(name: str) -> str:
    return f'<meta charset="{name}">'


def http_equiv(name: str) -> str:
    return f'<meta http-equiv="Content-Type" content="text/html; charset={name}">'


def read_html(path: Path) -> str:
    if not path.exists():
        pytest.skip(f"shared dev data missing: {path}")
    data = path.read_bytes()
    return decode_html(gzip.decompress(data) if path.suffix == ".gz" else data)


# --------------------------------------------------------------------------- decode_html


@pytest.mark.parametrize(
    ("payload", "declared", "expected"),
    [
        pytest.param(page(FR).encode(), None, page(FR), id="utf8"),
        pytest.param(codecs.BOM_UTF8 + page(FR).encode(), "cp1251", page(FR), id="utf8-bom-wins"),
        pytest.param(
            codecs.BOM_UTF16_LE + page(RU).encode("utf-16-le"), None, page(RU), id="utf16le"
        ),
        pytest.param(
            codecs.BOM_UTF16_BE + page(RU).encode("utf-16-be"), None, page(RU), id="utf16be"
        ),
        pytest.param(page(FR).encode("latin-1"), "ISO-8859-1", page(FR), id="latin1-http"),
        # browsers read ISO-8859-1 as windows-1252, whose quotes sit at 0x80-0x9f
        pytest.param(
            page(QUOTES).encode("cp1252"), "iso-8859-1", page(QUOTES), id="latin1-is-1252"
        ),
        pytest.param(
            page(RU, meta_charset("windows-1251")).encode("cp1251"),
            None,
            page(RU, meta_charset("windows-1251")),
            id="cp1251-meta",
        ),
        pytest.param(
            page(RU, http_equiv("windows-1251")).encode("cp1251"),
            None,
            page(RU, http_equiv("windows-1251")),
            id="cp1251-http-equiv",
        ),
        pytest.param(page(RU).encode("cp1251"), None, page(RU), id="cp1251-undeclared-sniffed"),
        pytest.param(page(RU).encode("cp1251"), "utf-8", page(RU), id="wrong-declared-utf8"),
        pytest.param(page(FR).encode(), "iso-8859-1", page(FR), id="utf8-declared-latin1"),
        pytest.param(
            page(RU, meta_charset("iso-8859-1")).encode(),
            None,
            page(RU, meta_charset("iso-8859-1")),
            id="utf8-meta-latin1",
        ),
        pytest.param(page(FR).encode(), "x-no-such-charset", page(FR), id="unknown-declared"),
        pytest.param(page("plain").encode(), "utf-16", page("plain"), id="utf16-no-bom-ignored"),
        # GB2312 pages routinely use GBK-only characters (here 镕); browsers decode as GBK
        pytest.param(page(ZH + "镕").encode("gbk"), "gb2312", page(ZH + "镕"), id="gb2312-as-gbk"),
        pytest.param(page(JA).encode("shift_jis"), "Shift_JIS", page(JA), id="shift-jis"),
        pytest.param(page(ZH).encode("gbk"), None, page(ZH), id="gbk-undeclared-sniffed"),
        pytest.param(b"", None, "", id="empty"),
    ],
)
def test_decode_html(payload: bytes, declared: str | None, expected: str) -> None:
    assert decode_html(payload, declared) == expected


def test_decode_html_mixed_utf8_with_stray_cp1252_bytes() -> None:
    # A UTF-8 page with a footer pasted in from a cp1252 template.
    payload = page(RU).encode() + "<footer>Café – © 2020</footer>".encode("cp1252")
    assert decode_html(payload) == page(RU) + "<footer>Café – © 2020</footer>"


def test_decode_html_on_real_warc_payloads() -> None:
    """No replacement character unless the payload itself holds one (U+FFFD as UTF-8)."""
    warcio = pytest.importorskip("warcio.archiveiterator")
    paths = [SHARED / "warc" / "warcfile.warc.gz", SHARED / "warc" / "example.warc.gz"]
    if not all(path.exists() for path in paths):
        pytest.skip("shared WARC dev data missing")
    decoded = []
    for path in paths:
        with path.open("rb") as stream:
            for record in warcio.ArchiveIterator(stream):
                headers = record.http_headers
                if record.rec_type != "response" or headers is None:
                    continue
                content_type = headers.get_header("Content-Type") or ""
                if content_type.split(";")[0].strip().lower() != "text/html":
                    continue
                charset = re.search(r"charset=([^\s;]+)", content_type, re.I)
                payload = record.content_stream().read()
                text = decode_html(payload, charset.group(1) if charset else None)
                decoded.append(("\ufffd" in text, b"\xef\xbf\xbd" in payload))
    assert len(decoded) == 156
    assert all(has_fffd == payload_has_fffd for has_fffd, payload_has_fffd in decoded)


def test_decode_html_undeclared_latin1_is_not_mojibake() -> None:
    text = decode_html(page(FR * 3).encode("latin-1"))
    assert FR in text


@settings(max_examples=100, deadline=None)
@given(
    payload=st.binary(max_size=3000),
    declared=st.one_of(
        st.none(), st.text(max_size=20), st.sampled_from(["utf-8", "cp1251", "gb2312", "utf-16"])
    ),
)
def test_decode_html_never_raises(payload: bytes, declared: str | None) -> None:
    assert isinstance(decode_html(payload, declared), str)


HEAD_PIECES = [
    "<html",
    "<link",
    "<meta",
    " lang=",
    " xml:lang=",
    " rel=",
    "canonical",
    " href=",
    " property=",
    "og:url",
    " content=",
    " http-equiv=",
    "content-language",
    '"',
    "'",
    ">",
    "/>",
    "https://",
    "http://",
    "a.com/x",
    "de-AT",
    "und",
    "&amp;",
    "&#",
    " ",
    "=",
]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(HEAD_PIECES) | st.text(max_size=4), max_size=60).map("".join))
def test_head_scans_never_raise(html: str) -> None:
    lang = html_lang(html)
    url = canonical_url(html)
    assert lang is None or re.fullmatch("[a-z]{2,3}", lang)
    assert url is None or urlsplit(url).scheme.lower() in ("http", "https")


# --------------------------------------------------------------------------- html_lang


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ('<!doctype html><html lang="de-AT"><head>', "de"),
        ("<HTML LANG=EN><head>", "en"),
        ("<html class='x' lang='pt_BR'>", "pt"),
        ('<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="fr">', "fr"),
        ('<html lang="zh-Hans-CN">', "zh"),
        ('<html lang="fil">', "fil"),
        ('<html lang="und">', None),
        ('<html lang="utf-8">', None),
        ('<html data-lang="fr"><head></head>', None),
        ('<html><head><meta http-equiv="Content-Language" content="es-MX, en">', "es"),
        ('<html lang=""><head><meta content="it" http-equiv="content-language">', "it"),
        ('<html><head><meta name="description" content="en"></head><body lang="fr">', None),
        ("no html at all", None),
    ],
)
def test_html_lang(html: str, expected: str | None) -> None:
    assert html_lang(html) == expected


# --------------------------------------------------------------------------- canonical_url


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ('<link rel="canonical" href="https://a.com/x">', "https://a.com/x"),
        ("<link href='http://a.com/y?p=1&amp;q=2' rel='canonical'/>", "http://a.com/y?p=1&q=2"),
        ("<LINK REL=Canonical HREF=https://a.com/z>", "https://a.com/z"),
        ('<link rel="alternate canonical" href=" https://a.com/s ">', "https://a.com/s"),
        (
            '<link rel="alternate" href="https://a.com/en"><meta property="og:url" content="https://b.com/">',
            "https://b.com/",
        ),
        # a relative canonical is not absolute: og:url is used instead
        (
            '<link rel="canonical" href="/rel"><meta content="https://b.com/og" property="og:url">',
            "https://b.com/og",
        ),
        ('<meta name="og:url" content="https://c.com/n">', "https://c.com/n"),
        ('<link rel="canonical" href="javascript:alert(1)">', None),
        ('<link rel="canonical" href="ftp://a.com/f">', None),
        ('<link rel="canonical" href="https://">', None),
        ("<html><head><title>none</title></head></html>", None),
    ],
)
def test_canonical_url(html: str, expected: str | None) -> None:
    assert canonical_url(html) == expected


def test_canonical_url_and_lang_on_real_pages() -> None:
    phys = read_html(PHYS)
    assert (
        canonical_url(phys) == "https://phys.org/news/2019-10-flint-flake-tool-partially-birch.html"
    )
    assert html_lang(phys) == "en"
    # MANIFEST.md: canonical differs from og:url on this page; canonical wins
    assert canonical_url(read_html(VANCOUVER)).startswith("https://business.financialpost.com/")


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_page_bytes", 10),
        ("max_page_bytes", 2_000_000_000),
        ("timeout_s", 0),
        ("timeout_s", 7200),
        ("timeout_s", "10"),
        ("focus", "speed"),
        ("on_limit", "ignore"),
        ("fallback_chars", 10),
        ("latest_date", "2024-13-01"),
        ("latest_date", "yesterday"),
    ],
)
def test_config_rejects_out_of_range(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        ExtractConfig(**{field: value})


def test_config_is_frozen() -> None:
    with pytest.raises(AttributeError):
        ExtractConfig().timeout_s = 1  # type: ignore[misc]


# --------------------------------------------------------------------------- extract_html


def test_extract_html_matches_trafilatura_on_a_real_page() -> None:
    html = read_html(PHYS)
    url = "https://phys.org/news/2019-10-flint-flake-tool-partially-birch.html"
    got = extract_html(html, url, ExtractConfig(latest_date="2024-01-01"))
    ref = trafilatura.bare_extraction(html, url=url, with_metadata=True, include_comments=False)
    assert got.extractor == "trafilatura"
    assert (got.title, got.author, got.published_date) == (ref.title, ref.author, "2019-10-22")
    assert got.title.startswith("Flint flake tool partially covered by birch tar")
    assert got.author == "Bob Yirka"
    # same text as trafilatura's txt output, one paragraph per block, blank line between
    assert got.text.split() == trafilatura.extract(html, url=url, include_comments=False).split()
    assert "\n\n\n" not in got.text and got.text == got.text.strip()
    assert "A team of researchers affiliated with several institutions" in got.text.split("\n\n")[2]


def test_extract_html_latest_date_bounds_published_date() -> None:
    html = read_html(PHYS)
    config = ExtractConfig(latest_date="2019-01-01", extensive_date_search=False)
    assert extract_html(html, "https://phys.org/x", config).published_date != "2019-10-22"


def test_extract_html_empty_page_gives_empty_text() -> None:
    got = extract_html("<html><body></body></html>", "https://a.com/", ExtractConfig())
    assert got == Extracted("", None, None, None, "trafilatura")


def test_extract_html_refuses_too_large_before_parsing() -> None:
    with pytest.raises(PageTooLarge) as info:
        extract_html("é" * 600, "u", ExtractConfig(max_page_bytes=1_000))  # 1,200 bytes
    assert info.value.reason == "too_large"


def test_join_paragraphs() -> None:
    assert join_paragraphs(" a \n\n\n  b\r\nc \n") == "a\n\nb\n\nc"
    assert join_paragraphs("e\u0301") == "é"  # NFC


# --------------------------------------------------------------------------- fallback


def test_fallback_extract_keeps_visible_blocks_only() -> None:
    html = (
        "<html><head><title> T </title><style>p{}</style></head><body>"
        "<script>var x = 1;</script><p>a <b>bold</b> word<br>next</p>"
        "<ul><li>one</li><li>two</li></ul><!-- hidden --></body></html>"
    )
    assert fallback_extract(html) == Extracted(
        "a bold word\n\nnext\n\none\n\ntwo", "T", None, None, "fallback"
    )


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from(["<p>", "</p>", "<div", ">", "<script>", "<!--", "\x00", "é"])
        | st.text(max_size=5),
        max_size=40,
    ).map("".join)
)
def test_fallback_extract_never_raises(html: str) -> None:
    got = fallback_extract(html, max_chars=1_000)
    assert got.extractor == "fallback" and "\n\n\n" not in got.text


def test_fallback_extract_reads_a_bounded_prefix() -> None:
    html = "<html><body>" + "<p>word word word</p>" * 100_000 + "</body></html>"
    text = fallback_extract(html, max_chars=10_000).text
    assert 0 < len(text) < 10_000 and text.startswith("word word word")
