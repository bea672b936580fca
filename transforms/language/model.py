"""langdetect's profile model, loaded once per process, and the n-grams it reads from a text.

The model is langdetect's 55 character n-gram profiles as a matrix of ``log(p(g | lang) + α)``
(n-grams x languages), with per script the languages that write it. ``ngram_rows`` extracts the
n-grams of a text exactly as langdetect does (its cleaning, its normaliser). ``language.py``
computes the posterior from these; this module holds no Beam code.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import tempfile
import unicodedata
from collections import Counter
from dataclasses import dataclass

import numpy as np
from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.utils.ngram import NGram

__all__ = [
    "dominant_script",
    "load_model",
    "supported_languages",
]

#: langdetect's smoothing: each n-gram factor is p(g | lang) + 0.5 / 10000 (Detector.ALPHA_DEFAULT / BASE_FREQ).
_ALPHA = 0.5 / 10000
#: A script is native to a language when at least this share of the profile's letters is in it.
_NATIVE_SCRIPT_SHARE = 0.15


@dataclass(frozen=True)
class Model:
    factory: DetectorFactory  # langdetect's text cleaning needs a Detector, made from its factory
    langs: tuple[str, ...]
    rows: dict[str, int]  # n-gram -> row of log_probs
    log_probs: np.ndarray  # (n-grams, languages) float32: log(p(g | lang) + α)
    native: dict[str, np.ndarray]  # script -> bool mask of languages that write it


def _script(char: str) -> str:
    """Script of a letter from its Unicode name (``LATIN``, ``CYRILLIC``, ``CJK``, ``KANA``, ...)."""
    words = unicodedata.name(char, "?").split(" ")
    script = words[1] if words[0] in ("HALFWIDTH", "FULLWIDTH") and len(words) > 1 else words[0]
    return "KANA" if script in ("HIRAGANA", "KATAKANA") else script


@functools.cache
def load_model() -> Model:
    """langdetect's model, once per process: from the cache file when there is a valid one
    (~0.05 s), else built from langdetect's profiles (~1 s) and cached for the next process."""
    path = _cache_path()
    if path is not None:
        try:
            return _read_cached(path)
        except (OSError, ValueError, KeyError):  # absent, partial or from another format
            pass
    model = _build_model()
    if path is not None:
        _write_cache(path, model)
    return model


def _build_model() -> Model:
    """Builds the model from langdetect's profiles (sorted, so language order is the same everywhere)."""
    factory = DetectorFactory()
    names = sorted(os.listdir(PROFILES_DIRECTORY))  # langdetect itself uses os.listdir order
    profiles = []
    for name in names:
        with open(os.path.join(PROFILES_DIRECTORY, name), encoding="utf-8") as handle:
            profiles.append(handle.read())
    factory.load_json_profile(profiles)
    grams = factory.word_lang_prob_map
    rows = {gram: i for i, gram in enumerate(grams)}
    probs = np.array(list(grams.values()), dtype=np.float64)
    unigram_rows = [(gram, row) for gram, row in rows.items() if len(gram) == 1 and gram.isalpha()]
    totals = sum((probs[row] for _, row in unigram_rows), np.zeros(len(factory.langlist)))
    by_script: dict[str, np.ndarray] = {}
    for gram, row in unigram_rows:
        script = _script(gram)
        by_script[script] = by_script.get(script, 0) + probs[row]
    native = {
        script: mass / np.maximum(totals, 1e-12) >= _NATIVE_SCRIPT_SHARE
        for script, mass in sorted(by_script.items())
    }
    return _new_model(
        tuple(factory.langlist), rows, np.log(probs + _ALPHA).astype(np.float32), native
    )


def _new_model(
    langs: tuple[str, ...], rows: dict[str, int], log_probs: np.ndarray, native: dict
) -> Model:
    """The model, with the langdetect factory its text cleaning needs: the language list and
    the n-grams (the Detector only tests membership, so the float lists are not kept)."""
    factory = DetectorFactory()
    factory.langlist = list(langs)
    factory.word_lang_prob_map = rows
    factory.seed = 0  # only for Detector objects made from it; the posterior draws nothing
    return Model(factory=factory, langs=langs, rows=rows, log_probs=log_probs, native=native)


