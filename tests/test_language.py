"""Tests of transforms/language.py: pure functions first, then the Beam composite."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings
from hypothesis import strategies as st

from pagestream.schemas.records import KIND_DEAD, KIND_PAGE, KIND_REJECTED, Page, new_page
from pagestream.transforms.language import detect as lang
from pagestream.transforms.language import model as language_model
from pagestream.transforms.language.detect import (
    DetectLanguage,
    DetectLanguageFn,
    LanguageConfig,
    detect_language,
    sample_text,
)
from pagestream.transforms.language.hints import (
    LanguageHints,
    normalize_language_tag,
    tld_languages,
)
from pagestream.transforms.language.model import dominant_script, supported_languages

LONG = {
    "en": "The committee met on Tuesday to discuss the new budget, and most members agreed that "
    "spending on schools and hospitals should rise next year despite the slower economy.",
    "de": "Der Ausschuss traf sich am Dienstag, um über den neuen Haushalt zu beraten, und die "
    "meisten Mitglieder waren sich einig, dass die Ausgaben für Schulen steigen sollen.",
    "fr": "Le comité s'est réuni mardi pour discuter du nouveau budget, et la plupart des membres "
    "ont convenu que les dépenses pour les écoles et les hôpitaux devraient augmenter.",
    "es": "El comité se reunió el martes para discutir el nuevo presupuesto y la mayoría de los "
    "miembros estuvo de acuerdo en que el gasto en escuelas y hospitales debe aumentar.",
    "ru": "Комитет собрался во вторник, чтобы обсудить новый бюджет, и большинство членов "
    "согласились, что расходы на школы и больницы в следующем году должны вырасти.",
    "ja": "委員会は火曜日に新しい予算について話し合うために集まり、ほとんどの委員は来年の学校と"
    "病院への支出を増やすべきだということで合意した。",
    "zh-cn": "委员会星期二开会讨论新的预算，大多数成员同意明年应该增加对学校和医院的支出，"
    "尽管经济增长放缓。",
    "ar": "اجتمعت اللجنة يوم الثلاثاء لمناقشة الميزانية الجديدة، واتفق معظم الأعضاء على ضرورة "
    "زيادة الإنفاق على المدارس والمستشفيات في العام المقبل.",
    "ko": "위원회는 화요일에 새 예산을 논의하기 위해 모였고 대부분의 위원들은 내년에 학교와 병원에 "
    "대한 지출을 늘려야 한다는 데 동의했다.",
}


def make_page(text: str, **fields) -> Page:
    values = dict(
        doc_id="d",
        url="https://example.com/a",
        domain="example.com",
        source="test.jsonl:0",
        text=text,
        word_count=len(text.split()),
        language="",
        content_hash="h",
        topics=(),
        topic_scores=(),
        extractor="plaintext",
        run_id="r",
        pipeline_version="0",
        crawl_date="2024-01-01",
    )
    values.update(fields)
    return new_page(**values)


# --- config ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"sample_chars": 0}, "sample_chars"),
        ({"sample_slices": 0}, "sample_slices"),
        ({"sample_chars": 100, "sample_slices": 6}, "sample_slices"),
        ({"min_score": 1.5}, "min_score"),
        ({"html_lang_weight": -0.1}, "html_lang_weight"),
        ({"tld_weight": 2.0}, "tld_weight"),
        ({"languages": ("en", "xx")}, "languages"),
        ({"languages": ()}, "languages"),
    ],
)
def test_config_rejects_out_of_range_values_naming_the_field(fields, field):
    with pytest.raises(ValueError, match=field):
        LanguageConfig(**fields)


def test_config_accepts_und_in_languages():
    assert LanguageConfig(languages=("en", "und")).languages == ("en", "und")


# --- detection ------------------------------------------------------------------------------------


@pytest.mark.parametrize("expected", sorted(LONG))
def test_long_texts_are_detected(expected):
    language, score = detect_language(LONG[expected])
    assert language == expected
    assert score > 0.9


@pytest.mark.parametrize("text", ["", "   \n\t ", "12345 67.89", "😀🎉👍", "!!! ??? ---", "Գիրք"])
def test_no_evidence_is_und_with_zero_score(text):
    assert detect_language(text) == ("und", 0.0)


@pytest.mark.parametrize(
    ("text", "hints", "expected"),
    [
        ("Kino heute", None, "de"),  # 0.49: German, though not likelier than all others
        ("Total", None, "und"),  # 0.14 at best: a flat posterior
        ("Kino heute", LanguageHints(html_lang="de-DE"), "de"),
        ("Kino heute", LanguageHints(url="https://www.spiegel.de/kultur"), "de"),
        ("Guten Morgen", LanguageHints(html_lang="de"), "de"),
        ("Buenos días amigos", None, "es"),
        ("Buenos días amigos", LanguageHints(html_lang="es", url="https://elpais.es/"), "es"),
        ("特殊", None, "zh-cn"),  # raw langdetect says "ko": Han without Hangul is not Korean
        ("BREAKING NEWS FROM THE CAPITAL CITY TONIGHT", None, "en"),  # ALL CAPS is lower-cased
    ],
)
def test_short_texts_with_and_without_hints(text, hints, expected):
    assert detect_language(text, hints)[0] == expected


def test_hints_do_not_override_a_long_text():
    hints = LanguageHints(html_lang="de", url="https://example.de/")
    assert detect_language(LONG["en"], hints)[0] == "en"


def test_han_text_is_never_korean():
    probs = lang.posterior("特殊", None, LanguageConfig())
    assert "ko" not in probs
    assert set(probs) <= {"ja", "zh-cn", "zh-tw"}


def test_min_score_turns_low_confidence_into_und_but_keeps_the_score():
    language, score = detect_language("Kino heute", None, LanguageConfig(min_score=0.0))
    assert language == "de"
    assert detect_language("Kino heute", None, LanguageConfig(min_score=0.99)) == ("und", score)


def test_unknown_hint_languages_are_ignored():
    plain = detect_language("Kino heute", None, LanguageConfig(min_score=0.0))
    hinted = detect_language(
        "Kino heute",
        LanguageHints(html_lang="pap", url="https://x.io/"),
        LanguageConfig(min_score=0.0),
    )
    assert hinted == plain


def test_detection_is_deterministic_across_calls_and_model_reloads():
    texts = ["Kino heute", "Bonjour", LONG["fr"], "merci beaucoup", "特殊"]
    first = [detect_language(text) for text in texts]
    assert [detect_language(text) for text in texts] == first
    lang.load_model.cache_clear()
    assert [detect_language(text) for text in texts] == first


def test_ngrams_match_langdetects_own_extraction():
    model = language_model.load_model()
    for text in [*LONG.values(), "NASA and the EU", "ABc déF  x", "Ünïcödé ЁЖИК Ωμέγα", " a "]:
        detector = model.factory.create()
        detector.set_max_text_length(len(text))
        detector.append(text)
        detector.cleaning_text()
        expected = [model.rows[gram] for gram in detector._extract_ngrams()]
        assert language_model.ngram_rows(model, text) == expected


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_never_raises_on_arbitrary_text(text):
    language, score = detect_language(text, LanguageHints(html_lang=text[:8], url=text[:20]))
    assert language in (*supported_languages(), "und")
    assert 0.0 <= score <= 1.0


# --- sampling -------------------------------------------------------------------------------------


def test_short_text_is_its_own_sample():
    assert sample_text("abc def", 100, 3) == "abc def"


@pytest.mark.parametrize("slices", [1, 2, 3, 5])
def test_sample_is_bounded_and_spread_over_the_text(slices):
    words = [f"w{i:04d}" for i in range(2000)]
    text = " ".join(words)
    sample = sample_text(text, 300, slices)
    assert len(sample) <= 300 + slices - 1
    pieces = sample.split("\n")
    assert len(pieces) == slices
    assert all(piece.split()[0] in words and piece.split()[-1] in words for piece in pieces)
    assert pieces[0].startswith("w0000")
    if slices > 1:
        assert pieces[-1].endswith("w1999")


def test_slices_see_past_boilerplate_at_the_top():
    text = (
        "Home News Sport Weather Contact Login Subscribe Share this article. " * 5 + LONG["de"] * 30
    )
    head_only = LanguageConfig(sample_chars=300, sample_slices=1)
    spread = LanguageConfig(sample_chars=300, sample_slices=3)
    assert detect_language(text, None, head_only)[0] == "en"
    assert detect_language(text, None, spread)[0] == "de"


# --- hints ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("en-US", "en"),
        ("EN", "en"),
        ("pt_BR", "pt"),
        ("zh", "zh-cn"),
        ("zh-CN", "zh-cn"),
        ("zh-Hant-TW", "zh-tw"),
        ("zh-HK", "zh-tw"),
        ("nb-NO", "no"),
        ("iw", "he"),
        ("fil", "tl"),
        ("pap", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_language_tag(tag, expected):
    assert normalize_language_tag(tag) == expected


@pytest.mark.parametrize(
    ("url", "expected_top"),
    [
        ("https://www.spiegel.de/a", "de"),
        ("https://www.bbc.co.uk/news", "en"),
        ("https://news.example.ch/", "de"),
        ("https://udn.com.tw/", "zh-tw"),
        ("https://www.lemonde.fr", "fr"),
    ],
)
def test_country_tlds_give_their_main_language(url, expected_top):
    shares = tld_languages(url)
    assert max(shares, key=shares.get) == expected_top
    assert sum(shares.values()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "url",
    [
        "https://github.io/x",
        "https://example.com",
        "not a url",
        "http://[::1",
        None,
        "https://t.co/",
    ],
)
def test_generic_and_vanity_tlds_give_no_prior(url):
    assert tld_languages(url) == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", "LATIN"),
        ("Привет, world", "CYRILLIC"),
        ("日本語です", "CJK"),
        ("ひらがなです", "KANA"),
        ("123", None),
    ],
)
def test_dominant_script(text, expected):
    assert dominant_script(text) == expected


# --- Beam -----------------------------------------------------------------------------------------


def _zero_ms(page: Page) -> Page:
    return page._replace(language_ms=0.0)


def test_composite_sets_language_rejects_other_languages_and_passes_dead_records():
    english = make_page(LONG["en"], doc_id="en")
    german = make_page(LONG["de"], doc_id="de")
    dead = make_page("", doc_id="dead", kind=KIND_DEAD, stage="extract", reason="timeout")
    config = LanguageConfig(languages=("en",))
    en_lang, en_score = detect_language(english.text, lang.hints_for(english), config)
    de_lang, de_score = detect_language(german.text, lang.hints_for(german), config)
    expected = [
        english._replace(language=en_lang, language_score=en_score),
        german._replace(
            language=de_lang,
            language_score=de_score,
            kind=KIND_REJECTED,
            stage="language",
            reason="language",
        ),
        dead,
    ]
    pipeline = TestPipeline()
    out = (
        pipeline
        | beam.Create([english, german, dead])
        | DetectLanguage(config)
        | beam.Map(_zero_ms)
    )
    assert_that(out, equal_to(expected), label="pages")
    result = pipeline.run()
    result.wait_until_finish()
    counters = {
        (c.key.metric.namespace, c.key.metric.name): c.committed
        for c in result.metrics().query()["counters"]
    }
    assert counters == {("language", "filtered:language"): 1}
    assert (en_lang, de_lang) == ("en", "de")


def test_und_pages_are_kept_only_when_und_is_listed():
    page = make_page("12345")
    rejected = list(DetectLanguageFn(LanguageConfig(languages=("en",))).process(page))
    kept = list(DetectLanguageFn(LanguageConfig(languages=("en", "und"))).process(page))
    assert [(p.kind, p.language, p.reason) for p in rejected] == [
        (KIND_REJECTED, "und", "language")
    ]
    assert [(p.kind, p.language) for p in kept] == [(KIND_PAGE, "und")]
    assert kept[0].language_ms >= 0.0


def test_a_failure_becomes_a_dead_letter(monkeypatch):
    def explode(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(lang, "detect_language", explode)
    [page] = DetectLanguageFn(LanguageConfig()).process(make_page("Some text here"))
    assert (page.kind, page.stage, page.reason) == (KIND_DEAD, "language", "error")
    assert page.error == "RuntimeError: boom"
    assert page.excerpt == "Some text here"


def _same_model(a, b) -> bool:
    import numpy as np

    return (
        a.langs == b.langs
        and a.rows == b.rows
        and np.array_equal(a.log_probs, b.log_probs)
        and a.log_probs.dtype == b.log_probs.dtype
        and sorted(a.native) == sorted(b.native)
        and all(np.array_equal(a.native[s], b.native[s]) for s in a.native)
        and a.factory.langlist == b.factory.langlist
        and a.factory.word_lang_prob_map == b.factory.word_lang_prob_map
    )


def test_cached_model_is_the_built_model_and_detects_the_same(tmp_path, monkeypatch):
    monkeypatch.setenv("PAGESTREAM_CACHE_DIR", str(tmp_path))
    built = language_model._build_model()
    path = language_model._cache_path()
    assert path.startswith(str(tmp_path))
    language_model._write_cache(path, built)
    cached = language_model._read_cached(path)
    assert _same_model(built, cached)
    text = "Der Hafen wurde am Samstag wegen des Sturms geschlossen, die Fähren fuhren nicht."
    assert language_model.ngram_rows(cached, text) == language_model.ngram_rows(built, text)
    assert [p.name for p in tmp_path.iterdir()] == [path.rsplit("/", 1)[1]]  # no temp file left


def test_a_broken_or_unwritable_cache_falls_back_to_building(tmp_path, monkeypatch):
    monkeypatch.setenv("PAGESTREAM_CACHE_DIR", str(tmp_path / "cache"))
    path = language_model._cache_path()
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / path.rsplit("/", 1)[1]).write_bytes(b"not an npz")
    with pytest.raises((OSError, ValueError)):
        language_model._read_cached(path)
    language_model.load_model.cache_clear()
    try:
        assert _same_model(language_model.load_model(), language_model._build_model())
        assert language_model._read_cached(path).langs  # rewritten by load_model
        monkeypatch.setenv("PAGESTREAM_CACHE_DIR", str(tmp_path / "file" / "below"))
        (tmp_path / "file").write_text("a file where the cache directory would go")
        language_model.load_model.cache_clear()
        assert language_model.load_model().langs
        monkeypatch.setenv("PAGESTREAM_CACHE_DIR", "off")
        assert language_model._cache_path() is None
    finally:
        language_model.load_model.cache_clear()
