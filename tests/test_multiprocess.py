"""The DirectRunner with two worker processes gives the same rows as with one process.

Whether it actually uses both cores is a benchmark matter (benchmarks/scaling.py); this checks
equality only: same rows sorted by doc_id (every column but the run id), same duplicate marks,
same manifest counts.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _compare_outputs():
    spec = importlib.util.spec_from_file_location("compare_outputs", DEPLOY / "compare_outputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_processes_give_the_rows_of_one(tmp_path):
    if not (SHARED / "mixed").is_dir():
        pytest.skip(f"development data not found at {SHARED}")
    from pagestream.cli import main

    common = ["--input", str(SHARED / "mixed"), "--logical_date", "2024-05-01", "--quiet"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["run", *common, "--output", str(one), "--run_id", "one"]) == 0
    assert (
        main(
            [
                "run",
                *common,
                "--output",
                str(two),
                "--run_id",
                "two",
                "--direct_num_workers",
                "2",
                "--direct_running_mode",
                "multi_processing",
            ]
        )  # fmt: skip
        == 0
    )
    compare = _compare_outputs()
    assert compare.compare_runs(str(one), "one", str(two), "two") == []
    rows, manifest = compare.load_rows(str(two), "two")
    assert manifest["counts"]["records_read"] == 14
    # mixed/ holds one exact and one near duplicate (its MANIFEST.md); they must be marked.
    assert Counter(row["dup_status"] for row in rows["pages"]) == {
        "unique": 12,
        "exact": 1,
        "near": 1,
    }
    marked = [row for row in rows["pages"] if row["dup_status"] != "unique"]
    assert all(row["dup_run"] == "<this run>" and row["dup_of"] for row in marked)


@pytest.mark.parametrize(
    ("runner", "expected"),
    [
        ("DirectRunner", "none"),  # workers share out the files; no HTML held in the runner
        ("apache_beam.runners.direct.direct_runner.DirectRunner", "none"),
        ("apache_beam.runners.dask.dask_runner.DaskRunner", "group"),  # Reshuffle is a no-op
        ("DataflowRunner", "reshuffle"),
        ("FlinkRunner", "reshuffle"),
    ],
)
def test_records_are_redistributed_by_the_means_each_runner_has(runner, expected):
    from apache_beam.options.pipeline_options import PipelineOptions

    from pagestream.pipelines.runner import redistribution

    assert redistribution(runner, PipelineOptions(["--direct_num_workers", "2"])) == expected


@pytest.mark.parametrize(
    ("fmt", "files", "workers", "warned"),
    [
        ("html", 1, 2, True),  # one page: one worker
        ("html", 2, 2, False),
        ("html", 1, 1, False),
        ("jsonl", 1, 2, False),  # split into one part per worker
        ("warc", 1, 4, False),
    ],
)
def test_fewer_files_than_direct_workers_is_warned(capsys, fmt, files, workers, warned):
    from pagestream.pipelines.plan import warn_if_files_are_fewer_than_workers
    from pagestream.transforms.read.inputs import InputFile
    from pagestream.transforms.read.pages import split_files

    planned = [InputFile(f"/in/{n}.{fmt}", 10, fmt) for n in range(files)]
    warn_if_files_are_fewer_than_workers(split_files(planned, workers), workers)
    message = capsys.readouterr().err
    assert ("--direct_num_workers" in message) is warned


def test_direct_workers_follows_direct_num_workers():
    import os

    from apache_beam.options.pipeline_options import PipelineOptions

    from pagestream.pipelines.runner import direct_workers

    assert direct_workers(PipelineOptions(["--direct_num_workers", "3"])) == 3
    assert direct_workers(PipelineOptions([])) == 1  # Beam's default
    assert direct_workers(PipelineOptions(["--direct_num_workers", "0"])) == (os.cpu_count() or 1)


@pytest.mark.parametrize(
    ("args", "fn_api"),
    [
        ([], True),  # Beam's default runner is the DirectRunner
        (["--runner", "DirectRunner"], True),
        (["--runner", "apache_beam.runners.direct.direct_runner.DirectRunner"], True),
        (["--runner", "DirectRunner", "--streaming"], False),  # Beam decides
        (["--runner", "BundleBasedDirectRunner"], False),
    ],
)
def test_the_direct_runner_runs_on_the_fn_api_runner_directly(args, fn_api):
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    from pagestream.pipelines.runner import new_pipeline

    assert isinstance(new_pipeline(PipelineOptions(args)).runner, FnApiRunner) is fn_api


def test_a_direct_run_never_tries_the_prism_runner(tmp_path, monkeypatch):
    """Beam's DirectRunner tries Prism first, which downloads a binary: no network in a run."""
    import json

    from apache_beam.runners.portability import prism_runner

    from pagestream.cli import main

    calls = []
    monkeypatch.setattr(
        prism_runner.PrismRunner, "run_pipeline", lambda *args, **kw: calls.append(args)
    )
    words = " ".join(f"word{n}" for n in range(80))
    page = {"url": "https://example.org/a", "html": f"<html><body><p>{words}</p></body></html>"}
    (tmp_path / "in.jsonl").write_text(json.dumps(page) + "\n")
    out = tmp_path / "out"
    args = ["run", "--input", str(tmp_path / "in.jsonl"), "--output", str(out), "--quiet"]
    assert main([*args, "--run_id", "r1", "--logical_date", "2024-05-01"]) == 0
    assert calls == []
    manifest = json.loads((out / "_runs" / "r1.json").read_text())
    assert (manifest["runner"], manifest["counts"]["pages"]) == ("DirectRunner", 1)


@pytest.mark.parametrize(
    "runner", ["DirectRunner", "apache_beam.runners.dask.dask_runner.DaskRunner", "DataflowRunner"]
)
def test_the_batch_graph_opts_in_to_the_lxml_speedups_on_every_runner(batch_extract_fns, runner):
    from pagestream.transforms.extract.composite import ExtractText, TextConfig

    assert [fn.lxml_speedups for fn in batch_extract_fns(runner)] == [True]
    assert ExtractText(TextConfig(), "r", "2024-05-01").lxml_speedups is False  # API default
