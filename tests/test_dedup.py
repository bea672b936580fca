"""MarkDuplicates: exact, url, near, keep rule, transitivity, syndication, shared footers."""

from __future__ import annotations

import random

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pagestream.schemas.records import KIND_DEAD, KIND_REJECTED, Page, new_page
from pagestream.transforms.dedup.fingerprint import DedupConfig, Fingerprint, fingerprint_page
from pagestream.transforms.dedup.keep import (
    bucket_edges,
    connected_components,
    group_edges,
    resolve_component,
)
from pagestream.transforms.dedup.mark import MarkDuplicates
from pagestream.transforms.dedup.minhash import (
    estimated_containment,
    estimated_jaccard,
    estimated_size,
    minhash,
    near_match,
)

CONFIG = DedupConfig(threshold=0.7)
RUN, DATE = "r1", "2024-01-01"
VOCAB = [f"word{i}" for i in range(5000)]


def article(seed: int, words: int = 240, per_line: int = 24) -> str:
    rng = random.Random(seed)
    ws = [rng.choice(VOCAB) for _ in range(words)]
    return "\n\n".join(" ".join(ws[i : i + per_line]) for i in range(0, words, per_line))


def edit(text: str, every: int) -> str:
    words = text.split(" ")
    return " ".join("changed" if i % every == 0 else w for i, w in enumerate(words))


def page(doc_id, text, *, url=None, fetch_time=None, source=None, kind="page", run_id=RUN):
    return new_page(
        doc_id=doc_id,
        url=url or f"https://site{doc_id}.example/{doc_id}",
        domain="example",
        source=source or f"in.jsonl:{doc_id}",
        fetch_time=fetch_time,
        text=text,
        word_count=len((text or "").split()),
        language="en",
        dup_status="",
        extractor="plaintext",
        run_id=run_id,
        pipeline_version="0",
        crawl_date=DATE,
        kind=kind,
    )


def sim(a: str, b: str) -> float:
    return estimated_jaccard(minhash(a, CONFIG), minhash(b, CONFIG))


def row(p: Page):
    return (p.doc_id, p.source, p.kind, p.dup_status, p.dup_of, p.dup_similarity, p.dup_run)


def run_marks(pages, expected, config=CONFIG):
    with TestPipeline() as p:
        out = p | beam.Create(pages) | MarkDuplicates(config, RUN, DATE)
        assert_that(out | beam.Map(row), equal_to(expected))


def test_exact_url_near_and_unique():
    a, b, c = article(1), article(2), article(3)
    near = edit(a, 60)
    assert CONFIG.threshold <= sim(a, near) < 1.0
    pages = [
        page("a", a, url="https://news.example/story"),
        page("a-copy", "  " + a.upper().replace("\n\n", "\n") + "!", url="https://other.example/x"),
        page("a-near", near),
        page("b", b, url="http://www.news.example/story/?utm_source=feed"),
        page("c", c),
    ]
    run_marks(
        pages,
        [
            ("a", "in.jsonl:a", "page", "unique", None, None, None),
            ("a-copy", "in.jsonl:a-copy", "page", "exact", "a", 1.0, RUN),
            ("a-near", "in.jsonl:a-near", "page", "near", "a", sim(a, near), RUN),
            ("b", "in.jsonl:b", "page", "url", "a", sim(a, b), RUN),
            ("c", "in.jsonl:c", "page", "unique", None, None, None),
        ],
    )


def test_keep_rule_fetch_time_then_doc_id_then_source():
    a, b = article(10), article(11)
    pages = [
        # fetch_time decides, whatever the doc_id; None sorts last
        page("a1", a, fetch_time=None),
        page("a2", a, fetch_time=2_000),
        page("a3", a, fetch_time=1_000),
        # no fetch times: smallest doc_id, then smallest source
        page("b2", b, source="f:1"),
        page("b1", b, source="f:9"),
        page("b1", b, source="f:3"),
    ]
    run_marks(
        pages,
        [
            ("a1", "in.jsonl:a1", "page", "exact", "a3", 1.0, RUN),
            ("a2", "in.jsonl:a2", "page", "exact", "a3", 1.0, RUN),
            ("a3", "in.jsonl:a3", "page", "unique", None, None, None),
            ("b2", "f:1", "page", "exact", "b1", 1.0, RUN),
            ("b1", "f:9", "page", "exact", "b1", 1.0, RUN),
            ("b1", "f:3", "page", "unique", None, None, None),
        ],
    )


def test_other_kinds_pass_through_and_failures_become_dead_letters():
    rejected = page("r", "short", kind=KIND_REJECTED)
    broken = page("x", None)  # text None: fingerprinting raises
    with TestPipeline() as p:
        out = p | beam.Create([rejected, broken]) | MarkDuplicates(CONFIG, RUN, DATE)
        assert_that(
            out | beam.Map(lambda q: (q.doc_id, q.kind, q.stage, q.reason, (q.error or "")[:9])),
            equal_to(
                [
                    ("r", "rejected", None, None, ""),
                    ("x", KIND_DEAD, "dedup", "fingerprint", "TypeError"),
                ]
            ),
        )


