"""Waves (``pipelines/waves.py``): a run cut into record ranges, one pipeline each, one commit.

Checked by reading the Parquet back: a run in waves gives the rows of the same run in one wave
(but for the documented boundary rule), a killed or failed waved run leaves nothing visible, and
rerunning it resumes from its finished waves with the rows of an uninterrupted run.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from pagestream.cli import main
from pagestream.pipelines.waves import estimate_records, plan_waves
from pagestream.query import connect
from pagestream.schemas.arrow import PAGES_PARTITIONING
from pagestream.transforms.dedup.state import committed_runs
from pagestream.transforms.read.inputs import expand_inputs
from pagestream.transforms.read.pages import read_records
from pagestream.transforms.write.commit import FAULT_ENV
from pagestream.transforms.write.vacuum import orphans

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MIXED = SHARED / "mixed"
PAGES = SHARED / "extraction-dev" / "pages.jsonl.gz"

#: Columns that depend on the run's timing, not on its input.
_TIMED = {"extract_ms", "language_ms", "dedup_ms", "topics_ms", "ingested_at"}


def _run(*args: str) -> int:
    return main(["run", "--quiet", "--logical_date", "2026-01-02", *args])


def _rows(out: Path) -> dict[str, list[dict]]:
    pages = ds.dataset(
        out / "pages", format="parquet",
        partitioning=ds.partitioning(PAGES_PARTITIONING, flavor="hive"),
    ).to_table().to_pylist()  # fmt: skip
    tables = {"pages": pages}
    for name in ("rejected", "dead_letter"):
        tables[name] = [r for f in sorted((out / name).glob("*.parquet"))
                        for r in pq.read_table(f).to_pylist()]  # fmt: skip
    return {
        name: sorted(
            ({k: v for k, v in r.items() if k not in _TIMED} for r in rows),
            key=lambda r: (r.get("doc_id") or "", r["source"]),
        )
        for name, rows in tables.items()
    }


def _manifest(out: Path, run_id: str) -> dict:
    return json.loads((out / "_runs" / f"{run_id}.json").read_text())


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _dev_pages(n: int) -> list[dict]:
    if not PAGES.is_file():
        pytest.skip(f"development data not found at {PAGES}")
    with gzip.open(PAGES, "rt", encoding="utf-8") as f:
        return [json.loads(line) for _, line in zip(range(n), f, strict=False)]


# --- the plan: record ranges ---------------------------------------------------------------


def _sources(files) -> list[str]:
    return [r.source for f in files for r in read_records(f)]


def test_waves_cover_every_record_once_in_file_order(tmp_path):
    _jsonl(tmp_path / "a.jsonl", [{"url": f"https://a.example/{i}", "text": "x"} for i in range(3)])
    _jsonl(tmp_path / "b.jsonl", [{"url": f"https://b.example/{i}", "text": "y"} for i in range(6)])
    (tmp_path / "c.html").write_text("<html><body><p>one page</p></body></html>")
    files, _ = expand_inputs([str(tmp_path)])
    waves = plan_waves(files, 4, count_small=True)
    assert [w.records for w in waves] == [4, 4, 2]
    assert [len(_sources(w.files)) for w in waves] == [4, 4, 2]
    assert [s for w in waves for s in _sources(w.files)] == _sources(files)
    # b.jsonl is cut after its first record and again after its fifth
    b = [(f.skip, f.limit) for w in waves for f in w.files if f.path.endswith("b.jsonl")]
    assert b == [(0, 1), (1, 4), (5, 1)]


def test_a_wave_also_ends_at_its_content_bytes(tmp_path):
    _jsonl(tmp_path / "a.jsonl", [{"url": f"https://a.example/{i}", "text": "x" * 100}
                                  for i in range(5)])  # fmt: skip
    files, _ = expand_inputs([str(tmp_path)])
    waves = plan_waves(files, 1000, wave_bytes=250, count_small=True)
    assert [w.records for w in waves] == [2, 2, 1]


def test_one_wave_keeps_the_planned_files_as_they_are(tmp_path):
    _jsonl(tmp_path / "a.jsonl", [{"url": f"https://a.example/{i}", "text": "x"} for i in range(5)])
    files, _ = expand_inputs([str(tmp_path)])
    assert plan_waves(files, 5, count_small=True)[0].files == tuple(files)
    assert plan_waves(files, 0)[0].files == tuple(files)
    small = plan_waves(files, 2)  # under 4 MB and --wave_pages not given: not counted
    assert len(small) == 1 and small[0].records is None


# --- a later wave starts at its first record --------------------------------------------

WARC = SHARED / "warc" / "example.warc.gz"  # 261 records: 94 pages, 167 rejected


def _warc(tmp_path: Path, copies: int = 3) -> Path:
    if not WARC.is_file():
        pytest.skip(f"development data not found at {WARC}")
    path = tmp_path / "big.warc.gz"  # gzip members concatenated: still one valid WARC
    path.write_bytes(WARC.read_bytes() * copies)
    return path


def test_a_later_wave_of_a_warc_seeks_to_its_first_record(tmp_path, monkeypatch):
    files, _ = expand_inputs([str(_warc(tmp_path))])
    waves = plan_waves(files, 60, count_small=True)
    assert len(waves) > 3
    later = [f for w in waves[1:] for f in w.files]
    assert all(f.offset > 0 for f in later)
    assert [s for w in waves for s in _sources(w.files)] == _sources(files)
    # the last wave parses its own records, not the ones before it
    import pagestream.transforms.read.warc as warc

    parsed = []
    original = warc._warc_page
    monkeypatch.setattr(warc, "_warc_page", lambda r, p: parsed.append(1) or original(r, p))
    last = waves[-1].files[0]
    assert len(_sources([last])) == last.limit
    seeking = len(parsed)  # a response has its request and metadata records beside it
    assert len(_sources([last._replace(offset=0)])) == last.limit
    assert seeking <= 4 * last.limit < last.skip < len(parsed) - seeking


def test_a_wrong_or_whole_gzip_offset_falls_back_to_counting(tmp_path):
    files, _ = expand_inputs([str(_warc(tmp_path, 1))])
    wave = plan_waves(files, 50, count_small=True)[1].files[0]
    expected = _sources([wave._replace(offset=0)])
    assert _sources([wave._replace(offset=wave.offset + 1)]) == expected
    assert _sources([wave._replace(offset=files[0].size + 10)]) == expected
    # one gzip member for the whole file: positions are in the decompressed stream
    whole = tmp_path / "whole" / "one.warc.gz"
    whole.parent.mkdir()
    whole.write_bytes(gzip.compress(gzip.decompress(WARC.read_bytes())))
    files, _ = expand_inputs([str(whole)])
    waves = plan_waves(files, 50, count_small=True)
    assert len(waves) > 1
    assert [s for w in waves for s in _sources(w.files)] == _sources(files)


def test_a_later_wave_of_json_lines_counts_the_lines_before_it(tmp_path):
    lines = []
    for i in range(30):
        lines.append(json.dumps({"url": f"https://a.example/{i}", "text": "x"}))
        lines.append("" if i % 3 else "not json")  # blank lines are not records; bad ones are
    body = ("\n".join(lines) + "\n").encode()
    (tmp_path / "a.jsonl").write_bytes(body)
    (tmp_path / "cut.jsonl.gz").write_bytes(gzip.compress(body)[:-40])  # cut near its end
    for name in ("a.jsonl", "cut.jsonl.gz"):
        files, _ = expand_inputs([str(tmp_path / name)])
        waves = plan_waves(files, 7, count_small=True)
        read = [(r.source, r.kind, r.reason) for w in waves for f in w.files
                for r in read_records(f)]  # fmt: skip
        assert read == [(r.source, r.kind, r.reason) for r in read_records(files[0])]
        assert len(waves) >= 3 and read[-1][1] == ("dead" if name.startswith("cut") else "raw")


def test_a_run_over_one_warc_in_waves_reads_each_record_once(tmp_path, monkeypatch):
    import pagestream.pipelines.waves as waves_module

    warc = _warc(tmp_path, 1)
    assert _run("--input", str(warc), "--output", str(tmp_path / "seek"), "--run_id", "w",
                "--wave_pages", "100") == 0  # fmt: skip
    counted = waves_module._record_sizes
    monkeypatch.setattr(waves_module, "_record_sizes", lambda f: ((s, 0) for s, _ in counted(f)))
    assert _run("--input", str(warc), "--output", str(tmp_path / "count"), "--run_id", "w",
                "--wave_pages", "100") == 0  # fmt: skip
    seek, count = _rows(tmp_path / "seek"), _rows(tmp_path / "count")
    assert len(seek["pages"]) > 30 and len(seek["rejected"]) > 100 and seek == count
    assert _manifest(tmp_path / "seek", "w")["waves"]["count"] > 1


# --- runs in waves -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed_runs(tmp_path_factory):
    """The mixed directory in one wave and in waves of 4 records (4 waves)."""
    if not MIXED.is_dir():
        pytest.skip("development data not found")
    root = tmp_path_factory.mktemp("waves")
    for name, extra in (("one", []), ("waves", ["--wave_pages", "4"])):
        assert _run("--input", str(MIXED), "--output", str(root / name), "--run_id", "m",
                    *extra) == 0  # fmt: skip
    return root


def test_a_run_in_waves_gives_the_rows_of_one_wave(mixed_runs):
    one, waves = _rows(mixed_runs / "one"), _rows(mixed_runs / "waves")
    assert len(one["pages"]) == 14
    assert {r["dup_status"] for r in one["pages"]} == {"unique", "exact", "near"}
    assert waves == one


def test_the_manifest_of_a_run_in_waves_counts_the_whole_run(mixed_runs):
    one, waves = _manifest(mixed_runs / "one", "m"), _manifest(mixed_runs / "waves", "m")
    assert "waves" not in one
    assert waves["waves"] == {"count": 4, "resumed": 0, "records": [4, 4, 4, 2]}
    for key in ("counts", "reasons", "per_file", "languages", "topics", "dup_status", "domains"):
        assert waves[key] == one[key], key
    assert sum(f["rows"] for f in waves["file_list"] if f["table"] == "pages") == 14
    # the committed index holds the kept pages of every wave
    marker = json.loads((mixed_runs / "waves" / "_state" / "_committed" / "m.json").read_text())
    index = mixed_runs / "waves" / "_state" / "index" / "run_id=m" / f"attempt={marker['attempt']}"
    kept = sum(pq.read_metadata(index / f).num_rows for f in marker["files"])
    assert kept == waves["dup_status"]["unique"] == 12
    assert not (mixed_runs / "waves" / "_staging").exists()


def test_across_a_wave_boundary_the_copy_in_the_earlier_wave_is_kept(tmp_path):
    page, other, third = _dev_pages(3)
    first = {"url": "https://first.example/story", "html": page["html"],
             "fetch_time": "2024-05-02T00:00:00Z"}  # fmt: skip
    later = {"url": "https://later.example/story", "html": page["html"],
             "fetch_time": "2024-05-01T00:00:00Z"}  # fmt: skip
    records = [first, {"url": "https://o.example/1", "html": other["html"]}, later,
               {"url": "https://o.example/2", "html": third["html"]}]  # fmt: skip
    data = _jsonl(tmp_path / "in.jsonl", records)
    status = {}
    for name, extra in (("one", []), ("waves", ["--wave_pages", "2"])):
        out = tmp_path / name
        assert _run("--input", str(data), "--output", str(out), "--run_id", "b", *extra) == 0
        status[name] = {r["url"]: r["dup_status"] for r in _rows(out)["pages"]}
    # one wave: the keep rule takes the earliest fetch_time
    assert status["one"][later["url"]] == "unique" and status["one"][first["url"]] == "exact"
    # two waves ([first, o1], [later, o2]): the copy of the earlier wave is kept
    assert status["waves"][first["url"]] == "unique" and status["waves"][later["url"]] == "exact"


# --- kill, failure and resume ----------------------------------------------------------------


def _killed_after_wave(out: Path, wave: int, how: str, *args: str) -> tuple[int, str]:
    """A run in a subprocess that fails (``how`` "") or is SIGKILLed (":kill") right after its
    wave ``wave`` is staged; the extraction child goes with its process group."""
    env = {**os.environ, FAULT_ENV: f"wave-{wave}{how}"}
    command = [sys.executable, "-m", "pagestream.cli", "run", "--quiet", "--logical_date",
               "2026-01-02", "--output", str(out), *args]  # fmt: skip
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)  # fmt: skip
    try:
        _, stderr = process.communicate(timeout=600)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return process.returncode, stderr


def _r0(out: Path) -> None:
    assert _run("--input", str(MIXED / "feed.jsonl"), "--output", str(out), "--run_id", "r0",
                "--logical_date", "2026-01-01") == 0  # fmt: skip


@pytest.fixture(scope="module")
def killed_mixed(tmp_path_factory, mixed_runs):
    """Over a committed run r0: the mixed directory in waves of 4, killed after its 2nd wave
    (``out``), and the same run uninterrupted (``ref``)."""
    root = tmp_path_factory.mktemp("killed")
    out, ref = root / "out", root / "ref"
    _r0(out)
    _r0(ref)
    assert _run("--input", str(MIXED), "--output", str(ref), "--run_id", "m",
                "--wave_pages", "4") == 0  # fmt: skip
    before = sorted(p.relative_to(out) for p in out.rglob("*") if "_leases" not in p.parts)
    code, stderr = _killed_after_wave(out, 2, ":kill", "--input", str(MIXED), "--run_id", "m",
                                      "--wave_pages", "4")  # fmt: skip
    assert code == -signal.SIGKILL, stderr
    return root, before


def test_a_run_killed_between_waves_leaves_nothing_visible(killed_mixed):
    root, before = killed_mixed
    out = root / "out"
    assert not (out / "_runs" / "m.json").exists()
    assert not list(out.glob("pages/*/*/part-m-*")) and not list(out.glob("*/part-m-*"))
    assert not (out / "_state" / "_committed" / "m.json").exists()
    staged = sorted(p.name for p in (out / "_staging" / "m" / "waves").glob("wave-*.json"))
    assert staged == ["wave-00000.json", "wave-00001.json"]
    # the automatic vacuum of another run's commit keeps the finished waves
    assert not any(p.endswith("/_staging/m") for p in orphans(str(out)).staging)
    # the tables and the committed index are r0's alone (an uncommitted attempt's index
    # segment files lie in their own attempt directory, which no marker names)
    tables = [p for p in out.rglob("*.parquet") if p.parts[len(out.parts)] != "_staging"]
    assert sorted(p.relative_to(out) for p in tables if "_state" not in p.parts) == [
        p for p in before if p.suffix == ".parquet" and "_state" not in p.parts
    ]
    assert [r.run_id for r in committed_runs(str(out / "_state"))] == ["r0"]
    assert connect(out).execute("SELECT DISTINCT run_id FROM pages").fetchall() == [("r0",)]


def test_rerunning_a_killed_run_resumes_and_gives_the_rows_of_an_uninterrupted_run(
    killed_mixed, capsys
):
    root, _ = killed_mixed
    out = root / "out"
    capsys.readouterr()
    assert _run("--input", str(MIXED), "--output", str(out), "--run_id", "m",
                "--wave_pages", "4") == 0  # fmt: skip
    assert "  waves          4 (2 resumed from an earlier attempt)\n" in capsys.readouterr().out
    manifest = _manifest(out, "m")
    assert manifest["waves"]["resumed"] == 2 and manifest["waves"]["count"] == 4
    assert not (out / "_staging").exists()
    got, want = _rows(out), _rows(root / "ref")
    assert sum(r["run_id"] == "m" for r in want["pages"]) == 14
    assert {r["dup_run"] for r in want["pages"]} == {None, "r0", "m"}  # deduped against both
    assert got == want
    state = {p.name for p in (out / "_state" / "_committed").iterdir()}
    assert state == {"r0.json", "m.json"}


def test_a_failed_wave_keeps_the_finished_ones_and_says_how_to_resume(tmp_path, mixed_runs):
    out = tmp_path / "out"
    code, stderr = _killed_after_wave(out, 1, "", "--input", str(MIXED), "--run_id", "m",
                                      "--wave_pages", "4")  # fmt: skip
    assert code == 1, stderr
    assert "1 of 4 waves of run m stay staged; rerun with --run_id m" in stderr
    assert not (out / "_runs" / "m.json").exists()
    # other options: the staged waves are not reused
    assert _run("--input", str(MIXED), "--output", str(out), "--run_id", "m",
                "--wave_pages", "4", "--min_words", "6") == 0  # fmt: skip
    assert _manifest(out, "m")["waves"]["resumed"] == 0
    # the same options again: a new run from scratch (nothing staged), the rows of one wave
    assert _run("--input", str(MIXED), "--output", str(out), "--run_id", "m",
                "--wave_pages", "4") == 0  # fmt: skip
    assert _rows(out) == _rows(mixed_runs / "one")


def test_wave_pages_is_checked_before_the_run(tmp_path, capsys):
    out = tmp_path / "out"
    assert _run("--input", str(tmp_path), "--output", str(out), "--wave_pages", "-1") == 2
    assert "--wave_pages" in capsys.readouterr().err
    assert not out.exists()


def test_the_record_estimate_is_exact_for_small_files_and_close_for_big_ones(tmp_path):
    def records(n):
        return [{"url": f"https://a.example/{i}", "text": f"page {i} " + "word " * (50 + i % 7)}
                for i in range(n)]  # fmt: skip

    small = _jsonl(tmp_path / "small.jsonl", records(30))
    big = _jsonl(tmp_path / "big.jsonl", records(400))
    files, _ = expand_inputs([str(small), str(big)])
    estimates = {Path(f.path).name: estimate_records(f) for f in files}
    assert estimates["small.jsonl"] == 30
    assert 400 / 1.5 < estimates["big.jsonl"] < 400 * 1.5


def test_the_default_wave_size_follows_the_runner():
    from apache_beam.options.pipeline_options import PipelineOptions

    from pagestream.pipelines.options import RunOptions
    from pagestream.pipelines.runner import worker_processes
    from pagestream.pipelines.waves import wave_pages

    options = RunOptions(inputs=("x",), output="o", run_id="r", logical_date="2026-01-02")
    two = PipelineOptions(["--direct_num_workers", "2", "--direct_running_mode",
                           "multi_processing"])  # fmt: skip
    threads = PipelineOptions(["--direct_num_workers", "2"])
    assert worker_processes(two) == 2 and worker_processes(threads) == 1
    assert wave_pages(options, "DirectRunner") == 2000
    assert wave_pages(options, "DirectRunner", worker_processes(two)) == 1500
    assert wave_pages(options, "apache_beam.runners.dask.dask_runner.DaskRunner") == 0
    assert wave_pages(options, "DataflowRunner") == 0
    given = RunOptions(inputs=("x",), output="o", run_id="r", logical_date="2026-01-02",
                       wave_pages=300)  # fmt: skip
    assert wave_pages(given, "DataflowRunner") == 300


def test_a_run_resumed_the_next_day_keeps_its_first_day(tmp_path, monkeypatch):
    import datetime as dt

    from pagestream.pipelines import options as options_module

    class Tomorrow(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime.now(tz) + dt.timedelta(days=1)

    out = tmp_path / "out"
    args = ["run", "--quiet", "--input", str(MIXED), "--output", str(out), "--run_id", "d",
            "--wave_pages", "7"]  # fmt: skip
    monkeypatch.setenv(FAULT_ENV, "wave-1")
    assert main(args) == 1
    today = json.loads((out / "_staging" / "d" / "waves" / "plan.json").read_text())
    monkeypatch.delenv(FAULT_ENV)
    monkeypatch.setattr(options_module, "datetime", Tomorrow)
    assert main(args) == 0
    manifest = _manifest(out, "d")
    assert manifest["waves"]["resumed"] == 1
    assert manifest["logical_date"] == today["logical_date"] == dt.date.today().isoformat()
