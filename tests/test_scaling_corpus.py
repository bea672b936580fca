"""The synthetic size corpus of benchmarks/size_corpus.py: deterministic, planted as recorded, new text."""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import sys
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BENCH = Path(__file__).resolve().parents[1] / "benchmarks"

if not (SHARED / "extraction-dev" / "pages.jsonl.gz").exists():
    pytest.skip("needs ../shared/data/extraction-dev", allow_module_level=True)

sys.path.insert(0, str(BENCH))
import size_corpus  # noqa: E402

PAGES = 60
SOURCE_PAGES = 40  # a subset of extraction-dev keeps the test fast (template parsing dominates)
# High copy rates so 60 pages hold several of each kind.
CONFIG = size_corpus.CorpusConfig(seed=3, exact_rate=0.2, near_rate=0.2)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """The first ``SOURCE_PAGES`` lines of the three extraction-dev files the generator reads."""
    folder = tmp_path_factory.mktemp("source")
    for name in ("pages.jsonl.gz", "truth.jsonl.gz", "baseline_predictions.jsonl.gz"):
        with gzip.open(SHARED / "extraction-dev" / name, "rb") as lines:
            head = list(itertools.islice(lines, SOURCE_PAGES))
        with gzip.open(folder / name, "wb") as out:
            out.writelines(head)
    return folder


def _records(folder: Path) -> dict[int, dict]:
    records = {}
    for part in sorted(folder.glob("part-*.jsonl.gz")):
        with gzip.open(part, "rt", encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                records[int(record["url"].rsplit("=", 1)[1])] = record
    return records


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, source) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("corpus")
    return folder, size_corpus.write_corpus(PAGES, folder, 3, CONFIG, source)


@pytest.fixture(scope="module")
def templates(source) -> list:
    return size_corpus.load_templates(CONFIG, source)


def test_same_seed_same_bytes(corpus, source, tmp_path):
    folder, _ = corpus
    size_corpus.write_corpus(PAGES, tmp_path, 3, CONFIG, source)
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(p.name for p in tmp_path.iterdir())
    for name in names:
        assert (folder / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_other_seed_other_pages(corpus, source, tmp_path):
    folder, _ = corpus
    config = size_corpus.CorpusConfig(seed=4, exact_rate=0.2, near_rate=0.2)
    size_corpus.write_corpus(PAGES, tmp_path, 3, config, source)
    assert (folder / "part-000.jsonl.gz").read_bytes() != (
        tmp_path / "part-000.jsonl.gz"
    ).read_bytes()


def test_planted_counts_add_up_and_match_the_pages(corpus):
    folder, summary = corpus
    planted = summary["planted"]
    assert sum(planted.values()) == PAGES
    assert planted["exact"] > 0 and planted["near"] > 0
    with open(folder / "_planted.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["page"]) for r in rows] == list(range(PAGES))
    assert {k: sum(r["kind"] == k for r in rows) for k in size_corpus.KINDS} == planted
    records = _records(folder)
    assert len(records) == PAGES
    for row in rows:
        page, source = records[int(row["page"])], records[int(row["source"])]
        if row["kind"] == "unique":
            assert row["source"] == row["page"]
        elif row["kind"] == "exact":
            assert page["html"] == source["html"] and page["url"] != source["url"]
        else:
            assert page["html"] != source["html"]
            assert len(page["html"]) == pytest.approx(len(source["html"]), rel=0.05)


def test_every_url_is_unique_and_names_its_page(corpus):
    folder, _ = corpus
    records = _records(folder)
    urls = [r["url"] for r in records.values()]
    assert len(set(urls)) == PAGES
    assert all(r["url"].endswith(f"pagestream_page={n}") for n, r in records.items())


def test_unique_pages_replace_the_template_paragraphs(corpus, templates):
    folder, _ = corpus
    records = _records(folder)
    urls = {size_corpus.page_url(t.url, 0).rsplit("=", 1)[0]: t for t in templates}
    with open(folder / "_planted.csv", encoding="utf-8") as handle:
        uniques = [int(r["page"]) for r in csv.DictReader(handle) if r["kind"] == "unique"]
    for n in uniques:
        template = urls[records[n]["url"].rsplit("=", 1)[0]]
        assert template.coverage >= CONFIG.min_coverage
        paragraphs = [
            size_corpus._plain(m.group(2))
            for m in size_corpus._PARAGRAPH.finditer(records[n]["html"])
        ]
        new = [p for p in paragraphs if len(p.split()) >= CONFIG.min_slot_words]
        assert [len(p.split()) for p in new] == list(template.sizes)  # same slots, same sizes
        assert not set(new) & set(template.original)


def test_corpus_is_a_valid_pagestream_input(corpus):
    from pagestream.transforms.read.inputs import expand_inputs

    folder, _ = corpus
    files, skipped = expand_inputs([str(folder)])
    assert sorted(Path(f.path).name for f in files) == [f"part-00{i}.jsonl.gz" for i in range(3)]
    assert not skipped  # _planted.* are hidden files to a run


@pytest.mark.parametrize(
    "field, value",
    [("exact_rate", 0.5), ("near_rate", -0.1), ("min_coverage", 0.0), ("near_word_rate", 0.0)],
)
def test_config_rejects_out_of_range(field, value):
    with pytest.raises(ValueError, match=field):
        size_corpus.CorpusConfig(**{field: value})
