"""Crashes and failures of a commit, injected below pagestream: in the filesystem calls.

Every commit step of a local run is an ``os.rename``/``os.replace``/``os.remove``/``os.unlink``
or ``shutil.rmtree`` (Beam's ``LocalFileSystem`` uses them; so does any code that does not), so
the faults here are injected there and hold for any version of the commit protocol:

* **kill -9 at every step**: a run (in a subprocess) is traced once; before its k-th rename or
  delete in ``OUT`` or ``STATE`` the two directories are copied. A SIGKILL just before that
  call leaves the disk exactly as that copy (nothing runs after SIGKILL, and the traced process
  is gone afterwards, as a killed one is), so each copy is the crash state "killed before step
  k", for every k. One real kill (``os._exit(137)`` from a ``sitecustomize`` on the
  subprocess's ``PYTHONPATH``, see ``fault_hook.py``) checks the same invariants.
* **failures**: the call raises ``PermissionError`` (a read-only ``_runs``).
* **two writers**: two subprocesses of one run id, each held at a chosen step until released,
  so that their steps interleave the same way on every run.

After each: the committed rows of each run are exactly one whole attempt (old or new input),
``runs`` counts equal the rows, the ``--state`` index holds exactly the committed runs with the
committed documents, and once a later run succeeded the README's raw glob reads exactly the
committed rows.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pagestream.cli import main
from pagestream.query import connect, load_manifests
from pagestream.transforms.dedup.state import committed_runs

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fault_hook  # noqa: E402

RUN_TIMEOUT_S = 600
WORDS = ["the", "of", "to", "and", "in", "that", "is", "was", "for", "it", "with", "as",
         "his", "on", "be", "at", "by", "had", "are", "but", "from", "or", "have", "an"]  # fmt: skip


def _faults(monkeypatch, **cfg):
    """Installs the hook in this process (undone by ``monkeypatch``); returns it."""
    faults = fault_hook.Faults(cfg)
    for module, name, fn in faults.patches():
        monkeypatch.setattr(module, name, fn)
    return faults


def _write_input(path: Path, prefix: str, n: int, seed: int, days: int = 1) -> set[str]:
    """``n`` pages fetched over ``days`` days (one ``pages`` file per day), one rejected
    (too short) and one dead letter (bad JSON)."""
    rng = random.Random(seed)

    def text(i: int) -> str:
        return "\n".join(
            " ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + f" number {i}."
            for _ in range(3)
        )

    lines = [
        json.dumps(
            {
                "url": f"https://{prefix}.example/{i}",
                "text": text(i),
                "fetch_time": f"2026-01-{1 + i % days:02d}T12:00:00Z",
            }
        )  # fmt: skip
        for i in range(n)
    ]
    lines += [json.dumps({"url": f"https://{prefix}.example/short", "text": "Too short."}), "{"]
    path.write_text("\n".join(lines) + "\n")
    return {f"https://{prefix}.example/{i}" for i in range(n)}


def _args(inp: Path, out: Path, state: Path, run_id: str, date: str = "2026-01-02") -> list[str]:
    return ["run", "--quiet", "--input", str(inp), "--output", str(out), "--state", str(state),
            "--run_id", run_id, "--logical_date", date, "--min_words", "5"]  # fmt: skip


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Inputs OLD (12 pages) and NEW (9 pages); run r0 = OLD committed."""
    root = tmp_path_factory.mktemp("matrix")
    urls = {
        "old": _write_input(root / "old.jsonl", "old", 12, 1),
        "new": _write_input(root / "new.jsonl", "new", 9, 2),
        "other": _write_input(root / "other.jsonl", "other", 3, 3),
    }
    assert main(_args(root / "old.jsonl", root / "out", root / "state", "r0")) == 0
    return root, urls


@pytest.fixture
def fresh(base, tmp_path):
    root, urls = base
    shutil.copytree(root / "out", tmp_path / "out")
    shutil.copytree(root / "state", tmp_path / "state")
    return tmp_path, root, urls


