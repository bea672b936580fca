"""Tests of pagestream.report: a self-contained HTML page built from the run manifests."""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest

from pagestream.query import QueryError, load_manifests
from pagestream.report import (
    CHART_TITLES,
    add_arguments,
    main,
    summarize,
    write_report,
)
from pagestream.report_charts import bin_labels

_spec = importlib.util.spec_from_file_location(
    "_query_fixture", Path(__file__).with_name("test_query.py")
)
_fixture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixture)


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    return _fixture.make_output(tmp_path_factory.mktemp("out"))


@pytest.fixture(scope="module")
def page(out) -> str:
    """The default report of the fixture output (written once for the tests that only read it)."""
    return write_report(out).read_text(encoding="utf-8")


def _h2(page: str) -> list[str]:
    return re.findall(r"<h2>(.*?)</h2>", page)


def _section_of(page: str, title: str) -> str:
    start = page.index(f"<h2>{title}</h2>")
    return page[start : page.index("</section>", start)]


def _table_rows(html_part: str) -> list[list[str]]:
    body = re.findall(r"<tbody>(.*?)</tbody>", html_part, re.S)
    return [re.findall(r"<td[^>]*>(.*?)</td>", tr) for b in body for tr in b.split("</tr>") if tr]


def test_report_figures_are_the_runs_figures(page):
    """Cards, tables and chart labels show the fixture's numbers: r1 read 6 records (4 pages,
    1 rejected, 1 dead), r2 read 4 (2 pages, 2 rejected); 2 of the 6 pages are duplicates."""
    cards = {
        name: value for value, name in re.findall(r'class="card"><b>([^<]*)</b>([^<]*)<', page)
    }
    assert cards == {"runs": "2", "records read": "10", "pages": "6", "rejected": "3",
                     "dead letters": "1", "duplicate rate": "33.3%"}  # fmt: skip
    assert [row[:2] + row[3:] for row in _table_rows(_section_of(page, "Runs"))] == [
        ["r2", "2020-01-17", "12.5", "4", "2", "2", "0"],
        ["r1", "2020-01-10", "12.5", "6", "4", "1", "1"],
    ]
    per_file = _section_of(page, "Per-file counts")
    assert re.findall(r"<summary>(.*?)</summary>", per_file) == ["run r2: 1 file", "run r1: 1 file"]
    assert _table_rows(per_file) == [["in/r2.jsonl", "4", "2", "2", "0"],
                                     ["in/r1.jsonl", "6", "4", "1", "1"]]  # fmt: skip
    # Bar charts: category names bottom-up, then the bar labels (counts) in the same order.
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", _section_of(page, "Languages"))
    assert texts[-6:] == ["und", "de", "en", "1", "1", "4"]
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", _section_of(page, "Duplicates"))
    assert texts[-6:] == ["near", "exact", "unique", "1", "1", "4"]


def test_report_has_every_chart_and_no_network_reference(out, page):
    assert set(CHART_TITLES) <= set(_h2(page))
    assert page.count("<svg") == len(CHART_TITLES)
    assert not re.search(r"<(script|link|img|iframe)\b", page, re.I)
    assert not re.search(r"(src|href)=[\"']?https?:|url\(\s*['\"]?https?:|@import", page, re.I)
    assert not list((out / "_report").glob(".*"))  # the temporary file was renamed away


def test_report_shows_committed_runs_only(page):
    assert "run r1" in page and "run r2" in page and "r3" not in page
    assert "in/r1.jsonl" in page  # the per-file table


def test_single_run_report_has_no_runs_over_time(out):
    page = write_report(out, run_id="r2").read_text(encoding="utf-8")
    assert "Runs over time" not in _h2(page)
    assert "run r2" in page and "run r1" not in page


def test_svg_ids_do_not_clash(page):
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert ids and len(ids) == len(set(ids))


