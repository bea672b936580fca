"""End to end: the batch pipeline on real pages, read back from Parquet."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pytest

from pagestream.cli import main, sample_dir
from pagestream.schemas.arrow import PAGES_PARTITIONING

SALON = "https://www.salon.com/2020/01/10/despite-everything-u-s-emissions-dipped-in-2019_partner/"
MIRROR = "https://news-mirror.example.com/2020/01/10/us-emissions-dipped-in-2019/"
PHYS = "https://phys.org/news/2019-10-flint-flake-tool-partially-birch.html"
DIGEST = "https://science-digest.example.net/2019/10/neanderthal-birch-tar-flint-tool.html"


def _pages(out):
    dataset = ds.dataset(
        out / "pages",
        format="parquet",
        partitioning=ds.partitioning(PAGES_PARTITIONING, flavor="hive"),
    )
    return sorted(dataset.to_table().to_pylist(), key=lambda r: r["doc_id"])


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    shared = SHARED
    if not shared.is_dir():
        pytest.skip("development data not found")
    out = tmp_path_factory.mktemp("mixed") / "out"
    argv = ["run", "--input", str(shared / "mixed"), "--output", str(out), "--run_id", "m1",
            "--logical_date", "2026-01-02", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    return out, argv


def test_every_record_of_every_format_is_accounted_for(mixed_run):
    out, _ = mixed_run
    manifest = json.loads((out / "_runs" / "m1.json").read_text())
    counts = manifest["counts"]
    assert counts == {"records_read": 14, "pages": 14, "rejected": 0, "dead_letter": 0}
    assert manifest["inputs"]["skipped"] == [str(SHARED / "mixed" / "MANIFEST.md")]
    per_file = manifest["per_file"]
    assert sum(f["read"] for f in per_file.values()) == 14
    assert all(
        f["read"] == f["pages"] + f["rejected"] + f["dead_letter"] for f in per_file.values()
    )
    assert {name.rsplit("/", 1)[1]: f["read"] for name, f in per_file.items()}["feed.jsonl"] == 7

    rows = _pages(out)
    assert len({r["doc_id"] for r in rows}) == 14
    by_url = {r["url"]: r for r in rows}
    # html from the canonical link; text records keep their url; the .txt gets a file URI.
    assert {SALON, MIRROR, PHYS, DIGEST} <= set(by_url)
    assert sum(r["url"].startswith("file://") for r in rows) == 1
    assert all(r["text"] and r["word_count"] >= 50 and r["language"] == "en" for r in rows)
    assert by_url[PHYS]["title"].startswith("Flint flake tool")
    assert by_url[PHYS]["extractor"] == "trafilatura"
    text_record = by_url["https://www.nature.com/articles/d41586-019-02790-3"]
    assert text_record["extractor"] == "plaintext"
    assert str(text_record["crawl_date"]) == "2019-09-20"  # from fetch_time
    assert str(by_url[PHYS]["crawl_date"]) == "2026-01-02"  # no fetch time: the logical date


def test_known_duplicates_are_marked_with_the_keep_rule(mixed_run):
    out, _ = mixed_run
    rows = {r["url"]: r for r in _pages(out)}
    exact = sorted([rows[SALON], rows[MIRROR]], key=lambda r: r["doc_id"])
    # No fetch times: the smallest doc_id is kept.
    assert exact[0]["dup_status"] == "unique" and exact[0]["dup_of"] is None
    assert exact[1]["dup_status"] == "exact" and exact[1]["dup_of"] == exact[0]["doc_id"]
    assert exact[1]["dup_similarity"] == 1.0 and exact[1]["dup_run"] == "m1"
    assert exact[0]["content_hash"] == exact[1]["content_hash"]
    near = sorted([rows[PHYS], rows[DIGEST]], key=lambda r: r["doc_id"])
    assert near[0]["dup_status"] == "unique"
    assert near[1]["dup_status"] == "near" and near[1]["dup_of"] == near[0]["doc_id"]
    assert 0.8 < near[1]["dup_similarity"] < 1.0
    others = [r for u, r in rows.items() if u not in (SALON, MIRROR, PHYS, DIGEST)]
    assert {r["dup_status"] for r in others} == {"unique"}


def test_duckdb_reads_the_output(mixed_run):
    out, _ = mixed_run
    got = duckdb.sql(
        f"SELECT language, dup_status, count(*) FROM read_parquet('{out}/pages/**/*.parquet', "
        "hive_partitioning=true, union_by_name=true) GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert got == [("en", "exact", 1), ("en", "near", 1), ("en", "unique", 12)]


def test_rerun_of_the_same_run_id_gives_identical_rows(mixed_run, tmp_path):
    out, argv = mixed_run
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    before = _pages(copy)
    argv = [a if a != str(out) else str(copy) for a in argv]
    assert main(argv) == 0
    after = _pages(copy)
    assert after == before
    assert sorted(p.name for p in (copy / "_runs").iterdir()) == ["m1.json"]
    assert not (copy / "_staging" / "m1").exists()


def test_bad_options_exit_2_before_running(tmp_path, capsys):
    assert main(["run", "--input", str(tmp_path / "missing"), "--output", str(tmp_path / "o")]) == 2
    assert "missing: no such file or directory" in capsys.readouterr().err
    assert not (tmp_path / "o" / "_runs").exists()


def test_unwritable_output_fails_before_running(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    (tmp_path / "in.txt").write_text("word " * 100)
    code = main(["run", "--input", str(tmp_path / "in.txt"), "--output", str(blocker / "out")])
    assert code == 2
    assert "--output" in capsys.readouterr().err


def test_cli_runs_the_bundled_sample(tmp_path):
    """The README's first command: `pagestream run` with no arguments."""
    result = subprocess.run(
        [sys.executable, "-m", "pagestream.cli", "run"], cwd=tmp_path, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "committed" in result.stdout and "pages written" in result.stdout
    out = tmp_path / "pagestream-out"
    (manifest,) = [json.loads(p.read_text()) for p in (out / "_runs").glob("*.json")]
    counts = manifest["counts"]
    assert counts["records_read"] == counts["pages"] + counts["rejected"] + counts["dead_letter"]
    assert manifest["options"]["input"] == [sample_dir()]
    # Five seeds + 16 WARC pages + 3 JSONL copies + 1 HTML copy; nothing fails.
    assert counts["records_read"] == 25 and counts["dead_letter"] == 0
    # Every JSONL/HTML copy shares the fate of its WARC original: both rejected, or one kept
    # and the other an exact duplicate of it.
    con = duckdb.connect()
    fates = con.execute(
        f"""SELECT content_hash, list(dup_status ORDER BY dup_status) FROM read_parquet('{out}/pages/**/*.parquet',
            hive_partitioning=true) GROUP BY 1 HAVING count(*) > 1"""
    ).fetchall()
    rejected = con.execute(
        f"SELECT url, count(*) FROM '{out}/rejected/*.parquet' GROUP BY url HAVING count(*) > 1"
    ).fetchall()
    assert all(statuses == ["exact", "unique"] for _, statuses in fates)
    assert len(fates) + len(rejected) == 4
    assert manifest["dup_status"]["exact"] == len(fates)
