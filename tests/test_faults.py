"""The pipeline on a corpus of bad inputs beside good ones (``make_bad_corpus``): every record
meets its expected fate, bad ones one dead letter each with a readable error, counts add up per
file, and the huge and nested pages are bounded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from pagestream.schemas.arrow import PAGES_PARTITIONING
from pagestream.schemas.records import file_of

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_bad_corpus import make_bad_corpus  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
RUN_TIMEOUT_S = 600  # a stalled run fails the test instead of hanging it


def _table(out: Path, name: str) -> list[dict]:
    files = sorted((out / name).glob("*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


@pytest.fixture(scope="module")
def faults_run(tmp_path_factory):
    if not SHARED.is_dir():
        pytest.skip(f"development data not found at {SHARED}")
    base = tmp_path_factory.mktemp("faults")
    expected = make_bad_corpus(base / "corpus", SHARED)
    inputs, out = base / "corpus" / "input", base / "out"
    result = subprocess.run(
        [sys.executable, "-m", "pagestream.cli", "run", "--input", str(inputs), "--output", str(out),
         "--run_id", "faults", "--logical_date", "2026-01-02", "--quiet"],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
    )  # fmt: skip
    pages = ds.dataset(
        out / "pages", format="parquet",
        partitioning=ds.partitioning(PAGES_PARTITIONING, flavor="hive"),
    ).to_table().to_pylist() if (out / "pages").exists() else []  # fmt: skip
    fates = {}
    for table, rows in (("pages", pages), ("rejected", _table(out, "rejected")),
                        ("dead_letter", _table(out, "dead_letter"))):  # fmt: skip
        for row in rows:
            assert row["source"] not in fates, f"{row['source']} is in two tables"
            fates[row["source"]] = (table, row)
    manifest_path = out / "_runs" / "faults.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
    return {
        "result": result, "expected": expected, "inputs": inputs, "fates": fates,
        "manifest": manifest,
    }  # fmt: skip


def _outcome(table: str, row: dict) -> str:
    return "pages" if table == "pages" else f"{table}/{row['stage']}/{row['reason']}"


def _expected_records(run):
    for name, spec in sorted(run["expected"]["files"].items()):
        for fate in spec["fates"]:
            yield name, f"{run['inputs'] / name}#{fate['position']}", fate


def test_the_run_finishes_with_exit_0(faults_run):
    result = faults_run["result"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert faults_run["manifest"]["status"] == "committed"


def test_every_record_meets_its_expected_fate(faults_run):
    fates, wrong = faults_run["fates"], []
    for name, source, fate in _expected_records(faults_run):
        if source not in fates:
            wrong.append(f"{name}#{fate['position']}: missing")
            continue
        table, row = fates[source]
        if _outcome(table, row) not in fate["outcomes"]:
            wrong.append(
                f"{name}#{fate['position']}: {_outcome(table, row)}, expected {fate['outcomes']}"
            )
        elif "contains" in fate and fate["contains"] not in row["text"]:
            wrong.append(f"{name}#{fate['position']}: text lacks {fate['contains']!r}")
    assert wrong == []


def test_nothing_comes_out_that_was_not_expected(faults_run):
    expected = {source for _, source, _ in _expected_records(faults_run)}
    assert sorted(set(faults_run["fates"]) - expected) == []


def test_dead_letters_are_readable(faults_run):
    dead = [row for table, row in faults_run["fates"].values() if table == "dead_letter"]
    assert len(dead) >= 20
    for row in dead:
        assert row["stage"] in ("read", "extract") and row["reason"], row
        # "<ExceptionType>: <message>" or a sentence; one line, no raw bytes dumped into it
        assert row["error"] and len(row["error"]) < 2100 and "\x00" not in row["error"], row
        position = row["source"].rsplit("#", 1)[1]
        assert position.isdigit(), row["source"]


def test_counts_add_up_per_file_and_overall(faults_run):
    manifest, expected = faults_run["manifest"], faults_run["expected"]
    per_file = manifest["per_file"]
    for name, spec in expected["files"].items():
        counts = per_file[str(faults_run["inputs"] / name)]
        assert counts["read"] == spec["records"], name
        assert counts["read"] == counts["pages"] + counts["rejected"] + counts["dead_letter"], name
    assert set(per_file) == {str(faults_run["inputs"] / name) for name in expected["files"]}
    counts = manifest["counts"]
    total = sum(spec["records"] for spec in expected["files"].values())
    assert counts["records_read"] == total == len(faults_run["fates"])
    assert counts["records_read"] == counts["pages"] + counts["rejected"] + counts["dead_letter"]
    assert manifest["inputs"]["skipped"] == [
        str(faults_run["inputs"] / s) for s in expected["skipped"]
    ]


def test_a_hash_in_a_file_name_cannot_break_the_file_of_a_source(faults_run):
    odd = [s for s in faults_run["fates"] if "#" in s.rsplit("/", 1)[1].rsplit("#", 1)[0]]
    assert len(odd) == 3  # hash#1.html and the two records of a#b#2.jsonl
    assert all(Path(file_of(s)).is_file() for s in odd)


def test_truncated_files_keep_the_records_before_the_cut(faults_run):
    fates = faults_run["fates"]
    for name in ("bad/cut.jsonl.gz", "bad/cut.warc.gz", "bad/cut.warc"):
        path = str(faults_run["inputs"] / name)
        mine = sorted(
            (int(s.rsplit("#", 1)[1]), t, row["reason"] if t != "pages" else None)
            for s, (t, row) in fates.items()
            if file_of(s) == path
        )
        assert [t for _, t, _ in mine[:-1]] == ["pages"] * (len(mine) - 1), name
        assert mine[-1][1:] == ("dead_letter", "truncated"), name


def test_huge_and_nested_pages_are_bounded(faults_run):
    fates = faults_run["fates"]
    table, row = fates[f"{faults_run['inputs'] / 'big' / 'huge.html'}#0"]
    if table == "dead_letter":
        assert row["reason"] == "too_large" and len(row["excerpt"]) <= 500
    else:
        assert row["extractor"] == "fallback"
    table, row = fates[f"{faults_run['inputs'] / 'big' / 'nested.html'}#0"]
    assert table in ("pages", "rejected", "dead_letter")
