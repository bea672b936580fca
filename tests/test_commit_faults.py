"""Fault injection at every commit step, for first runs and reruns, batch and streaming.

Faults come from ``PAGESTREAM_FAULT=<step>`` (``write.commit.fault_point``: raise there) in
in-process runs, and ``<step>:kill`` (SIGKILL) in a few real subprocess runs. After each, the
output must hold, per run, exactly one whole attempt (old or new, never a mix), the ``runs``
counts must equal the rows, and the ``--state`` index must hold exactly the committed runs.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pagestream.cli import main
from pagestream.query import QueryError, committed_files, connect, load_manifests
from pagestream.transforms.dedup.state import committed_runs
from pagestream.transforms.write.commit import FAULT_ENV
from pagestream.transforms.write.vacuum import vacuum

RUN_TIMEOUT_S = 600
VOCAB = [
    "the",
    "of",
    "to",
    "and",
    "in",
    "that",
    "is",
    "was",
    "for",
    "it",
    "with",
    "as",
    "his",
    "on",
    "be",
    "at",
    "by",
    "had",
    "are",
    "but",
    "from",
    "or",
    "have",
    "an",
    "they",
    "which",
    "one",
    "you",
    "were",
    "her",
    "all",
    "she",
    "there",
    "would",
    "their",
    "we",
    "him",
    "been",
    "has",
    "when",
    "who",
    "will",
    "more",
    "no",
    "if",
    "out",
    "so",
    "said",
    "what",
    "up",
    "its",
    "about",
    "into",
    "than",
    "them",
    "can",
    "only",
    "other",
    "new",
    "some",
    "could",
    "time",
]


def _text(rng: random.Random, i: int) -> str:
    lines = [" ".join(rng.choice(VOCAB) for _ in range(14)).capitalize() for _ in range(4)]
    return "\n".join(f"{line} number {i}." for line in lines)


def _write_input(path: Path, prefix: str, n: int, seed: int, extras: bool = False) -> set[str]:
    """``n`` pages at ``https://<prefix>.example/<i>``; with ``extras`` one rejected (too
    short) and one dead (invalid JSON) record, so the attempt writes three files."""
    rng = random.Random(seed)
    lines = [json.dumps({"url": f"https://{prefix}.example/{i}", "text": _text(rng, i)}) for i in range(n)]  # fmt: skip
    if extras:
        lines += [json.dumps({"url": f"https://{prefix}.example/short", "text": "Too short."}), "{"]
    path.write_text("\n".join(lines) + "\n")
    return {f"https://{prefix}.example/{i}" for i in range(n)}


def _args(inp: Path, out: Path, state: Path, run_id: str, date: str = "2026-01-02") -> list[str]:
    return ["--input", str(inp), "--output", str(out), "--state", str(state), "--run_id", run_id,
            "--logical_date", date, "--min_words", "5"]  # fmt: skip


def _run(*args: str) -> int:
    return main(["run", "--quiet", *args])


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Inputs OLD (40 pages), NEW (25 pages + 1 rejected + 1 dead); run r0 = OLD committed."""
    root = tmp_path_factory.mktemp("faults")
    urls = {
        "old": _write_input(root / "old.jsonl", "old", 40, 1),
        "new": _write_input(root / "new.jsonl", "new", 25, 2, extras=True),
    }
    assert _run(*_args(root / "old.jsonl", root / "out", root / "state", "r0")) == 0
    return root, urls


@pytest.fixture
def fresh(base, tmp_path):
    """A copy of the base output and state for one test."""
    root, urls = base
    shutil.copytree(root / "out", tmp_path / "out")
    shutil.copytree(root / "state", tmp_path / "state")
    return tmp_path, root, urls


