"""Pure fingerprint functions: normalisers, shingles, MinHash, band keys, config."""

from __future__ import annotations

import random
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pagestream.transforms.dedup.fingerprint import (
    DedupConfig,
    Fingerprint,
    fingerprint_page,
    lsh_params,
)
from pagestream.transforms.dedup.minhash import (
    band_keys,
    estimated_jaccard,
    fingerprint_tag,
    minhash,
    shingle_hashes,
)
from pagestream.transforms.dedup.normalise import (
    _NON_WORD,
    content_hash,
    normalise_text,
    normalise_url,
    shingles,
    tokens,
)

VOCAB = [f"word{i}" for i in range(3000)]


def article(seed: int, words: int = 300, per_line: int = 30) -> str:
    rng = random.Random(seed)
    ws = [rng.choice(VOCAB) for _ in range(words)]
    return "\n\n".join(" ".join(ws[i : i + per_line]) for i in range(0, words, per_line))


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, World!", "hello world"),
        ("  Straße\tSTRASSE \n\n x ", "strasse strasse x"),
        ("ﬁne — “quoted” ½", "fine quoted 1 2"),  # NFKC: ligature, fraction
        ("हिन्दी भाषा", "हिन्दी भाषा"),  # combining marks stay inside words
        ("...!!!", ""),
        ("", ""),
    ],
)
def test_normalise_text(text, expected):
    assert normalise_text(text) == expected


def test_content_hash_equal_for_equal_normalised_text():
    assert content_hash("Hello,   world!\n") == content_hash("hello world")
    assert content_hash("hello world") != content_hash("hello worlds")
    assert len(content_hash("x")) == 32


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.Example.COM/a/b/", "example.com/a/b"),
        ("http://example.com:80/a", "example.com/a"),
        ("https://example.com:443/a", "example.com/a"),
        ("https://example.com:8443/a", "example.com:8443/a"),
        (
            "https://example.com/a?utm_source=x&b=2&a=1&fbclid=z&gclid=q#top",
            "example.com/a?a=1&b=2",
        ),
        ("https://example.com/", "example.com"),
        ("https://example.com/A/Path", "example.com/A/Path"),  # path case is kept
        ("https://user:pw@example.com/x", "example.com/x"),
        ("hard::page.html", "hard::page.html"),
        ("file:///data/x.txt", "file:///data/x.txt"),
        ("http://example.com:99999/x", "http://example.com:99999/x"),  # bad port: as read
        ("", ""),
    ],
)
def test_normalise_url(url, expected):
    assert normalise_url(url) == expected


def test_normalise_url_http_and_https_are_one_page():
    assert normalise_url("http://example.com/x") == normalise_url("https://www.example.com/x/")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_normalisers_never_raise(text):
    assert isinstance(normalise_text(text), str)
    assert isinstance(normalise_url(text), str)
    assert isinstance(content_hash(text), str)
    shingles(text, 3, 2)


@settings(max_examples=100, deadline=None)
@given(
    st.builds(
        lambda s, h, p, q: f"{s}://{h}{p}?{q}",
        st.sampled_from(["http", "https", "ftp", ""]),
        st.text(),
        st.text(),
        st.text(),
    )
)
def test_normalise_url_never_raises_on_url_shaped_text(url):
    assert isinstance(normalise_url(url), str)


def test_tokens_split_unspaced_scripts_into_characters():
    assert tokens("我们的 OK, ภาษา") == ["我", "们", "的", "ok", "ภ", "า", "ษ", "า"]


def test_shingles_stay_within_lines_and_skip_short_lines():
    text = "a b c d\nShare this\ne f g h"
    assert shingles(text, 3, min_line_words=3) == {"a b c", "b c d", "e f g", "f g h"}
    assert shingles(text, 3, min_line_words=0) == {"a b c", "b c d", "share this", "e f g", "f g h"}


