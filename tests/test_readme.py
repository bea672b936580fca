"""The README is what users run first: its commands must be the ones that work."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
SHARED = REPO.parent / "shared" / "data"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def _quickstart() -> list[str]:
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_quickstart_has_exactly_the_two_commands():
    install_and_run, tests = _quickstart()
    assert install_and_run == (
        'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" && pagestream run'
    )
    assert tests.startswith("python -m pytest")


def test_ci_runs_the_readme_test_command():
    _, tests = _quickstart()
    ci = (REPO / ".ci" / "run").read_text()
    assert tests in ci.splitlines()


def test_every_query_example_runs(tmp_path, capsys):
    """Every `pagestream query out ...` line of the README runs on a real output."""
    if not (SHARED / "mixed").is_dir():
        pytest.skip("development data not found")
    from pagestream.cli import main

    out = tmp_path / "out"
    assert main(["run", "--input", str(SHARED / "mixed"), "--output", str(out), "--run_id",
                 "2026-11-25", "--quiet"]) == 0  # fmt: skip
    commands = [
        shlex.split(line)
        for block in _blocks("bash")
        for line in block.splitlines()
        if line.startswith("pagestream query out ")
    ]
    assert len(commands) >= 5
    for argv in commands:
        argv = [str(out) if arg == "out" else arg for arg in argv[1:]]
        assert main(argv) == 0, argv
        printed = capsys.readouterr()
        assert printed.err == "", (argv, printed.err)


def test_the_python_api_example_runs(tmp_path, capsys, monkeypatch):
    if not (SHARED / "mixed").is_dir():
        pytest.skip("development data not found")
    (example,) = [block for block in _blocks("python") if "ReadPages" in block]
    monkeypatch.chdir(tmp_path)
    exec(compile(example.replace('"crawl/"', repr(str(SHARED / "mixed"))), "README", "exec"), {})
    printed = capsys.readouterr().out.split()
    assert len(printed) == 14 and all(url.startswith(("http", "file://")) for url in printed)
