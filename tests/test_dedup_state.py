"""--state: cross-run duplicates, commit protocol, older-slot and idempotent reruns."""

from __future__ import annotations

import json
import random
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from pagestream.schemas.records import Page, new_page
from pagestream.transforms.dedup.fingerprint import DedupConfig
from pagestream.transforms.dedup.mark import MarkDuplicates
from pagestream.transforms.dedup.minhash import estimated_jaccard, minhash
from pagestream.transforms.dedup.segments import WriteIndexSegment, read_index_segment
from pagestream.transforms.dedup.state import (
    begin_run,
    commit_run,
    committed_runs,
    earlier_runs,
    earlier_segments,
)

CONFIG = DedupConfig(threshold=0.7, index_shards=2)
VOCAB = [f"word{i}" for i in range(5000)]


def article(seed: int, words: int = 240) -> str:
    rng = random.Random(seed)
    ws = [rng.choice(VOCAB) for _ in range(words)]
    return "\n\n".join(" ".join(ws[i : i + 24]) for i in range(0, words, 24))


X, Y, Z, W, V = (article(s) for s in range(5))
Y_NEAR = " ".join("edited" if i % 60 == 0 else w for i, w in enumerate(Y.split(" ")))


def page(doc_id: str, text: str, run_id: str, url: str | None = None) -> Page:
    return new_page(
        doc_id=doc_id,
        url=url or f"https://{doc_id}.example/",
        domain="example",
        source=f"in:{doc_id}",
        text=text,
        word_count=len(text.split()),
        language="en",
        dup_status="",
        extractor="plaintext",
        run_id=run_id,
        pipeline_version="0",
        crawl_date="2024-01-01",
    )


INPUTS = {
    "a": [("a1", X, "https://u1.example/"), ("a2", Y, None), ("a3", Z, None)],
    "b": [("b1", X, None), ("b2", Y_NEAR, None), ("b3", W, None), ("b4", V, "https://u1.example")],
    "c": [("c1", W, None), ("c2", X, None)],
}
DATES = {"a": "2024-01-01", "b": "2024-01-02", "c": "2024-01-03", "early": "2023-12-31"}


def run(state: str, out: Path, run_id: str, inputs, *, commit: bool = True):
    """One run with --state: marks, index segment, optional commit. Returns (rows, attempt)."""
    attempt = begin_run(state, run_id)
    pages = [page(doc, text, run_id, url) for doc, text, url in inputs]
    target = out / f"{run_id}-{attempt}" / "rows"
    with TestPipeline() as p:
        marked = p | beam.Create(pages) | MarkDuplicates(CONFIG, run_id, DATES[run_id], state)
        _ = marked | WriteIndexSegment(state, run_id, attempt, CONFIG)
        _ = (
            marked
            | beam.Map(lambda q: (q.doc_id, q.dup_status, q.dup_of, q.dup_similarity, q.dup_run))
            | beam.Map(json.dumps)
            | beam.io.WriteToText(str(target))
        )
    if commit:
        commit_run(state, run_id, attempt, DATES[run_id])
    lines = [line for f in target.parent.glob("rows*") for line in f.read_text().splitlines()]
    return sorted(tuple(json.loads(line)) for line in lines), attempt


def index_doc_ids(state: str, run_id: str) -> list[str]:
    (committed,) = [r for r in committed_runs(state) if r.run_id == run_id]
    fps = [fp for f in committed.files for fp in read_index_segment(f, "", CONFIG)]
    return sorted(fp.doc_id for fp in fps)


def sim(a: str, b: str) -> float:
    return estimated_jaccard(minhash(a, CONFIG), minhash(b, CONFIG))


