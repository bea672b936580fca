"""``--text_cleaning {lines,repeats,off}``, the per-record JSON Lines field, and the metadata
(title, date, author) of plain-text pages, through the stage and through a whole run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import duckdb
import pytest

from pagestream.pipelines.options import OptionsError, parse_run_args
from pagestream.pipelines.run_flags import add_run_arguments
from pagestream.schemas.records import KIND_DEAD, KIND_REJECTED
from pagestream.transforms.clean.plain import clean_plain_text
from pagestream.transforms.clean.sites import line_key
from pagestream.transforms.extract.composite import TextConfig, finish_text
from pagestream.transforms.extract.extract_fn import page_from_raw
from pagestream.transforms.read.jsonl import jsonl_record

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BODY = (
    "The committee met on Tuesday to discuss the budget for the coming year, officials said. "
    "Members agreed to raise spending on schools and roads by a modest amount."
)
PAGE = (
    f"Home | News | Sport | Weather\n\nCouncil approves new budget\n\nBy Jane Smith\n\n"
    f"March 12, 2021\n\nShare this article\n\n{BODY}\n\nCookie settings"
)


def _page(text: str, cleaning: str | None = None):
    raw = jsonl_record(json.dumps({"url": "https://x.example/a", "text": text,
                                   **({"text_cleaning": cleaning} if cleaning else {})}).encode(),
                       "feed.jsonl#1")  # fmt: skip
    page = page_from_raw(raw, "run", "2026-12-03")
    return page._replace(text=raw.text, extractor="plaintext", text_cleaning=raw.text_cleaning)


@pytest.mark.parametrize(
    "mode, paragraphs",
    [
        ("lines", ["Council approves new budget", BODY]),
        (
            "repeats",  # only "Cookie settings", repeated by the site, goes
            [
                "Home | News | Sport | Weather",
                "Council approves new budget",
                "By Jane Smith",
                "March 12, 2021",
                "Share this article",
                BODY,
            ],
        ),  # fmt: skip
    ],
)
def test_modes_drop_what_they_say(mode, paragraphs):
    result = clean_plain_text(PAGE, mode, frozenset({line_key("Cookie settings")}))
    assert result.text.split("\n\n") == paragraphs
    assert result.metadata == ("Council approves new budget", "2021-03-12", "Jane Smith")


def test_off_keeps_the_text_as_given_and_finds_no_metadata():
    result = clean_plain_text(PAGE, "off", frozenset({line_key("Cookie settings")}))
    assert result.text == PAGE
    assert result.metadata == (None, None, None)


def test_unknown_mode_raises():
    with pytest.raises(ValueError, match="text_cleaning"):
        clean_plain_text(PAGE, "none", frozenset())
    with pytest.raises(ValueError, match="text_cleaning"):
        TextConfig(text_cleaning="strict")


def test_record_field_wins_over_the_option():
    config = TextConfig(min_words=1, text_cleaning="lines")
    two_words = "Hello world"
    assert finish_text(_page(two_words), frozenset(), config).kind == KIND_REJECTED
    kept = finish_text(_page(two_words, "off"), frozenset(), config)
    assert (kept.kind, kept.text, kept.word_count) == ("page", two_words, 2)
    off = TextConfig(min_words=1, text_cleaning="off")
    assert finish_text(_page(two_words), frozenset(), off).text == two_words
    assert finish_text(_page(two_words, "lines"), frozenset(), off).kind == KIND_REJECTED


def test_finish_text_sets_title_date_author_of_plain_text():
    page = finish_text(_page(PAGE), frozenset(), TextConfig(min_words=1))
    assert (page.title, page.published_date, page.author) == (
        "Council approves new budget", "2021-03-12", "Jane Smith",
    )  # fmt: skip


@pytest.mark.parametrize("value", ["strict", 1, None, ["off"]])
def test_bad_record_field_is_a_dead_letter(value):
    line = json.dumps({"url": "u", "text": "Hello world", "text_cleaning": value}).encode()
    raw = jsonl_record(line, "feed.jsonl#3")
    if value is None:  # JSON null: as if absent
        assert raw.kind == "raw" and raw.text_cleaning is None
        return
    assert raw.kind == KIND_DEAD and raw.reason == "invalid_text_cleaning"
    assert "text_cleaning" in raw.error


def _parse(argv, config: Path | None = None):
    parser = argparse.ArgumentParser(allow_abbrev=False)
    add_run_arguments(parser)
    args, rest = parser.parse_known_args(argv + (["--config", str(config)] if config else []))
    return parse_run_args(args, rest, "/sample")


def test_option_default_flag_and_config_file(tmp_path):
    assert _parse([]).text_cleaning == "lines"
    assert _parse(["--text_cleaning", "repeats"]).text_cleaning == "repeats"
    config = tmp_path / "run.toml"
    config.write_text('text_cleaning = "off"\n')
    options = _parse([], config)
    assert options.text_cleaning == "off"
    assert options.as_manifest()["text_cleaning"] == "off"
    config.write_text('text_cleaning = "none"\n')
    with pytest.raises(
        OptionsError, match=r"text_cleaning in .*\.toml must be one of lines, repeats, off"
    ):
        _parse([], config)


def test_bad_flag_fails_naming_the_option():
    with pytest.raises(OptionsError) as error:
        _parse(["--text_cleaning", "none"])
    assert str(error.value) == "--text_cleaning must be one of lines, repeats, off, got 'none'"


def test_run_keeps_short_texts_with_off_and_reads_seed_metadata(tmp_path):
    """A whole run: per-record modes, and the seeds' titles and dates in the Parquet."""
    from pagestream.cli import main

    seeds = SHARED / "seeds"
    if not seeds.exists():
        pytest.skip(f"shared seed data missing: {seeds}")
    feed = tmp_path / "in" / "feed.jsonl"
    feed.parent.mkdir()
    records = [
        {"url": "https://t.example/1", "text": "Guten Morgen", "text_cleaning": "off"},
        {"url": "https://t.example/2", "text": "Buenos días"},  # lines: two words are no sentence
        {"url": "https://t.example/3", "text": "x", "text_cleaning": "bogus"},
    ]
    feed.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    for seed in seeds.glob("*.txt"):
        (tmp_path / "in" / seed.name).write_bytes(seed.read_bytes())
    out = tmp_path / "out"
    code = main(["run", "--input", str(tmp_path / "in"), "--output", str(out), "--min_words", "1",
                 "--quiet"])  # fmt: skip
    assert code == 0
    pages = duckdb.sql(
        f"SELECT url, text, title, published_date::VARCHAR FROM read_parquet('{out}/pages/**/*.parquet')"
    ).fetchall()
    by_url = {url.rsplit("/", 1)[-1]: (text, title, date) for url, text, title, date in pages}
    assert by_url["1"] == ("Guten Morgen", None, None)
    assert "2" not in by_url and "3" not in by_url
    assert by_url["001_47bc69430d165779.txt"][1:] == (
        "Putin discussed Syrian settlement with Bashar Assad — Kremlin", "2016-02-24",
    )  # fmt: skip
    assert by_url["004_77df60915854e1a6.txt"][1:] == (
        "Lavrov briefs Putin on results of his talks with Japanese foreign minister - Kremlin aide",
        "2019-01-17",
    )  # fmt: skip
    assert by_url["000_00a345504d5a06bd.txt"][1:] == (
        "Russia seeks US coordination in Syria ceasefire efforts", None,
    )  # fmt: skip
    dead = duckdb.sql(
        f"SELECT reason FROM read_parquet('{out}/dead_letter/**/*.parquet')"
    ).fetchall()
    assert ("invalid_text_cleaning",) in dead


