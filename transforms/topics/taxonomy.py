"""Topic taxonomies: the file format, its validation and loading (``load_taxonomy``).

A taxonomy (YAML; JSON is valid YAML too) lists labels and, per label and language, terms
grouped by weight. The default one (``transforms/topics/data/taxonomy.yaml``) has the 15 labels of
INTERFACE.md with lexicons for en, de, fr and es; ``--taxonomy FILE`` replaces it::

    format: 1
    labels:
      politics:
        description: Government, elections, parties, legislation, diplomacy.
        en:
          3: [election, prime minister, parliament]   # decisive evidence
          1: [vote, campaign*]                        # supporting evidence
        de:
          3: [wahl, regierung, "*wahl"]

Terms are matched case-insensitively on letter-only tokens. A plain word or phrase matches
through the language's Snowball stemmer (``election`` also matches ``elections``); ``word*``
matches tokens that start with ``word``, ``"*word"`` tokens that end with it (German
compounds; quote it, a leading ``*`` is YAML syntax). A phrase match consumes its tokens.

The compiled lexicons and their matching are in ``lexicon.py``; how matches become scores is in
``tag.py``.
"""

from __future__ import annotations

import importlib.resources
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import yaml
from apache_beam.io.filesystems import FileSystems
from langdetect.detector_factory import PROFILES_DIRECTORY

from pagestream.transforms.topics.lexicon import Lexicon, TermError, build_lexicon

__all__ = [
    "MAX_WEIGHT",
    "Taxonomy",
    "load_taxonomy",
]

#: Largest weight a term may have in a taxonomy file.
MAX_WEIGHT = 10.0
_FORMAT = 1
_TOP_KEYS = {"format", "name", "description", "labels"}
_LABEL_RE = re.compile(r"^[a-z0-9][a-z0-9_.\-/]{0,63}$")
#: Languages langdetect can report, i.e. the lexicon keys a page can select.
_LANGUAGES = frozenset(os.listdir(PROFILES_DIRECTORY))
#: libyaml's loader when PyYAML was built with it: the same documents, ~10x faster (0.02 s
#: instead of 0.2 s for the default taxonomy, in the graph-building process and each worker).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, eq=False)
class Taxonomy:
    """A loaded, validated taxonomy: ``labels`` in file order, compiled lexicons per language."""

    source: str
    labels: tuple[str, ...]
    descriptions: Mapping[str, str]
    lexicons: Mapping[str, Lexicon]

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self.lexicons))

    def lexicon_for(self, language: str | None) -> Lexicon | None:
        """The lexicon for a langdetect code (``zh-cn`` falls back to ``zh``), or None."""
        if not language:
            return None
        return self.lexicons.get(language) or self.lexicons.get(language.split("-")[0])


def load_taxonomy(path: str | None) -> Taxonomy:
    """Reads and validates a taxonomy file (any Beam filesystem); None = the default one.

    Raises:
        ValueError: the file is unreadable, not YAML/JSON, or breaks the format; the message
            names the file, the label and the problem.
    """
    if path is None:
        resource = (
            importlib.resources.files("pagestream.transforms.topics") / "data" / "taxonomy.yaml"
        )
        source, raw = (
            "default taxonomy (pagestream/transforms/topics/data/taxonomy.yaml)",
            resource.read_bytes(),
        )
    else:
        source = path
        try:
            with FileSystems.open(path) as f:
                raw = f.read()
        except Exception as exc:  # Beam raises IOError/BeamIOError subclasses per filesystem
            raise ValueError(f"taxonomy {path}: cannot read: {exc}") from exc
    try:
        doc = yaml.load(raw.decode("utf-8"), Loader=_SAFE_LOADER)
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"taxonomy {source}: not valid UTF-8 YAML/JSON: {exc}") from exc
    return _compile(doc, source)


def _compile(doc: object, source: str) -> Taxonomy:
    def fail(problem: str, label: str | None = None) -> ValueError:
        where = f"label {label!r}: " if label is not None else ""
        return ValueError(f"taxonomy {source}: {where}{problem}")

    if not isinstance(doc, dict):
        raise fail("the top level must be a mapping with a 'labels' key")
    if unknown := sorted(map(str, set(doc) - _TOP_KEYS)):
        raise fail(f"unknown key(s) {unknown}; allowed: {sorted(_TOP_KEYS)}")
    if doc.get("format", _FORMAT) != _FORMAT:
        raise fail(f"format must be {_FORMAT}, got {doc.get('format')!r}")
    labels = doc.get("labels")
    if not isinstance(labels, dict) or not labels:
        raise fail("'labels' is missing or empty: it must map each label to its lexicons")
    terms: dict[str, list[tuple[int, float, str]]] = {}
    descriptions = {}
    for index, (label, body) in enumerate(labels.items()):
        if not isinstance(label, str) or not _LABEL_RE.match(label):
            raise fail(
                f"bad label name {label!r}: use lower-case letters, digits, '_-./', 1-64 chars"
            )
        if not isinstance(body, dict):
            raise fail("must be a mapping of 'description' and language codes", label)
        descriptions[label] = str(body.get("description", ""))
        languages = {k: v for k, v in body.items() if k != "description"}
        if not languages:
            raise fail("has no terms: add a language code (e.g. 'en') with weighted terms", label)
        for lang, tiers in languages.items():
            if lang not in _LANGUAGES:
                raise fail(f"unknown key {lang!r}: expected 'description' or a language code "
                           f"langdetect reports ({', '.join(sorted(_LANGUAGES))})", label)  # fmt: skip
            if not isinstance(tiers, dict) or not tiers:
                raise fail(f"{lang}: must map weights to lists of terms, e.g. {{3: [word]}}", label)
            for weight, words in tiers.items():
                w = _weight(weight)
                if w is None:
                    raise fail(
                        f"{lang}: bad weight {weight!r}: a number in (0, {MAX_WEIGHT:g}]", label
                    )
                if not isinstance(words, list) or not all(
                    isinstance(t, str) and t.strip() for t in words
                ):
                    raise fail(
                        f"{lang}: weight {weight}: terms must be a list of non-empty strings", label
                    )
                terms.setdefault(lang, []).extend((index, w, t.strip().lower()) for t in words)
    lexicons = {}
    for lang, entries in terms.items():
        try:
            lexicons[lang] = build_lexicon(lang, entries)
        except TermError as exc:
            raise fail(f"{lang}: {exc.problem}", list(labels)[exc.label]) from None
    return Taxonomy(source, tuple(labels), descriptions, lexicons)


def _weight(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        w = float(value)  # YAML gives int/float keys, JSON gives strings
    except (TypeError, ValueError):
        return None
    return w if 0.0 < w <= MAX_WEIGHT else None
