"""``pagestream compact``: settled runs' small files merged, every run still read once, whole."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pagestream.cli import main
from pagestream.query import QueryError, committed_files, connect
from pagestream.transforms.write.commit import FAULT_ENV, InjectedFault
from pagestream.transforms.write.compact import compact
from pagestream.transforms.write.vacuum import vacuum

WORDS = "the of to and in that is was for it with as his on be at by had are but from".split()  # noqa: SIM905


def _input(path: Path, run: int) -> None:
    lines = []
    for i in range(6):
        text = "\n".join(
            " ".join(WORDS[(run * 7 + i * 3 + k) % len(WORDS)] for k in range(12)).capitalize()
            + f" run {run} page {i} line {j}."
            for j in range(4)
        )
        lines.append(json.dumps({"url": f"https://r{run}.example/{i}", "text": text,
                                 "fetch_time": "2026-01-01T00:00:00Z"}))  # fmt: skip
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Runs r1, r2, r3 (dated 2026-01-01..03), 6 pages each, all in one partition."""
    root = tmp_path_factory.mktemp("compact")
    for n in (1, 2, 3):
        _input(root / f"in{n}.jsonl", n)
        argv = ["run", "--quiet", "--input", str(root / f"in{n}.jsonl"), "--output",
                str(root / "out"), "--run_id", f"r{n}", "--logical_date", f"2026-01-0{n}",
                "--min_words", "5", "--no_state"]  # fmt: skip
        assert main(argv) == 0
    return root


def _rows(out: Path, run_id: str | None = None) -> list[tuple]:
    con = connect(out, run_id)
    return con.execute(
        "SELECT * EXCLUDE (topic_scores) FROM pages ORDER BY run_id, doc_id"
    ).fetchall()


@pytest.fixture
def out(runs, tmp_path):
    shutil.copytree(runs / "out", tmp_path / "out")
    return tmp_path / "out"


def test_compaction_keeps_every_row_and_merges_the_files(out):
    before, per_run = _rows(out), {r: _rows(out, r) for r in ("r1", "r2", "r3")}
    assert len(committed_files(out)) == 3
    manifest = compact(str(out), before="2026-01-03")
    assert sorted(manifest["absorbs"]) == ["r1", "r2"]
    assert _rows(out) == before
    assert {r: _rows(out, r) for r in per_run} == per_run  # one run's rows, filtered
    assert len(committed_files(out)) == 2  # r1 + r2 merged, r3 untouched
    parquet = sorted(p.name for p in (out / "pages").rglob("*.parquet"))
    assert len(parquet) == 2 and any(name.startswith("part-_compact-") for name in parquet)
    counted = connect(out).execute("SELECT run_id, pages FROM runs ORDER BY 1").fetchall()
    assert counted == [("r1", 6), ("r2", 6), ("r3", 6)]
    assert vacuum(str(out), grace_s=0).files == []  # compacted files are listed, not orphans
    with pytest.raises(QueryError, match="compacted"):
        committed_files(out, run_id="r1")
    # a second compaction merges the first one with r3
    again = compact(str(out), before="2026-01-04")
    assert again["replaces"] == [manifest["id"]] and sorted(again["absorbs"]) == ["r1", "r2", "r3"]
    assert _rows(out) == before and len(committed_files(out)) == 1
    assert len(list((out / "_compactions").glob("*.json"))) == 1


def test_a_compacted_run_cannot_be_rerun(out, runs, capsys):
    assert compact(str(out), before="2026-01-03") is not None
    argv = ["run", "--quiet", "--input", str(runs / "in1.jsonl"), "--output", str(out),
            "--run_id", "r1", "--min_words", "5", "--no_state"]  # fmt: skip
    assert main(argv) == 2
    assert "cannot be rerun" in capsys.readouterr().err


def test_compaction_failing_after_its_manifest_or_before_reads_each_run_once(out, monkeypatch):
    before = _rows(out)
    monkeypatch.setenv(FAULT_ENV, "compaction_committed")
    with pytest.raises(InjectedFault):
        compact(str(out), before="2026-01-03")
    monkeypatch.delenv(FAULT_ENV)
    # committed, but the absorbed runs' own files are still there: read once all the same
    assert len(list((out / "pages").rglob("*.parquet"))) == 4
    assert _rows(out) == before
    # the absorbed runs' own files are no longer read: vacuum removes them
    assert len(vacuum(str(out), grace_s=0).files) == 2
    assert _rows(out) == before and len(list((out / "pages").rglob("*.parquet"))) == 2
