"""`pagestream run` when something is wrong: bad options, a failing run, Ctrl-C, a closed stdout.

Bad options exit 2 with exactly one line on stderr, before the output directory exists; a
failed run exits 1 and names its whole cause; Ctrl-C exits 130 with one line, commits nothing
and leaves no staging; a reader of stdout that went away does not fail a committed run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pagestream import cli
from pagestream.cli import main
from pagestream.failures import failure_message
from pagestream.pipelines import batch

RUN_TIMEOUT_S = 600
PAGE = """<html><head><title>Harbour {i}</title></head><body><article><h1>Harbour {i}</h1>
<p>{body}</p></article></body></html>"""


def _pages(path: Path, count: int) -> Path:
    """``count`` distinct article pages in one JSON Lines file."""
    with path.open("w", encoding="utf-8") as handle:
        for i in range(count):
            body = " ".join(
                f"Paragraph {j} of page {i}: the storm closed the harbour and the ferry stayed in port."
                for j in range(6)
            )
            record = {
                "url": f"https://news{i % 7}.example/a{i}",
                "html": PAGE.format(i=i, body=body),
            }
            handle.write(json.dumps(record) + "\n")
    return path


@pytest.fixture
def one_page(tmp_path) -> Path:
    return _pages(tmp_path / "in.jsonl", 3)


def _stderr_lines(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


# --- bad options: exit 2, one line, output untouched ---------------------------------------------


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (["--direct_num_workers", "abc"],
         "pagestream run: --direct_num_workers must be a whole number, got 'abc'"),
        (["--min_words"],
         "pagestream run: argument --min_words: expected one argument (see pagestream run --help)"),
        (["--near_dup_threshold", "0"],
         "pagestream run: --near_dup_threshold must be a number from 0.05 to 1, got 0.0"),
        (["--runner", "DataflowRunner", "--project", "p-123456", "--region", "r1"],
         "pagestream run: --runner DataflowRunner refuses these options: Missing GCS path option: "
         "temp_location; Missing GCS path option: staging_location"),
    ],
)  # fmt: skip
def test_bad_options_are_one_line_and_touch_nothing(tmp_path, one_page, capsys, flags, line):
    out = tmp_path / "out"
    assert main(["run", "--input", str(one_page), "--output", str(out), *flags]) == 2
    assert _stderr_lines(capsys) == [line]
    assert not out.exists()


@pytest.mark.parametrize(
    ("flags", "start", "end"),
    [
        (["--runner", "NoSuchRunner"], "pagestream run: --runner must be a Beam runner: ",
         ", got 'NoSuchRunner'"),
        (["--direct_num_workers", "-3"],
         "pagestream run: --direct_num_workers must be a whole number from 0 to ", ", got -3"),
        (["--direct_num_workers", "1000"],
         "pagestream run: --direct_num_workers must be a whole number from 0 to ", ", got 1000"),
    ],
)  # fmt: skip
def test_bad_beam_options_are_one_line_and_touch_nothing(
    tmp_path, one_page, capsys, flags, start, end
):
    out = tmp_path / "out"
    assert main(["run", "--input", str(one_page), "--output", str(out), *flags]) == 2
    (line,) = _stderr_lines(capsys)
    assert line.startswith(start) and line.endswith(end), line
    assert not out.exists()


def test_state_that_is_a_file_and_unparsable_config(tmp_path, one_page, capsys):
    out, state, config = tmp_path / "out", tmp_path / "state", tmp_path / "run.yaml"
    state.write_text("not a directory")
    assert main(["run", "--input", str(one_page), "--output", str(out), "--state", str(state)]) == 2
    assert _stderr_lines(capsys) == [
        f"pagestream run: --state must be a directory, got {str(state)!r}, which is a file"
    ]
    config.write_text("min_words: [\n")
    assert (
        main(["run", "--input", str(one_page), "--output", str(out), "--config", str(config)]) == 2
    )
    (line,) = _stderr_lines(capsys)
    assert line.startswith(f"pagestream run: --config {config}: cannot parse it (")
    assert not out.exists()


def test_bad_taxonomy_names_the_file_once(tmp_path, one_page, capsys):
    taxonomy, out = tmp_path / "badtax.yaml", tmp_path / "out"
    taxonomy.write_text("labels: {}\n")
    argv = ["run", "--input", str(one_page), "--output", str(out), "--taxonomy", str(taxonomy)]
    assert main(argv) == 2
    (line,) = _stderr_lines(capsys)
    assert line.startswith(f"pagestream run: --taxonomy {taxonomy}: ")
    assert line.count(str(taxonomy)) == 1, line
    assert not out.exists()


def test_unknown_command_is_one_line(capsys):
    assert main(["nosuchcommand"]) == 2
    (line,) = _stderr_lines(capsys)
    assert line.startswith("pagestream: argument COMMAND: invalid choice: 'nosuchcommand'")
    assert line.endswith("(see pagestream --help)")


# --- a failed run: its whole cause; -v adds the traceback -----------------------------------------

DATAFLOW_REFUSAL = (
    "Pipeline has validations errors: \nMissing GCS path option: temp_location.\n"
    "Missing required option: project.\nMissing required option: region."
)


def _failing_run(exc: BaseException):
    def run(options, beam_args):
        raise exc

    return run


def test_a_failed_run_prints_every_line_of_its_cause(tmp_path, one_page, capsys, monkeypatch):
    monkeypatch.setattr(batch, "run", _failing_run(ValueError(DATAFLOW_REFUSAL)))
    assert main(["run", "--quiet", "--input", str(one_page), "--output", str(tmp_path / "o")]) == 1
    assert _stderr_lines(capsys) == [
        "pagestream run: the run failed; nothing was committed: "
        "ValueError: Pipeline has validations errors:",
        "  Missing GCS path option: temp_location.",
        "  Missing required option: project.",
        "  Missing required option: region.",
    ]


def test_verbose_adds_the_traceback(tmp_path, one_page, capsys, monkeypatch):
    monkeypatch.setattr(batch, "run", _failing_run(ValueError(DATAFLOW_REFUSAL)))
    argv = ["run", "-v", "--quiet", "--input", str(one_page), "--output", str(tmp_path / "o")]
    try:
        assert main(argv) == 1
    finally:
        cli._quiet_library_logs()  # -v raised the log levels of this process
    err = capsys.readouterr().err
    assert "Traceback (most recent call last):" in err and "in run" in err
    assert "  Missing required option: region." in err.splitlines()


def test_failure_message_keeps_causes_and_drops_embedded_tracebacks():
    worker = (
        'Traceback (most recent call last):\n  File "x.py", line 3, in process\n    f()\n'
        "ZeroDivisionError: division by zero [while running 'ExtractText/Extract']"
    )
    try:
        try:
            raise OSError("the disk went away")
        except OSError as exc:
            raise RuntimeError(worker) from exc
    except RuntimeError as exc:
        message = failure_message(exc)
    assert message.splitlines() == [
        "RuntimeError: ZeroDivisionError: division by zero [while running 'ExtractText/Extract']",
        "caused by:",
        "OSError: the disk went away",
    ]
    long = failure_message(ValueError("\n".join(f"line {i}" for i in range(100))), max_lines=5)
    assert long.splitlines()[-1] == "... (95 more lines; -v shows all)"
    assert len(long.splitlines()) == 6


# --- Ctrl-C: exit 130, one line, nothing committed, no staging -----------------------------------


def _interrupted_run(wrap: bool, commit_first: bool = False):
    """A run that has staged files when Ctrl-C arrives (Beam wraps it in a RuntimeError)."""

    def run(options, beam_args):
        staging = Path(options.output) / "_staging" / options.run_id
        (staging / "pages").mkdir(parents=True)
        (staging / "pages" / "part-0.parquet").write_bytes(b"PAR1")
        if commit_first:
            (Path(options.output) / "_runs").mkdir()
            (Path(options.output) / "_runs" / f"{options.run_id}.json").write_text("{}")
        if wrap:
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt as exc:
                raise RuntimeError(
                    "KeyboardInterrupt [while running 'ReadPages/ReadRecords']"
                ) from exc
        raise KeyboardInterrupt

    return run


@pytest.mark.parametrize("wrap", [False, True])
def test_interrupt_exits_130_with_one_line_and_no_staging(
    tmp_path, one_page, capsys, monkeypatch, wrap
):
    out = tmp_path / "out"
    monkeypatch.setattr(batch, "run", _interrupted_run(wrap))
    argv = ["run", "--quiet", "--input", str(one_page), "--output", str(out), "--run_id", "r1"]
    assert main(argv) == 130
    assert _stderr_lines(capsys) == ["pagestream run: interrupted; nothing was committed"]
    assert sorted(p.name for p in out.iterdir()) == []  # no _staging, no _runs


def test_interrupt_while_options_are_checked_is_one_line(tmp_path, capsys, monkeypatch):
    from pagestream.pipelines import options

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(options, "parse_run_args", interrupted)
    assert main(["run", "--output", str(tmp_path / "out")]) == 130
    assert _stderr_lines(capsys) == ["pagestream: interrupted"]
    assert not (tmp_path / "out").exists()


def test_interrupt_after_the_manifest_says_the_run_is_committed(
    tmp_path, one_page, capsys, monkeypatch
):
    out = tmp_path / "out"
    monkeypatch.setattr(batch, "run", _interrupted_run(wrap=True, commit_first=True))
    argv = ["run", "--quiet", "--input", str(one_page), "--output", str(out), "--run_id", "r1"]
    assert main(argv) == 130
    assert _stderr_lines(capsys) == ["pagestream run: interrupted after run r1 was committed"]
    assert (out / "_runs" / "r1.json").exists() and not (out / "_staging").exists()


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "pagestream.cli", "run", "--quiet", *args]


@pytest.mark.e2e
def test_ctrl_c_on_a_real_run(tmp_path):
    """SIGINT to the process group (what a terminal's Ctrl-C sends) while pages are extracted."""
    pages = _pages(tmp_path / "many.jsonl", 3000)
    out = tmp_path / "out"
    progress = out / "_staging" / "r1" / "_progress"
    process = subprocess.Popen(
        _cli("--input", str(pages), "--output", str(out), "--run_id", "r1"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + RUN_TIMEOUT_S
    try:
        while not list(progress.glob("extract-*.json")):
            assert process.poll() is None, f"the run ended before Ctrl-C: {process.communicate()}"
            assert time.monotonic() < deadline, "no extraction heartbeat appeared"
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130, err
    assert err.strip().splitlines() == ["pagestream run: interrupted; nothing was committed"]
    assert not (out / "_runs" / "r1.json").exists()
    assert not (out / "_staging").exists()
    assert not list(out.rglob("*.parquet"))


# --- stdout closed by its reader ------------------------------------------------------------------


@pytest.mark.e2e
def test_closed_stdout_does_not_fail_a_committed_run(tmp_path, one_page):
    out = tmp_path / "out"
    command = " ".join(_cli("--input", str(one_page), "--output", str(out), "--run_id", "r1"))
    shell = subprocess.run(
        ["bash", "-c", f'{command} | true; echo "status=${{PIPESTATUS[0]}}" >&2'],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
    )  # fmt: skip
    assert shell.stderr.strip().splitlines()[-1] == "status=0", shell.stderr
    assert "BrokenPipe" not in shell.stderr and "Exception ignored" not in shell.stderr
    manifest = json.loads((out / "_runs" / "r1.json").read_text())
    assert manifest["counts"]["records_read"] == 3
