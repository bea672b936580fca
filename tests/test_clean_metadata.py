"""Title, published date and author of plain-text pages (``text_metadata``, ``parse_date_line``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pagestream.transforms.clean.dates import parse_date_line
from pagestream.transforms.clean.metadata import TextMetadata, text_metadata
from pagestream.transforms.clean.text import clean_text

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BODY = (
    "The committee met on Tuesday to discuss the budget for the coming year, officials said. "
    "Members agreed to raise spending on schools and roads by a modest amount."
)


@pytest.mark.parametrize(
    "line, date",
    [
        ("February 24, 2016, 12:29 UTC+3", "2016-02-24"),
        ("Thu, 01/17/2019 - 09:50", "2019-01-17"),  # month/day: 17 is no month
        ("17/01/2019", "2019-01-17"),
        ("05/06/2019", None),  # day or month first: unknowable
        ("24.02.2016 12:00", "2016-02-24"),
        ("2016-02-24T12:29:00Z", "2016-02-24"),
        ("Published 12 March 2021", "2021-03-12"),
        ("24 février 2016", "2016-02-24"),
        ("24 de febrero de 2016", "2016-02-24"),
        ("24. Februar 2016", "2016-02-24"),
        ("24 февраля 2016 г.", "2016-02-24"),
        ("2016. február 24.", "2016-02-24"),
        ("2016 m. vasario 24 d.", "2016-02-24"),
        ("٢٤ فبراير ٢٠١٦", "2016-02-24"),  # Arabic-Indic digits
        ("24 फ़रवरी 2016", "2016-02-24"),
        ("2016年2月24日", "2016-02-24"),
        ("2016년 2월 24일", "2016-02-24"),
        ("24 tháng 2, 2016", "2016-02-24"),
        ("24 בפברואר 2016", "2016-02-24"),
        ("24 กุมภาพันธ์ 2559", "2016-02-24"),  # Buddhist era
        ("MOSCOW, January 16. /TASS/.", None),  # no year: not guessed
        ("February 30, 2016", None),
        ("Russia seeks US coordination in Syria", None),
        ("Room 101, floor 3", None),
    ],
)
def test_parse_date_line(line, date):
    assert parse_date_line(line) == date


def test_title_date_author_of_a_scraped_page():
    page = (
        "Home | World | Business\n\nThe Daily Example\n\nCouncil approves new budget\n\n"
        "By Jane Smith and John Doe\n\n12 March 2021, 09:15\n\nShare this article\n\n" + BODY
    )
    assert text_metadata(page) == TextMetadata(
        "Council approves new budget", "2021-03-12", "Jane Smith"
    )


def test_dateline_in_the_first_paragraph():
    page = f"Council approves new budget\n\nLONDON, March 12, 2021 (Reuters) - {BODY}"
    assert text_metadata(page).published_date == "2021-03-12"


def test_date_in_the_menu_is_not_the_page_date():
    menu = "Today: 3 December 2026 | Weather | Markets"
    page = f"{menu}\n\n" + "\n\n".join(f"Menu item {i}" for i in range(12)) + f"\n\n{BODY}"
    assert text_metadata(page).published_date is None


def test_no_article_no_metadata():
    assert text_metadata("Home\n\nNews\n\nContact us") == TextMetadata()
    assert text_metadata("") == TextMetadata()


def test_headline_of_a_related_list_is_not_the_title():
    page = f"{BODY}\n\nRelated Coverage\n\nMarkets rally as rates fall\n\n" + BODY.replace(
        "Tuesday", "Friday"
    )
    assert text_metadata(page).title is None


def test_title_in_other_scripts():
    hindi = "इसलिए देखें, जितना आदमी जीवन को बचाने की चेष्टा में रत होगा, उतना प्रेम शून्य हो जाएगा।"
    page = f"होम | देश | विदेश\n\nसंसद में नया बजट पेश किया गया\n\n24 फ़रवरी 2016\n\n{hindi}"
    assert text_metadata(page) == TextMetadata("संसद में नया बजट पेश किया गया", "2016-02-24")
    assert clean_text(page).text.split("\n\n") == ["संसद में नया बजट पेश किया गया", hindi]


def test_a_short_dated_sentence_is_a_date_line_not_body():
    body = (
        "Защитните покривки, които астматиците често използват за матраците, все още не са "
        "въведени в болниците, каза министърът."
    )
    page = f"Съветите по бюджета бяха приети\n\n4 октомври 2021 г.\n\n{body}"
    result = clean_text(page)
    assert dict(result.removed) == {"date": 1}
    assert result.text.split("\n\n") == ["Съветите по бюджета бяха приети", body]
    assert text_metadata(page) == TextMetadata("Съветите по бюджета бяха приети", "2021-10-04")


# The seeds: headline as title, date where the seed has one, byline where there is one.
SEEDS = {
    "000_00a345504d5a06bd": ("Russia seeks US coordination in Syria ceasefire efforts", None, None),
    "001_47bc69430d165779": (
        "Putin discussed Syrian settlement with Bashar Assad — Kremlin",
        "2016-02-24",
        None,
    ),
    "002_4f25bdfa624cb435": (
        "Presidents of Russia and France will meet in Moscow on February 7",
        None,  # "February 7" has no year
        None,
    ),
    "003_370d3b6ebcc3e755": (
        "President Putin offers to sign a peace treaty by the end of this year with Japan",
        None,  # "Published on" without a date
        "Louise Miner",
    ),
    "004_77df60915854e1a6": (
        "Lavrov briefs Putin on results of his talks with Japanese foreign minister - Kremlin aide",
        "2019-01-17",
        None,  # "Auther :" with no name
    ),
}


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seed_metadata(name):
    seed = SHARED / "seeds" / f"{name}.txt"
    if not seed.exists():
        pytest.skip(f"shared seed data missing: {seed}")
    text = seed.read_text(encoding="utf-8")
    metadata = text_metadata(text)
    assert metadata == SEEDS[name]
    assert metadata.title in clean_text(text).text  # the headline stays in the text


@pytest.mark.parametrize("fmt", ["long", "full", "medium"])
def test_cldr_dates_of_every_language_parse_back(fmt):
    """Babel writes each date as the locale writes it; all parse back, except a/b/yyyy where
    both numbers are 12 or less and the year is last (Arabic medium: day or month first is
    unknowable)."""
    import datetime as dt

    from babel.dates import format_date

    from pagestream.transforms.clean.dates import _LOCALES

    wrong = []
    for locale in _LOCALES:
        for day in (dt.date(2016, 2, 24), dt.date(2021, 11, 3), dt.date(2019, 5, 9)):
            written = format_date(day, fmt, locale=locale)
            ambiguous = "/" in written and day.day <= 12 and not written.startswith("20")
            if parse_date_line(written) != (None if ambiguous else day.isoformat()):
                wrong.append((locale, written, parse_date_line(written)))
    assert wrong == []
