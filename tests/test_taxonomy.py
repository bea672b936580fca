"""Tests of transforms/topics/lexicon.py matching: the indexed lexicon lookup equals the plain one.

``_reference_token`` and ``_reference_count`` are the matching and counting as first written
(every affix size tried, ``_best_per_label`` always, PyStemmer with its word cache); the
lexicon and ``topics._count_terms`` must give exactly what they give, in the same order.
"""

from __future__ import annotations

import gzip
import itertools
import json

import pytest
import snowballstemmer

from pagestream.transforms.topics import tag as topics
from pagestream.transforms.topics.lexicon import _STEMMERS, _TOKEN_RE, _best_per_label
from pagestream.transforms.topics.taxonomy import load_taxonomy

# Affixes of several sizes sharing heads and tails, for one or several labels, with equal
# weights (the first match of a label's best weight is kept, so the order must hold); an
# ``el`` suffix whose stem is empty (``stem("ίδιο") == ""``), which disables the index.
AFFIXES = """
labels:
  a:
    de:
      3: ["*krieg", "*kriege", "*ieg", "bürger*", "bürgerkrieg", "welt*", "weltmeister*"]
      1: ["*ung", "meister*", "krieg*", "*wahl"]
    en:
      2: ["ab*", "abc*", "abcdef*", "*tion", "*ation", "*ization", "nation state"]
    el:
      1: ["*ίδιο", "*σπίτι", "σπίτι*"]
  b:
    de:
      3: ["*ung", "*meisterschaft", "welt*", "bundes*", "*wahl"]
      2: ["*ieg", "bürgerkrieg im land", "*g"]
    en:
      2: ["abc*", "*ation", "nation", "a*"]
  c:
    de:
      3: ["*kriege", "krieg*"]
    en:
      1: ["abcd*", "*n", "*ization"]
"""
_ENDINGS = ("", "e", "en", "n", "s", "es", "er", "ern", "ung", "ungen", "ing", "ed", "ation")
_FIXED = [
    "bürgerkriege", "angriffskriege", "weltmeisterschaften", "fußballweltmeisterschaft", "straße",
    "ß", "x", "ab", "zu", "a", "abc", "abcd", "abcde", "abcdef", "abcdefg", "nation", "nations",
    "internationalization", "organisation", "x²", "ίδιο", "ίδια", "σπίτι", "σπίτια", "το", "α",
]  # fmt: skip


def _reference_token(lexicon, stem, token):
    stem = stem(token)
    found = list(lexicon.words.get(stem, ()))
    for size in lexicon.prefix_sizes:
        found += lexicon.prefixes.get(token[:size], ())
    for size in lexicon.suffix_sizes:
        found += lexicon.suffixes.get(token[-size:], ())
        found += lexicon.suffixes.get(stem[-size:], ())
    return stem, _best_per_label(found), lexicon.phrases.get(stem, ())


def _reference_lookup(lexicon, stem, chunk):
    return tuple(_reference_token(lexicon, stem, t) for t in _TOKEN_RE.findall(chunk))


def _reference_count(text, lexicon, stem, factor, counts):
    info = [i for c in text.lower().split() for i in _reference_lookup(lexicon, stem, c)]
    i, n = 0, len(info)
    while i < n:
        _, entries, phrases = info[i]
        step = 1
        for rest, phrase_entries in phrases:
            k = len(rest)
            if i + k < n and all(info[i + 1 + j][0] == rest[j] for j in range(k)):
                entries, step = phrase_entries, k + 1
                break
        for label, weight, term in entries:
            slot = counts.setdefault((label, term), [weight, 0.0])
            slot[1] += factor
        i += step
    return n


def _stemmer(language):
    name = _STEMMERS.get(language)
    return snowballstemmer.stemmer(name).stemWord if name else str


def _tokens(lexicon) -> list[str]:
    """Affixes (all) and words (every 5th) inflected, compounded, cut, umlauted; _FIXED."""
    words = {*lexicon.words, *lexicon.phrases}
    words |= {w for tails in lexicon.phrases.values() for rest, _ in tails for w in rest}
    keys = {*lexicon.prefixes, *lexicon.suffixes, *sorted(words)[::5]}
    out = set(_FIXED)
    for key in keys:
        for ending in _ENDINGS:
            out |= {key + ending, "bundes" + key + ending}
        out |= {"welt" + key, key[:-1], key[1:], key[:1], key[:2], key[:3], key[-2:], key[-3:]}
        for a, b in (("a", "ä"), ("o", "ö"), ("u", "ü"), ("ss", "ß")):
            out.add(key.replace(a, b))
    return sorted(t for t in out if t)


