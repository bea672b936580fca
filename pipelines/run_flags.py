"""The ``pagestream run`` flags: their settings (range, kind, default), names and ``--help``.

``options.parse_run_args`` merges them with a ``--config`` file and validates them; the
numbers are parsed by the settings of ``schemas/validation``, which the composites' config
dataclasses share, so a default or a range has one source.
"""

from __future__ import annotations

import argparse

from pagestream.schemas.validation import (
    EXTRACT_TIMEOUT,
    LANGUAGE_MIN_SCORE,
    MAX_PAGE_BYTES,
    MAX_PAGES,
    MIN_WORDS,
    NEAR_DUP_THRESHOLD,
    TRIGGER_INTERVAL,
    Choice,
    Number,
)
from pagestream.transforms.clean.modes import DEFAULT_TEXT_CLEANING, TEXT_CLEANING_MODES

__all__ = ["CONFIG_KEYS", "DEFAULT_OUTPUT", "SETTINGS", "add_run_arguments"]

DEFAULT_OUTPUT = "pagestream-out"

#: The numeric options and their settings (range, kind, default).
SETTINGS = {
    "min_words": MIN_WORDS,
    "near_dup_threshold": NEAR_DUP_THRESHOLD,
    "language_min_score": LANGUAGE_MIN_SCORE,
    "max_pages": MAX_PAGES,
    "max_page_bytes": MAX_PAGE_BYTES,
    "extract_timeout": EXTRACT_TIMEOUT,
    "trigger_interval": TRIGGER_INTERVAL,
    "settle_seconds": Number(float, 0.0, 86_400.0, default=5.0, unit="s"),
    "text_cleaning": Choice(TEXT_CLEANING_MODES, default=DEFAULT_TEXT_CLEANING),
    # None: 2,000 on the DirectRunner (1,500 with worker processes; pipelines.waves), 0 (one
    # wave) elsewhere, the DaskRunner included.
    "wave_pages": Number(int, 0, 10**12, default=None),
}


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``run`` flags. Defaults are None so that a ``--config`` file can fill them in; the
    help of each says its default. Numbers are taken as text and checked by their setting, so
    ``--min_words abc`` gets the same one-line message as ``--min_words -1``."""
    add = parser.add_argument
    add("--input", nargs="+", action="extend", metavar="PATH",
        help="files, directories (recursive) or globs; local, gs://, s3://. "
        "Default: the sample bundled with pagestream")  # fmt: skip
    add("--output", metavar="DIR", help=f"output directory (default ./{DEFAULT_OUTPUT})")
    add(
        "--config",
        metavar="FILE",
        help="TOML or YAML file with any of these options; flags win (default: none)",
    )
    add(
        "--state",
        metavar="DIR",
        help="persistent index for cross-run duplicate detection (default: OUTPUT/_state)",
    )
    add("--no_state", action="store_true", default=None,
        help="no cross-run duplicate index: each run is deduplicated on its own")  # fmt: skip
    add(
        "--run_id",
        metavar="ID",
        help="run id (default: UTC timestamp; 'stream' with --streaming); rerunning an id replaces it",
    )
    add("--logical_date", metavar="YYYY-MM-DD", help="the schedule slot's date (default today)")
    add("--min_words", metavar="N",
        help=MIN_WORDS.help("pages with fewer words are rejected"))  # fmt: skip
    add("--text_cleaning", metavar="MODE",
        help=SETTINGS["text_cleaning"].help(
            "plain-text inputs: 'lines' drops scrape boilerplate by line rules, "
            "'repeats' only the lines a site repeats, 'off' keeps the text as given"))  # fmt: skip
    add("--near_dup_threshold", metavar="J",
        help=NEAR_DUP_THRESHOLD.help("estimated Jaccard from which a page is a near duplicate"))  # fmt: skip
    add("--languages", metavar="en,de,...", help="keep only these languages (default: all)")
    add("--language_min_score", metavar="P",
        help=LANGUAGE_MIN_SCORE.help("below this probability the language is 'und'"))  # fmt: skip
    add("--taxonomy", metavar="FILE",
        help="topic taxonomy file replacing the default one (default: the bundled taxonomy)")  # fmt: skip
    add("--drop_low_quality", action="store_true", default=None,
        help="move pages with quality_flags to rejected (default: keep and flag them)")  # fmt: skip
    add("--quiet", action="store_true", default=None, help="no progress display")
    add("-v", "--verbose", action="store_true", default=None,
        help="on failure print the traceback; show Beam's log messages")  # fmt: skip
    add("--max_pages", metavar="N",
        help=MAX_PAGES.help("stop reading after N records (trial runs)"))  # fmt: skip
    add("--wave_pages", metavar="N",
        help="run the input in waves of at most N records, one commit at the end: memory "
        "stays that of one wave; a killed run resumes from its finished waves when rerun with "
        "the same --run_id. 0: one wave (default: 2000 on the DirectRunner, 1500 with its "
        "worker processes, 0 on other runners, the DaskRunner included)")  # fmt: skip
    add("--max_page_bytes", metavar="N",
        help=MAX_PAGE_BYTES.help("bigger HTML pages are not parsed"))  # fmt: skip
    add("--extract_timeout", metavar="S",
        help=EXTRACT_TIMEOUT.help("per-page extraction time limit"))  # fmt: skip
    add("--streaming", action="store_true", default=None, help="watch --input and ingest new files")
    add("--trigger_interval", metavar="S",
        help=TRIGGER_INTERVAL.help("streaming: seconds between commits"))  # fmt: skip
    add("--settle_seconds", metavar="S",
        help=SETTINGS["settle_seconds"].help(
            "streaming: take a file once it is unchanged for this long"))  # fmt: skip


CONFIG_KEYS = {
    "input", "output", "state", "no_state", "run_id", "logical_date", "min_words",
    "near_dup_threshold", "text_cleaning",
    "languages", "language_min_score", "taxonomy", "quiet", "max_pages", "max_page_bytes",
    "extract_timeout", "streaming", "trigger_interval", "settle_seconds", "drop_low_quality",
    "wave_pages",
}  # fmt: skip
