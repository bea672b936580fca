"""The streaming ledger's file identity, without running micro-batches: which files a tick
takes (settled, new or replaced versions), which it passes over (ingested, touched only,
FIFOs). The clock of the settle time is injected; nothing here waits on wall-clock time."""

from __future__ import annotations

import os
import threading

import pytest

from pagestream.cli import _parser, sample_dir
from pagestream.pipelines.ledger import (
    FileWatcher,
    LedgerEntry,
    file_sha256,
    read_ledger,
    stable_files,
)
from pagestream.pipelines.options import OptionsError, parse_run_args

S = 1_000_000_000  # one second in ns


@pytest.mark.parametrize(
    ("listing", "previous", "now", "settle", "stable"),
    [
        ({"a": (1, 10 * S)}, {"a": (1, 10 * S)}, 15 * S, 5.0, ["a"]),  # 5 s old: settled
        ({"a": (1, 10 * S)}, {"a": (1, 10 * S)}, 14 * S, 5.0, []),  # 4 s: a writer may resume
        ({"a": (1, 10 * S)}, {}, 99 * S, 5.0, []),  # first sighting
        ({"a": (2, 10 * S)}, {"a": (1, 10 * S)}, 99 * S, 5.0, []),  # grew since the last tick
        ({"a": (1, 10 * S)}, {"a": (1, 10 * S)}, 10 * S, 0.0, ["a"]),  # no settle time
    ],
)
def test_stable_files_waits_for_the_settle_time(listing, previous, now, settle, stable):
    assert stable_files(listing, previous, now, settle) == stable


def test_ledger_entries_without_identity_compare_by_size_and_mtime():
    old = LedgerEntry("/in/a.jsonl", 10, 5.25, "s-000000")  # an entry of an older version
    assert old.same_stat(10, 5_250_000_000) and not old.same_stat(10, 6 * S)
    new = LedgerEntry("/in/a.jsonl", 10, 5.25, "s-000001", 5_250_000_001, "ab")
    assert not new.same_stat(10, 5_250_000_000) and new.same_stat(10, 5_250_000_001)


def test_read_ledger_keeps_the_latest_version_of_a_path(tmp_path):
    manifests = [
        {"run_id": "s-000001", "streaming": {"files": [
            {"path": "/in/a", "size": 2, "mtime": 2.0, "mtime_ns": 2 * S, "sha256": "v2"}]}},
        {"run_id": "s-000000", "streaming": {"files": [
            {"path": "/in/a", "size": 1, "mtime": 1.0},
            {"path": "/in/b", "size": 1, "mtime": 1.0}]}},
    ]  # fmt: skip
    ledger = read_ledger(str(tmp_path / "state"), manifests)
    assert ledger["/in/a"] == LedgerEntry("/in/a", 2, 2.0, "s-000001", 2 * S, "v2")
    assert ledger["/in/b"].run_id == "s-000000"


class Clock:
    """The watcher's settle clock: a fixed time the test moves."""

    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        return self.ns


@pytest.fixture
def watch(tmp_path):
    """A FileWatcher over ``tmp_path/in`` (settle time 5 s) whose clock the test sets."""
    inp = tmp_path / "in"
    inp.mkdir()
    notices = []
    watcher = FileWatcher([str(inp)], 5.0, {}, notices.append, clock=Clock())
    watcher.inp, watcher.notices, watcher.seq = inp, notices, 0
    return watcher


def _tick(watch, after_s: float = 60.0) -> list[str]:
    """One tick, ``after_s`` seconds after every file's mtime."""
    mtimes = [os.stat(p).st_mtime_ns for p in watch.inp.iterdir() if p.is_file()]
    watch.clock.ns = max(mtimes, default=0) + int(after_s * S)
    return [os.path.basename(p) for p in watch.poll()]


def _commit(watch, paths: list[str]) -> None:
    """What a committed micro-batch does to the ledger."""
    watch.record(f"s-{watch.seq:06d}", [watch.ready[str(watch.inp / name)] for name in paths])
    watch.seq += 1


