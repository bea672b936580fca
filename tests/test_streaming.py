"""The local streaming loop: ledger helpers, and a real ``pagestream run --streaming`` process.

The process test watches a temporary directory, receives files (one through a ``.name.tmp``
rename), commits micro-batches, marks a later copy of a committed page as its duplicate,
finishes the running micro-batch on SIGTERM and exits 0; a restart ingests only new files.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pagestream.pipelines.ledger import read_ledger, stable_files
from pagestream.pipelines.streaming_recovery import micro_batch_id, reconcile
from pagestream.query import connect
from pagestream.transforms.dedup import state as dedup_state

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MIXED = SHARED / "mixed"
SALON = "https://www.salon.com/2020/01/10/despite-everything-u-s-emissions-dipped-in-2019_partner/"
MIRROR = "https://news-mirror.example.com/2020/01/10/us-emissions-dipped-in-2019/"
PHYS = "https://phys.org/news/2019-10-flint-flake-tool-partially-birch.html"
DIGEST = "https://science-digest.example.net/2019/10/neanderthal-birch-tar-flint-tool.html"
#: Generous bound for one micro-batch on a loaded 2-core machine (not a timing assertion).
WAIT_S = 240


@pytest.mark.parametrize(
    ("listing", "previous", "stable"),
    [
        ({"a": (1, 1.0)}, {}, []),  # first sighting: wait one tick
        ({"a": (1, 1.0)}, {"a": (1, 1.0)}, ["a"]),
        ({"a": (2, 2.0)}, {"a": (1, 1.0)}, []),  # still growing
        ({"a": (1, 2.0)}, {"a": (1, 1.0)}, []),  # rewritten in place, same size
        ({"b": (1, 1.0), "a": (1, 1.0)}, {"a": (1, 1.0), "b": (1, 1.0)}, ["a", "b"]),
    ],
)
def test_stable_files_needs_two_equal_listings(listing, previous, stable):
    assert stable_files(listing, previous) == stable


def test_micro_batch_ids_sort_in_commit_order():
    ids = [micro_batch_id("stream", seq) for seq in (0, 9, 10, 99, 100, 12345)]
    assert ids == sorted(ids)
    assert ids[0] == "stream-000000"


def test_ledger_is_derived_from_committed_manifests_and_repaired(tmp_path):
    """A crash after the manifest: the files count as ingested and the copies are rewritten."""
    state = str(tmp_path / "state")
    manifest = {
        "run_id": "s-000000",
        "logical_date": "2026-01-02",
        "streaming": {
            "base_run_id": "s",
            "seq": 0,
            "files": [{"path": "/in/a.jsonl", "size": 10, "mtime": 5.0}],
            "state_attempt": "t1",
        },
    }
    attempt = tmp_path / "state" / "index" / "run_id=s-000000" / "attempt=t1"
    attempt.mkdir(parents=True)
    (attempt / "part-00000-of-00001.parquet").write_bytes(b"x")
    ledger = read_ledger(state, [manifest])
    assert ledger["/in/a.jsonl"].run_id == "s-000000"
    assert reconcile(state, [manifest]) == ["s-000000"]
    copy = json.loads((tmp_path / "state" / "ledger" / "s-000000.json").read_text())
    assert copy["files"][0]["path"] == "/in/a.jsonl"
    assert [r.run_id for r in dedup_state.committed_runs(state)] == ["s-000000"]
    assert reconcile(state, [manifest]) == []  # idempotent
    assert set(read_ledger(state, [])) == {"/in/a.jsonl"}  # the copy alone suffices


# --- a real streaming process -------------------------------------------------------------------


def _start(inp: Path, out: Path, state: Path, *extra: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "pagestream.cli", "run", "--streaming", "--input", str(inp),
            "--output", str(out), "--state", str(state), "--run_id", "s",
            "--trigger_interval", "1", "--quiet", *extra]  # fmt: skip
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(out.parent)
    )


def _wait_for(predicate, proc: subprocess.Popen, what: str):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the process exited ({proc.returncode}) before {what}: "
                                 f"{proc.stderr.read()}")  # fmt: skip
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"timed out waiting for {what}")


def _committed(out: Path, run_id: str) -> bool:
    return (out / "_runs" / f"{run_id}.json").exists()


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 0, err
    return err


def _pages(out: Path) -> dict[str, dict]:
    con = connect(out)
    rows = con.execute(
        "SELECT url, run_id, dup_status, dup_of, dup_run, doc_id FROM pages ORDER BY url"
    ).fetchall()
    return {
        r[0]: dict(
            zip(["url", "run_id", "dup_status", "dup_of", "dup_run", "doc_id"], r, strict=True)
        )
        for r in rows
    }


def test_streaming_process_commits_dedups_stops_and_resumes(tmp_path):
    if not MIXED.is_dir():
        pytest.skip(f"development data not found at {MIXED}")
    inp, out, state = tmp_path / "in", tmp_path / "out", tmp_path / "state"
    inp.mkdir()
    out.mkdir()
    shutil.copy(MIXED / "salon.com.emissions.html", inp)
    shutil.copy(MIXED / "003_370d3b6ebcc3e755.txt", inp / ".003.txt.tmp")  # upload in progress
    proc = _start(inp, out, state)
    os.rename(inp / ".003.txt.tmp", inp / "003.txt")
    _wait_for(lambda: _committed(out, "s-000000"), proc, "the first micro-batch")
    first = json.loads((out / "_runs" / "s-000000.json").read_text())
    # The .tmp name was ignored; the renamed file may land in the first or the second batch.
    names = {Path(f["path"]).name for f in first["streaming"]["files"]}
    assert "salon.com.emissions.html" in names and not any(n.startswith(".") for n in names)

    shutil.copy(MIXED / "news-mirror.us-emissions-2019.html", inp)  # exact copy of salon
    _wait_for(lambda: SALON in _pages(out) and MIRROR in _pages(out), proc, "the mirror page")
    shutil.copy(MIXED / "phys.org.tool.html", inp)
    seq = len(list((out / "_runs").glob("s-*.json")))
    running = micro_batch_id("s", seq)
    _wait_for(lambda: (out / "_staging" / running).exists() or _committed(out, running),
              proc, "the phys.org micro-batch to start")  # fmt: skip
    err = _stop(proc)  # SIGTERM while that batch runs: it finishes and commits
    assert _committed(out, running), err
    assert "stopped:" in err and f"committed {running}" in err

    rows = _pages(out)
    salon, mirror = rows[SALON], rows[MIRROR]
    assert salon["dup_status"] == "unique"
    assert (mirror["dup_status"], mirror["dup_of"]) == ("exact", salon["doc_id"])
    assert mirror["dup_run"] == salon["run_id"] != mirror["run_id"]
    assert rows[PHYS]["run_id"] == running
    assert len(rows) == 4  # salon, the .txt page, mirror, phys.org: each file once
    ledger = read_ledger(str(state), [])
    assert sorted(Path(p).name for p in ledger) == sorted(
        ["salon.com.emissions.html", "003.txt", "news-mirror.us-emissions-2019.html",
         "phys.org.tool.html"]
    )  # fmt: skip

    # Restart: only the new file is read, under the next sequence number.
    shutil.copy(MIXED / "science-digest.neanderthal-birch-tar.html", inp)
    proc = _start(inp, out, state)
    resumed = micro_batch_id("s", seq + 1)
    _wait_for(lambda: _committed(out, resumed), proc, "the micro-batch after the restart")
    _stop(proc)
    manifest = json.loads((out / "_runs" / f"{resumed}.json").read_text())
    assert [Path(f["path"]).name for f in manifest["streaming"]["files"]] == [
        "science-digest.neanderthal-birch-tar.html"
    ]
    assert manifest["counts"]["records_read"] == 1
    rows = _pages(out)
    digest = rows[DIGEST]
    assert (digest["dup_status"], digest["dup_of"], digest["dup_run"]) == (
        "near",
        rows[PHYS]["doc_id"],
        running,
    )
    assert len(rows) == 5
    assert not list((out / "_runs").glob(".*"))  # no half-written manifest


_VOCABULARY = [
    "harbour",
    "council",
    "budget",
    "school",
    "river",
    "bridge",
    "market",
    "farmers",
    "museum",
    "library",
    "station",
    "festival",
    "theatre",
    "garden",
    "forest",
    "village",
    "coast",
    "weather",
    "minister",
    "ferry",
    "island",
    "storm",
    "rain",
    "teacher",
    "student",
    "hospital",
    "doctor",
    "nurse",
    "train",
    "road",
    "traffic",
    "mayor",
    "election",
    "vote",
    "court",
    "judge",
    "police",
    "fire",
    "summer",
    "winter",
    "autumn",
    "spring",
    "harvest",
    "wheat",
    "apple",
    "orchard",
    "bakery",
    "bread",
    "coffee",
    "concert",
    "choir",
    "painting",
    "gallery",
    "bicycle",
    "tram",
    "airport",
    "flight",
    "tourist",
    "hotel",
]


def _article(topic: str, seed: int) -> str:
    """About 80 words on ``topic``, different for every seed (no near duplicates)."""
    rng = random.Random(seed)
    return f"{topic} report {seed}. " + " ".join(rng.choices(_VOCABULARY, k=80)) + "."


def test_a_replaced_file_is_ingested_again_and_its_repeated_pages_marked(tmp_path):
    """tmp+rename over an ingested file: its new version is read by the next micro-batch,
    which names the one it replaces; the old rows stay and the new version's pages are
    marked against them (the same page: ``exact``; the same url, new text: ``url``); the
    documented latest-version query returns the new version whole."""
    inp, out, state = tmp_path / "in", tmp_path / "out", tmp_path / "state"
    inp.mkdir()
    out.mkdir()
    feed = inp / "feed.jsonl"

    def write(path, pages):
        path.write_text("".join(json.dumps({"url": u, "text": t}) + "\n" for u, t in pages))

    a, b = (
        ("https://x.example/a", _article("Harbour", 1)),
        ("https://x.example/b", _article("Bridge", 2)),
    )
    write(feed, [a, b])
    proc = _start(inp, out, state, "--settle_seconds", "0")
    _wait_for(lambda: _committed(out, "s-000000"), proc, "the first version")
    b2, c = (
        ("https://x.example/b", _article("Museum", 7)),
        ("https://x.example/c", _article("Forest", 9)),
    )
    write(inp / ".feed.jsonl.tmp", [a, b2, c])
    os.replace(inp / ".feed.jsonl.tmp", feed)
    _wait_for(lambda: _committed(out, "s-000001"), proc, "the replaced file's micro-batch")
    _stop(proc)

    manifest = json.loads((out / "_runs" / "s-000001.json").read_text())
    [entry] = manifest["streaming"]["files"]
    assert (entry["path"], entry["replaces"]) == (str(feed), "s-000000")
    assert entry["sha256"] == hashlib.sha256(feed.read_bytes()).hexdigest()
    assert manifest["counts"]["records_read"] == 3
    con = connect(out)
    rows = con.execute(
        "SELECT url, run_id, dup_status, dup_run, left(text, 20) FROM pages ORDER BY url, run_id"
    ).fetchall()
    assert rows == [
        ("https://x.example/a", "s-000000", "unique", None, a[1][:20]),
        ("https://x.example/a", "s-000001", "exact", "s-000000", a[1][:20]),
        ("https://x.example/b", "s-000000", "unique", None, b[1][:20]),
        ("https://x.example/b", "s-000001", "url", "s-000000", b2[1][:20]),
        ("https://x.example/c", "s-000001", "unique", None, c[1][:20]),
    ]
    latest = con.execute(LATEST_VERSION_SQL).fetchall()  # the recipe in docs/streaming.md
    assert latest == [
        ("https://x.example/a", "s-000001"),
        ("https://x.example/b", "s-000001"),
        ("https://x.example/c", "s-000001"),
    ]


def test_a_writer_that_pauses_gets_all_its_records_ingested(tmp_path):
    """The first records of a file written in place were committed, then the writer added
    more: the new version is read whole, the repeated records are marked ``exact``."""
    inp, out, state = tmp_path / "in", tmp_path / "out", tmp_path / "state"
    inp.mkdir()
    out.mkdir()
    log = inp / "log.jsonl"
    records = [json.dumps({"url": f"https://y.example/{i}", "text": _article("Log", i)}) + "\n"
               for i in range(19)]  # fmt: skip
    log.write_text("".join(records[:10]))
    proc = _start(inp, out, state, "--settle_seconds", "0")
    _wait_for(lambda: _committed(out, "s-000000"), proc, "the first 10 records")
    with log.open("a") as handle:  # the writer resumes
        handle.write("".join(records[10:]))
    _wait_for(lambda: _committed(out, "s-000001"), proc, "the file's new version")
    _stop(proc)

    manifest = json.loads((out / "_runs" / "s-000001.json").read_text())
    assert [f["replaces"] for f in manifest["streaming"]["files"]] == ["s-000000"]
    assert manifest["counts"]["records_read"] == 19
    con = connect(out)
    counts = con.execute(
        "SELECT run_id, dup_status, count(*), count(DISTINCT url) FROM pages "
        "GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    assert counts == [
        ("s-000000", "unique", 10, 10),
        ("s-000001", "exact", 10, 10),
        ("s-000001", "unique", 9, 9),
    ]
    assert con.execute("SELECT count(DISTINCT url) FROM pages").fetchone() == (19,)


#: docs/streaming.md, "Replaced files": the rows of the latest version of every input file.
LATEST_VERSION_SQL = """
SELECT url, run_id FROM pages
QUALIFY run_id = max(run_id) OVER (PARTITION BY regexp_replace(source, '#[0-9]+$', ''))
ORDER BY url
"""


def test_a_big_micro_batch_runs_in_waves_and_commits_the_rows_of_one_run(tmp_path):
    """A micro-batch is a run: over ``--wave_pages`` records it goes in waves (the batch code
    path), still one commit, with the rows a batch run of the same files commits."""
    if not MIXED.is_dir():
        pytest.skip(f"development data not found at {MIXED}")
    inp, out, state = tmp_path / "in", tmp_path / "out", tmp_path / "state"
    out.mkdir()
    shutil.copytree(MIXED, inp, ignore=shutil.ignore_patterns("*.md"))
    proc = _start(inp, out, state, "--settle_seconds", "0", "--wave_pages", "4")
    _wait_for(lambda: _committed(out, "s-000000"), proc, "the micro-batch in waves")
    _stop(proc)
    manifest = json.loads((out / "_runs" / "s-000000.json").read_text())
    assert manifest["waves"]["count"] == 4 and len(manifest["streaming"]["files"]) == 8
    batch_out = tmp_path / "batch"
    done = subprocess.run(
        [sys.executable, "-m", "pagestream.cli", "run", "--input", str(inp), "--output",
         str(batch_out), "--run_id", "b", "--quiet"], capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    batch = json.loads((batch_out / "_runs" / "b.json").read_text())
    assert manifest["counts"] == batch["counts"] and manifest["counts"]["pages"] > 10

    def rows(where):
        query = "SELECT url, dup_status, language, title FROM pages ORDER BY url"
        return connect(where).execute(query).fetchall()

    assert rows(out) == rows(batch_out)
