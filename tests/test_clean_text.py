"""Tests of the plain-text line cleaner, line keys and site names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pagestream.transforms.clean import lines, sites
from pagestream.transforms.clean.lines import CleanTextConfig
from pagestream.transforms.clean.sites import line_key, line_keys, site_of
from pagestream.transforms.clean.text import CleanResult, clean_text, remove_repeated_lines

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
EXPECTED = Path(__file__).resolve().parent / "testdata" / "seeds_expected"

BODY = (
    "The committee met on Tuesday to discuss the budget for the coming year, officials said. "
    "Members agreed to raise spending on schools and roads by a modest amount."
)


def _paragraphs(text: str) -> list[str]:
    return text.split("\n\n") if text else []


def _reasons(result: CleanResult) -> dict[str, int]:
    return dict(result.removed)


# --- single lines between two article paragraphs ---------------------------------------------


@pytest.mark.parametrize(
    "line, reason",
    [
        ("Please enable JavaScript in your browser to view this page.", "javascript"),
        ("JavaScript is disabled", "javascript"),
        (
            "We use cookies to improve your experience on our website and to show you ads.",
            "cookie",
        ),
        ("This site uses cookies to analyse traffic and remember your preferences.", "cookie"),
        ("Manage cookies", "cookie"),
        ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.", "lorem_ipsum"),
        ("function() { return window.dataLayer; }", "code"),
        ("Terms of Use", "policy"),
        ("Privacy Policy", "policy"),
        ("© 2021 Example Media Group. All rights reserved.", "policy"),
        (
            "I agree my information will be processed in accordance with the Privacy Policy.",
            "policy",
        ),
        ("Share this article", "widget"),
        ("Subscribe to our newsletter", "widget"),
        ("Sign up for our daily briefing, delivered free to your inbox every morning.", "widget"),
        ("Log in", "widget"),
        ("Follow us on Twitter", "widget"),
        ("Leave a Reply", "widget"),
        ("Advertisement", "widget"),
        ("5 min read", "widget"),
        ("Slideshow ( 12 images )", "widget"),
        ("Read more", "related"),
        ("Related Articles", "related"),
        ("You may also like", "related"),
        ("Latest from Europe", "related"),
        ("Previous Story", "navigation"),
        ("Next article", "navigation"),
        ("Source link", "navigation"),
        ("Skip to main content", "navigation"),
        ("Back to top", "navigation"),
        ("Home | News | Sport | Weather | Contact", "navigation"),
        ("Home • World • Business • Opinion", "navigation"),
        ("Politics Business Technology Science Health Sport", "navigation"),
        ("AboutCareersContactHelp", "navigation"),
        ("By Jane Smith", "byline"),
        ("Photo: Alex Brown/Reuters", "byline"),
        ("Published 12 March 2021", "byline"),
        ("© Associated Press", "byline"),
        ("Author :", "label"),
        ("24 September 2019", "no_sentence"),
        ("Tags: Russia, Syria, diplomacy", "tags"),
        ("Russia, Syria, Kremlin diplomacy, Middle East, peace talks", "navigation"),
        ("Contact us", "no_sentence"),
    ],
)
def test_boilerplate_line_is_removed_with_reason(line, reason):
    result = clean_text(f"{BODY}\n\n{line}\n\n{BODY.replace('Tuesday', 'Friday')}")
    assert line not in _paragraphs(result.text)
    assert _reasons(result) == {reason: 1}
    assert result.kept_lines == 2


KO_BODY = (
    "김 부사장은 1978년 현대건설에 입사해 1983년 현대전자산업으로 옮긴 뒤 1997년부터 반도체 "
    "영업을 책임져 온 ‘반도체 영업 전문가’로 알려져 있다."
)


@pytest.mark.parametrize(
    "page",
    [
        f"{BODY}\n\nHe agreed.\n\n{BODY.replace('Tuesday', 'Friday')}",  # between paragraphs
        f"Budget talks\n\nHe agreed.\n\n{BODY}",  # the article's first line of text
        f"{BODY}\n\nHe agreed.\n\nHome | News | Sport\n\nContact us",  # its last
        f"{KO_BODY}\n\n그것뿐이 아니었다.\n\n{KO_BODY.replace('1978', '1979')}",
    ],
)
def test_short_sentence_next_to_article_prose_is_kept(page):
    """Two words ("It was not only that." in Korean) are a sentence of the article there."""
    kept = _paragraphs(clean_text(page).text)
    assert any(p in ("He agreed.", "그것뿐이 아니었다.") for p in kept), kept


def test_short_sentence_away_from_prose_is_dropped():
    """Among template lines, "Sign up." or "He agreed." is too short to be the article's."""
    page = f"Home | News | Sport\n\nHe agreed.\n\nContact us\n\n{BODY}\n\nAbout us\n\nNo."
    result = clean_text(page)
    assert "He agreed." not in _paragraphs(result.text)
    assert "No." not in _paragraphs(result.text)
    assert _reasons(result)["too_few_words"] == 2


