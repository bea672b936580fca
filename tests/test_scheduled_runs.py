"""Scheduled runs are idempotent: rerunning a slot (same --run_id, --logical_date, --state)
replaces that run's output and never doubles it, and rerunning an older slot after a newer one
gives the rows of its first run (it joins only the committed --state segments ordered before it).
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _compare_outputs():
    spec = importlib.util.spec_from_file_location("compare_outputs", DEPLOY / "compare_outputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DAY_1 = ("salon.com.emissions.html", "phys.org.tool.html", "003_370d3b6ebcc3e755.txt")
# An exact duplicate of salon, a near duplicate of phys.org, and a new page (shared/data/mixed/MANIFEST.md).
DAY_2 = ("news-mirror.us-emissions-2019.html", "science-digest.neanderthal-birch-tar.html",
         "nationalgeographic.co.uk.goats.html")  # fmt: skip


def _slot(tmp_path: Path, files: tuple[str, ...], name: str) -> Path:
    folder = tmp_path / "incoming" / name
    folder.mkdir(parents=True)
    for file in files:
        shutil.copy(SHARED / "mixed" / file, folder / file)
    return folder


def _run_slot(folder: Path, output: Path, state: Path, ds: str) -> None:
    from pagestream.cli import main

    run_id = "daily-" + ds.replace("-", "")
    argv = ["run", "--input", str(folder), "--output", str(output), "--state", str(state),
            "--run_id", run_id, "--logical_date", ds, "--quiet"]  # fmt: skip
    assert main(argv) == 0


def _rows_on_disk(output: Path) -> dict[str, int]:
    """Rows per run_id over every Parquet file under pages/ (what a raw glob would see)."""
    import duckdb

    query = f"SELECT run_id, count(*) FROM read_parquet('{output}/pages/**/*.parquet', hive_partitioning=true) GROUP BY 1"
    return dict(duckdb.sql(query).fetchall())


def test_rerunning_a_slot_replaces_it_and_an_older_slot_reruns_unchanged(tmp_path):
    if not (SHARED / "mixed").is_dir():
        pytest.skip(f"development data not found at {SHARED}")
    compare = _compare_outputs()
    output, state = tmp_path / "out", tmp_path / "state"
    day_1, day_2 = _slot(tmp_path, DAY_1, "day1"), _slot(tmp_path, DAY_2, "day2")

    _run_slot(day_1, output, state, "2024-05-01")
    first, _ = compare.load_rows(str(output), "daily-20240501")
    assert [row["dup_status"] for row in first["pages"]] == ["unique"] * 3

    _run_slot(day_1, output, state, "2024-05-01")  # a retry of the same slot
    again, manifest = compare.load_rows(str(output), "daily-20240501")
    assert again == first
    assert _rows_on_disk(output) == {"daily-20240501": 3}  # replaced, not doubled
    on_disk = sorted(str(p.relative_to(output)) for p in (output / "pages").rglob("*.parquet"))
    assert on_disk == sorted(manifest["files"]["pages"])

    _run_slot(day_2, output, state, "2024-05-02")
    second, _ = compare.load_rows(str(output), "daily-20240502")
    marks = {
        row["source"].rsplit("/", 1)[-1]: (row["dup_status"], row["dup_run"])
        for row in second["pages"]
    }
    assert marks == {
        "news-mirror.us-emissions-2019.html#0": ("exact", "daily-20240501"),
        "science-digest.neanderthal-birch-tar.html#0": ("near", "daily-20240501"),
        "nationalgeographic.co.uk.goats.html#0": ("unique", None),
    }
    kept = {row["doc_id"] for row in first["pages"]}
    assert all(row["dup_of"] in kept for row in second["pages"] if row["dup_status"] != "unique")

    _run_slot(day_1, output, state, "2024-05-01")  # a late rerun of the older slot
    late, _ = compare.load_rows(str(output), "daily-20240501")
    assert late == first  # it does not see the newer slot's pages
    assert compare.load_rows(str(output), "daily-20240502")[0] == second  # untouched
    assert _rows_on_disk(output) == {"daily-20240501": 3, "daily-20240502": 3}