def test_summary_adds_up_the_manifests(out):
    s = summarize(load_manifests(out))
    assert s["counts"] == {"records_read": 10, "pages": 6, "rejected": 3, "dead_letter": 1}
    assert s["languages"] == {"en": 4, "de": 1, "und": 1}
    assert s["dup_status"] == {"unique": 4, "near": 1, "exact": 1}
    assert s["reasons"][("rejected", "read", "http_status")] == 1
    assert s["timings_ms"]["extract"] == 2469.0 and "read" not in s["timings_ms"]
    assert s["histogram"]["counts"] == [1, 0, 4, 0, 1, 0, 0, 0] and s["histogram_runs"] == 2


def test_report_reads_manifests_only_unless_scan(tmp_path, out):
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    for parquet in copy.glob("**/*.parquet"):
        parquet.write_bytes(b"not parquet")  # a scan of these would fail
    assert write_report(copy).exists()
    with pytest.raises(QueryError, match="cannot open"):
        write_report(copy, scan=True)


def test_scan_recomputes_from_parquet(tmp_path, out):
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    manifest = json.loads((copy / "_runs" / "r2.json").read_text())
    manifest["languages"] = {"xx": 99}  # a manifest figure the files contradict
    (copy / "_runs" / "r2.json").write_text(json.dumps(manifest))
    assert ">xx<" in write_report(copy).read_text(encoding="utf-8")
    scanned = write_report(copy, scan=True).read_text(encoding="utf-8")
    assert ">xx<" not in scanned and ">und<" in scanned
    assert "figures from a scan of the Parquet files" in scanned


def test_empty_sections_say_so(tmp_path):
    (tmp_path / "_runs").mkdir()
    (tmp_path / "_runs" / "bare.json").write_text(json.dumps({"run_id": "bare", "counts": {}}))
    page = write_report(tmp_path).read_text(encoding="utf-8")
    assert "No topics recorded." in page and "No timings recorded." in page
    assert set(CHART_TITLES) - {"Runs over time"} <= set(_h2(page))


def test_main_prints_path_or_one_line_error(out, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert main(parser.parse_args([str(out)])) == 0
    assert capsys.readouterr().out.strip() == str(out / "_report" / "index.html")
    assert main(parser.parse_args([str(tmp_path / "nope")])) == 1
    err = capsys.readouterr().err
    assert err == f"pagestream report: error: no such output directory: {tmp_path / 'nope'}\n"


@pytest.mark.parametrize(
    "edges, n, labels",
    [
        ([0, 50, 100], 2, ["0–50", "50–100"]),  # numpy style: the last bin is closed
        ([0, 50, 100], 3, ["0–50", "50–100", "≥ 100"]),  # the commit step: last bin open-ended
        ([0, 50, 100], 5, None),
        ([], 0, None),
    ],
)
def test_histogram_bin_labels(edges, n, labels):
    assert bin_labels(edges, n) == labels


def test_remote_path_is_not_supported_exit_2(capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert main(parser.parse_args(["gs://bucket/out"])) == 2
    err = capsys.readouterr().err
    assert err.startswith("pagestream report: error: not supported: gs://bucket/out: ")
    assert err.count("\n") == 1


def test_scan_leaves_pages_without_domain_out_of_top_domains(tmp_path):
    pages = [
        _fixture._page("f1", "f", "2021-05-01", "en", domain=None, url="file:///in/a.txt"),
        _fixture._page("w1", "f", "2021-05-01", "en", domain="phys.org"),
    ]
    _fixture._write_run(tmp_path, "f", "2021-05-01", pages, [], [])
    section = re.search(r"<h2>Top domains</h2>.*?</section>", write_report(tmp_path, scan=True)
                        .read_text(encoding="utf-8"), re.S).group(0)  # fmt: skip
    labels = re.findall(r"<text[^>]*>([^<]*)</text>", section)
    assert "phys.org" in labels and "None" not in labels and "" not in labels
