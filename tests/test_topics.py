"""Tests of transforms/topics.py: lexicon scoring, taxonomy files, the TagTopics composite."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pagestream.schemas.records import KIND_DEAD, KIND_PAGE, KIND_REJECTED, new_page
from pagestream.transforms.topics import tag as topics
from pagestream.transforms.topics.tag import (
    TagTopics,
    TagTopicsFn,
    TopicConfig,
    explain_topics,
    score_topics,
)
from pagestream.transforms.topics.taxonomy import load_taxonomy

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
INTERFACE_LABELS = {
    "politics", "economy", "sport", "science-technology", "health", "arts-culture", "crime-law",
    "conflict-war", "environment", "disaster-accident", "education", "religion", "society",
    "lifestyle", "weather",
}  # fmt: skip

CUSTOM = """
format: 1
labels:
  cooking:
    description: Recipes.
    en:
      3: [recipe, baking, olive oil]
      1: [oven]
    de:
      3: [rezept, "back*"]
  gardening:
    en:
      3: [compost, "*flower", garden]
"""


@pytest.fixture(scope="module")
def default():
    return load_taxonomy(None)


@pytest.fixture
def custom(tmp_path):
    path = tmp_path / "custom.yaml"
    path.write_text(CUSTOM, encoding="utf-8")
    return load_taxonomy(str(path))


def _labels(text, taxonomy, language="en", title=None, **config):
    return [
        label for label, _ in score_topics(text, title, language, taxonomy, TopicConfig(**config))
    ]


def _page(text, language="en", kind=KIND_PAGE, title=None, url="u"):
    return new_page(
        doc_id=url, url=url, domain="d", source="s", title=title, text=text,
        language=language, content_hash="h", extractor="plaintext", run_id="r",
        pipeline_version="0", crawl_date="2024-01-01", kind=kind,
    )  # fmt: skip


# --- scoring -------------------------------------------------------------------------------


def test_stemmed_words_wildcards_and_phrases_match(custom):
    why = explain_topics(
        "Two recipes for baked bread. A sunflower and a wildflower need compost.",
        None, "en", custom, TopicConfig(),
    )  # fmt: skip
    # "recipes" and "baked" match "recipe" and "baking" through the stemmer
    assert dict(why["cooking"]) == {"recipe": 3.0, "baking": 3.0}
    assert dict(why["gardening"]) == {"*flower": pytest.approx(4.755, abs=1e-3), "compost": 3.0}


def test_suffix_wildcard_matches_inflected_compounds(default):
    why = explain_topics("Die Angriffskriege dauern an.", None, "de", default, TopicConfig())
    assert "*krieg" in dict(why["conflict-war"])


def test_phrase_consumes_its_words(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("labels:\n  a: {en: {3: [heart attack]}}\n  b: {en: {3: [attack]}}\n")
    taxonomy = load_taxonomy(str(path))
    assert _labels("He survived a heart attack.", taxonomy) == ["a"]
    assert _labels("The attack on the town.", taxonomy) == ["b"]


def test_scores_are_best_first_bounded_and_rounded(default):
    tags = score_topics(
        "The striker scored two goals and the coach praised the team after the league match. "
        "The club's fans cheered; ticket prices at the stadium rose.",
        None, "en", default, TopicConfig(),
    )  # fmt: skip
    assert tags[0][0] == "sport"
    scores = [s for _, s in tags]
    assert scores == sorted(scores, reverse=True)
    assert all(0.3 <= s <= 1.0 and round(s, 4) == s for s in scores)


def test_multi_label(default):
    text = (
        "Parliament voted on the election law while troops and rebels fought a battle; the "
        "ceasefire collapsed and militants fired missiles. The prime minister and the opposition "
        "leader met the ambassador after the vote."
    )
    assert set(_labels(text, default)[:2]) == {"politics", "conflict-war"}


def test_threshold_max_labels_and_min_relative(default):
    text = (
        "After the election the senate and parliament passed the budget. Stocks and shares fell "
        "on Wall Street; inflation rose."
    )
    both = _labels(text, default)
    assert set(both[:2]) == {"politics", "economy"}
    assert _labels(text, default, max_labels=1) == both[:1]
    weak = "A long report about many things, in which the senate is mentioned once, in passing."
    assert _labels(weak, default) == ["politics"]
    assert _labels(weak, default, threshold=0.9) == []
    assert len(_labels(text, default, min_relative=1.0)) == 1


def test_title_counts_more(default):
    body = "The minister spoke to reporters about the match and the election."
    no_title = dict(score_topics(body, None, "en", default, TopicConfig()))
    with_title = dict(score_topics(body, "Football final", "en", default, TopicConfig()))
    assert with_title["sport"] > no_title.get("sport", 0.0)


@pytest.mark.parametrize(
    ("text", "language"),
    [("", "en"), ("   \n\n ", "en"), ("12 345 -- !!", "en"), ("election parliament", "und"),
     ("election parliament", "ja"), ("election parliament", None), (None, "en")],
)  # fmt: skip
def test_nothing_to_tag_gives_no_labels(default, text, language):
    assert score_topics(text, None, language, default, TopicConfig()) == []


def test_deterministic(default):
    text = (
        (SHARED / "seeds" / "001_47bc69430d165779.txt").read_text(encoding="utf-8")
        if SHARED.exists()
        else "war and peace talks"
    )
    assert score_topics(text, None, "en", default, TopicConfig()) == score_topics(
        text, None, "en", load_taxonomy(None), TopicConfig()
    )


def test_long_texts_are_cut_at_max_chars(default):
    text = "word " * 5000 + "election parliament senate minister vote " * 50
    assert _labels(text, default, max_chars=1000) == []
    assert _labels(text, default, max_chars=10**6) == ["politics"]


# --- default taxonomy, languages -------------------------------------------------------------


def test_default_taxonomy_has_the_interface_labels(default):
    assert set(default.labels) == INTERFACE_LABELS
    assert {"en", "de", "fr", "es"} <= set(default.languages)


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        ("de", "Die Bundesregierung und der Bundestag streiten über die Wahlrechtsreform; die "
               "Koalition der Kanzlerin verlor eine Abstimmung im Parlament.", "politics"),
        ("de", "Der FC Bayern gewann das Bundesligaspiel mit 3:1, der Stürmer erzielte zwei Tore "
               "und der Trainer lobte die Mannschaft.", "sport"),
        ("de", "Der Aktienkurs des Konzerns fiel an der Börse, nachdem das Unternehmen einen "
               "Gewinneinbruch im dritten Quartal meldete; Anleger reagierten nervös.", "economy"),
        ("fr", "Le gouvernement a présenté le projet de loi à l'Assemblée nationale ; les députés "
               "de l'opposition ont dénoncé la réforme du Premier ministre.", "politics"),
        ("fr", "Les hôpitaux manquent de médecins ; l'épidémie de grippe remplit les urgences et "
               "les patients attendent un traitement.", "health"),
        ("fr", "Le séisme de magnitude 6 a provoqué l'effondrement de bâtiments ; les secours "
               "cherchent des survivants dans les décombres.", "disaster-accident"),
        ("es", "El Real Madrid ganó el partido con dos goles en el estadio; el entrenador elogió "
               "a los jugadores tras la victoria en la liga.", "sport"),
        ("es", "La policía detuvo a tres sospechosos de robo; el juez decretó prisión provisional "
               "y la fiscalía investiga el delito.", "crime-law"),
        ("es", "La inflación y el desempleo preocupan al banco central; la bolsa cayó y las "
               "empresas reducen la inversión.", "economy"),
    ],
)  # fmt: skip
def test_german_french_spanish(default, language, text, expected):
    assert _labels(text, default, language=language)[0] == expected


def test_english_lexicon_is_not_used_for_other_languages(default):
    assert _labels("election parliament senate minister", default, language="it") == []


def test_seeds_get_politics_or_conflict(default):
    seeds = sorted((SHARED / "seeds").glob("*.txt"))
    if not seeds:
        pytest.skip(f"shared seeds not found under {SHARED}")
    for seed in seeds:
        labels = _labels(seed.read_text(encoding="utf-8"), default)
        assert {"politics", "conflict-war"} & set(labels), (seed.name, labels)


# --- taxonomy files ------------------------------------------------------------------------


def test_custom_taxonomy_retargets(custom):
    assert custom.labels == ("cooking", "gardening")
    assert _labels("A recipe for bread: heat the olive oil in the oven.", custom) == ["cooking"]
    assert _labels("Ein Rezept für Backwaren.", custom, language="de") == ["cooking"]
    assert _labels("Parliament passed the election law.", custom) == []


def test_json_taxonomy_is_accepted(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"labels": {"a": {"en": {"2.5": ["alpha beta"]}}}}))
    assert (
        score_topics("Alpha beta!", None, "en", load_taxonomy(str(path)), TopicConfig())[0][0]
        == "a"
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("labels: {}\n", "'labels' is missing or empty"),
        ("format: 1\n", "'labels' is missing or empty"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("format: 2\nlabels: {a: {en: {1: [x]}}}\n", "format must be 1"),
        ("labels: {a: {en: {1: [x]}}}\nthreshold: 3\n", "unknown key(s) ['threshold']"),
        ("labels: {a: {en: {high: [x]}}}\n", "label 'a': en: bad weight 'high'"),
        ("labels: {a: {en: {0: [x]}}}\n", "label 'a': en: bad weight 0"),
        ("labels: {a: {en: {11: [x]}}}\n", "label 'a': en: bad weight 11"),
        ("labels: {a: {en: {-1: [x]}}}\n", "label 'a': en: bad weight -1"),
        ("labels: {a: {en: {yes: [x]}}}\n", "label 'a': en: bad weight True"),
        ("labels: {a: {description: only}}\n", "label 'a': has no terms"),
        ("labels: {a: {english: {1: [x]}}}\n", "label 'a': unknown key 'english'"),
        ("labels: {a: {en: [x, y]}}\n", "label 'a': en: must map weights to lists of terms"),
        ("labels: {a: {en: {1: x}}}\n", "label 'a': en: weight 1: terms must be a list"),
        ("labels: {a: {en: {1: ['']}}}\n", "label 'a': en: weight 1: terms must be a list"),
        ("labels: {a: {en: {1: [mp3]}}}\n", "label 'a': en: term 'mp3': only letters"),
        ("labels: {a: {en: {1: ['*']}}}\n", "label 'a': en: term '*' has no letters"),
        ("labels: {a: {en: {1: ['big*bang']}}}\n", "'*' goes at the start or end of one word"),
        ("labels: {a: {en: {1: ['big bang*']}}}\n", "'*' goes at the start or end of one word"),
        ("labels: {Bad Label: {en: {1: [x]}}}\n", "bad label name 'Bad Label'"),
        ("labels: {a: {en: {1: [*x]}}}\n", "not valid UTF-8 YAML/JSON"),
        ("labels: [a, b\n", "not valid UTF-8 YAML/JSON"),
    ],
)
def test_bad_taxonomy_files_fail_clearly(tmp_path, content, problem):
    path = tmp_path / "bad.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError) as err:
        load_taxonomy(str(path))
    assert str(err.value).startswith(f"taxonomy {path}: ")
    assert problem in str(err.value)


def test_missing_taxonomy_file(tmp_path):
    with pytest.raises(ValueError, match=r"taxonomy .*nope\.yaml: cannot read"):
        load_taxonomy(str(tmp_path / "nope.yaml"))


@pytest.mark.parametrize(
    ("field", "value"),
    [("threshold", 0.0), ("threshold", 1.0), ("threshold", "0.3"), ("max_labels", 0),
     ("max_labels", 51), ("min_relative", -0.1), ("min_relative", 1.5), ("title_weight", 11),
     ("max_chars", 10), ("taxonomy", ""), ("max_labels", True)],
)  # fmt: skip
def test_config_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=f"TopicConfig.{field} must be"):
        TopicConfig(**{field: value})


# --- Beam ----------------------------------------------------------------------------------


def test_tag_topics_composite(tmp_path):
    path = tmp_path / "custom.yaml"
    path.write_text(CUSTOM, encoding="utf-8")
    pages = [
        _page("A recipe with olive oil, then compost the garden.", url="p1"),
        _page("Nothing here.", url="p2"),
        _page("A recipe.", kind=KIND_REJECTED, url="p3"),
        _page("Ein Rezept zum Backen.", language="de", url="p4"),
    ]
    with TestPipeline() as p:
        out = p | beam.Create(pages) | TagTopics(TopicConfig(taxonomy=str(path)))
        rows = out | beam.Map(lambda pg: (pg.url, pg.kind, list(pg.topics), len(pg.topic_scores)))
        assert_that(
            rows,
            equal_to([
                ("p1", KIND_PAGE, ["cooking", "gardening"], 2),
                ("p2", KIND_PAGE, [], 0),
                ("p3", KIND_REJECTED, [], 0),
                ("p4", KIND_PAGE, ["cooking"], 1),
            ]),
        )  # fmt: skip
        timed = out | beam.Filter(lambda pg: pg.kind == KIND_PAGE and pg.topics_ms <= 0.0)
        assert_that(timed | beam.Map(lambda pg: pg.url), equal_to([]), label="topics_ms set")


def test_bad_taxonomy_fails_when_the_graph_is_built(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("labels: {}\n")
    with pytest.raises(ValueError, match="'labels' is missing"):
        TagTopics(TopicConfig(taxonomy=str(path)))


def test_a_failing_page_becomes_a_dead_letter(monkeypatch):
    def broken(*args):
        raise RuntimeError("boom")

    fn = TagTopicsFn(TopicConfig())
    fn.setup()
    monkeypatch.setattr(topics, "score_topics", broken)
    (dead,) = fn.process(_page("some text"))
    assert (dead.kind, dead.stage, dead.reason, dead.error) == (
        KIND_DEAD, "topics", "error", "RuntimeError: boom"
    )  # fmt: skip
    assert dead.excerpt == "some text" and "RuntimeError" in dead.traceback
    (passed,) = fn.process(_page("x", kind=KIND_DEAD))
    assert passed == _page("x", kind=KIND_DEAD)
