""".ci/run: runs the linters before the tests, ends with the README's test command, and never
ends with pytest's exit status 5 (no test collected), which would read as "ran no test"."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CI = (REPO / ".ci" / "run").read_text()


def _commands() -> list[str]:
    return [
        line.strip()
        for line in CI.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_ci_lints_then_ends_with_the_test_command():
    commands = _commands()
    assert commands[-1].startswith("python -m pytest")
    assert "ruff check ." in commands and "ruff format --check ." in commands
    assert commands.index("ruff format --check .") < len(commands) - 1


@pytest.mark.parametrize("pytest_status, ci_status", [(0, 0), (1, 1), (2, 2), (5, 1)])
def test_ci_status_is_pytests_except_no_tests_collected(tmp_path, pytest_status, ci_status):
    """The part of .ci/run from its first line after the linters, with ``python`` a stub that
    exits as pytest would."""
    tail = CI[CI.index("ruff format --check .") :].split("\n", 1)[1]
    script = tmp_path / "tail.sh"
    script.write_text("set -euo pipefail\n" + tail)
    stub = tmp_path / "bin" / "python"
    stub.parent.mkdir()
    stub.write_text(f"#!/bin/sh\nexit {pytest_status}\n")
    stub.chmod(0o755)
    done = subprocess.run(
        ["bash", str(script)],
        env={"PATH": f"{stub.parent}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == ci_status, done.stderr
    assert ("collected no tests" in done.stderr) == (pytest_status == 5)