# The built model is cached as a .npz (no pickle) in PAGESTREAM_CACHE_DIR, else
# $XDG_CACHE_HOME/pagestream or ~/.cache/pagestream, under a name that hashes everything it
# is built from; PAGESTREAM_CACHE_DIR=off disables the cache. Building it is most of a
# worker's start-up (1 s of the ~2.5 s before the first page).
_CACHE_FORMAT = 1


def cache_dir() -> str | None:
    """Where pagestream caches derived data (None when ``PAGESTREAM_CACHE_DIR=off``)."""
    configured = os.environ.get("PAGESTREAM_CACHE_DIR")
    if configured:
        return None if configured.lower() == "off" else configured
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pagestream")


def _cache_path() -> str | None:
    directory = cache_dir()
    if directory is None:
        return None
    try:
        listing = [
            (name, os.stat(os.path.join(PROFILES_DIRECTORY, name)).st_size)
            for name in sorted(os.listdir(PROFILES_DIRECTORY))
        ]
        version = importlib.metadata.version("langdetect")
    except (OSError, importlib.metadata.PackageNotFoundError):
        return None
    spec = [_CACHE_FORMAT, version, PROFILES_DIRECTORY, listing, _ALPHA, _NATIVE_SCRIPT_SHARE]
    key = hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:16]
    return os.path.join(directory, f"langdetect-model-{key}.npz")


def _read_cached(path: str) -> Model:
    with np.load(path, allow_pickle=False) as data:
        langs = tuple(str(x) for x in data["langs"])
        grams = data["grams"].tolist()
        log_probs = data["log_probs"]
        scripts = [str(x) for x in data["scripts"]]
        native_matrix = data["native"]
    if log_probs.shape != (len(grams), len(langs)) or native_matrix.shape != (
        len(scripts),
        len(langs),
    ):
        raise ValueError(f"{path}: inconsistent shapes")
    rows = {gram: i for i, gram in enumerate(grams)}
    native = {script: native_matrix[i] for i, script in enumerate(scripts)}
    return _new_model(langs, rows, log_probs, native)


def _write_cache(path: str, model: Model) -> None:
    """Writes the cache file atomically; a cache that cannot be written is skipped quietly."""
    scripts = sorted(model.native)
    temp = None
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".npz.tmp")
        with os.fdopen(handle, "wb") as out:
            np.savez(
                out,
                langs=np.array(model.langs),
                grams=np.array(list(model.rows)),
                log_probs=model.log_probs,
                scripts=np.array(scripts),
                native=np.array([model.native[s] for s in scripts], dtype=bool),
            )
        os.replace(temp, path)
    except OSError:
        if temp is not None and os.path.exists(temp):
            os.unlink(temp)


def supported_languages() -> tuple[str, ...]:
    """The langdetect codes a page can be labelled with (besides ``und``), sorted."""
    return load_model().langs


def dominant_script(text: str) -> str | None:
    """The Unicode script most letters of ``text`` are written in, or ``None`` without letters."""
    counts: Counter[str] = Counter()
    for char, count in Counter(text).items():  # one Unicode-name lookup per distinct character
        if char.isalpha():
            counts[_script(char)] += count
    if not counts:
        return None
    return min(counts.items(), key=lambda item: (-item[1], item[0]))[0]


def ngram_rows(model: Model, text: str) -> list[int]:
    """Rows of the n-grams langdetect would extract from ``text`` (its cleaning, its normaliser).

    The loop is langdetect's ``NGram.add_char`` + ``Detector._extract_ngrams``, inlined with the
    normaliser applied once per distinct character: twice as fast, same n-grams (a test checks).
    """
    detector = model.factory.create()
    detector.set_max_text_length(len(text))
    detector.append(text)
    detector.cleaning_text()
    cleaned = detector.text
    normal = {char: NGram.normalize(char) for char in set(cleaned)}
    upper = {char: char.isupper() for char in set(normal.values())}
    rows = model.rows
    found: list[int] = []
    grams, capital = " ", False
    for raw in cleaned:
        char = normal[raw]
        last = grams[-1]
        if last == " ":
            grams, capital = " ", False
            if char == " ":
                continue
        elif len(grams) >= 3:
            grams = grams[1:]
        grams += char
        if upper[char]:
            capital = capital or last.isupper()
        else:
            capital = False
        if capital:
            continue
        if char != " " and char in rows:
            found.append(rows[char])
        if len(grams) >= 2:
            if grams[-2:] in rows:
                found.append(rows[grams[-2:]])
            if len(grams) >= 3 and grams in rows:
                found.append(rows[grams])
    return found