@pytest.mark.parametrize(
    "line",
    [
        # Trigger words inside real article sentences stay.
        "The bakery sold more than 500 cookies on Sunday, the owner told reporters.",
        "Researchers found that cookies let advertisers follow people across many websites.",
        "Facebook changed its privacy policy on Tuesday after regulators in Europe complained.",
        "Thousands of residents signed up for the new recycling scheme in its first week.",
        "JavaScript remains the most widely used programming language, the survey found.",
        "The company said users would be asked to log in again after the security breach.",
        '"You can sign up for the vaccine online from Monday," the health minister said.',
        "Newspapers have lost print advertising revenue for two decades, the report says.",
        "Read more books, the headteacher told pupils at the end of the assembly.",
        "It comes as both Moscow and Tokyo claim sovereignty over the islands.",
        # A short sentence is still a sentence.
        "Nobody was hurt.",
    ],
)
def test_article_sentence_is_kept(line):
    result = clean_text(f"{BODY}\n\n{line}")
    assert _paragraphs(result.text) == [BODY, line]
    assert result.removed == ()


def test_long_paragraph_without_final_full_stop_is_kept():
    standfirst = (
        "Putin and Assad stressed the importance of the struggle against terrorist groups "
        "included in the corresponding list of the UN Security Council and agreed to keep talking"
    )
    assert _paragraphs(clean_text(f"{standfirst}\n\n{BODY}").text)[0] == standfirst


# --- headings --------------------------------------------------------------------------------


def test_title_before_byline_and_date_is_kept():
    text = "Site Name\n\nCouncil approves new budget\n\nBy Jane Smith\n\n12 March 2021\n\n" + BODY
    assert _paragraphs(clean_text(text).text) == ["Council approves new budget", BODY]


def test_only_the_nearest_heading_before_the_article_is_kept():
    text = "Opinion pieces\n\nCouncil approves new budget\n\n" + BODY
    assert _paragraphs(clean_text(text).text) == ["Council approves new budget", BODY]


def test_subheading_between_paragraphs_is_kept():
    text = f"{BODY}\n\nWhat happens next\n\n{BODY.replace('Tuesday', 'Friday')}"
    assert _paragraphs(clean_text(text).text)[1] == "What happens next"


def test_headline_list_after_related_header_is_not_a_heading():
    text = f"{BODY}\n\nRelated Coverage\n\nKey winners at the awards ceremony\n\n{BODY.replace('Tuesday', 'Friday')}"
    assert "Key winners at the awards ceremony" not in clean_text(text).text


def test_headlines_without_article_after_them_are_dropped():
    text = f"{BODY}\n\nNext Story\n\nBeef exports rise to a record high in March\n\nMarkets rally as rates fall"
    assert _paragraphs(clean_text(text).text) == [BODY]


def test_headings_off_when_heading_min_words_exceeds_line():
    config = CleanTextConfig(heading_min_words=10, heading_max_words=20)
    text = "Council approves new budget\n\n" + BODY
    assert _paragraphs(clean_text(text, config=config).text) == [BODY]


# --- splitting, normalising, duplicates, scripts ---------------------------------------------


def test_hard_wrapped_paragraph_is_joined_and_judged_whole():
    notice = (
        "Thank you for visiting. You are using a browser version with\n"
        "limited support for CSS. To obtain the best experience, we recommend a newer browser (or turn off\n"
        "compatibility mode in Internet Explorer). In the meantime we display the site without styles\n"
        "and JavaScript."
    )
    result = clean_text(f"{notice}\n\n{BODY}")
    assert _paragraphs(result.text) == [BODY]
    assert _reasons(result) == {"javascript": 1}


def test_whitespace_is_normalised_and_paragraphs_separated_by_blank_line():
    text = (
        "  The   mayor\u00a0opened the new bridge on Monday morning, officials said.  \n\n\n" + BODY
    )
    assert clean_text(text).text == (
        "The mayor opened the new bridge on Monday morning, officials said.\n\n" + BODY
    )