def test_shared_long_footer_does_not_make_articles_duplicates():
    # A long site footer: menu lines, a newsletter blurb and a legal paragraph.
    menu = "\n".join(["Home", "World", "Politics", "Business", "Sport", "Share this article"] * 6)
    legal = (
        "All content on this site is protected by copyright and may not be reproduced, "
        "distributed or transmitted without the prior written permission of the publisher. "
        "Sign up for our daily newsletter to get the top stories delivered to your inbox."
    )
    footer = f"{menu}\n\n{legal}"
    one, two = article(20, words=80) + "\n\n" + footer, article(21, words=80) + "\n\n" + footer
    assert len(footer.split()) > len(article(20, words=80).split())  # the footer dominates
    assert sim(one, two) < 0.25
    run_marks(
        [
            page("one", one, url="https://site.example/1"),
            page("two", two, url="https://site.example/2"),
        ],
        [
            ("one", "in.jsonl:one", "page", "unique", None, None, None),
            ("two", "in.jsonl:two", "page", "unique", None, None, None),
        ],
    )


def test_syndicated_story_makes_linear_edges():
    """2,000 copies (8 variants) make O(n) edges: each bucket member has one edge, not 2M pairs."""
    story = article(30)
    fps = []
    for i in range(2000):
        text = story if i % 2 else story.replace("word", "w0rd", 1 + i % 7)
        fps.append(fingerprint_page(page(f"d{i:04d}", text), CONFIG, DATE))
    groups: dict[str, list[Fingerprint]] = {}
    for fp in fps:
        for key in [f"h:{fp.content_hash}", *fp.band_keys]:
            groups.setdefault(key, []).append(fp)
    edges = set()
    for key, members in groups.items():
        new = (
            group_edges(members)
            if key.startswith("h:")
            else bucket_edges(members, CONFIG.threshold)
        )
        assert len(new) <= len(members) - 1
        edges.update(new)
    assert len(fps) - 1 <= len(edges) <= len(fps) * (CONFIG.bands + 1)  # all-pairs: 1,999,000
    assert len(edges) < 3 * len(fps)  # measured: 4,992
    components = connected_components(edges)
    assert len(set(components.values())) == 1 and len(components) == 2000
    marks = resolve_component(fps, CONFIG.threshold)
    assert len(marks) == 1999
    assert {m.dup_of for m in marks} == {"d0000"}


def fake(doc_id: str, sig: np.ndarray, *, current=True, run_id=RUN, date=DATE, h=None, url=""):
    return Fingerprint(
        node=f"{run_id}/{doc_id}",
        doc_id=doc_id,
        source="s",
        run_id=run_id,
        logical_date=date,
        fetch_time=None,
        content_hash=h or doc_id,
        norm_url=url,
        signature=sig.astype("<u4").tobytes(),
        band_keys=[],
        current=current,
    )


def test_transitivity_only_verified_links_to_the_kept_page():
    """A~B (0.75), B~C (0.75), A!~C (0.5): B is near A; C stays unique."""
    a = np.arange(128, dtype=np.uint32)
    b, c = a.copy(), a.copy()
    b[:32] += 1000
    c[:32] += 1000
    c[32:64] += 1000
    assert estimated_jaccard(a, b) == estimated_jaccard(b, c) == 0.75
    assert estimated_jaccard(a, c) == 0.5
    marks = resolve_component([fake("c", c), fake("a", a), fake("b", b)], 0.7)
    assert [(m.node, m.dup_status, m.dup_of, m.dup_similarity) for m in marks] == [
        (f"{RUN}/b", "near", "a", 0.75)
    ]


def test_precedence_exact_over_near_over_url_and_earlier_runs_win():
    base = np.arange(128, dtype=np.uint32)
    near = base.copy()
    near[:10] += 1000
    members = [
        fake("old", base, current=False, run_id="r0", date="2023-12-31", url="u"),
        fake("x", near, h="old", url="u"),  # same text as old, similar, same url
        fake("y", near, url="u"),  # similar and same url
        fake("z", base + 5000, url="u"),  # same url only
    ]
    marks = resolve_component(members, 0.7)
    assert [(m.node, m.dup_status, m.dup_of, m.dup_similarity, m.dup_run) for m in marks] == [
        (f"{RUN}/x", "exact", "old", 1.0, "r0"),
        (f"{RUN}/y", "near", "old", estimated_jaccard(base, near), "r0"),
        (f"{RUN}/z", "url", "old", 0.0, "r0"),
    ]


