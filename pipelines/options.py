"""``pagestream run`` options: flags, an optional TOML/YAML ``--config`` file, validation.

Everything is checked before a pipeline is built: a bad value fails with a message that names
the option and the allowed values, and flags Beam does not know either are refused (a typo
must not silently fall back to a default). Flags win over the config file.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from apache_beam.options.pipeline_options import PipelineOptions

from pagestream.transforms.clean.modes import DEFAULT_TEXT_CLEANING, TEXT_CLEANING_MODES

__all__ = ["OptionsError", "RunOptions", "add_run_arguments", "parse_run_args"]

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z]{2,4})?$")
DEFAULT_OUTPUT = "pagestream-out"


class OptionsError(ValueError):
    """A bad option; the message names it and the allowed values."""


@dataclass(frozen=True)
class RunOptions:
    """Validated options of one run (the Beam options travel separately)."""

    inputs: tuple[str, ...]
    output: str
    run_id: str
    logical_date: str
    logical_date_given: bool = False
    state: str | None = None
    min_words: int = 50
    text_cleaning: str = "lines"
    near_dup_threshold: float | None = None
    languages: tuple[str, ...] | None = None
    language_min_score: float | None = None
    taxonomy: str | None = None
    drop_low_quality: bool = False
    quiet: bool = False
    max_pages: int | None = None
    max_page_bytes: int = 5 * 1024 * 1024
    extract_timeout: float = 10.0
    streaming: bool = False
    trigger_interval: float = 10.0
    settle_seconds: float = 5.0
    sample: bool = False
    config_file: str | None = None
    extra: dict = field(default_factory=dict)

    def as_manifest(self) -> dict:
        """The options as recorded in the manifest."""
        return {
            "input": list(self.inputs),
            "output": self.output,
            "run_id": self.run_id,
            "logical_date": self.logical_date,
            "state": self.state,
            "min_words": self.min_words,
            "text_cleaning": self.text_cleaning,
            "near_dup_threshold": self.near_dup_threshold,
            "languages": list(self.languages) if self.languages else None,
            "language_min_score": self.language_min_score,
            "taxonomy": self.taxonomy,
            "drop_low_quality": self.drop_low_quality,
            "max_pages": self.max_pages,
            "max_page_bytes": self.max_page_bytes,
            "extract_timeout": self.extract_timeout,
            "streaming": self.streaming,
            "config": self.config_file,
        }


def default_state(output: str) -> str:
    """``OUTPUT/_state``: the duplicate index a run uses unless ``--state``/``--no_state``."""
    return f"{output.rstrip('/')}/_state"


def default_run_id(now: datetime | None = None) -> str:
    return (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``run`` flags. Defaults are None so that a ``--config`` file can fill them in."""
    add = parser.add_argument
    add("--input", nargs="+", action="extend", metavar="PATH",
        help="files, directories (recursive) or globs; local, gs://, s3://. "
        "Default: the sample bundled with pagestream")  # fmt: skip
    add("--output", metavar="DIR", help=f"output directory (default ./{DEFAULT_OUTPUT})")
    add("--config", metavar="FILE", help="TOML or YAML file with any of these options; flags win")
    add(
        "--state",
        metavar="DIR",
        help="persistent index for cross-run duplicate detection (default OUTPUT/_state)",
    )
    add("--no_state", action="store_true", default=None,
        help="no cross-run duplicate index: each run is deduplicated on its own")  # fmt: skip
    add(
        "--run_id",
        metavar="ID",
        help="run id (default: UTC timestamp; 'stream' with --streaming); rerunning an id replaces it",
    )
    add("--logical_date", metavar="YYYY-MM-DD", help="the schedule slot's date (default today)")
    add(
        "--min_words",
        type=int,
        metavar="N",
        help="pages with fewer words are rejected (default 50)",
    )
    add("--text_cleaning", choices=TEXT_CLEANING_MODES,
        help="plain-text inputs: 'lines' (default) drops scrape boilerplate by line rules, "
        "'repeats' only the lines a site repeats, 'off' keeps the text as given")  # fmt: skip
    add("--near_dup_threshold", type=float, metavar="J",
        help="estimated Jaccard from which a page is a near duplicate")  # fmt: skip
    add("--languages", metavar="en,de,...", help="keep only these languages (default: all)")
    add("--language_min_score", type=float, metavar="P",
        help="below this probability the language is 'und'")  # fmt: skip
    add("--taxonomy", metavar="FILE", help="topic taxonomy file replacing the default one")
    add("--drop_low_quality", action="store_true", default=None,
        help="move pages with quality_flags to rejected (default: keep and flag them)")  # fmt: skip
    add("--quiet", action="store_true", default=None, help="no progress display")
    add("--max_pages", type=int, metavar="N", help="stop reading after N records (trial runs)")
    add(
        "--max_page_bytes",
        type=int,
        metavar="N",
        help="bigger HTML pages are not parsed (default 5 MiB)",
    )
    add(
        "--extract_timeout",
        type=float,
        metavar="S",
        help="per-page extraction time limit (default 10 s)",
    )
    add("--streaming", action="store_true", default=None, help="watch --input and ingest new files")
    add("--trigger_interval", type=float, metavar="S", help="streaming: seconds between commits")
    add(
        "--settle_seconds",
        type=float,
        metavar="S",
        help="streaming: take a file once it is unchanged for this long (default 5)",
    )


