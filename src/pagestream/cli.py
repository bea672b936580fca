"""``pagestream`` command line: ``run``, ``query``, ``report``.

Exit status: 0 when the run finished (even with dead letters, and also when whoever reads
stdout went away before the summary), 2 for bad options or inputs (one line, reported before
any work starts), 1 when the run itself failed (with its whole cause; ``-v`` adds the
traceback), 130 when interrupted (Ctrl-C: nothing committed, the run's staging removed).
"""

from __future__ import annotations

import argparse
import importlib
import io
import logging
import os
import sys
import time
from collections import Counter
from importlib import resources

from pagestream import __version__
from pagestream.failures import (
    CatchInterrupt,
    caused_by_interrupt,
    committed_manifest,
    report_failure,
    report_interrupt,
)

__all__ = ["main", "sample_dir"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def sample_dir() -> str:
    """The sample bundled in the package (seed scrapes and a Common Crawl excerpt)."""
    return str(resources.files("pagestream") / "sample")


class _UsageError(Exception):
    """A command line argparse cannot parse; the message is one line."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad command line is one line on stderr (exit 2), not usage + error."""

    def error(self, message: str):
        raise _UsageError(f"{self.prog}: {' '.join(message.split())} (see {self.prog} --help)")


def _verbose_logs() -> None:
    """``-v``: Beam's and pagestream's log messages (INFO and up) on stderr."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("apache_beam").setLevel(logging.INFO)
    logging.getLogger("trafilatura").setLevel(logging.WARNING)


def _quiet_library_logs() -> None:
    # Beam logs a warning about missing GCP client libraries on import; users do not need it.
    logging.getLogger().setLevel(logging.ERROR)
    # Beam logs worker tracebacks itself; the CLI prints one line per failure instead.
    logging.getLogger("apache_beam").setLevel(logging.CRITICAL)
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)


#: Sub-commands whose modules are imported only when they run (matplotlib and DuckDB would
#: otherwise add a second or more to every `pagestream run`).
_LAZY_COMMANDS = {
    "query": ("pagestream.query", "SQL over the committed runs (DuckDB)"),
    "report": ("pagestream.report", "write an HTML report of the runs"),
    "files": ("pagestream.files", "list the committed files (for readers that glob)"),
    "vacuum": ("pagestream.vacuum", "remove files that crashed attempts left behind"),
    "compact": ("pagestream.compact", "merge the small files of settled runs"),
}


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The CLI parser; only ``command``'s own module is imported to build its arguments."""
    from pagestream.pipelines.run_flags import add_run_arguments

    parser = _Parser(
        prog="pagestream",
        description="Raw scraped pages -> clean, deduplicated, Hive-partitioned Parquet (Apache Beam).",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"pagestream {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    run = commands.add_parser(
        "run",
        help="run the pipeline (batch, or --streaming)",
        description="Run the pipeline. Unknown --flags are Beam pipeline options "
        "(--runner, --direct_num_workers, --temp_location, ...).",
        allow_abbrev=False,
    )
    add_run_arguments(run)
    for name, (module_name, help_text) in _LAZY_COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, allow_abbrev=False)
        if name == command:
            module = importlib.import_module(module_name)
            module.add_arguments(sub)
            sub.set_defaults(handler=module.main)
    return parser


def _most_common(counts: dict, n: int) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]


def _skipped_files(inputs: dict, named: int = 3) -> str:
    """``2 (1 fifo, 1 unknown_format): x.txt (fifo), notes.md (unknown_format)``: the
    count by reason, then the first few files by name, with why."""
    reasons = inputs.get("skipped_reasons") or {}
    paths = inputs.get("skipped") or []
    by_reason = Counter(reasons.get(path, "unknown_format") for path in paths)
    names = [f"{path} ({reasons.get(path, 'unknown_format')})" for path in paths[:named]]
    more = f", ... {len(paths) - named} more in the manifest" if len(paths) > named else ""
    counts = ", ".join(f"{n} {reason}" for reason, n in sorted(by_reason.items()))
    return f"{inputs['skipped_count']} ({counts}): {', '.join(names)}{more}"