def test_shingles_fall_back_to_whole_text_when_every_line_is_short():
    assert shingles("a b\nc d", 3, min_line_words=5) == {"a b c", "b c d"}
    assert shingles("", 3) == set()


@pytest.mark.parametrize("text", [article(1), "a b\nc d e f g h\ni", "x", "我们的中文网页内容很好"])
def test_shingle_hashes_hash_exactly_the_shingle_set(text):
    for n, min_words in [(1, 0), (3, 0), (5, 5)]:
        assert len(shingle_hashes(text, n, min_words)) == len(shingles(text, n, min_words))


def test_minhash_estimates_jaccard():
    config = DedupConfig()
    a = article(7)
    words = a.split(" ")
    for i in range(0, len(words), 12):
        words[i] = "edited"
    b = " ".join(words)
    true = jaccard(*(shingles(t, config.shingle_size, config.min_line_words) for t in (a, b)))
    estimate = estimated_jaccard(minhash(a, config), minhash(b, config))
    assert 0.2 < true < 0.8
    assert abs(estimate - true) < 0.12


def test_minhash_is_deterministic_and_seeded():
    config = DedupConfig()
    sig = minhash(article(3), config)
    assert sig.dtype == np.uint32 and sig.shape == (128,)
    assert np.array_equal(sig, minhash(article(3), config))
    assert not np.array_equal(sig, minhash(article(3), DedupConfig(seed=2)))
    assert estimated_jaccard(sig, minhash(article(4), config)) < 0.1


def test_text_without_words_has_no_signature_and_matches_nothing():
    config = DedupConfig()
    empty = minhash("--- !!", config)
    assert len(empty) == 0
    assert band_keys(empty, config) == []
    assert estimated_jaccard(empty, empty) == 0.0


def test_band_keys_collide_only_on_equal_bands():
    config = DedupConfig(bands=4, rows=32)
    sig = minhash(article(5), config)
    other = sig.copy()
    other[0] += 1  # changes band 0 only
    keys, other_keys = band_keys(sig, config), band_keys(other, config)
    assert len(keys) == 4 and len(set(keys)) == 4
    assert [k == o for k, o in zip(keys, other_keys, strict=True)] == [False, True, True, True]
    assert all(k.startswith(fingerprint_tag(config) + ":") for k in keys)
    assert fingerprint_tag(config) != fingerprint_tag(DedupConfig(shingle_size=4))


def test_config_derives_bands_from_threshold():
    config = DedupConfig(threshold=0.8)
    assert (config.bands, config.rows) == lsh_params(0.8, 128)
    assert config.bands * config.rows <= 128
    low, high = lsh_params(0.5, 128), lsh_params(0.9, 128)
    assert low[1] < high[1]  # a higher threshold takes more rows per band


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"num_perm": 8}, "num_perm"),
        ({"shingle_size": 0}, "shingle_size"),
        ({"bands": 4}, "bands and rows"),
        ({"bands": 20, "rows": 20}, "bands \\* rows"),
        ({"max_chars": 10}, "max_chars"),
        ({"index_shards": 0}, "index_shards"),
        ({"threshold": "0.8"}, "threshold"),
    ],
)
def test_config_validation_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        DedupConfig(**kwargs)


@pytest.mark.parametrize(("num_perm", "seed"), [(128, 1), (16, 0), (256, 12345)])
def test_permutations_are_datasketchs_affine32(num_perm, seed):
    from datasketch import MinHash

    from pagestream.transforms.dedup.minhash import _permutations

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    ours = _permutations(num_perm, seed)
    assert ours[0].dtype == ours[1].dtype == np.uint32
    assert np.array_equal(ours[0], a) and np.array_equal(ours[1], b)
    assert (ours[0] % 2 == 1).all()


# --- fingerprint_page: one normalisation for minhash and content_hash -------------------------

