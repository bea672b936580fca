"""`pagestream run` options: flags, config files, defaults and one message format for bad values."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone

import pytest

from pagestream.pipelines import config_file
from pagestream.pipelines import options as options_module
from pagestream.pipelines.beam_options import direct_num_workers_setting
from pagestream.pipelines.options import OptionsError, parse_run_args
from pagestream.pipelines.run_flags import add_run_arguments
from pagestream.transforms.dedup.fingerprint import DedupConfig
from pagestream.transforms.extract.composite import TextConfig
from pagestream.transforms.extract.config import ExtractConfig
from pagestream.transforms.language.detect import LanguageConfig

NOW = datetime(2026, 11, 25, 13, 5, 9, tzinfo=timezone.utc)


def parse(argv, sample="/sample"):
    parser = argparse.ArgumentParser(allow_abbrev=False)
    add_run_arguments(parser)
    args, rest = parser.parse_known_args(argv)
    return parse_run_args(args, rest, sample, now=NOW)


def message(argv) -> str:
    with pytest.raises(OptionsError) as err:
        parse(argv)
    return str(err.value)


def test_defaults_run_the_sample():
    options = parse([])
    assert options.inputs == ("/sample",) and options.sample
    assert options.output == "pagestream-out"
    assert options.run_id == "20261125T130509Z"
    assert options.logical_date == "2026-11-25" and not options.logical_date_given
    assert options.min_words == 50 and options.languages is None


def test_defaults_are_the_composites_defaults():
    """One source of defaults: a run without flags uses exactly the config dataclasses' values."""
    options = parse([])
    assert options.min_words == TextConfig().min_words
    assert options.near_dup_threshold == DedupConfig().threshold
    assert options.language_min_score == LanguageConfig().min_score
    assert options.max_page_bytes == ExtractConfig().max_page_bytes
    assert options.extract_timeout == ExtractConfig().timeout_s


def test_manifest_records_the_values_used_not_null():
    recorded = parse([]).as_manifest()
    assert recorded["near_dup_threshold"] == 0.7
    assert recorded["language_min_score"] == 0.2
    assert recorded["trigger_interval"] == 10.0
    assert recorded["max_page_bytes"] == 5 * 1024 * 1024
    given = parse(["--near_dup_threshold", "0.8", "--language_min_score", "0.25"]).as_manifest()
    assert (given["near_dup_threshold"], given["language_min_score"]) == (0.8, 0.25)


def test_flags_win_over_the_config_file(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text(
        'input = ["a", "b"]\nmin_words = 10\nlanguages = "en,de"\noutput = "from-file"\n'
    )
    options = parse(["--config", str(config), "--min_words", "20"])
    assert options.inputs == ("a", "b")
    assert options.min_words == 20
    assert options.languages == ("en", "de")
    assert options.output == "from-file"


def test_toml_config_without_tomllib_uses_tomli(tmp_path, monkeypatch):
    """Python 3.10 has no tomllib: the tomli backport reads the same file the same way."""
    pytest.importorskip("tomli")
    config = tmp_path / "run.toml"
    config.write_text('min_words = 7\nnear_dup_threshold = 0.9\nlanguages = ["en"]\n')
    expected = parse(["--config", str(config)])
    monkeypatch.setitem(sys.modules, "tomllib", None)  # `import tomllib` now fails
    assert config_file._toml().__name__ == "tomli"
    assert parse(["--config", str(config)]) == expected
    assert (expected.min_words, expected.near_dup_threshold) == (7, 0.9)


def test_yaml_config(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("input: x\nlogical_date: 2024-02-29\nlanguages: [en, fr]\n")
    options = parse(["--config", str(config)])
    assert options.inputs == ("x",) and options.logical_date == "2024-02-29"
    assert options.languages == ("en", "fr") and options.logical_date_given


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--min_words", "-1"], "--min_words must be a whole number from 0 to 100000, got -1"),
        (["--min_words", "abc"], "--min_words must be a whole number from 0 to 100000, got 'abc'"),
        (["--min_words", "2.5"], "--min_words must be a whole number from 0 to 100000, got '2.5'"),
        (["--near_dup_threshold", "1.5"],
         "--near_dup_threshold must be a number from 0.05 to 1, got 1.5"),
        (["--near_dup_threshold", "nan"],
         "--near_dup_threshold must be a number from 0.05 to 1, got nan"),
        (["--language_min_score", "-0.1"],
         "--language_min_score must be a number from 0 to 1, got -0.1"),
        (["--max_pages", "0"], "--max_pages must be a whole number from 1 to 1000000000000, got 0"),
        (["--max_page_bytes", "2147483648"],
         "--max_page_bytes must be a whole number from 1000 to 1000000000, got 2147483648"),
        (["--extract_timeout", "0"], "--extract_timeout must be a number from 0.1 to 3600, got 0.0"),
        (["--trigger_interval", "x"],
         "--trigger_interval must be a number from 0.1 to 86400, got 'x'"),
        (["--run_id", "a/b"],
         "--run_id must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or "
         "digit, got 'a/b'"),
        (["--logical_date", "2020-02-30"],
         "--logical_date must be a date YYYY-MM-DD, got '2020-02-30'"),
        (["--taxonomy", "/no/such/file.toml"], "--taxonomy /no/such/file.toml: no such file"),
        (["--streaming", "--no_state", "--input", "x"],
         "--streaming needs a --state index (the ledger of files ingested)"),
        (["--state", "s", "--no_state"], "--state and --no_state: give one of them"),
        (["--direct_num_workers", "abc"], "--direct_num_workers must be a whole number, got 'abc'"),
        (["--direct_running_mode", "fast"],
         "--direct_running_mode must be one of in_memory, multi_threading, multi_processing, "
         "got 'fast'"),
    ],
)  # fmt: skip
def test_bad_options_fail_with_one_message_naming_the_option(argv, expected):
    assert message(argv) == expected