_CONFIG_KEYS = {
    "input", "output", "state", "no_state", "run_id", "logical_date", "min_words",
    "near_dup_threshold", "text_cleaning",
    "languages", "language_min_score", "taxonomy", "quiet", "max_pages", "max_page_bytes",
    "extract_timeout", "streaming", "trigger_interval", "settle_seconds", "drop_low_quality",
}  # fmt: skip


def load_config_file(path: str) -> dict:
    """Reads a TOML (``.toml``) or YAML (``.yaml``/``.yml``) options file."""
    if not os.path.isfile(path):
        raise OptionsError(f"--config {path}: no such file")
    try:
        if path.endswith(".toml"):
            import tomllib

            with open(path, "rb") as handle:
                values = tomllib.load(handle)
        elif path.endswith((".yaml", ".yml")):
            import yaml

            with open(path, encoding="utf-8") as handle:
                values = yaml.safe_load(handle) or {}
        else:
            raise OptionsError(f"--config {path}: use a .toml, .yaml or .yml file")
    except OptionsError:
        raise
    except Exception as exc:
        raise OptionsError(f"--config {path}: cannot parse it ({exc})") from exc
    if not isinstance(values, dict):
        raise OptionsError(f"--config {path}: expected a table of options at the top level")
    unknown = sorted(set(values) - _CONFIG_KEYS)
    if unknown:
        raise OptionsError(
            f"--config {path}: unknown option(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_CONFIG_KEYS))}"
        )
    return values


def _beam_parser(with_dask: bool = True) -> argparse.ArgumentParser:
    """A parser that knows every flag of every registered Beam PipelineOptions class
    (``with_dask``: also the ``--dask_*`` flags, when the dask extra is installed)."""
    if with_dask:
        try:  # its import (0.3 s) registers the --dask_* options
            import apache_beam.runners.dask.dask_runner  # noqa: F401
        except ImportError:
            pass
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
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


def check_beam_args(beam_args: list[str]) -> None:
    """Refuses flags that no Beam options class knows (typos must not run with defaults)."""
    with_dask = any("dask" in arg.lower() for arg in beam_args)
    _, unknown = _beam_parser(with_dask).parse_known_args(beam_args)
    flags = [arg for arg in unknown if arg.startswith("--")]
    if flags:
        raise OptionsError(
            f"unknown option(s): {' '.join(flags)} (not a pagestream option nor a Beam pipeline option; "
            "see `pagestream run --help`)"
        )