def test_repeated_line_in_page_is_kept_once():
    result = clean_text(f"{BODY}\n\n{BODY}")
    assert result.text == BODY
    assert _reasons(result) == {"duplicate": 1}


def test_trailing_read_more_link_is_cut():
    assert clean_text(BODY + " Read more").text == BODY


def test_line_in_other_script_is_removed():
    text = f"{BODY}\n\nРусский English 中文\n\nНовости спорта"
    assert _paragraphs(clean_text(text).text) == [BODY]


def test_chinese_sentence_counts_characters_as_words():
    line = "钟南山院士说：“武汉本来就是一个英雄的城市，有全国、有大家的支持，武汉肯定能过关。”"
    assert clean_text(line).text == line


def test_site_repeated_lines_are_removed():
    footer = "Our Standards: The Example Trust Principles."
    result = clean_text(f"{BODY}\n\n{footer}", repeated=frozenset({line_key(footer)}))
    assert result.text == BODY
    assert _reasons(result) == {"repeated": 1}


@pytest.mark.parametrize("text", ["", "\n\n \n", "\u200b"])
def test_empty_input(text):
    assert clean_text(text) == CleanResult("", 0, ())


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400))
def test_never_raises_and_is_deterministic(text):
    first = clean_text(text)
    assert first == clean_text(text)
    assert first.kept_lines == len(_paragraphs(first.text))
    assert [reason for reason, _ in first.removed] == sorted(r for r, _ in first.removed)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.sampled_from([BODY, "Share this article", "Home | News | Sport", "Menu", ""]),
        max_size=12,
    )
)
def test_kept_lines_plus_removed_lines_is_all_lines(lines):
    result = clean_text("\n\n".join(lines))
    assert result.kept_lines + sum(n for _, n in result.removed) == sum(1 for ln in lines if ln)


# --- config ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"min_words": 0}, "min_words"),
        ({"prose_min_words": 101}, "prose_min_words"),
        ({"heading_min_words": 5, "heading_max_words": 4}, "heading_max_words"),
        ({"title_max_gap": -1}, "title_max_gap"),
        ({"script_min_share": 1.5}, "script_min_share"),
        ({"wrap_min_chars": 2.5}, "wrap_min_chars"),
    ],
)
def test_config_rejects_out_of_range(kwargs, field):
    with pytest.raises(ValueError, match=field):
        CleanTextConfig(**kwargs)


# --- keys, sites, extracted text -------------------------------------------------------------


def test_line_key_ignores_case_whitespace_and_digits():
    assert line_key("Copyright  2020 Example  Ltd") == line_key("copyright 2023 example ltd")
    assert line_key("Copyright 2020 Example Ltd") != line_key("Copyright 2020 Other Ltd")
    assert len(line_key("x")) == 16


def test_line_keys_are_distinct_sorted_and_skip_letterless_and_long_lines():
    long_line = " ".join(["word"] * 61) + "."
    keys = line_keys(f"Menu\n\nMenu\n\n2021-03-04\n\n{long_line}\n\nContact us")
    assert keys == sorted({line_key("Menu"), line_key("Contact us")})


@pytest.mark.parametrize(
    "url, source, site",
    [
        ("https://www.nature.com/articles/x", "/data/feed.jsonl#6", "nature.com"),
        ("https://news.bbc.co.uk/a", "s#1", "bbc.co.uk"),
        ("http://WWW.Example.COM:8080/a", "s#1", "example.com"),
        ("https://alice.blogspot.com/2020/01/post.html", "s#1", "alice.blogspot.com"),
        ("http://127.0.0.1/page", "s#1", "127.0.0.1"),
        ("http://localhost/page", "s#1", "localhost"),
        ("file:///data/seeds/000.txt", "/data/seeds/000.txt#0", "/data/seeds"),
        ("", "gs://bucket/scrapes/a.txt#0", "gs://bucket/scrapes"),
        ("hard::page.html", "/data/pages.jsonl.gz#12", "/data"),
        ("file:///data/a%23b/p.txt", "/data/a#b/p.txt#0", "/data/a#b"),  # '#' in a folder name
    ],
)
def test_site_of(url, source, site):
    assert site_of(url, source) == site


def test_remove_repeated_lines_keeps_everything_else():
    text = "Share this article\nA short line\nThe mayor opened the bridge.\nNewsletter sign-up"
    repeated = frozenset({line_key("Newsletter sign-up")})
    assert remove_repeated_lines(text, repeated) == (
        "Share this article\n\nA short line\n\nThe mayor opened the bridge."
    )