def test_thai_page_words_are_counted_by_script():
    """Thai writes no spaces between words: a 300-character paragraph is ~75 words, not 5."""
    sentence = (
        "โรงพยาบาลสัตว์มหาวิทยาลัยเกษตรศาสตร์ได้เปิดให้บริการตรวจรักษาสัตว์เลี้ยงทุกชนิด"
        "ตั้งแต่วันจันทร์ถึงวันศุกร์เวลาแปดโมงเช้าถึงสี่โมงเย็นโดยไม่เสียค่าบริการ"
    )
    text = f"{sentence} {sentence.replace('วันจันทร์', 'วันอังคาร')} {sentence[::-1]}"
    page = finish_text(_page(text, "off"), frozenset(), TextConfig())  # default min_words 50
    assert page.kind == "page"
    assert page.word_count == sum(-(-len(run) // 4) for run in text.split())


def _held_out_word_pairs() -> list[tuple[str, str]]:
    """lang-dev's two-word texts of the half ``min_score`` was not chosen on (odd url SHA-1)."""
    import gzip
    import hashlib

    folder = SHARED / "lang-dev"
    if not folder.exists():
        pytest.skip(f"shared lang-dev data missing: {folder}")
    with gzip.open(folder / "truth.jsonl.gz", "rt", encoding="utf-8") as handle:
        truth = {row["url"]: row for row in map(json.loads, handle)}
    with gzip.open(folder / "input.jsonl.gz", "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    return [
        (row["text"], truth[row["url"]]["language"])
        for row in rows
        if truth[row["url"]]["kind"] == "wordpair"
        and int(hashlib.sha1(row["url"].encode()).hexdigest(), 16) % 2
    ]


def _right(pred: str, truth: str) -> bool:
    return pred in ("zh-cn", "zh-tw") if truth == "zh" else pred == truth


def test_two_word_texts_get_a_language_at_least_as_often_as_raw_langdetect():
    """Issue contract for short texts: with the default ``min_score``, ``und`` only where the
    posterior is flat, so two-word texts are right at least as often as raw langdetect's."""
    from langdetect import DetectorFactory, detect

    from pagestream.transforms.language.detect import LanguageConfig, detect_language

    pairs = _held_out_word_pairs()
    DetectorFactory.seed = 0

    def raw(text: str) -> str:
        try:
            return detect(text)
        except Exception:  # noqa: BLE001 - langdetect raises on texts without features
            return "und"

    ours = [detect_language(text, None, LanguageConfig())[0] for text, _ in pairs]
    ours_right = sum(_right(p, t) for p, (_, t) in zip(ours, pairs, strict=True))
    raw_right = sum(_right(raw(text), t) for text, t in pairs)
    assert len(pairs) > 2000
    assert ours_right >= raw_right, (ours_right, raw_right)
    assert ours.count("und") < 0.02 * len(pairs)  # flat posteriors only


def test_a_run_with_off_gives_two_word_texts_the_detector_s_language(tmp_path):
    """Through a whole run (``--text_cleaning off --min_words 1``): every two-word text is a
    page, and its language is the one ``detect_language`` gives the text alone."""
    from pagestream.cli import main
    from pagestream.transforms.language.detect import LanguageConfig, detect_language

    pairs = _held_out_word_pairs()[:300]
    feed = tmp_path / "pairs.jsonl"
    feed.write_text(
        "".join(json.dumps({"url": f"https://p.example/{i}", "text": text}) + "\n"
                for i, (text, _) in enumerate(pairs)),
        encoding="utf-8",
    )  # fmt: skip
    out = tmp_path / "out"
    code = main(["run", "--input", str(feed), "--output", str(out), "--text_cleaning", "off",
                 "--min_words", "1", "--no_state", "--quiet"])  # fmt: skip
    assert code == 0
    rows = duckdb.sql(
        f"SELECT url, language FROM read_parquet('{out}/pages/**/*.parquet', hive_partitioning=1)"
    ).fetchall()
    got = {int(url.rsplit("/", 1)[-1]): language for url, language in rows}
    expected = {
        i: detect_language(text, None, LanguageConfig())[0] for i, (text, _) in enumerate(pairs)
    }
    assert got == expected
