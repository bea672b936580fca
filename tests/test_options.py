from __future__ import annotations

import argparse
from datetime import datetime, timezone

import pytest

from pagestream.pipelines.options import OptionsError, add_run_arguments, parse_run_args

NOW = datetime(2026, 11, 25, 13, 5, 9, tzinfo=timezone.utc)


def parse(argv, sample="/sample"):
    parser = argparse.ArgumentParser(allow_abbrev=False)
    add_run_arguments(parser)
    args, rest = parser.parse_known_args(argv)
    return parse_run_args(args, rest, sample, now=NOW)


def test_defaults_run_the_sample():
    options = parse([])
    assert options.inputs == ("/sample",) and options.sample
    assert options.output == "pagestream-out"
    assert options.run_id == "20261125T130509Z"
    assert options.logical_date == "2026-11-25" and not options.logical_date_given
    assert options.min_words == 50 and options.languages is None


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


def test_yaml_config(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("input: x\nlogical_date: 2024-02-29\nlanguages: [en, fr]\n")
    options = parse(["--config", str(config)])
    assert options.inputs == ("x",) and options.logical_date == "2024-02-29"
    assert options.languages == ("en", "fr") and options.logical_date_given


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--min_words", "-1"], "--min_words must be a whole number from 0"),
        (["--near_dup_threshold", "1.5"], "--near_dup_threshold must be a number from 0.05 to 1.0"),
        (["--languages", "en,xx"], "--languages: unknown language code(s) xx; allowed: af, ar"),
        (["--run_id", "a/b"], "--run_id 'a/b': use 1-128 letters"),
        (["--logical_date", "2020-02-30"], "--logical_date must be a date YYYY-MM-DD"),
        (["--max_pages", "0"], "--max_pages must be a whole number from 1"),
        (["--taxonomy", "/no/such/file.toml"], "--taxonomy /no/such/file.toml: no such file"),
        (["--min_word", "5"], "unknown option(s): --min_word"),
        (["--runner_typo", "X"], "unknown option(s): --runner_typo"),
        (["--streaming", "--no_state", "--input", "x"], "--streaming needs a --state"),
        (["--state", "s", "--no_state"], "--state and --no_state"),
    ],
)
def test_bad_options_fail_naming_the_option(argv, message):
    with pytest.raises(OptionsError) as err:
        parse(argv)
    assert message in str(err.value)


def test_bad_config_file_names_the_file_and_keys(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text("min_wrods = 3\n")
    with pytest.raises(OptionsError, match="unknown option\\(s\\) min_wrods"):
        parse(["--config", str(config)])


def test_beam_options_pass_through():
    options = parse(["--runner", "DirectRunner", "--direct_num_workers", "2", "--input", "x"])
    assert options.inputs == ("x",)
