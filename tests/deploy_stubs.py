"""Helpers of the deploy/ tests: run a recipe's command through the shell with stub programs,
and parse what reached the stub ``pagestream`` with the real CLI parser."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

__all__ = ["REPO", "DEPLOY", "StubRunner", "parse_run"]

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
STUB_NAMES = ("pagestream", "gcloud", "docker", "git", "logger")


class StubRunner:
    """A PATH directory whose programs record their argv in ``calls.jsonl`` (``git`` prints a
    commit, ``logger`` passes its standard input through) and a way to run commands with it."""

    def __init__(self, root: Path):
        self.root, self.bin, self.log = root, root / "bin", root / "calls.jsonl"
        self.bin.mkdir()
        stub = self.bin / "_stub"
        stub.write_text(
            f"#!{sys.executable}\n"
            "import json, os, sys\n"
            "with open(os.environ['STUB_LOG'], 'a') as f:\n"
            "    f.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + '\\n')\n"
            "if os.path.basename(sys.argv[0]) == 'git':\n"
            "    print('abc1234')\n"
            "if os.path.basename(sys.argv[0]) == 'logger':\n"
            "    sys.stdout.write(sys.stdin.read())\n"
        )
        stub.chmod(0o755)
        for name in STUB_NAMES:
            (self.bin / name).symlink_to(stub)

    @property
    def pagestream(self) -> str:
        """The stub standing in for the absolute path of a venv's ``pagestream``."""
        return str(self.bin / "pagestream")

    def run(self, argv: list[str], env: dict | None = None, check: bool = True):
        """Runs ``argv``; returns the recorded calls (with ``check``) or the completed process."""
        self.log.write_text("")
        environment = {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "STUB_LOG": str(self.log),
            "HOME": str(self.root),
            **(env or {}),
        }
        done = subprocess.run(
            argv, env=environment, cwd=self.root, capture_output=True, text=True, timeout=60
        )
        if not check:
            return done
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in self.log.read_text().splitlines()]


def parse_run(argv: list[str]):
    """``pagestream <argv>`` through the real CLI parser and option validation -> RunOptions."""
    from pagestream.cli import _parser, sample_dir
    from pagestream.pipelines.options import parse_run_args

    args, rest = _parser().parse_known_args(argv)
    assert args.command == "run", argv
    return parse_run_args(args, rest, sample_dir())
