"""``ScoreQuality`` in a graph and in ``pagestream run``: columns written, flags counted,
``--drop_low_quality`` moving flagged pages to ``rejected``."""

from __future__ import annotations

import json

import apache_beam as beam
import pyarrow.dataset as ds
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pagestream.cli import main
from pagestream.report import write_report
from pagestream.schemas.arrow import PAGES_PARTITIONING
from pagestream.schemas.records import KIND_PAGE, KIND_REJECTED, QUALITY_COLUMNS
from pagestream.transforms.extract.composite import word_count
from pagestream.transforms.quality.rules import QualityConfig
from pagestream.transforms.quality.score import ScoreQuality, assess

GOOD = (
    "The harbour was closed on Saturday as the storm brought waves of six metres to the coast. "
    "Fishing boats stayed in port and the ferry to the islands was cancelled for the day.\n\n"
    "Officials said that the road along the sea front would stay shut until the wind dropped, "
    "and that people should keep away from the pier while the warning is in force. The weather "
    "service expects the storm to move north by Monday, with rain spreading inland."
)
SPAM = "Buy cheap watches now and save big today with our amazing deals. " * 30
NAV = "\n".join(f"- Section {i} of the site map" for i in range(60))
TEASERS = [
    "Storm closes the harbour as waves reach six metres", "Ferry to the islands cancelled again",
    "Council votes to rebuild the old pier before summer", "Local school wins the science prize",
    "Fishermen count their losses after the long winter", "New bakery opens on the market square",
    "Police appeal for witnesses after a crash on the coast road", "Hospital extends visiting hours",
    "Town football club signs a young striker from the city", "Museum shows paintings of the bay",
    "Rail line reopens after repairs to the bridge", "Volunteers clear plastic from the beach",
]  # fmt: skip
#: A page of teasers that end in an ellipsis (no sentence ends): extracted from HTML.
TEASER_HTML = (
    "<html><head><title>Latest</title></head><body><article><h1>Latest news</h1>"
    + "".join(f"<p>{t}…</p>" for t in TEASERS)
    + "</article></body></html>"
)


def _page(page_factory, doc_id, text, **fields):
    return page_factory(doc_id=doc_id, text=text, word_count=word_count(text), **fields)


@pytest.mark.parametrize("drop", [False, True])
def test_composite_sets_the_columns_and_routes_flagged_pages(page_factory, drop):
    pages = [
        _page(page_factory, "good", GOOD),
        _page(page_factory, "spam", SPAM),
        _page(page_factory, "nav", NAV),
        _page(page_factory, "gone", SPAM, kind=KIND_REJECTED, stage="extract", reason="too_short"),
    ]
    with TestPipeline() as p:
        out = (
            p
            | beam.Create(pages)
            | ScoreQuality(QualityConfig(drop=drop))
            | beam.Map(lambda q: (q.doc_id, q.kind, q.reason, list(q.quality_flags)))
        )
        kind = KIND_REJECTED if drop else KIND_PAGE
        assert_that(
            out,
            equal_to(
                [
                    ("good", KIND_PAGE, None, []),
                    ("spam", kind, "gopher_repetition" if drop else None, ["gopher_repetition"]),
                    (
                        "nav",
                        kind,
                        "gopher_quality" if drop else None,
                        ["gopher_quality", "gopher_repetition", "c4_lines"],
                    ),
                    ("gone", KIND_REJECTED, "too_short", []),  # other kinds pass unchanged
                ]
            ),
        )


def _write_inputs(folder):
    folder.mkdir()
    rows = [
        {"url": "https://harbour.example/storm", "text": GOOD},
        {"url": "https://shop.example/watches", "text": SPAM},
        {"url": "https://shop.example/latest", "html": TEASER_HTML},
    ]
    (folder / "feed.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def _run(tmp_path, *extra):
    _write_inputs(tmp_path / "in")
    out = tmp_path / "out"
    argv = ["run", "--input", str(tmp_path / "in"), "--output", str(out), "--run_id", "q1",
            "--min_words", "1", "--quiet", *extra]  # fmt: skip
    assert main(argv) == 0
    pages = ds.dataset(
        out / "pages", format="parquet",
        partitioning=ds.partitioning(PAGES_PARTITIONING, flavor="hive"),
    ).to_table().to_pylist()  # fmt: skip
    rejected_dir = out / "rejected"
    rejected = (
        ds.dataset(rejected_dir, format="parquet").to_table().to_pylist()
        if rejected_dir.exists()
        else []
    )
    manifest = json.loads((out / "_runs" / "q1.json").read_text())
    return pages, rejected, manifest, out


def test_run_stores_the_signals_of_the_stored_text(tmp_path):
    pages, rejected, manifest, out = _run(tmp_path)
    assert rejected == []
    by_url = {p["url"]: p for p in pages}
    assert {u: p["quality_flags"] for u, p in by_url.items()} == {
        "https://harbour.example/storm": [],
        "https://shop.example/watches": ["gopher_repetition"],
        "https://shop.example/latest": ["gopher_quality", "c4_lines"],
    }
    for page in pages:  # every column equals the signals of the text as written
        signals, flags = assess(page["text"], page["language"], page["word_count"])
        assert page["quality_flags"] == flags
        for name in QUALITY_COLUMNS:
            assert page[name] == pytest.approx(getattr(signals, name), rel=1e-6), name
    assert manifest["quality_flags"] == {"c4_lines": 1, "gopher_quality": 1, "gopher_repetition": 1}
    assert manifest["quality_flags_by_domain"] == {
        "shop.example": {"c4_lines": 1, "gopher_quality": 1, "gopher_repetition": 1}
    }
    assert manifest["options"]["drop_low_quality"] is False
    for scan in (False, True):  # the report charts the flags per domain, from either source
        report = write_report(out, scan=scan).read_text(encoding="utf-8")
        section = report.split("<h2>Quality flags by domain</h2>", 1)[1].split("</section>", 1)[0]
        assert section.count("<svg") == 1
        for flag in ("c4_lines", "gopher_quality", "gopher_repetition"):
            assert f"shop.example · {flag}" in section
        assert "harbour.example" not in section


def test_drop_low_quality_moves_flagged_pages_to_rejected(tmp_path):
    pages, rejected, manifest, _ = _run(tmp_path, "--drop_low_quality")
    assert [p["url"] for p in pages] == ["https://harbour.example/storm"]
    assert sorted((r["url"], r["stage"], r["reason"]) for r in rejected) == [
        ("https://shop.example/latest", "quality", "gopher_quality"),
        ("https://shop.example/watches", "quality", "gopher_repetition"),
    ]
    assert manifest["counts"]["records_read"] == 3 and manifest["counts"]["rejected"] == 2
    reasons = {(r["stage"], r["reason"]): r["count"] for r in manifest["reasons"]}
    assert reasons == {("quality", "gopher_quality"): 1, ("quality", "gopher_repetition"): 1}


def test_drop_low_quality_from_a_config_file_must_be_a_boolean(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text('drop_low_quality = "yes"\n')
    _write_inputs(tmp_path / "in")
    argv = ["run", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
            "--config", str(config), "--quiet"]  # fmt: skip
    assert main(argv) == 2
    assert (
        "drop_low_quality in " in (err := capsys.readouterr().err)
        and "must be true or false" in err
    )