def _positive_int(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise OptionsError(f"--{name} must be a whole number from {low} to {high}, got {value!r}")
    return value


def _fraction(name: str, value, low: float = 0.0, high: float = 1.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise OptionsError(f"--{name} must be a number from {low} to {high}, got {value!r}")
    return float(value)


def _text_cleaning(value) -> str:
    if value not in TEXT_CLEANING_MODES:
        raise OptionsError(
            f"--text_cleaning must be one of {', '.join(TEXT_CLEANING_MODES)}, got {value!r}"
        )
    return value


def _flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise OptionsError(f"--{name} must be true or false, got {value!r}")
    return value


def _languages(value) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else str(value).split(",")
    codes = tuple(dict.fromkeys(str(code).strip().lower() for code in items if str(code).strip()))
    from langdetect.detector_factory import PROFILES_DIRECTORY

    known = set(os.listdir(PROFILES_DIRECTORY)) | {"und"}
    bad = [code for code in codes if not LANGUAGE.match(code) or code not in known]
    if bad or not codes:
        raise OptionsError(
            f"--languages: unknown language code(s) {', '.join(bad) or '(empty)'}; "
            f"allowed: {', '.join(sorted(known))}"
        )
    return codes


def _logical_date(value) -> str:
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError as exc:
        raise OptionsError(f"--logical_date must be a date YYYY-MM-DD, got {value!r}") from exc


def parse_run_args(
    args: argparse.Namespace, beam_args: list[str], sample_dir: str, now: datetime | None = None
) -> RunOptions:
    """Merges flags with the ``--config`` file, applies defaults and validates everything."""
    values = load_config_file(args.config) if args.config else {}
    for key in _CONFIG_KEYS:
        flag = getattr(args, key, None)
        if flag is not None:
            values[key] = flag
    check_beam_args(beam_args)

    inputs = values.get("input")
    sample = not inputs
    if sample:
        inputs = [sample_dir]
    elif isinstance(inputs, str):
        inputs = [inputs]
    # A stream keeps one base id across restarts; its micro-batches are <run_id>-<seq>.
    default_id = "stream" if values.get("streaming") else default_run_id(now)
    run_id = str(values.get("run_id") or default_id)
    if not RUN_ID.match(run_id):
        raise OptionsError(
            f"--run_id {run_id!r}: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    given_date = values.get("logical_date")
    logical_date = _logical_date(given_date or (now or datetime.now(timezone.utc)).date())

    threshold = values.get("near_dup_threshold")
    min_score = values.get("language_min_score")
    timeout = values.get("extract_timeout", 10.0)
    interval = values.get("trigger_interval", 10.0)
    settle = values.get("settle_seconds", 5.0)
    max_pages = values.get("max_pages")
    taxonomy = values.get("taxonomy")
    if taxonomy is not None and "://" not in taxonomy and not os.path.isfile(taxonomy):
        raise OptionsError(f"--taxonomy {taxonomy}: no such file")
    streaming = bool(values.get("streaming", False))
    output = str(values.get("output") or DEFAULT_OUTPUT)
    if values.get("no_state") and values.get("state"):
        raise OptionsError("--state and --no_state: give one of them")
    # An output directory keeps its own duplicate index unless told otherwise.
    state = None if values.get("no_state") else values.get("state") or default_state(output)
    if streaming and not state:
        raise OptionsError("--streaming needs a --state index (the ledger of files ingested)")
    return RunOptions(
        inputs=tuple(str(i) for i in inputs),
        output=output,
        run_id=run_id,
        logical_date=logical_date,
        logical_date_given=given_date is not None,
        state=state,
        min_words=_positive_int("min_words", values.get("min_words", 50), 0, 100_000),
        text_cleaning=_text_cleaning(values.get("text_cleaning", DEFAULT_TEXT_CLEANING)),
        near_dup_threshold=None
        if threshold is None
        else _fraction("near_dup_threshold", threshold, 0.05, 1.0),
        languages=_languages(values.get("languages")),
        language_min_score=None
        if min_score is None
        else _fraction("language_min_score", min_score),
        taxonomy=taxonomy,
        drop_low_quality=_flag("drop_low_quality", values.get("drop_low_quality", False)),
        quiet=bool(values.get("quiet", False)),
        max_pages=None if max_pages is None else _positive_int("max_pages", max_pages, 1, 10**12),
        max_page_bytes=_positive_int(
            "max_page_bytes", values.get("max_page_bytes", 5 * 1024 * 1024), 1024, 2**31
        ),
        extract_timeout=_fraction("extract_timeout", timeout, 0.1, 3600.0),
        streaming=streaming,
        trigger_interval=_fraction("trigger_interval", interval, 0.1, 86400.0),
        settle_seconds=_fraction("settle_seconds", settle, 0.0, 86400.0),
        sample=sample,
        config_file=args.config,
    )