# --- the seeds and the feed's text records ---------------------------------------------------


def _expectations(name: str) -> tuple[list[str], list[str]]:
    keep, drop = [], []
    for line in (EXPECTED / f"{name}.expected").read_text(encoding="utf-8").splitlines():
        if line.startswith("+ "):
            keep.append(line[2:])
        elif line.startswith("- "):
            drop.append(line[2:])
    return keep, drop


@pytest.mark.parametrize("name", sorted(p.stem for p in EXPECTED.glob("*.expected")))
def test_seed_golden(name):
    seed = SHARED / "seeds" / f"{name}.txt"
    if not seed.exists():
        pytest.skip(f"shared seed data missing: {seed}")
    keep, drop = _expectations(name)
    result = clean_text(seed.read_text(encoding="utf-8"))
    paragraphs = _paragraphs(result.text)
    for fragment in keep:
        assert fragment in result.text, fragment
    for line in drop:
        assert " ".join(line.split()) not in paragraphs, line


def test_seed_title_kept_once_and_read_more_cut():
    seeds = SHARED / "seeds"
    if not seeds.exists():
        pytest.skip(f"shared seed data missing: {seeds}")
    africanews = clean_text((seeds / "003_370d3b6ebcc3e755.txt").read_text(encoding="utf-8")).text
    assert (
        africanews.count(
            "President Putin offers to sign a peace treaty by the end of this year with Japan"
        )
        == 1
    )
    tass = clean_text((seeds / "004_77df60915854e1a6.txt").read_text(encoding="utf-8")).text
    assert tass.endswith("has been challenged by Japan.")


@pytest.mark.parametrize(
    "site, keep, drop",
    [
        (
            "nature.com",
            [
                "Gigantic Chinese telescope opens to astronomers worldwide",
                "The world’s largest single-dish radio observatory is preparing",
                "Eye in the sky",
                "“A successful review will definitely help,” he says.",
            ],
            ["Skip to main content", "Subscribe", "Use of cookies", "Sign up", "Privacy Policy"],
        ),
        (
            "reuters.com",
            [
                "'Parasite' scores historic upset at SAG awards, boosting Oscar chances",
                "LOS ANGELES (Reuters) - South Korean thriller",
                "“Parasite” director Bong Joon Ho said backstage",
                "“This whole thing has been a dream",
            ],
            ["By Jill Serjeant", "4 Min Read", "Related Coverage", "Cookies", "Terms of Use"],
        ),
    ],
)
def test_feed_text_records(site, keep, drop):
    feed = SHARED / "mixed" / "feed.jsonl"
    if not feed.exists():
        pytest.skip(f"shared data missing: {feed}")
    records = [json.loads(line) for line in feed.read_text(encoding="utf-8").splitlines()]
    (record,) = [r for r in records if "text" in r and site in r["url"]]
    result = clean_text(record["text"])
    paragraphs = _paragraphs(result.text)
    for fragment in keep:
        assert fragment in result.text, fragment
    for line in drop:
        assert line not in paragraphs, line
    assert not any("JavaScript" in p for p in paragraphs)


_ODD_TEXT = st.text(
    st.sampled_from(list("ab Z9.\t\n\r\u00a0\u2028\u200b\u200c\u200d\u2060\ufeff\u00ad\u0301éß1")),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(_ODD_TEXT)
def test_normalise_deletes_invisible_characters_as_translate_did(line):
    # Not U+200C/U+200D: the zero-width (non-)joiners are spelling in Persian and Indic scripts.
    invisible = dict.fromkeys(map(ord, "\u200b\u2060\ufeff\u00ad"))
    assert lines.normalise(line) == " ".join(line.translate(invisible).split())


@settings(max_examples=300, deadline=None)
@given(st.lists(_ODD_TEXT, max_size=8))
def test_logical_lines_are_keyed_as_line_key_keys_them(paragraphs):
    text = "\n".join(paragraphs)
    for line in lines.logical_lines(text, lines.DEFAULT_CONFIG):
        assert sites.logical_line_key(line) == line_key(line)


def test_logical_line_keys_match_line_key_on_the_seeds():
    seeds = sorted((SHARED / "seeds").glob("*"))[:40]
    if not seeds:
        pytest.skip(f"development data not found at {SHARED}")
    for path in seeds:
        text = path.read_text(encoding="utf-8", errors="replace")
        for line in lines.logical_lines(text, lines.DEFAULT_CONFIG):
            assert sites.logical_line_key(line) == line_key(line)
