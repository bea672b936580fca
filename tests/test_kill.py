"""Failures of the run itself: killed mid-run (SIGKILL), output location full, input missing.

A killed run leaves nothing visible (no manifest, no files of its run id in the tables, no
committed ``--state`` marker; earlier runs intact), and rerunning its id gives the same rows as
a run that was never interrupted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from pagestream.cli import main
from pagestream.query import connect
from pagestream.schemas.arrow import PAGES_PARTITIONING

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PAGES = SHARED / "extraction-dev" / "pages.jsonl.gz"
RUN_TIMEOUT_S = 600


#: ``pagestream run`` whose extraction stops for good right after its first heartbeat file is
#: written: the run is then surely mid-extraction when the test kills it, however fast the
#: machine (no race between the run finishing and the kill).
HELD_AFTER_FIRST_HEARTBEAT = """
import sys, threading
from pagestream.transforms.write import progress
flush = progress.Heartbeat.flush
def flush_then_hold(self):
    flush(self)
    if self.path and "/extract-" in self.path:
        threading.Event().wait()  # until SIGKILL
progress.Heartbeat.flush = flush_then_hold
from pagestream.cli import entry
entry()
"""


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", HELD_AFTER_FIRST_HEARTBEAT, "run", "--quiet", *args]


def _run(*args: str) -> None:
    """A run in this process (a subprocess would pay ~10 s of imports on a loaded machine)."""
    assert main(["run", "--quiet", *args]) == 0


def _rows(out: Path) -> dict[str, list[dict]]:
    """Every committed row of every table, sorted by doc_id/source (all columns)."""
    pages = ds.dataset(
        out / "pages", format="parquet",
        partitioning=ds.partitioning(PAGES_PARTITIONING, flavor="hive"),
    ).to_table().to_pylist()  # fmt: skip
    tables = {"pages": pages}
    for name in ("rejected", "dead_letter"):
        files = sorted((out / name).glob("*.parquet"))
        tables[name] = [row for f in files for row in pq.read_table(f).to_pylist()]
    return {
        name: sorted(rows, key=lambda r: (r.get("doc_id") or "", r["source"]))
        for name, rows in tables.items()
    }


def _tree(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A committed run r0 (with --state) in ``out``, and an untouched copy of it in ``ref``."""
    if not PAGES.is_file():
        pytest.skip(f"development data not found at {PAGES}")
    root = tmp_path_factory.mktemp("kill")
    out, state = root / "out", root / "state"
    _run("--input", str(SHARED / "seeds"), "--output", str(out), "--state", str(state),
         "--run_id", "r0", "--logical_date", "2026-01-01")  # fmt: skip
    shutil.copytree(out, root / "ref-out")
    shutil.copytree(state, root / "ref-state")
    return root


def _r1_args(out: Path, state: Path) -> list[str]:
    return ["--input", str(PAGES), "--max_pages", "15", "--output", str(out), "--state",
            str(state), "--run_id", "r1", "--logical_date", "2026-01-02"]  # fmt: skip


def _kill_when_extracting(args: list[str], progress: Path) -> None:
    """Starts a run in its own process group and SIGKILLs the group once extraction reports
    (its extraction is held from then on, see ``HELD_AFTER_FIRST_HEARTBEAT``)."""
    process = subprocess.Popen(
        _cli(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + RUN_TIMEOUT_S
    try:
        while not list(progress.glob("extract-*.json")):
            assert process.poll() is None, "the run ended before its first heartbeat"
            assert time.monotonic() < deadline, "no extraction heartbeat appeared"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the run and its extraction child
        process.wait()
    assert process.returncode == -signal.SIGKILL


@pytest.fixture(scope="module")
def killed(base):
    out, state = base / "out", base / "state"
    before = {"out": _tree(out / "_runs"), "state": _tree(state / "_committed")}
    _kill_when_extracting(_r1_args(out, state), out / "_staging" / "r1" / "_progress")
    return base, before


def test_a_killed_run_leaves_nothing_visible(killed):
    base, before = killed
    out = base / "out"
    assert not (out / "_runs" / "r1.json").exists()
    assert _tree(out / "_runs") == before["out"]  # r0's manifest, byte for byte
    assert not list(out.glob("pages/**/part-r1-*")) and not list(out.glob("*/part-r1-*"))
    runs = connect(out).execute("SELECT run_id FROM runs").fetchall()
    assert runs == [("r0",)]
    pages = connect(out).execute("SELECT DISTINCT run_id FROM pages").fetchall()
    assert pages == [("r0",)]


def test_a_killed_run_leaves_the_state_as_it_was(killed):
    base, before = killed
    state = base / "state"
    assert _tree(state / "_committed") == before["state"]  # only r0's marker
    marker = json.loads((state / "_committed" / "r0.json").read_text())
    assert all(
        (state / "index" / "run_id=r0" / f"attempt={marker['attempt']}" / f).is_file()
        for f in marker["files"]
    )


def test_rerunning_the_killed_id_gives_the_rows_of_an_uninterrupted_run(killed):
    base, _ = killed
    _run(*_r1_args(base / "out", base / "state"))
    _run(*_r1_args(base / "ref-out", base / "ref-state"))
    got, want = _rows(base / "out"), _rows(base / "ref-out")
    assert len(want["pages"]) > 8
    assert got == want
    assert not (base / "out" / "_staging" / "r1").exists()
    assert sorted(p.name for p in (base / "state" / "_committed").iterdir()) == [
        "r0.json",
        "r1.json",
    ]


def test_missing_input_is_one_clear_line_and_exit_2(tmp_path, capsys):
    missing = tmp_path / "no such dir"
    assert main(["run", "--input", str(missing), "--output", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"pagestream run: --input {missing}: no such file or directory"
    )
    assert not (tmp_path / "out").exists()


@pytest.fixture
def tiny_disk(tmp_path):
    """A 16 kB tmpfs (needs root and mount)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)],
                          capture_output=True)  # fmt: skip
    if made.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_fails_the_run_with_a_clear_last_line(tiny_disk, capsys):
    if not PAGES.is_file():
        pytest.skip(f"development data not found at {PAGES}")
    out = tiny_disk / "out"
    args = ["--input", str(PAGES), "--max_pages", "10", "--output", str(out), "--run_id", "d1"]
    assert main(["run", "--quiet", *args]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("pagestream run: ") and "No space left on device" in last
    assert not (out / "_runs").exists()
    assert not list(out.glob("pages/**/*.parquet"))