def _committed(out: Path, where: str = "") -> dict[str, set[str]]:
    """Committed urls per run (via ``pagestream.query``), checking ``runs`` counts = rows."""
    con = connect(out)
    rows = con.execute("SELECT run_id, url FROM pages").fetchall()
    counted = dict(con.execute("SELECT run_id, pages FROM runs").fetchall())
    by_run: dict[str, set[str]] = {run: set() for run in counted}
    for run, url in rows:
        by_run.setdefault(run, set()).add(url)
    assert {run: len(urls) for run, urls in by_run.items()} == counted, f"{where}: runs != rows"
    assert len(rows) == sum(counted.values()), f"{where}: a url twice"
    return by_run


def _check_index(out: Path, state: Path) -> None:
    """Dedup sees exactly the committed runs, each with exactly its committed unique pages
    (the index keeps a run's ``unique`` pages: the ones later runs are compared with)."""
    con = connect(out)
    committed = dict(con.execute("SELECT run_id, list(doc_id) FROM pages WHERE dup_status = "
                                 "'unique' GROUP BY 1").fetchall())  # fmt: skip
    committed |= {m.run_id: [] for m in load_manifests(out) if m.run_id not in committed}
    indexed = {
        run.run_id: sorted(
            pq.read_table(list(run.files), columns=["doc_id"], partitioning=None)[
                "doc_id"
            ].to_pylist()
        )
        if run.files
        else []
        for run in committed_runs(str(state))
    }
    assert indexed == {run: sorted(ids) for run, ids in committed.items()}


def _raw_glob(out: Path) -> set[str]:
    """The README's raw-glob recipe."""
    got = duckdb.sql(f"SELECT url FROM read_parquet('{out}/pages/**/*.parquet')").fetchall()
    return {url for (url,) in got}