def _chunks(tokens: list[str]) -> list[str]:
    """Each token alone and in punctuated chunks of one or several tokens."""
    pairs = [f"{a}-{b}" for a, b in itertools.pairwise(tokens[::7])]
    return tokens + [f"({t}," for t in tokens[::3]] + pairs + [f"{t}2{t}." for t in tokens[::11]]


@pytest.fixture
def affixes(tmp_path):
    path = tmp_path / "affixes.yaml"
    path.write_text(AFFIXES, encoding="utf-8")
    return load_taxonomy(str(path))


def test_the_custom_taxonomy_covers_the_edge_cases(affixes):
    assert affixes.lexicons["de"].suffix_sizes == (1, 3, 4, 5, 6, 13)
    assert affixes.lexicons["el"].suffix_sizes[0] == 0  # "*ίδιο": its stem is ""
    assert affixes.lexicons["el"]._suffix_index == (0, None)
    assert len(load_taxonomy(None).lexicons["de"].suffixes) >= 56


@pytest.mark.parametrize("which", ["default", "affixes"])
def test_lookup_equals_the_reference(which, affixes):
    tax = load_taxonomy(None) if which == "default" else affixes  # a fresh, cold cache
    for language, lexicon in sorted(tax.lexicons.items()):
        stem = _stemmer(language)
        chunks = _chunks(_tokens(lexicon))
        expected = [_reference_lookup(lexicon, stem, c) for c in chunks]
        assert [lexicon.lookup(c) for c in chunks] == expected, language  # cold
        assert [lexicon.lookup(c) for c in reversed(chunks)] == expected[::-1], language  # warm
        lexicon.cache.clear()  # tokens first seen inside punctuated chunks
        assert [lexicon.lookup(c) for c in reversed(chunks)] == expected[::-1], language
        matched = {e[2] for r in expected for t in r for e in t[1]}
        assert any(m.endswith("*") for m in matched) == bool(lexicon.prefixes), language
        assert any(m.startswith("*") for m in matched) == bool(lexicon.suffixes), language
        assert any(t[2] for r in expected for t in r) == bool(lexicon.phrases), language


def test_default_lookup_sees_suffixes_prefixes_and_phrases():
    de = load_taxonomy(None).lexicons["de"]
    (krieg,) = de.lookup("angriffskriege,")
    assert [e[2] for e in krieg[1]] == ["*krieg"]
    assert de.lookup("x²") == (("x²", (), ()),)  # a token, though not str.isalpha()


def test_alpha_chunks_are_one_token():
    # lookup() skips the regex for str.isalpha() chunks: every letter is a token character.
    letters = "".join(chr(c) for c in range(0x110000) if chr(c).isalpha())
    assert _TOKEN_RE.fullmatch(letters)


def _real_texts(shared):
    """(language, text, title) of development data: extraction-dev snippets, seeds."""
    out = []
    with gzip.open(shared / "extraction-dev" / "truth.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    for language in ("de", "en", "fr", "es"):
        picked = [r for r in rows if r["lang"] == language][:30]
        out += [(language, " ".join(r["with"]), (r.get("meta") or {}).get("title")) for r in picked]
    out += [("en", p.read_text(encoding="utf-8"), None) for p in sorted(shared.glob("seeds/*.txt"))]
    return out


def test_counts_on_real_texts_equal_the_reference(shared):
    tax = load_taxonomy(None)
    texts = _real_texts(shared)
    assert len(texts) > 100
    for language, text, title in texts:
        for lang in sorted({language, "de", "en"}):  # German lexicon on English text too
            lexicon, stem = tax.lexicons[lang], _stemmer(lang)
            for piece, factor in ((text, 1.0), (title or "", 2.0)):
                got, expected = {}, {}
                n = topics._count_terms(piece, lexicon, factor, got)
                assert (n, list(got.items())) == (
                    _reference_count(piece, lexicon, stem, factor, expected),
                    list(expected.items()),
                )