UNIQUE = ("unique", None, None, None)
EXPECTED_A = [("a1", *UNIQUE), ("a2", *UNIQUE), ("a3", *UNIQUE)]
EXPECTED_B = [
    ("b1", "exact", "a1", 1.0, "a"),
    ("b2", "near", "a2", sim(Y, Y_NEAR), "a"),
    ("b3", *UNIQUE),
    ("b4", "url", "a1", sim(X, V), "a"),
]
EXPECTED_C = [("c1", "exact", "b3", 1.0, "b"), ("c2", "exact", "a1", 1.0, "a")]


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """Runs a, b, c committed in date order; returns (state, out, rows per run)."""
    base = tmp_path_factory.mktemp("state")
    state, out = str(base / "state"), base / "out"
    rows = {rid: run(state, out, rid, INPUTS[rid])[0] for rid in ("a", "b", "c")}
    return state, out, rows


def test_cross_run_duplicates_point_at_earlier_runs(history):
    _, _, rows = history
    assert rows["a"] == EXPECTED_A
    assert 0.7 <= EXPECTED_B[1][3] < 1.0
    assert rows["b"] == EXPECTED_B
    assert rows["c"] == EXPECTED_C


def test_index_holds_only_kept_pages_of_committed_runs(history):
    state, _, _ = history
    assert [(r.run_id, r.logical_date) for r in committed_runs(state)] == [
        ("a", "2024-01-01"),
        ("b", "2024-01-02"),
        ("c", "2024-01-03"),
    ]
    assert index_doc_ids(state, "a") == ["a1", "a2", "a3"]
    assert index_doc_ids(state, "b") == ["b3"]
    assert index_doc_ids(state, "c") == []
    assert [r.run_id for r in earlier_runs(state, "c", "2024-01-03")] == ["a", "b"]
    assert earlier_segments(state, "a", "2024-01-01") == []
    assert all(
        "/_committed/" not in p and "attempt=" in p
        for p in earlier_segments(state, "c", "2024-01-03")
    )


def test_backfill_sees_later_runs_and_rerun_is_unchanged(history):
    state, out, _ = history
    # a backfill (a slot dated before every committed run, run late) dedups against all of
    # them: the committed copy stays kept, the backfill's copy points at it
    early, _ = run(
        state, out, "early", [("e1", W, None), ("e2", "fresh " * 60, None)], commit=False
    )
    assert early == [("e1", "exact", "b3", 1.0, "b"), ("e2", *UNIQUE)]
    # re-running slot a after b and c: same rows as the first time
    again, _ = run(state, out, "a", INPUTS["a"])
    assert again == EXPECTED_A


def test_failed_run_leaves_index_unchanged_and_rerun_is_idempotent(history):
    state, out, _ = history
    before = committed_runs(state)
    b_files = next(r for r in before if r.run_id == "b").files
    # an attempt of b that never commits (the run failed): nothing visible changes
    run(state, out, "b", [("bad", V, None)], commit=False)
    assert committed_runs(state) == before
    assert all(Path(f).exists() for f in b_files)
    # re-running b commits a new attempt with the same rows and drops the other attempts
    rows, attempt = run(state, out, "b", INPUTS["b"])
    assert rows == EXPECTED_B
    b_run = next(r for r in committed_runs(state) if r.run_id == "b")
    assert b_run.attempt == attempt
    run_dir = Path(state) / "index" / "run_id=b"
    assert {p.parent.name for p in run_dir.glob("attempt=*/*")} == {f"attempt={attempt}"}
    assert index_doc_ids(state, "b") == ["b3"]
    assert run(state, out, "c", INPUTS["c"])[0] == EXPECTED_C


def test_marker_names_attempt_date_and_files(history):
    state = Path(history[0])
    marker = json.loads((state / "_committed" / "a.json").read_text())
    assert marker["logical_date"] == "2024-01-01"
    attempt_dir = state / "index" / "run_id=a" / f"attempt={marker['attempt']}"
    assert sorted(marker["files"]) == sorted(p.name for p in attempt_dir.iterdir())
    assert 1 <= len(marker["files"]) <= CONFIG.index_shards
    assert not list((state / "_committed").glob(".*"))  # no temporary left


@pytest.mark.parametrize("bad", ["", "a/b", ".hidden", "_x", "a*"])
def test_bad_run_ids_are_refused(tmp_path, bad):
    with pytest.raises(ValueError, match="run_id"):
        begin_run(str(tmp_path), bad)