def test_languages_message_lists_the_allowed_codes():
    text = message(["--languages", "en,xx"])
    assert text.startswith("--languages must be language codes among af, ar, bg,")
    assert text.endswith(", und, ur, vi, zh-cn, zh-tw, got 'en,xx', unknown: xx")
    assert message(["--languages", " , "]).endswith(", got ' , ', no code")


@pytest.mark.parametrize("workers", ["-3", "1000"])
def test_direct_num_workers_out_of_range(workers):
    high = direct_num_workers_setting().high
    assert message(["--direct_num_workers", workers]) == (
        f"--direct_num_workers must be a whole number from 0 to {high} (0: one per core), "
        f"got {workers}"
    )


def test_unknown_runner_is_refused_naming_it():
    text = message(["--runner", "NoSuchRunner"])
    assert text.startswith("--runner must be a Beam runner: ")
    assert "DirectRunner" in text and text.endswith(", got 'NoSuchRunner'")


def test_runner_validation_names_every_missing_option():
    """Beam's DataflowRunner validator runs before anything: every missing option is named."""
    text = message(["--runner", "DataflowRunner", "--project", "p-123456", "--region", "r1"])
    assert text == (
        "--runner DataflowRunner refuses these options: Missing GCS path option: "
        "temp_location; Missing GCS path option: staging_location"
    )


def test_state_pointing_at_a_file(tmp_path):
    state = tmp_path / "state.parquet"
    state.write_bytes(b"PAR1")
    assert message(["--state", str(state)]) == (
        f"--state must be a directory, got {str(state)!r}, which is a file"
    )


@pytest.mark.parametrize(
    ("content", "suffix", "expected_start"),
    [
        ("min_words: [\n", ".yaml", "--config {path}: cannot parse it (while parsing a flow node"),
        ("min_words = \n", ".toml", "--config {path}: cannot parse it (Invalid value"),
        ("min_wrods = 3\n", ".toml", "--config {path}: unknown option(s) min_wrods; allowed: "),
        ("min_words = -4\n", ".toml",
         "min_words in {path} must be a whole number from 0 to 100000, got -4"),
        ('near_dup_threshold = "high"\n', ".toml",
         "near_dup_threshold in {path} must be a number from 0.05 to 1, got 'high'"),
    ],
)  # fmt: skip
def test_bad_config_file_fails_in_one_line_naming_file_and_key(
    tmp_path, content, suffix, expected_start
):
    config = tmp_path / f"run{suffix}"
    config.write_text(content)
    text = message(["--config", str(config)])
    assert text.startswith(expected_start.format(path=config)), text
    assert "\n" not in text


def test_beam_options_pass_through():
    options = parse(["--runner", "DirectRunner", "--direct_num_workers", "2", "--input", "x"])
    assert options.inputs == ("x",)


def test_unknown_flags_are_refused():
    assert message(["--min_word", "5"]).startswith("unknown option(s): --min_word (")
    assert message(["--runner_typo", "X"]).startswith("unknown option(s): --runner_typo (")


def test_help_shows_the_default_of_every_option_that_takes_a_value():
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    valued = [a for a in parser._actions if a.nargs != 0 and a.option_strings]
    assert len(valued) >= 13
    missing = [a.option_strings[-1] for a in valued if "default" not in (a.help or "").lower()]
    assert not missing, f"--help gives no default for {missing}"
    helps = {a.option_strings[-1]: a.help for a in valued}
    assert helps["--near_dup_threshold"].endswith("a number from 0.05 to 1; default 0.7")
    assert helps["--language_min_score"].endswith("a number from 0 to 1; default 0.2")
    assert helps["--trigger_interval"].endswith("a number from 0.1 to 86400; default 10 s")


@pytest.mark.parametrize(
    ("flag", "build"),
    [
        ("min_words", lambda v: TextConfig(min_words=v)),
        ("near_dup_threshold", lambda v: DedupConfig(threshold=v)),
        ("language_min_score", lambda v: LanguageConfig(min_score=v)),
        ("max_page_bytes", lambda v: ExtractConfig(max_page_bytes=v)),
        ("extract_timeout", lambda v: ExtractConfig(timeout_s=v)),
    ],
)
def test_a_flag_and_its_config_field_accept_exactly_the_same_values(flag, build):
    """No second set of limits: at and around each bound, the flag and the dataclass agree."""
    spec = options_module.SETTINGS[flag]
    step = 1 if spec.kind is int else 1e-9
    candidates = [spec.low - step, spec.low, spec.low + step, spec.high - step, spec.high]
    candidates += [spec.high + step, spec.default]
    for value in candidates:
        value = spec.kind(value)
        try:
            parse([f"--{flag}={value}"])
            flag_ok = True
        except OptionsError:
            flag_ok = False
        try:
            build(value)
            field_ok = True
        except ValueError:
            field_ok = False
        assert flag_ok == field_ok == (spec.low <= value <= spec.high), (flag, value)