def print_summary(manifest: dict, seconds: float, stream=None) -> None:
    """A short human summary of a committed run (its time is the manifest's ``duration_s``)."""
    stream = stream or sys.stdout
    seconds = manifest.get("duration_s", seconds)
    counts = manifest["counts"]
    out = manifest["options"]["output"]
    read = counts["records_read"]
    rate = read / seconds if seconds > 0 else 0.0
    lines = [
        f"pagestream run {manifest['run_id']} committed in {seconds:.1f} s "
        f"({rate:.1f} records/s, {manifest['inputs']['files']} "
        f"file{'' if manifest['inputs']['files'] == 1 else 's'}, "
        f"{manifest['inputs']['bytes'] / 1e6:.1f} MB)",
        f"  records read   {read}",
        f"  pages written  {counts['pages']}",
        f"  rejected       {counts['rejected']}",
        f"  dead letters   {counts['dead_letter']}",
    ]
    for item in manifest.get("reasons", []):
        lines.append(f"    {item['table']:<12} {item['stage']}/{item['reason']}: {item['count']}")
    if manifest["inputs"].get("skipped_count"):
        lines.append(f"  skipped files  {_skipped_files(manifest['inputs'])}")
    waves = manifest.get("waves")
    if waves:
        resumed = (
            f" ({waves['resumed']} resumed from an earlier attempt)" if waves["resumed"] else ""
        )
        lines.append(f"  waves          {waves['count']}{resumed}")
    if manifest.get("languages"):
        langs = ", ".join(f"{k} {v}" for k, v in _most_common(manifest["languages"], 10))
        lines.append(f"  languages      {langs}")
    dups = {k: v for k, v in manifest.get("dup_status", {}).items() if k != "unique"}
    if dups:
        lines.append("  duplicates     " + ", ".join(f"{k} {v}" for k, v in dups.items()))
    if manifest.get("topics"):
        topics = ", ".join(f"{k} {v}" for k, v in _most_common(manifest["topics"], 6))
        lines.append(f"  top topics     {topics}")
    lines.append(f"  output         {os.path.abspath(out)}")
    lines.append(
        f'  query it       pagestream query {out} "SELECT language, count(*) FROM pages GROUP BY 1"'
    )
    print("\n".join(lines), file=stream)


def _run(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pagestream.pipelines.options import OptionsError, parse_run_args

    try:
        options = parse_run_args(args, beam_args, sample_dir())
    except OptionsError as exc:
        print(f"pagestream run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if options.streaming:
        from pagestream.pipelines import streaming

        return streaming.main(options, beam_args)
    from pagestream.pipelines import batch

    if options.sample and not options.quiet:
        print(f"No --input given: running on the bundled sample ({sample_dir()})", file=sys.stderr)
    started = time.perf_counter()
    before = committed_manifest(options)
    with CatchInterrupt() as interrupt:
        try:
            manifest = batch.run(options, beam_args)
        except OptionsError as exc:
            print(f"pagestream run: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except batch.RunSubmitted as submitted:
            print(f"pagestream run: submitted; the run is committed when {submitted} exists")
            return EXIT_OK
        except KeyboardInterrupt:
            return report_interrupt(options, before)
        except Exception as exc:  # the run itself could not complete
            if interrupt.caught or caused_by_interrupt(exc):
                return report_interrupt(options, before)
            return report_failure(options, exc, verbose=bool(args.verbose))
    print_summary(manifest, time.perf_counter() - started)
    return EXIT_OK


def _runs_local_worker_processes(argv: list[str]) -> bool:
    """Whether ``argv`` asks for several DirectRunner worker processes (``multi_processing``),
    which ``pipelines/local_workers`` forks from a pre-loaded zygote. A cheap look at the
    flags only: Beam's parser decides later, and a zygote started in vain just exits."""

    def flag(name: str) -> str | None:
        for i, arg in enumerate(argv):
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
        return None

    workers = flag("--direct_num_workers") or "1"
    return flag("--direct_running_mode") == "multi_processing" and workers != "1"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pagestream`` console script; returns the exit status."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # Whoever read stdout went away (`pagestream run ... | true`, `| head`): the work is
        # done and committed, only the summary was lost. Python's recipe: point stdout at
        # /dev/null so that the flush at exit does not fail again (exit 120).
        _stdout_to_devnull()
        return EXIT_OK
    except KeyboardInterrupt:  # before a run started, or in query/report: nothing to undo
        print("pagestream: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _stdout_to_devnull() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):  # stdout has no descriptor (replaced)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 -- lives until exit


def _main(argv: list[str] | None) -> int:
    _quiet_library_logs()
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    if command == "run" and _runs_local_worker_processes(argv):
        from pagestream.pipelines.worker_zygote import shared_zygote

        shared_zygote()  # loads on another core while this process imports Beam and plans
    parser = _parser(command)
    try:
        args, rest = parser.parse_known_args(argv)
        if args.command != "run" and rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
    except _UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    if args.command == "run":
        if args.verbose:
            _verbose_logs()
        return _run(args, rest)
    return int(args.handler(args) or 0)


def entry() -> None:
    """The ``pagestream`` program: :func:`main`, then its exit status."""
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_to_devnull()
    sys.exit(code)


if __name__ == "__main__":
    entry()