def _tree(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def _committed_urls(out: Path) -> dict[str, set[str]]:
    """Committed page urls per run, after checking that ``runs`` counts equal the rows."""
    con = connect(out)
    rows = con.execute("SELECT run_id, url FROM pages").fetchall()
    counted = dict(con.execute("SELECT run_id, pages FROM runs").fetchall())
    listed = dict(con.execute("SELECT run_id, rows.pages FROM (SELECT run_id, "
                              "manifest->'rows' AS rows FROM runs)").fetchall())  # fmt: skip
    by_run: dict[str, set[str]] = {run: set() for run in counted}
    for run, url in rows:
        by_run[run].add(url)
    assert {run: len(urls) for run, urls in by_run.items()} == counted
    assert {run: int(n) for run, n in listed.items()} == counted
    assert len(rows) == sum(counted.values())  # no url twice
    return by_run


def _check_index(out: Path, state: Path) -> None:
    """The --state index holds exactly the committed runs, at the attempt each names."""
    manifests = {m.run_id: m.data["state"]["attempt"] for m in load_manifests(out)}
    assert {r.run_id: r.attempt for r in committed_runs(str(state))} == manifests


def _raw_glob_urls(out: Path) -> set[str]:
    got = duckdb.sql(f"SELECT url FROM read_parquet('{out}/pages/**/*.parquet')").fetchall()
    return {url for (url,) in got}


BEFORE_COMMIT = ["moved-1", "moved-2", "moved", "state_prepared", "manifest_written"]
AFTER_COMMIT = ["committed", "deleted_superseded", "state_finished"]


@pytest.mark.parametrize("step", BEFORE_COMMIT + AFTER_COMMIT)
def test_rerun_failing_at_each_step_leaves_one_whole_attempt(fresh, monkeypatch, step):
    tmp, root, urls = fresh
    out, state = tmp / "out", tmp / "state"
    monkeypatch.setenv(FAULT_ENV, step)
    code = _run(*_args(root / "new.jsonl", out, state, "r0"))
    monkeypatch.delenv(FAULT_ENV)
    committed = step in AFTER_COMMIT
    assert code == (0 if committed else 1)
    assert _committed_urls(out) == {"r0": urls["new" if committed else "old"]}
    _check_index(out, state)
    # Whatever the crash left is unlisted and held by no live run: vacuum removes it, and a
    # raw glob then sees exactly the committed rows.
    vacuum(str(out), grace_s=0)
    assert _raw_glob_urls(out) == urls["new" if committed else "old"]


@pytest.mark.parametrize("step", ["moved-1", "manifest_written", "committed"])
def test_first_run_failing_at_a_step_is_invisible_or_whole(fresh, monkeypatch, step):
    tmp, root, urls = fresh
    out, state = tmp / "out", tmp / "state"
    monkeypatch.setenv(FAULT_ENV, step)
    code = _run(*_args(root / "new.jsonl", out, state, "r1"))
    monkeypatch.delenv(FAULT_ENV)
    expected = {"r0": urls["old"]} | ({"r1": urls["new"]} if step == "committed" else {})
    assert code == (0 if step == "committed" else 1)
    assert _committed_urls(out) == expected
    _check_index(out, state)


def test_crash_between_manifest_and_index_marker_still_dedups_next_run(fresh, monkeypatch):
    """Formerly: visible to query, invisible to dedup (100/100 copies marked unique)."""
    tmp, root, _ = fresh
    out, state = tmp / "out", tmp / "state"
    monkeypatch.setenv(FAULT_ENV, "committed")
    assert _run(*_args(root / "new.jsonl", out, state, "r1")) == 0
    monkeypatch.delenv(FAULT_ENV)
    assert _run(*_args(root / "new.jsonl", out, state, "r2", "2026-01-03")) == 0
    statuses = connect(out, "r2").execute("SELECT dup_status, count(*) FROM pages GROUP BY 1")
    assert statuses.fetchall() == [("exact", 25)]


def test_backfill_of_an_older_slot_dedups_against_later_runs(fresh):
    """Formerly: slot 2026-01-01 run after 2026-01-02 left both runs 100 % unique."""
    tmp, root, _ = fresh
    out, state = tmp / "out", tmp / "state"
    assert _run(*_args(root / "old.jsonl", out, state, "backfill", "2026-01-01")) == 0
    con = connect(out)
    got = con.execute(
        "SELECT run_id, dup_status, dup_run, count(*) FROM pages GROUP BY ALL ORDER BY 1"
    )
    assert got.fetchall() == [("backfill", "exact", "r0", 40), ("r0", "unique", None, 40)]


def test_input_matching_nothing_is_exit_2_and_touches_nothing(fresh):
    tmp, _, urls = fresh
    out, state = tmp / "out", tmp / "state"
    before = _tree(tmp)
    assert _run(*_args(tmp / "nomatch*", out, state, "r0")) == 2
    assert _tree(tmp) == before
    assert _committed_urls(out) == {"r0": urls["old"]}


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])


def test_a_live_lease_refuses_a_second_writer_and_a_dead_one_is_taken_over(fresh, capsys):
    tmp, root, urls = fresh
    out, state = tmp / "out", tmp / "state"
    lease = out / "_leases" / "r0.json"
    lease.parent.mkdir()
    holder = _sleeper()
    try:
        record = {"owner": "x", "host": os.uname().nodename, "pid": holder.pid,
                  "token": "t", "heartbeat_unix": time.time()}  # fmt: skip
        lease.write_text(json.dumps(record))
        before = _tree(out)
        assert _run(*_args(root / "new.jsonl", out, state, "r0")) == 2
        assert f"pid {holder.pid}" in capsys.readouterr().err
        assert _tree(out) == before
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone: its lease is stale and taken over
    assert _run(*_args(root / "new.jsonl", out, state, "r0")) == 0
    assert _committed_urls(out) == {"r0": urls["new"]} and not lease.exists()