_TRICKY = [
    "", "   ", "\n", "...!!!", "Hello, World!\r\nSecond line here, five words.\r\n",
    "line one\u2028line two\u2029three\x0bfour\x0cfive\x1csix\x1dseven\x1eeight\x85nine",
    "unit\x1fseparator is space\x1fnot a line break", "a\u00a0b\u202fc\u3000d\u1680e\u2007f",
    "zero\u200bwidth\u200cjoin\u200dner\ufeffbom\u2060wj", "\r\n\r\n  lead and trail \t\n\n",
    "हिन्दी भाषा के शब्द\nकिताब पढ़ना अच्छा है", "e\u0301cole \u0301alone ĳ ﬁne Ⅻ ① x² ½",
    "İstanbul ΣΟΦΟΣ straße STRASSE ǅemal", "我们的中文网页内容很好。\n日本語のテキスト、カタカナ",
    "ภาษาไทย ไม่มี ช่องว่าง\nمرحبا بالعالم العربي\u064e\u064f", "한국어 텍스트 👍🏽 emoji 🇩🇪 flags",
    "tab\tseparated\tvalues\tin\tone\tline\n" * 3, "lone \ud800 surrogate words here",
    "Ｆｕｌｌｗｉｄｔｈ ＬＥＴＴＥＲＳ １２３", "a" * 150 + " b " * 40 + "\n" + "word " * 60,
]  # fmt: skip
_CONFIGS = [
    DedupConfig(),
    DedupConfig(max_chars=100),  # long texts: minhash sees the first 100 characters only
    DedupConfig(max_chars=100, shingle_size=1, min_line_words=0),
]


def _composed(page, config: DedupConfig) -> Fingerprint:
    """fingerprint_page as first written: minhash and content_hash, each normalising."""
    signature = minhash(page.text, config)
    return fingerprint_page(page, config, "2024-01-01")._replace(
        content_hash=content_hash(page.text),
        signature=signature.astype("<u4").tobytes(),
        band_keys=band_keys(signature, config),
    )


def _page(text: str) -> SimpleNamespace:
    return SimpleNamespace(text=text, url="https://x.example/a", run_id="r", doc_id="d",
                           source="s", fetch_time=None)  # fmt: skip


@pytest.mark.parametrize("config", _CONFIGS)
@pytest.mark.parametrize("text", _TRICKY)
def test_fingerprint_page_equals_minhash_and_content_hash(text, config):
    assert fingerprint_page(_page(text), config, "2024-01-01") == _composed(_page(text), config)


# Every character str.split() or str.splitlines() cuts at.
_CUTS = "".join(
    c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace() or len(f"a{c}b".splitlines()) > 1
)
_ODD = st.sampled_from(
    list(_CUTS + "\u200b\u200c\u200d\ufeff\u0301\u064e\u093f\u00ad.,-'’_ﬁĳ²½İßΣ我ภ")
)


@settings(max_examples=300, deadline=None)
@given(st.text(st.one_of(_ODD, st.characters()), max_size=400), st.sampled_from(_CONFIGS))
def test_fingerprint_page_equals_minhash_and_content_hash_on_any_text(text, config):
    assert fingerprint_page(_page(text), config, "2024-01-01") == _composed(_page(text), config)


def test_whitespace_and_line_breaks_are_never_word_characters():
    # Why fingerprint_page may join the words of the line text instead of running _NON_WORD:
    # every character str.split() or str.splitlines() cuts at is one _NON_WORD replaces.
    assert {"\n", "\r", "\x1f", "\u2028", "\u3000"} <= set(_CUTS)
    assert _NON_WORD.fullmatch(_CUTS)


def test_fingerprint_page_on_real_texts(shared):
    texts = [p.read_text(encoding="utf-8") for p in sorted(shared.glob("seeds/*.txt"))]
    assert len(texts) == 5
    for text in texts:
        for config in _CONFIGS:
            assert fingerprint_page(_page(text), config, "2024-01-01") == _composed(
                _page(text), config
            )
