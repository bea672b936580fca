"""Shared fixtures: paths to the development data beside the checkout, small page factories."""

from __future__ import annotations

import gzip
import inspect
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
        from pagestream.pipelines.plan import plan_run
        from pagestream.transforms.extract.extract_fn import ExtractFn

        page = tmp_path / "a.html"
        page.write_text("<html><body><p>one page</p></body></html>")
        argv = ["run", "--input", str(page), "--output", str(tmp_path / "out"), "--runner", runner]
        args, rest = _parser().parse_known_args(argv)
        # Beam's flags are checked against the runner up front (Dataflow wants a project...):
        # only the graph is built here, so they are left out of that check.
        plan = plan_run(parse_run_args(args, [], sample_dir()), PipelineOptions(rest))
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


# --- markers --------------------------------------------------------------------------------------
# Every test gets one kind, from its module unless it or its module is marked with one itself:
#   unit      pure functions and single composites on small inputs made in the test (no dev
#             data): ``pytest -m unit`` is the fast subset;
#   pipeline  Beam graphs run in this process, or a stage checked over the whole dev data;
#   e2e       ``pagestream`` processes, worker pools, clusters, the tools of deploy/.
# And ``needs_data`` when it reads ../shared/data: through the ``shared`` or ``html_pages``
# fixture, or a module-level path inside it named by the test, a module function it calls or a
# module fixture it uses. A module not listed here is ``pipeline``: add new modules.
KINDS = ("unit", "pipeline", "e2e")
MODULE_KIND = {
    **dict.fromkeys(
        ["test_benchmarks", "test_clean_text", "test_extract_html", "test_fingerprint",
         "test_html_meta", "test_language", "test_layout", "test_lxml_speedups", "test_options",
         "test_query", "test_read_fuzz", "test_report", "test_scaling_corpus", "test_taxonomy",
         "test_topics", "test_deploy_schedules", "test_ci"],
        "unit",
    ),
    **dict.fromkeys(
        ["test_dedup", "test_dedup_state", "test_extract_overlap", "test_read",
         "test_site_stats", "test_streaming_graph", "test_write_commit"],
        "pipeline",
    ),
    **dict.fromkeys(
        ["test_dask", "test_deploy", "test_faults", "test_kill", "test_local_workers",
         "test_multiprocess", "test_pipeline", "test_readme",
         "test_scheduled_runs", "test_streaming"],
        "e2e",
    ),
}  # fmt: skip
DATA_FIXTURES = {"shared", "html_pages"}


def _names_shared_data(function, module, seen: set) -> bool:
    """Whether ``function``, or a function of ``module`` it names (transitively), names a
    module global that is a path inside ../shared/data."""
    code = getattr(inspect.unwrap(function), "__code__", None)
    if code is None or code in seen:
        return False
    seen.add(code)
    for name in code.co_names:
        value = getattr(module, name, None)
        if isinstance(value, Path) and (value == SHARED or SHARED in value.parents):
            return True
        local = callable(value) and getattr(inspect.unwrap(value), "__module__", None)
        if local == module.__name__ and _names_shared_data(value, module, seen):
            return True
    return False


def _needs_data(item) -> bool:
    fixtures = set(getattr(item, "fixturenames", ()))
    if fixtures & DATA_FIXTURES:
        return True
    module, seen = getattr(item, "module", None), set()
    if module is None:
        return False
    used = [getattr(item, "function", None), *(getattr(module, f, None) for f in fixtures)]
    return any(f is not None and _names_shared_data(f, module, seen) for f in used)


def pytest_collection_modifyitems(config, items):
    for item in items:
        needs_data = _needs_data(item)
        if needs_data:
            item.add_marker(pytest.mark.needs_data)
        if any(item.get_closest_marker(kind) for kind in KINDS):
            continue
        kind = MODULE_KIND.get(item.path.stem, "pipeline")
        if kind == "unit" and needs_data:
            kind = "pipeline"  # a check over the dev data is not part of the fast subset
        item.add_marker(getattr(pytest.mark, kind))