def _env(hooks: Path, **cfg) -> dict[str, str]:
    """The environment of a subprocess run with the hook installed by ``sitecustomize``."""
    (hooks / "sitecustomize.py").write_text(Path(fault_hook.__file__).read_text())
    path = os.pathsep.join(p for p in (str(hooks), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "FAULT_MATRIX": json.dumps(cfg), "PYTHONPATH": path}


def _cli(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pagestream.cli", *argv]
    return subprocess.run(cmd, env=env, capture_output=True, timeout=RUN_TIMEOUT_S)


def _crash_states(tmp: Path, argv: list[str]) -> tuple[list[Path], list[list[str]]]:
    """Runs ``argv`` once in a subprocess, copying OUT and STATE before each of its commit
    steps: crash state k is what a kill -9 just before step k leaves (the process that wrote
    it is gone, as after a kill). Returns the states and the steps."""
    snap = tmp / "crash"
    (tmp / "hooks").mkdir()
    env = _env(tmp / "hooks", roots=[str(tmp / "out"), str(tmp / "state")], how="snapshot",
               snap=str(snap))  # fmt: skip
    done = _cli(argv, env)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    steps = [json.loads(line) for line in (snap / "steps.jsonl").read_text().splitlines()]
    assert steps, "no commit step seen"
    return [snap / str(k) for k in range(1, len(steps) + 1)], steps


def _whole(got: dict[str, set[str]], expected: list[dict[str, set[str]]], where: str) -> int:
    hosts = {
        run: sorted(Counter(u.split("/")[2] for u in urls).items()) for run, urls in got.items()
    }
    assert got in expected, f"{where}: committed rows are no whole attempt: {hosts}"
    return expected.index(got)


def test_kill_9_at_every_step_of_a_rerun_leaves_one_whole_attempt(fresh):
    """Formerly: the old manifest stayed while part of its files were already replaced."""
    tmp, root, urls = fresh
    argv = _args(root / "new.jsonl", tmp / "out", tmp / "state", "r0")
    states, steps = _crash_states(tmp, argv)
    seen = set()
    for k, crashed in enumerate(states, start=1):
        where = f"killed before step {k} {steps[k - 1]}"
        got = _committed(crashed / "out", where)
        seen.add(_whole(got, [{"r0": urls["old"]}, {"r0": urls["new"]}], where))
        _check_index(crashed / "out", crashed / "state")
    assert seen == {0, 1}  # steps before the commit point leave the old attempt, after: the new
    assert _committed(tmp / "out") == {"r0": urls["new"]}
    _check_index(tmp / "out", tmp / "state")


def test_a_real_kill_9_mid_rerun_leaves_one_whole_attempt_and_the_next_run_cleans(
    fresh, tmp_path_factory
):
    """The same fault through a real process death (``os._exit(137)`` before the third
    rename or delete in the table directories: two of the three files moved), then a run of
    another run id into the same output."""
    tmp, root, urls = fresh
    out, state = tmp / "out", tmp / "state"
    env = _env(tmp_path_factory.mktemp("hooks"), roots=[str(out), str(state)], how="kill",
               match=r"/(pages|rejected|dead_letter)/", nth=3)  # fmt: skip
    killed = _cli(_args(root / "new.jsonl", out, state, "r0"), env)
    assert killed.returncode == 137, killed.stderr.decode()[-2000:]
    got = _committed(out, "killed")
    which = _whole(got, [{"r0": urls["old"]}, {"r0": urls["new"]}], "killed")
    _check_index(out, state)
    assert main(_args(root / "other.jsonl", out, state, "r2", "2026-01-03")) == 0
    expected = urls["old" if which == 0 else "new"] | urls["other"]
    assert _raw_glob(out) == expected
    assert set().union(*_committed(out).values()) == expected
    _check_index(out, state)


def test_manifest_write_failing_on_a_rerun_keeps_the_old_run(fresh, monkeypatch):
    """Formerly: exit 1, but the old rows were gone and new ones visible under the old
    manifest. ``_runs`` is read-only: the rename of the manifest into it fails."""
    tmp, root, urls = fresh
    out, state = tmp / "out", tmp / "state"
    _faults(monkeypatch, roots=[str(out), str(state)], how="raise", match=r"/_runs/r0\.json$",
            nth=0)  # fmt: skip
    code = main(_args(root / "new.jsonl", out, state, "r0"))
    monkeypatch.undo()
    assert code != 0
    assert _committed(out) == {"r0": urls["old"]}
    _check_index(out, state)
    assert main(_args(root / "new.jsonl", out, state, "r0")) == 0  # once writable again
    assert _committed(out) == {"r0": urls["new"]}
    _check_index(out, state)
    assert _raw_glob(out) == urls["new"]


def _wait_for(path: Path, proc: subprocess.Popen) -> None:
    """Until ``path`` exists or ``proc`` ended."""
    deadline = time.monotonic() + RUN_TIMEOUT_S  # a guard against a hang, not a measurement
    while not path.exists() and proc.poll() is None:
        assert time.monotonic() < deadline, "the held run never reached its manifest"
        time.sleep(0.1)


def _held_run(tmp_path_factory, argv: list[str], roots: list[str], block: str, nth: int):
    """A subprocess ``pagestream run`` held before the ``nth`` rename or delete of a path
    matching ``block``, until its ``sync/go`` exists."""
    sync = tmp_path_factory.mktemp("sync")
    env = _env(tmp_path_factory.mktemp("hooks"), roots=roots, how="block", match=block, nth=nth,
               sync=str(sync))  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "pagestream.cli", *argv], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    _wait_for(sync / "arrived", proc)
    return proc, sync


def test_two_runs_of_one_run_id_at_once_commit_one_whole_input(fresh, tmp_path_factory):
    """Formerly: the committed run held rows of both inputs. Run A (input A, two days) is held
    between moving its two ``pages`` files; run B (input B, same run id) starts and is held
    before its first ``pages`` move. A goes on to its end, then B. Readers look after each."""
    tmp, _, _ = fresh
    out, state = tmp / "out", tmp / "state"
    urls = {name: _write_input(tmp / f"{name}.jsonl", name, 8, seed, days=2)
            for name, seed in (("a", 4), ("b", 5))}  # fmt: skip
    whole = [{}, {"same": urls["a"]}, {"same": urls["b"]}]
    roots, pages = [str(out), str(state)], r"/pages/crawl_date="
    runs, codes, seen = [], [], []
    try:
        runs.append(_held_run(tmp_path_factory, _args(tmp / "a.jsonl", out, state, "same"),
                              roots, pages, 2))  # fmt: skip
        assert runs[0][0].poll() is None, runs[0][0].stderr.read().decode()[-2000:]
        runs.append(_held_run(tmp_path_factory, _args(tmp / "b.jsonl", out, state, "same"),
                              roots, pages, 1))  # fmt: skip
        for proc, sync in runs:
            (sync / "go").touch()
            codes.append(proc.wait(timeout=RUN_TIMEOUT_S))
            seen.append({run: urls for run, urls in _committed(out).items() if run != "r0"})
    finally:
        for proc, sync in runs:  # never leave a held run behind
            (sync / "go").touch()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    for name, got in zip("AB", seen, strict=True):
        _whole(got, whole, f"after run {name} ended")
    _check_index(out, state)
    assert codes in ([0, 2], [0, 0])  # B refused while A holds the run, or serialised


def test_crash_after_the_manifest_before_the_state_marker_still_dedups(fresh):
    """Formerly: the run was visible to query but not to dedup, so the next run marked every
    exact copy ``unique``. Killed right after the manifest rename of a first run r1."""
    tmp, root, urls = fresh
    argv = _args(root / "new.jsonl", tmp / "out", tmp / "state", "r1")
    states, steps = _crash_states(tmp, argv)
    manifest_step = next(
        k for k, step in enumerate(steps, 1) if re.search(r"/_runs/r1\.json$", step[-1])
    )
    assert manifest_step < len(steps), "the manifest was the last step"
    crashed = states[manifest_step]  # the state before the step after the manifest rename
    out, state = crashed / "out", crashed / "state"
    assert _committed(out) == {"r0": urls["old"], "r1": urls["new"]}
    assert main(_args(root / "new.jsonl", out, state, "r2", "2026-01-03")) == 0
    got = connect(out, "r2").execute("SELECT dup_status, count(*) FROM pages GROUP BY 1")
    assert got.fetchall() == [("exact", len(urls["new"]))]
    _check_index(out, state)


def test_killed_first_commit_leaves_nothing_a_raw_glob_reads_after_the_next_run(fresh):
    """Formerly: files of a killed first commit stayed in pages/ for ever, and the README's
    raw-glob recipe read them. Killed before every step of first run r1; then run r2."""
    tmp, root, urls = fresh
    argv = _args(root / "new.jsonl", tmp / "out", tmp / "state", "r1")
    states, steps = _crash_states(tmp, argv)
    old_only, both = {"r0": urls["old"]}, {"r0": urls["old"], "r1": urls["new"]}
    leftovers = []
    for k, crashed in enumerate(states, start=1):
        where = f"killed before step {k} {steps[k - 1]}"
        got = _committed(crashed / "out", where)
        _whole(got, [old_only, both], where)
        committed_urls = set().union(*got.values())
        if _raw_glob(crashed / "out") != committed_urls:
            leftovers.append((k, crashed, committed_urls))
    assert leftovers, "no crash state left files in pages/: the test injects nothing"
    for k, crashed, committed_urls in leftovers:
        out, state = crashed / "out", crashed / "state"
        assert main(_args(root / "other.jsonl", out, state, "r2", "2026-01-03")) == 0
        expected = committed_urls | urls["other"]
        assert _raw_glob(out) == expected, f"killed before step {k}: raw glob after the next run"
        assert set().union(*_committed(out).values()) == expected
    for k, crashed in enumerate(states, start=1):
        if k not in {k for k, _, _ in leftovers}:
            _check_index(crashed / "out", crashed / "state")
