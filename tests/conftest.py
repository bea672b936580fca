"""Shared fixtures: paths to the development data beside the checkout, small page factories."""

from __future__ import annotations

import gzip
import json
import logging
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"

logging.getLogger("apache_beam").setLevel(logging.ERROR)


@pytest.fixture(scope="session", autouse=True)
def _cache_in_a_temp_dir(tmp_path_factory):
    """pagestream's cache (``language_model.cache_dir``) goes to a temp dir, not ~/.cache;
    subprocesses (``pagestream run``, Beam workers) inherit it through the environment."""
    previous = os.environ.get("PAGESTREAM_CACHE_DIR")
    os.environ["PAGESTREAM_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        os.environ.pop("PAGESTREAM_CACHE_DIR", None)
    else:
        os.environ["PAGESTREAM_CACHE_DIR"] = previous


@pytest.fixture
def shared() -> Path:
    """``../shared/data``; tests that need it skip where it is missing."""
    if not SHARED.is_dir():
        pytest.skip(f"development data not found at {SHARED}")
    return SHARED


_ARTICLE = """<html lang="en"><head><title>Storm closes the harbour | Coast News</title>
<meta name="author" content="Jane Roe"><meta property="og:url" content="https://news.example/storm">
<script type="application/ld+json">{"@type": "NewsArticle", "datePublished": "2024-03-02",
"headline": "Storm closes the harbour"}</script></head><body><nav>Home | World</nav><article>
<h1>Storm closes the harbour</h1><p class="byline">By Jane Roe</p>
<p>The harbour was closed on Saturday as the storm brought waves of six metres.</p>
<p>Fishing boats stayed in port and the ferry to the islands was cancelled.</p></article>
<footer>Copyright Coast News</footer></body></html>"""
_NO_META = "<html><body><h2>Notes</h2><p>Plain notes without any metadata at all.</p></body></html>"


@pytest.fixture(scope="session")
def html_pages() -> list[tuple[str, str]]:
    """``(url, html)``: an article with every metadata field first, a page with none, the
    bundled sample's HTML files, then every extraction-dev page when ../shared is there."""
    pages = [("https://news.example/storm", _ARTICLE), ("", _NO_META)]
    for path in sorted((REPO / "src" / "pagestream" / "sample" / "html").glob("*.htm*")):
        pages.append((f"file://{path}", path.read_text(encoding="utf-8", errors="replace")))
    dev = SHARED / "extraction-dev" / "pages.jsonl.gz"
    if dev.exists():
        with gzip.open(dev, "rt", encoding="utf-8") as handle:
            pages += [(row["url"], row["html"]) for row in map(json.loads, handle)]
    return pages


def make_page(**fields):
    """A ``Page`` with every column at a plausible default; override any field."""
    from pagestream.schemas.records import new_page

    defaults = dict(
        doc_id="d1",
        url="https://news.example.com/a",
        domain="example.com",
        source="/in/feed.jsonl#1",
        text="Some text of a page.",
        word_count=5,
        language="en",
        language_score=0.99,
        content_hash="h1",
        extractor="trafilatura",
        run_id="r1",
        pipeline_version="0.1.0",
        crawl_date="2020-01-10",
    )
    defaults.update(fields)
    return new_page(**defaults)


@pytest.fixture
def page_factory():
    return make_page


@pytest.fixture
def batch_extract_fns(tmp_path):
    """``build(runner)``: the ``ExtractFn``s of the batch graph that ``pagestream run`` builds
    for one HTML page and ``--runner runner`` (the graph only; nothing runs)."""

    def build(runner: str) -> list:
        import apache_beam as beam
        from apache_beam.options.pipeline_options import PipelineOptions
        from apache_beam.pipeline import PipelineVisitor

        from pagestream.cli import _parser, sample_dir
        from pagestream.pipelines import batch
        from pagestream.pipelines.options import parse_run_args
        from pagestream.transforms.extract.composite import ExtractFn

        page = tmp_path / "a.html"
        page.write_text("<html><body><p>one page</p></body></html>")
        argv = ["run", "--input", str(page), "--output", str(tmp_path / "out"), "--runner", runner]
        args, rest = _parser().parse_known_args(argv)
        plan = batch.plan_run(parse_run_args(args, rest, sample_dir()), PipelineOptions(rest))
        pipeline = beam.Pipeline()  # the graph only: the runner is not needed to build it
        batch.build(pipeline, plan)
        found = []

        class Visitor(PipelineVisitor):
            def visit_transform(self, node):
                fn = getattr(node.transform, "fn", None)
                if isinstance(fn, ExtractFn):
                    found.append(fn)

        pipeline.visit(Visitor())
        return found

    return build