def test_foreign_parquet_in_state_fails_before_the_run_naming_it(fresh, capsys):
    """Formerly: a valid Parquet file of another schema was silently ignored."""
    tmp, root, _ = fresh
    out, state = tmp / "out", tmp / "state"
    other = pa.table({"doc_id": ["x"], "score": [1.0]})
    stray = state / "extra.parquet"
    pq.write_table(other, stray)
    assert _run(*_args(root / "new.jsonl", out, state, "r1")) == 2
    assert str(stray) in capsys.readouterr().err
    stray.unlink()
    (segment,) = committed_runs(str(state))[0].files[:1]
    pq.write_table(other, segment)  # a committed segment replaced by another table
    assert _run(*_args(root / "new.jsonl", out, state, "r1")) == 2
    assert segment in capsys.readouterr().err
    assert [m.run_id for m in load_manifests(out)] == ["r0"]


def test_a_deleted_committed_file_is_reported_not_skipped(fresh):
    """Formerly: query silently returned 391 rows against a manifest of 400."""
    tmp, _, _ = fresh
    out = tmp / "out"
    (listed,) = load_manifests(out)[0].files("pages")
    (out / listed).unlink()
    with pytest.raises(QueryError, match=f"{listed} .run r0. is missing"):
        connect(out)
    with pytest.raises(QueryError, match="missing"):
        committed_files(out)


def _cli(env_fault: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, FAULT_ENV: env_fault}
    cmd = [sys.executable, "-m", "pagestream.cli", "run", "--quiet", *args]
    return subprocess.run(cmd, env=env, capture_output=True, timeout=RUN_TIMEOUT_S)


@pytest.mark.parametrize("run_id", ["r0", "r1"])  # a rerun, a first run
def test_kill_9_mid_commit_leaves_the_old_state_and_next_run_cleans(fresh, run_id):
    """Formerly: a killed rerun left 254 old + 146 new rows under a manifest that said 400;
    a killed first commit left its files in pages/ for ever, read by the README's raw glob."""
    tmp, root, urls = fresh
    out, state = tmp / "out", tmp / "state"
    killed = _cli("moved-2:kill", *_args(root / "new.jsonl", out, state, run_id))
    assert killed.returncode == -9
    assert _committed_urls(out) == {"r0": urls["old"]}
    _check_index(out, state)
    assert _raw_glob_urls(out) != urls["old"]  # the killed attempt's files are there ...
    other_input = tmp / "other.jsonl"
    other = _write_input(other_input, "other", 5, 3)
    assert _run(*_args(other_input, out, state, "r2", "2026-01-03")) == 0
    assert _raw_glob_urls(out) == urls["old"] | other  # ... until the next run's commit
    assert not (out / "_staging").exists() and not (out / "_leases").exists()


def test_kill_9_after_the_manifest_commits_the_new_attempt_whole(fresh):
    tmp, root, urls = fresh
    out, state = tmp / "out", tmp / "state"
    killed = _cli("committed:kill", *_args(root / "new.jsonl", out, state, "r0"))
    assert killed.returncode == -9
    assert _committed_urls(out) == {"r0": urls["new"]}
    _check_index(out, state)


def test_two_runs_of_one_run_id_at_once_commit_one_whole_input(fresh):
    """Formerly: the committed run held rows of both inputs (183/217)."""
    tmp, root, urls = fresh
    out, state = tmp / "out", tmp / "state"
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pagestream.cli",
                "run",
                "--quiet",
                *_args(root / name, out, state, "same"),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        for name in ("old.jsonl", "new.jsonl")
    ]
    codes = [p.wait(timeout=RUN_TIMEOUT_S) for p in procs]
    assert sorted(codes) in ([0, 0], [0, 2])  # sequential (the lease waits for none) or refused
    got = _committed_urls(out)["same"]
    assert got in (urls["old"], urls["new"])
    _check_index(out, state)


