"""The pure helpers of benchmarks/ (no timing: speed lives in the benchmarks themselves)."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
sys.path.insert(0, str(BENCH))

import bench_profile  # noqa: E402
import bench_speed  # noqa: E402
import common  # noqa: E402


def test_summarise_ratios_are_loop_over_pipeline():
    def rec(wall):
        return {"wall_s": wall, "cpu_s": wall, "peak_rss_mib": 1.0, "load": 0.1, "ok": True}

    runs = {
        "pipeline-1w": [rec(10.0), rec(30.0), rec(12.0)],  # median 12
        "loop-1": [rec(6.0)],
        "pipeline-2w": [rec(8.0)],
        "loop-2": [rec(4.0)],
    }
    out = bench_speed.summarise(runs, html_pages=120)
    assert out["variants"]["pipeline-1w"]["wall_s"] == 12.0
    assert out["variants"]["pipeline-1w"]["pages_per_s"] == 10.0
    assert out["speed_ratio"] == {
        "1_worker": 0.5,
        "2_worker": 0.5,
        "two_process_capacity": 1.5,
        "pipeline_2w_speedup": 1.5,
        "1_worker_per_repeat": [0.6],  # loop-1 rep 0 / pipeline-1w rep 0
        "1_worker_per_repeat_median": 0.6,
        "2_worker_per_repeat": [0.5],
        "2_worker_per_repeat_median": 0.5,
    }


def test_summarise_reports_concurrent_pairs_apart_from_the_variants():
    def rec(wall):
        return {"wall_s": wall, "cpu_s": wall, "peak_rss_mib": 1.0, "load": 0.1, "ok": True}

    pair = {"pipeline_wall_s": 10.0, "loop_wall_s": 9.0, "load": 0.1, "ok": True}
    runs = {
        "pipeline-1w": [rec(10.0)],
        "loop-1": [rec(8.0)],
        "pair-1w": [{**pair, "ratio": r} for r in (0.9, 0.7, 0.8)],
    }
    out = bench_speed.summarise(runs, html_pages=10)
    assert "pair-1w" not in out["variants"]
    assert out["speed_ratio"]["1_worker_concurrent"] == 0.8
    assert out["speed_ratio"]["1_worker_concurrent_pairs"] == [0.9, 0.7, 0.8]
    assert out["pairs"] == runs["pair-1w"]


def test_parallel_runs_report_each_command_its_own_end(tmp_path):
    flag = tmp_path / "first-pid"
    first = [  # publishes its pid (atomically) and ends
        sys.executable,
        "-c",
        f"import os\nopen({str(flag)!r} + '.tmp', 'w').write(str(os.getpid()))\n"
        f"os.replace({str(flag)!r} + '.tmp', {str(flag)!r}); print('a')",
    ]
    second = [  # ends only once the first has ended and been reaped: always the later one
        sys.executable,
        "-c",
        "import os, time\n"
        f"while not os.path.exists({str(flag)!r}): time.sleep(0.01)\n"
        f"pid = int(open({str(flag)!r}).read())\n"
        "while True:\n"
        "    try:\n"
        "        os.kill(pid, 0)\n"
        "    except ProcessLookupError:\n"
        "        break\n"
        "    time.sleep(0.01)\n"
        "print('b')",
    ]
    measured = common.run_parallel_measured([first, second])
    assert measured.ok and [out.strip() for out in measured.stdout] == ["a", "b"]
    assert len(measured.walls_s) == 2
    assert measured.walls_s[0] < measured.walls_s[1] <= measured.wall_s


def test_summarise_ignores_failed_runs_when_some_succeeded():
    runs = {
        "loop-1": [
            {"wall_s": 1.0, "cpu_s": 1.0, "peak_rss_mib": 1.0, "load": 0.0, "ok": False},
            {"wall_s": 5.0, "cpu_s": 5.0, "peak_rss_mib": 1.0, "load": 0.0, "ok": True},
        ]
    }
    assert bench_speed.summarise(runs, 10)["variants"]["loop-1"]["wall_s"] == 5.0


def test_categorise_takes_first_matching_category(tmp_path):
    raw = tmp_path / "profile.txt"
    raw.write_text(
        "main (cli.py:1);_find_and_load (<frozen importlib._bootstrap>:1);"
        "bare_extraction (trafilatura/core.py:2) 3\n"
        "main (cli.py:1);extract_metadata (trafilatura/metadata.py:5) 5\n"
        "main (cli.py:1);something (elsewhere.py:1) 2\n"
    )
    result = bench_profile.categorise(raw)
    assert result["samples"] == 10
    assert result["share"] == {
        "extraction: trafilatura metadata (title/author/date)": 0.5,
        "imports (module loading)": 0.3,
        "other (CLI, planning, threads)": 0.2,
    }


def test_build_corpus_is_deterministic_and_sized(tmp_path):
    if not (SHARED / "extraction-dev" / "pages.jsonl.gz").exists():
        pytest.skip("shared/data/extraction-dev is missing")
    first = common.build_corpus(tmp_path / "a", 500, shards=3)
    second = common.build_corpus(tmp_path / "b", 500, shards=3)
    names = sorted(p.name for p in first)
    assert names == sorted(p.name for p in second)
    assert "example.warc.gz" in names and "warcfile.warc.gz" in names
    rows = []
    for path in sorted(p for p in first if p.name.startswith("pages-")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            rows += [json.loads(line) for line in handle]
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes()
    assert len(rows) == 500 - common.WARC_HTML_PAGES
    assert len({r["url"] for r in rows}) == len(rows)  # copies get their own url
    # below twice the WARC pages the corpus is JSONL only, with exactly the pages asked for
    small = common.build_corpus(tmp_path / "c", 50, shards=2)
    assert all(p.name.startswith("pages-") for p in small)


def _run_all():
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.SourceFileLoader("run_all", str(BENCH / "run_all"))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("run_all", loader))
    loader.exec_module(module)
    return module


def test_generated_benchmarks_link_the_hand_written_findings_instead_of_copying_them():
    run_all = _run_all()
    info = {"date": "2026-01-01T00:00:00+00:00", "nproc": 2, "cpu": "cpu", "ram_gib": 1.0,
            "os": "os", "python": "3.11", "versions": {"apache-beam": "2.77.0"}}  # fmt: skip
    speed = {"load": 0.5, "json": {
        "corpus": {"html_pages": 10, "files": 2, "bytes": 1e6, "shards": 2},
        "repeats": 1, "variants": {}, "speed_ratio": {"1_worker": 0.9}}}  # fmt: skip
    page = run_all.render(info, {"speed": speed}, quick=False, started_load=0.5)
    assert "[`benchmarks/findings.md`](benchmarks/findings.md)" in page
    assert "**1 worker vs 1 loop: 0.9x**" in page
    findings = (BENCH / "findings.md").read_text()
    first_paragraph = findings.split("\n\n")[2].splitlines()[0]
    assert first_paragraph and first_paragraph not in page
    committed = (BENCH.parent / "BENCHMARKS.md").read_text()
    assert first_paragraph not in committed  # the committed file has the same split
    assert "[`benchmarks/findings.md`](benchmarks/findings.md)" in committed