def test_buckets_without_a_page_of_this_run_make_no_edges():
    sig = np.arange(128, dtype=np.uint32)
    old = [fake(f"o{i}", sig, current=False, run_id="r0", date="2023-12-31") for i in (1, 2)]
    assert group_edges(old) == []
    assert bucket_edges(old, 0.7) == []
    assert bucket_edges([*old, fake("n", sig)], 0.7) == [("r0/o1", "r0/o2"), ("r0/o1", "r1/n")]


def test_band_members_carry_everything_but_their_band_keys():
    from pagestream.transforms.dedup.mark import keyed_by_band

    text = "one two three four five six seven eight nine ten eleven twelve " * 5
    page = new_page(url="https://a.example/x", source="f.jsonl#1", run_id="r", text=text,
                    doc_id="d1", crawl_date="2024-01-01", pipeline_version="t")  # fmt: skip
    fp = fingerprint_page(page, DedupConfig(), "2024-01-01")
    pairs = keyed_by_band(fp)
    assert [key for key, _ in pairs] == list(fp.band_keys) and len(pairs) == DedupConfig().bands
    for _, member in pairs:
        assert member.band_keys == ()
        assert member._replace(band_keys=fp.band_keys) == fp


# --- containment: copies cut short or missing a paragraph -------------------------------------


def _cut(text: str, keep: float) -> str:
    words = text.split(" ")
    return " ".join(words[: int(len(words) * keep)])


def test_a_copy_cut_short_is_near_by_containment_not_by_jaccard():
    a = article(40, words=600)
    cut = _cut(a, 0.6)  # Jaccard ~0.6: under the threshold; fully inside the original
    sa, sc = minhash(a, CONFIG), minhash(cut, CONFIG)
    assert 0.5 <= estimated_jaccard(sa, sc) < CONFIG.threshold
    assert estimated_containment(sa, sc) >= CONFIG.containment
    assert near_match(sa, sc, CONFIG) == (True, estimated_jaccard(sa, sc))
    no_containment = DedupConfig(threshold=0.7, containment=0.0)
    assert near_match(sa, sc, no_containment)[0] is False
    other = article(41, words=600)
    run_marks(
        [page("a", a, fetch_time=1), page("c", cut, fetch_time=2), page("o", other)],
        [
            ("a", "in.jsonl:a", "page", "unique", None, None, None),
            ("c", "in.jsonl:c", "page", "near", "a", estimated_jaccard(sa, sc), RUN),
            ("o", "in.jsonl:o", "page", "unique", None, None, None),
        ],
    )
    run_marks(  # the rule is the config's: without containment the cut copy stays unique
        [page("a", a, fetch_time=1), page("c", cut, fetch_time=2)],
        [
            ("a", "in.jsonl:a", "page", "unique", None, None, None),
            ("c", "in.jsonl:c", "page", "unique", None, None, None),
        ],
        config=no_containment,
    )


def test_a_short_page_inside_a_long_one_is_not_a_copy_of_it():
    """A few lines (a quote, a teaser) are contained in many pages: ``min_contained``."""
    long_page = article(42, words=2000)
    teaser = _cut(long_page, 0.02)  # 40 words: ~38 shingles < min_contained
    sa, st = minhash(long_page, CONFIG), minhash(teaser, CONFIG)
    assert estimated_jaccard(sa, st) < CONFIG.containment_min_jaccard
    assert near_match(sa, st, CONFIG)[0] is False
    assert estimated_size(st) < CONFIG.min_contained


def test_resolve_component_uses_the_config_rule_and_the_float_api_stays_jaccard_only():
    a = article(43, words=600)
    cut = _cut(a, 0.6)
    members = [
        fingerprint_page(page("a", a, fetch_time=1), CONFIG, DATE),
        fingerprint_page(page("c", cut, fetch_time=2), CONFIG, DATE),
    ]
    assert [m.dup_status for m in resolve_component(members, 0.7, CONFIG)] == ["near"]
    assert resolve_component(members, 0.7) == []
    assert bucket_edges(members, 0.7, CONFIG) == [(members[0].node, members[1].node)]
    assert bucket_edges(members, 0.7) == []


def test_estimated_size_is_within_a_quarter_of_the_shingle_count():
    for words in (120, 600, 3000):
        text = article(44 + words, words=words, per_line=words)  # one line: words - 2 shingles
        estimate = estimated_size(minhash(text, CONFIG))
        assert abs(estimate / (words - CONFIG.shingle_size + 1) - 1) < 0.25
    assert estimated_size(np.zeros(0, dtype=np.uint32)) == 0.0


@pytest.mark.parametrize(
    "field, value",
    [("containment", 1.5), ("containment_min_jaccard", -0.1), ("min_contained", -1)],
)
def test_containment_options_are_checked(field, value):
    with pytest.raises(ValueError, match=field):
        DedupConfig(**{field: value})
