"""``html_meta.page_metadata`` gives the title, author and date trafilatura's own
``extract_metadata`` gives, page by page, and ``extract_html`` uses it without changing any
extracted field."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from trafilatura.metadata import extract_metadata
from trafilatura.utils import load_html

from pagestream.transforms import html_meta
from pagestream.transforms.extract_config import ExtractConfig
from pagestream.transforms.html_text import extract_html

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SAMPLE = Path(__file__).resolve().parents[1] / "src" / "pagestream" / "sample"
DATE_PARAMS = {"original_date": True, "extensive_search": False, "max_date": "2026-01-01"}

_ARTICLE = """<html lang="en"><head><title>Storm closes the harbour | Coast News</title>
<meta name="author" content="Jane Roe"><meta property="og:url" content="https://news.example/storm">
<script type="application/ld+json">{"@type": "NewsArticle", "datePublished": "2024-03-02",
"headline": "Storm closes the harbour"}</script></head><body><nav>Home | World</nav><article>
<h1>Storm closes the harbour</h1><p class="byline">By Jane Roe</p>
<p>The harbour was closed on Saturday as the storm brought waves of six metres.</p>
<p>Fishing boats stayed in port and the ferry to the islands was cancelled.</p></article>
<footer>Copyright Coast News</footer></body></html>"""
_NO_META = "<html><body><h2>Notes</h2><p>Plain notes without any metadata at all.</p></body></html>"


def _pages() -> list[tuple[str, str]]:
    pages = [("https://news.example/storm", _ARTICLE), ("", _NO_META)]
    for path in sorted((SAMPLE / "html").glob("*.htm*")):
        pages.append((f"file://{path}", path.read_text(encoding="utf-8", errors="replace")))
    dev = SHARED / "extraction-dev" / "pages.jsonl.gz"
    if dev.exists():
        with gzip.open(dev, "rt", encoding="utf-8") as handle:
            pages += [(row["url"], row["html"]) for row in map(json.loads, handle)]
    return pages


PAGES = _pages()


def test_the_page_set_is_not_trivial():
    assert len(PAGES) >= 3
    found = [html_meta.page_metadata(load_html(h), u or None, DATE_PARAMS) for u, h in PAGES[:1]]
    assert found == [("Storm closes the harbour", "Jane Roe", "2024-03-02")]


def test_fields_equal_trafilatura_extract_metadata_on_every_page():
    assert html_meta.AVAILABLE
    differ = []
    for url, html in PAGES:
        tree = load_html(html)
        full = extract_metadata(tree, url or None, dict(DATE_PARAMS))
        lean = html_meta.page_metadata(tree, url or None, DATE_PARAMS)
        if lean != (full.title, full.author, full.date):
            differ.append((url, lean, (full.title, full.author, full.date)))
    assert differ == []


def test_extract_html_gives_the_same_result_on_either_path(monkeypatch):
    config = ExtractConfig(latest_date="2026-01-01")
    lean = [extract_html(h, u, config) for u, h in PAGES[:60]]
    monkeypatch.setattr(html_meta, "AVAILABLE", False)  # bare_extraction(with_metadata=True)
    full = [extract_html(h, u, config) for u, h in PAGES[:60]]
    assert lean == full
    assert any(r.title for r in lean) and any(r.author for r in lean)