@pytest.mark.parametrize("value", ["-1", "x"])
def test_settle_seconds_is_checked_before_the_run(tmp_path, value):
    argv = ["run", "--streaming", "--input", str(tmp_path), "--output", str(tmp_path / "o"),
            "--state", str(tmp_path / "s"), "--settle_seconds", value]  # fmt: skip
    try:
        args, rest = _parser().parse_known_args(argv)
    except SystemExit:  # argparse refuses a non-number itself (exit 2)
        assert value == "x"
        return
    with pytest.raises(OptionsError, match="--settle_seconds"):
        parse_run_args(args, rest, sample_dir())


def test_a_file_is_taken_once_settled_and_only_once(watch):
    (watch.inp / "a.jsonl").write_text('{"text": "x"}\n')
    assert _tick(watch) == []  # first sighting
    assert _tick(watch, after_s=4.9) == []  # unchanged, but a writer may still add to it
    assert watch.waiting == 1
    assert _tick(watch, after_s=5.0) == ["a.jsonl"]
    entry = watch.ready[str(watch.inp / "a.jsonl")]
    assert entry["sha256"] == file_sha256(str(watch.inp / "a.jsonl"))
    assert entry["mtime_ns"] == os.stat(watch.inp / "a.jsonl").st_mtime_ns
    assert "replaces" not in entry
    _commit(watch, ["a.jsonl"])
    assert _tick(watch) == [] and _tick(watch) == []


def test_a_paused_writer_gets_its_whole_file_ingested(watch):
    """The issue's case: 10 records ingested, the 9 written after a pause never were."""
    path = watch.inp / "feed.jsonl"
    path.write_text("".join(f'{{"text": "r{i}"}}\n' for i in range(10)))
    _tick(watch)
    assert _tick(watch) == ["feed.jsonl"]
    _commit(watch, ["feed.jsonl"])
    with path.open("a") as handle:  # the writer resumes after the micro-batch
        handle.write("".join(f'{{"text": "r{i}"}}\n' for i in range(10, 19)))
    assert _tick(watch) == []  # changed: must settle again
    assert _tick(watch) == ["feed.jsonl"]
    assert watch.ready[str(path)]["replaces"] == "s-000000"
    assert watch.ready[str(path)]["size"] == path.stat().st_size


def test_a_replaced_file_is_a_new_version_a_touched_one_is_not(watch):
    path = watch.inp / "a.txt"
    path.write_text("first version")
    _tick(watch)
    assert _tick(watch) == ["a.txt"]
    _commit(watch, ["a.txt"])
    # Touched (same bytes, new mtime): hashed once, not read again, not hashed again.
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 7 * S))
    _tick(watch)
    assert _tick(watch) == []
    assert watch.ledger[str(path)].mtime_ns == path.stat().st_mtime_ns
    assert watch.ledger[str(path)].run_id == "s-000000"
    # Replaced by tmp+rename with other bytes of the same size.
    (watch.inp / ".a.txt.tmp").write_text("other version")
    os.replace(watch.inp / ".a.txt.tmp", path)
    _tick(watch)
    assert _tick(watch) == ["a.txt"]
    assert watch.ready[str(path)]["replaces"] == "s-000000"
    assert watch.notices == [f"{path} changed since s-000000: ingesting its new version"]
    _commit(watch, ["a.txt"])
    assert watch.ledger[str(path)].run_id == "s-000001"
    assert _tick(watch) == []


def test_a_fifo_in_the_watched_directory_is_skipped_and_counted_once(watch):
    os.mkfifo(watch.inp / "x.txt")
    (watch.inp / "a.txt").write_text("a page")
    done = []
    worker = threading.Thread(target=lambda: done.append([_tick(watch), _tick(watch)]))
    worker.start()
    worker.join(60)
    if worker.is_alive():
        os.close(os.open(watch.inp / "x.txt", os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("a tick blocked on the FIFO")
    assert done == [[[], ["a.txt"]]]
    assert watch.not_files == {str(watch.inp / "x.txt"): "fifo"}
    assert watch.notices == [f"skipping {watch.inp / 'x.txt'}: not a regular file (fifo)"]
