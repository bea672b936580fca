"""``pagestream run`` options: flags, an optional TOML/YAML ``--config`` file, validation.

Everything is checked before a pipeline is built and before the output is touched: a bad
value fails with one line that names the option and the allowed values (the format and the
ranges of ``schemas/validation``, shared with the composites' config dataclasses), and flags
Beam does not know either are refused (a typo must not silently fall back to a default).
Flags win over the config file. Defaults come from the same settings as the dataclasses'; the
manifest records the value each option had.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from pagestream.pipelines.beam_options import check_beam_args
from pagestream.pipelines.config_file import load_config_file
from pagestream.pipelines.run_flags import CONFIG_KEYS, DEFAULT_OUTPUT, SETTINGS
from pagestream.schemas.validation import (
    EXTRACT_TIMEOUT,
    LANGUAGE_MIN_SCORE,
    MAX_PAGE_BYTES,
    MAX_PAGES,
    MIN_WORDS,
    NEAR_DUP_THRESHOLD,
    TRIGGER_INTERVAL,
    ValidationError,
    fail,
)
from pagestream.transforms.clean.modes import DEFAULT_TEXT_CLEANING

__all__ = ["OptionsError", "RunOptions", "parse_run_args"]

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z]{2,4})?$")


class OptionsError(ValidationError):
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
    min_words: int = MIN_WORDS.default
    text_cleaning: str = DEFAULT_TEXT_CLEANING
    near_dup_threshold: float = NEAR_DUP_THRESHOLD.default
    languages: tuple[str, ...] | None = None
    language_min_score: float = LANGUAGE_MIN_SCORE.default
    taxonomy: str | None = None
    drop_low_quality: bool = False
    quiet: bool = False
    max_pages: int | None = MAX_PAGES.default
    max_page_bytes: int = MAX_PAGE_BYTES.default
    extract_timeout: float = EXTRACT_TIMEOUT.default
    streaming: bool = False
    trigger_interval: float = TRIGGER_INTERVAL.default
    settle_seconds: float = 5.0
    wave_pages: int | None = None  # None: the runner's default (pipelines.waves)
    sample: bool = False
    config_file: str | None = None
    extra: dict = field(default_factory=dict)

    def as_manifest(self) -> dict:
        """The options as recorded in the manifest: the values the run used."""
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
            "trigger_interval": self.trigger_interval,
            "settle_seconds": self.settle_seconds,
            "wave_pages": self.wave_pages,
            "config": self.config_file,
        }


def default_state(output: str) -> str:
    """``OUTPUT/_state``: the duplicate index a run uses unless ``--state``/``--no_state``."""
    return f"{output.rstrip('/')}/_state"


def default_run_id(now: datetime | None = None) -> str:
    return (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")


def _languages(name: str, value) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else str(value).split(",")
    codes = tuple(dict.fromkeys(str(code).strip().lower() for code in items if str(code).strip()))
    from langdetect.detector_factory import PROFILES_DIRECTORY

    known = set(os.listdir(PROFILES_DIRECTORY)) | {"und"}
    bad = [code for code in codes if not LANGUAGE.match(code) or code not in known]
    if bad or not codes:
        unknown = f"unknown: {', '.join(bad)}" if bad else "no code"
        fail(name, f"language codes among {', '.join(sorted(known))}", value, unknown)
    return codes


def _logical_date(name: str, value) -> str:
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        fail(name, "a date YYYY-MM-DD", value)


def _flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        fail(name, "true or false", value)
    return value


def _check_state(name: str, state: str | None) -> None:
    """A local ``--state`` must be a directory or not exist yet (it is created)."""
    if state and "://" not in state and os.path.exists(state) and not os.path.isdir(state):
        fail(name, "a directory", state, "which is a file")


def parse_run_args(
    args: argparse.Namespace, beam_args: list[str], sample_dir: str, now: datetime | None = None
) -> RunOptions:
    """Merges flags with the ``--config`` file, applies defaults and validates everything.

    Raises:
        OptionsError: one line naming the first bad option (``--name`` for a flag, ``name in
            FILE`` for a config key); nothing has been touched.
    """
    try:
        return _parse(args, beam_args, sample_dir, now)
    except OptionsError:
        raise
    except ValidationError as exc:
        raise OptionsError(str(exc)) from exc


def _parse(args, beam_args, sample_dir, now) -> RunOptions:
    values = load_config_file(args.config, CONFIG_KEYS) if args.config else {}
    names = {key: f"{key} in {args.config}" for key in values}
    for key in CONFIG_KEYS:
        flag = getattr(args, key, None)
        if flag is not None:
            values[key], names[key] = flag, f"--{key}"
    check_beam_args(beam_args)
    number = {
        key: spec.default if values.get(key) is None else spec.parse(names[key], values[key])
        for key, spec in SETTINGS.items()
    }

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
        fail(
            names.get("run_id", "--run_id"),
            "1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
            run_id,
        )
    given_date = values.get("logical_date")
    logical_date = (
        _logical_date(names["logical_date"], given_date)
        if given_date is not None
        else (now or datetime.now(timezone.utc)).date().isoformat()
    )
    taxonomy = values.get("taxonomy")
    if taxonomy is not None and "://" not in taxonomy and not os.path.isfile(taxonomy):
        raise OptionsError(f"{names['taxonomy']} {taxonomy}: no such file")
    output = str(values.get("output") or DEFAULT_OUTPUT)
    if values.get("no_state") and values.get("state"):
        raise OptionsError("--state and --no_state: give one of them")
    # An output directory keeps its own duplicate index unless told otherwise.
    state = None if values.get("no_state") else values.get("state") or default_state(output)
    _check_state(names.get("state", "--state"), state)
    streaming = bool(values.get("streaming", False))
    if streaming and not state:
        raise OptionsError("--streaming needs a --state index (the ledger of files ingested)")
    return RunOptions(
        inputs=tuple(str(i) for i in inputs),
        output=output,
        run_id=run_id,
        logical_date=logical_date,
        logical_date_given=given_date is not None,
        state=state,
        languages=_languages(names.get("languages"), values.get("languages")),
        taxonomy=taxonomy,
        drop_low_quality=_flag(
            names.get("drop_low_quality", "--drop_low_quality"),
            values.get("drop_low_quality", False),
        ),
        quiet=bool(values.get("quiet", False)),
        streaming=streaming,
        sample=sample,
        config_file=args.config,
        **number,
    )