def test_streaming_micro_batch_failing_before_its_manifest_is_retried_whole(fresh, monkeypatch):
    from pagestream.cli import _parser, sample_dir
    from pagestream.pipelines.options import parse_run_args
    from pagestream.pipelines.streaming_loop import StreamLoop

    tmp, root, urls = fresh
    out, state, incoming = tmp / "out", tmp / "state", tmp / "incoming"
    incoming.mkdir()
    shutil.copy(root / "new.jsonl", incoming / "a.jsonl")
    argv = ["run", "--streaming", "--quiet", "--input", str(incoming), "--output", str(out),
            "--state", str(state), "--run_id", "s", "--min_words", "5", "--settle_seconds", "0"]  # fmt: skip
    args, rest = _parser().parse_known_args(argv)
    loop = StreamLoop(parse_run_args(args, rest, sample_dir()), rest, log=open(os.devnull, "w"))  # noqa: SIM115
    try:
        loop.list_new()
        ready = loop.list_new()
        monkeypatch.setenv(FAULT_ENV, "manifest_written")
        with pytest.raises(Exception, match="injected fault"):
            loop.run_batch(ready)
        monkeypatch.delenv(FAULT_ENV)
        assert _committed_urls(out) == {"r0": urls["old"]}
        _check_index(out, state)
        manifest = loop.run_batch(ready)  # the next tick takes the same files again
    finally:
        loop.release()
    assert manifest["run_id"] == "s-000000"
    assert _committed_urls(out) == {"r0": urls["old"], "s-000000": urls["new"]}
    _check_index(out, state)


def test_an_output_directory_keeps_its_own_duplicate_index_by_default(base, tmp_path):
    """Two runs into one output without --state: the second one's copies are duplicates
    (OUT/_state), unless --no_state."""
    root, _ = base
    out = tmp_path / "out"
    common = ["--input", str(root / "old.jsonl"), "--output", str(out), "--min_words", "5"]
    assert _run(*common, "--run_id", "a") == 0
    assert _run(*common, "--run_id", "b") == 0
    assert _run(*common, "--run_id", "c", "--no_state") == 0
    got = (
        connect(out)
        .execute("SELECT run_id, dup_status, count(*) FROM pages GROUP BY ALL ORDER BY 1")
        .fetchall()
    )
    assert got == [("a", "unique", 40), ("b", "exact", 40), ("c", "unique", 40)]
    assert (out / "_state" / "_committed" / "b.json").is_file()
    assert not (out / "_state" / "_committed" / "c.json").exists()


class _ClosedStdout(io.StringIO):
    """``pagestream run ... | true``: every write to stdout fails with EPIPE."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")


def test_glob_characters_in_output_and_a_closed_stdout(base, tmp_path, monkeypatch):
    root, urls = base
    out = tmp_path / "out[1]*?"
    monkeypatch.setattr(sys, "stdout", _ClosedStdout())
    args = ["--input", str(root / "old.jsonl"), "--output", str(out), "--min_words", "5"]
    assert _run(*args, "--run_id", "g") == 0  # committed: a closed stdout is not a failure
    assert _run(*args[:1], str(root / "new.jsonl"), *args[2:], "--run_id", "g") == 0
    assert _committed_urls(out) == {"g": urls["new"]}
    assert _raw_glob_urls(out.parent / "*") == urls["new"]  # the old attempt's files are gone
    assert sorted(p.name for p in out.iterdir()) == [
        "_runs",
        "_state",
        "dead_letter",
        "pages",
        "rejected",
    ]


def test_a_second_streamer_on_the_same_output_is_refused(fresh):
    """Formerly: two streamers on the same directories ingested 60 rows twice."""
    from pagestream.cli import _parser, sample_dir
    from pagestream.pipelines.options import OptionsError, parse_run_args
    from pagestream.pipelines.streaming_loop import StreamLoop

    tmp, _, _ = fresh
    (tmp / "incoming").mkdir()
    argv = ["run", "--streaming", "--quiet", "--input", str(tmp / "incoming"), "--output",
            str(tmp / "out"), "--state", str(tmp / "state"), "--run_id", "s"]  # fmt: skip
    args, rest = _parser().parse_known_args(argv)
    options = parse_run_args(args, rest, sample_dir())
    lease = tmp / "state" / "_leases" / "_streamer.json"
    lease.parent.mkdir()
    holder = _sleeper()
    try:
        record = {"host": os.uname().nodename, "pid": holder.pid, "token": "t",
                  "heartbeat_unix": time.time()}  # fmt: skip
        lease.write_text(json.dumps(record))
        with pytest.raises(OptionsError, match="a streamer"):
            StreamLoop(options, rest, log=io.StringIO())
        assert not (tmp / "out" / "_leases").exists()  # the output lease was given back
    finally:
        holder.kill()
        holder.wait()
