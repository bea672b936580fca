"""Tests for transforms/extract_html.py: decoding, head scans, extraction, size and time bounds."""

from __future__ import annotations

import codecs
import gzip
import os
import re
import signal
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import trafilatura
from hypothesis import given, settings
from hypothesis import strategies as st

from pagestream.transforms.extract.bounded import BoundedExtractor
from pagestream.transforms.extract.config import (
    ExtractConfig,
    Extracted,
    ExtractionError,
    ExtractionTimeout,
    ExtractorCrashed,
    PageTooLarge,
)
from pagestream.transforms.extract.html import (
    extract_html,
    fallback_extract,
    join_paragraphs,
    needs_isolation,
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
        ("isolation", "sometimes"),
        ("on_limit", "ignore"),
        ("isolate_above_tags", 0),
        ("isolate_above_chars", 0),
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


# --------------------------------------------------------------------------- bounds


def flat_divs(n: int) -> str:
    """Slow for trafilatura: ~3 s for n=40,000 on the dev machine (~10 s without
    ``lxml_speedups``; grows with elements)."""
    return "<html><body>" + "<div><span>a</span></div>" * n + "</body></html>"


def nested_divs(n: int) -> str:
    return "<html><body>" + "<div>" * n + "deep text " * 50 + "</div>" * n + "</body></html>"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_needs_isolation() -> None:
    auto = ExtractConfig(isolate_above_tags=100, isolate_above_chars=10_000)
    assert not needs_isolation(page("short"), auto)
    assert needs_isolation(flat_divs(30), auto)  # 120 "<"
    assert needs_isolation(page("x" * 20_000), auto)
    assert needs_isolation(page("short"), ExtractConfig(isolation="always"))
    assert not needs_isolation(
        flat_divs(30), ExtractConfig(isolation="never", isolate_above_tags=1)
    )


def test_30mb_page_is_refused_or_falls_back() -> None:
    huge = "<html><body>" + "<p>Some words in a paragraph.</p>" * 1_000_000 + "</body></html>"
    assert len(huge) > 30_000_000
    with BoundedExtractor(ExtractConfig()) as extractor, pytest.raises(PageTooLarge):
        extractor.extract(huge, "https://a.com/")
    config = ExtractConfig(on_limit="fallback", fallback_chars=100_000)
    got = BoundedExtractor(config).extract(huge, "https://a.com/")
    assert got.extractor == "fallback" and got.text.startswith("Some words in a paragraph.")
    assert len(got.text) < 100_000


@pytest.fixture(scope="module")
def isolated() -> BoundedExtractor:
    extractor = BoundedExtractor(ExtractConfig(isolation="always", latest_date="2024-01-01"))
    yield extractor
    extractor.close()


def test_isolated_extraction_equals_inline(isolated: BoundedExtractor) -> None:
    html = read_html(PHYS)
    inline = extract_html(html, "https://phys.org/x", isolated.config)
    assert isolated.extract(html, "https://phys.org/x") == inline
    assert isolated.child_pid is not None and isolated.child_pid != os.getpid()


def test_pathologically_nested_page_returns(isolated: BoundedExtractor) -> None:
    # libxml2 caps depth at 256 (no huge_tree), so 100k nested divs parse quickly
    got = isolated.extract(nested_divs(100_000), "https://a.com/")
    assert got.extractor == "trafilatura"
    assert needs_isolation(nested_divs(100_000), ExtractConfig())


def test_child_killed_from_outside_is_a_crash_and_is_replaced(isolated: BoundedExtractor) -> None:
    isolated.extract(page("warm"), "https://a.com/")
    pid = isolated.child_pid
    threading.Timer(0.5, os.kill, (pid, signal.SIGKILL)).start()
    with pytest.raises(ExtractorCrashed) as info:
        isolated.extract(flat_divs(40_000), "https://a.com/")
    assert info.value.reason == "extractor_crashed"
    assert isolated.child_pid is None and not pid_alive(pid)
    assert isolated.extract(read_html(PHYS), "https://phys.org/x").text  # a new child
    assert isolated.child_pid not in (None, pid)


def test_prestarted_child_serves_the_first_isolated_page() -> None:
    config = ExtractConfig(isolate_above_tags=1_000, latest_date="2024-01-01")
    with BoundedExtractor(config) as extractor:
        extractor.prestart()
        pid = extractor.child_pid
        assert pid is not None and pid_alive(pid)
        html = read_html(PHYS)  # inline while the child loads
        assert extractor.extract(html, "https://phys.org/x") == extract_html(
            html, "https://phys.org/x", config
        )
        assert extractor.extract(flat_divs(300), "https://a.com/").extractor == "trafilatura"
        assert extractor.child_pid == pid  # the isolated page went to the prestarted child
    assert not pid_alive(pid)
    never = BoundedExtractor(ExtractConfig(isolation="never"))
    never.prestart()
    assert never.child_pid is None


def test_child_dying_before_ready_is_a_crash_and_is_replaced() -> None:
    config = ExtractConfig(isolate_above_tags=1_000)
    with BoundedExtractor(config) as extractor:
        extractor.prestart()
        pid = extractor.child_pid
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(ExtractorCrashed, match="did not start"):
            extractor.extract(flat_divs(300), "https://a.com/")
        assert extractor.child_pid is None and not pid_alive(pid)
        assert extractor.extract(flat_divs(300), "https://a.com/").extractor == "trafilatura"
        assert extractor.child_pid not in (None, pid)


def test_timeout_kills_the_work_and_the_extractor_recovers() -> None:
    config = ExtractConfig(timeout_s=1, isolate_above_tags=1_000)  # flat_divs(40_000): ~3 s
    with BoundedExtractor(config) as extractor:
        extractor.extract(
            flat_divs(300), "https://a.com/"
        )  # starts the child (isolated: 1,200 "<")
        pid = extractor.child_pid
        assert pid is not None
        with pytest.raises(ExtractionTimeout) as info:
            extractor.extract(flat_divs(40_000), "https://a.com/")
        assert info.value.reason == "timeout" and isinstance(info.value, ExtractionError)
        assert not pid_alive(pid)  # the work really stopped
        assert extractor.extract(flat_divs(300), "https://a.com/").extractor == "trafilatura"
        assert extractor.child_pid not in (None, pid)
        # normal pages never touch the child
        assert extractor.extract(read_html(PHYS), "https://phys.org/x").extractor == "trafilatura"


def test_timeout_with_fallback_returns_fallback_text() -> None:
    config = ExtractConfig(timeout_s=1, isolate_above_tags=1_000, on_limit="fallback")
    with BoundedExtractor(config) as extractor:
        got = extractor.extract(flat_divs(40_000), "https://a.com/")
    assert got.extractor == "fallback" and got.text.startswith("a\n\na")


def test_submit_returns_inline_pages_and_collects_isolated_ones_later() -> None:
    config = ExtractConfig(isolate_above_tags=5_000, latest_date="2024-01-01")
    html = read_html(PHYS)
    with BoundedExtractor(config) as extractor:
        assert extractor.submit(html, "https://phys.org/x") == extract_html(
            html, "https://phys.org/x", config
        )
        assert extractor.collect() == [] and extractor.pending == 0
        assert extractor.submit(flat_divs(2_000), "https://a.com/", tag="first") is None
        assert extractor.submit(flat_divs(1_500), "https://a.com/", tag="second") is None
        assert extractor.pending == 2  # the first was waited for before the second was sent
        got = extractor.extract(flat_divs(3_000), "https://a.com/")  # and so was the second
        assert got == extract_html(flat_divs(3_000), "https://a.com/", config)
        done = extractor.collect(wait=False)
        assert [page.tag for page in done] == ["first", "second"]
        assert done[0].result() == extract_html(flat_divs(2_000), "https://a.com/", config)
        assert all(page.elapsed_s > 0 for page in done)
        assert extractor.collect(wait=True) == [] and extractor.pending == 0


def test_collect_waits_for_a_page_in_the_child_past_a_tenth_of_the_timeout() -> None:
    """Past that, the child gets its worker's core back: a wall-clock budget shared with inline
    pages on a busy machine would make pages overrun that do not overrun with extract()."""
    config = ExtractConfig(isolate_above_tags=5_000, timeout_s=5)
    with BoundedExtractor(config) as extractor:
        extractor.extract(flat_divs(2_000), "https://a.com/")  # the child is ready
        pid = extractor.child_pid
        os.kill(pid, signal.SIGSTOP)  # holds the page until SIGCONT
        try:
            assert extractor.submit(flat_divs(2_000), "https://a.com/", tag="held") is None
            assert extractor.collect() == []  # within the first 0.5 s: no wait
            time.sleep(0.6)
            threading.Timer(0.5, os.kill, (pid, signal.SIGCONT)).start()
            [page] = extractor.collect()  # waited for the reply
        finally:
            os.kill(pid, signal.SIGCONT)
        assert page.tag == "held" and page.result().extractor == "trafilatura"
        assert page.elapsed_s > 1


def test_a_submitted_page_whose_child_dies_is_the_crash_of_extract() -> None:
    config = ExtractConfig(isolate_above_tags=5_000)
    with BoundedExtractor(config) as extractor:
        extractor.prestart()
        extractor.extract(flat_divs(2_000), "https://a.com/")
        pid = extractor.child_pid
        assert extractor.submit(flat_divs(40_000), "https://a.com/", tag="slow") is None
        os.kill(pid, signal.SIGKILL)
        [page] = extractor.collect(wait=True)
        with pytest.raises(ExtractorCrashed, match=r"extraction child died \(exit status"):
            page.result()
        assert extractor.child_pid is None and not pid_alive(pid)
        assert extractor.extract(flat_divs(2_000), "https://a.com/").extractor == "trafilatura"


def test_a_submitted_page_overrunning_with_fallback_gives_the_fallback_text() -> None:
    config = ExtractConfig(timeout_s=1, isolate_above_tags=5_000, on_limit="fallback")
    with BoundedExtractor(config) as extractor:
        assert extractor.submit(flat_divs(40_000), "https://a.com/") is None
        pid = extractor.child_pid
        assert extractor.collect() == []  # still running
        [page] = extractor.collect(wait=True)
        assert not pid_alive(pid)
    got = page.result()
    assert got.extractor == "fallback" and got.text.startswith("a\n\na")
    assert page.elapsed_s >= 1


