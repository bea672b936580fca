"""Checks of the Beam pipeline options a ``pagestream run`` is given, before anything runs.

Beam parses its options late (when the pipeline is built) and, on a bad value, prints its
whole ~150-line usage under the program's name and exits. Here the same flags are parsed up
front with Beam's own option classes, and a bad one becomes one line in the message format
of ``schemas/validation``; an unknown runner, a worker count that cannot work and options a
runner refuses (``DataflowRunner`` without ``--project``, ``--region``, ``--temp_location``)
fail the same way, before the output is touched. Beam is imported only when the flags are
checked, not to build ``--help`` or the ``query``/``report`` parsers.
"""

from __future__ import annotations

import argparse
import os
import re

from pagestream.schemas.validation import Number, ValidationError, fail, one_line

__all__ = ["LOCAL_RUNNERS", "check_beam_args", "direct_num_workers_setting"]

#: Runners that run in this process (their options need no service-side validation).
LOCAL_RUNNERS = (
    "DirectRunner",
    "SwitchingDirectRunner",
    "FnApiRunner",
    "BundleBasedDirectRunner",
    "PrismRunner",
)
_ARGPARSE_ERROR = re.compile(r"argument (?P<flag>[^:]+): (?P<problem>.*)", re.DOTALL)
_CHOICE = re.compile(r"invalid choice: (?P<value>.*) \(choose from (?P<choices>.*)\)")
_TYPED = re.compile(r"invalid (?P<kind>\w+) value: (?P<value>.*)")


def direct_num_workers_setting() -> Number:
    """``--direct_num_workers``: 0 (one per core) up to four per core (at least 8). More
    workers than that only add processes that wait for the cores: 1000 of them never start."""
    cores = os.cpu_count() or 1
    return Number(int, 0, max(8, 4 * cores), default=1, note="0: one per core")


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are exceptions carrying one line, not a usage dump."""

    def error(self, message: str):
        raise ValidationError(_argparse_message(message))


def _argparse_message(message: str) -> str:
    """argparse's ``argument --x: invalid int value: 'abc'`` in pagestream's message format."""
    match = _ARGPARSE_ERROR.match(message)
    if not match:
        return one_line(message)
    flag, problem = match["flag"].split("/")[0], one_line(match["problem"])
    if choice := _CHOICE.match(problem):
        allowed = "one of " + choice["choices"].replace("'", "")
        return f"{flag} must be {allowed}, got {choice['value']}"
    if typed := _TYPED.match(problem):
        noun = {"int": "a whole number", "float": "a number"}.get(typed["kind"], typed["kind"])
        return f"{flag} must be {noun}, got {typed['value']}"
    if problem == "expected one argument":
        return f"{flag} needs a value"
    return f"{flag}: {problem}"


def _beam_parser(with_dask: bool = True) -> argparse.ArgumentParser:
    """A parser that knows every flag of every registered Beam PipelineOptions class
    (``with_dask``: also the ``--dask_*`` flags, when the dask extra is installed)."""
    if with_dask:
        try:  # its import (0.3 s) registers the --dask_* options
            import apache_beam.runners.dask.dask_runner  # noqa: F401
        except ImportError:
            pass
    from apache_beam.options.pipeline_options import PipelineOptions

    parser = _Parser(add_help=False, allow_abbrev=False)
    seen = set()
    stack = list(PipelineOptions.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls in seen:
            continue
        seen.add(cls)
        try:
            cls._add_argparse_args(parser)
        except argparse.ArgumentError:
            pass  # an option registered by two classes
    return parser


def _check_runner(name: str, beam_args: list[str]) -> None:
    """Refuses a runner Beam cannot create, and options the runner's validator refuses."""
    from apache_beam.runners.runner import create_runner

    try:
        runner = create_runner(name)
    except ValueError as exc:  # "Unexpected pipeline runner: X. Valid values are A, B or ..."
        valid = str(exc).partition("Valid values are ")[2].rstrip(".") or one_line(exc)
        fail("--runner", f"a Beam runner: {valid}", name)
    except ImportError as exc:
        fail("--runner", "a runner whose packages are installed", name, one_line(exc))
    if name.rsplit(".", 1)[-1] in LOCAL_RUNNERS:
        return
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.options.pipeline_options_validator import PipelineOptionsValidator

    errors = PipelineOptionsValidator(PipelineOptions(beam_args), runner).validate()
    if errors:
        problems = "; ".join(one_line(error).rstrip(".") for error in errors)
        raise ValidationError(f"--runner {name} refuses these options: {problems}")


def check_beam_args(beam_args: list[str]) -> None:
    """Refuses flags no Beam options class knows (a typo must not run with defaults), values
    Beam cannot parse, an unknown ``--runner`` or options it refuses, and a
    ``--direct_num_workers`` outside :func:`direct_num_workers_setting`.

    Raises:
        ValidationError: one line naming the option.
    """
    with_dask = any("dask" in arg.lower() for arg in beam_args)
    namespace, unknown = _beam_parser(with_dask).parse_known_args(beam_args)
    flags = [arg for arg in unknown if arg.startswith("--")]
    if flags:
        raise ValidationError(
            f"unknown option(s): {' '.join(flags)} (not a pagestream option nor a Beam pipeline "
            "option; see `pagestream run --help`)"
        )
    direct_num_workers_setting().check("--direct_num_workers", namespace.direct_num_workers)
    if namespace.runner:
        _check_runner(namespace.runner, beam_args)
