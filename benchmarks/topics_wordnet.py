"""Experiment: expand the English lexicons with WordNet 3.0 topic-domain members.

    apt-get download wordnet-base && dpkg-deb -x wordnet-base_*.deb /tmp/wn
    python benchmarks/topics_wordnet.py /tmp/wn/usr/share/wordnet /tmp/tax-wn.yaml [--max-senses 2]
    python benchmarks/topics_eval.py agnews --split tune --taxonomy /tmp/tax-wn.yaml

WordNet links a synset to its topic domain (pointer ``;c``; the domain lists its members
with ``-c``). Each domain below is mapped to one of our labels; a member word is added to
that label's English lexicon at weight 0.5 when it belongs to one mapped domain only, has at
most ``--max-senses`` senses in the whole of WordNet (fewer senses, fewer false matches), is
letters only and not already in the lexicon. Dev-time only: nothing here ships (see
benchmarks/findings.md for the result, +0.4 points top-1 on the tune half, not adopted).
WordNet 3.0 Copyright 2006 by Princeton University (permissive WordNet licence).
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

import yaml

# noun synset offset of the domain -> our label
DOMAINS = {
    "00523513": "sport",
    "06128570": "science-technology",  # computer science
    "06149484": "economy",  # economics
    "06150633": "economy",  # finance
    "01094725": "economy",  # business
    "08199025": "conflict-war",  # military
    "08441203": "crime-law",  # law
    "06043075": "health",  # medicine
    "00612160": "health",  # medicine (practice)
    "06148148": "politics",
    "05946687": "religion",
    "07020895": "arts-culture",  # music
    "06118563": "weather",  # meteorology
}
_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}


def read_synsets(wn: Path) -> dict[tuple[str, str], tuple[list[str], list[tuple[str, str, str]]]]:
    synsets = {}
    for pos, name in _FILES.items():
        for line in (wn / f"data.{name}").read_text(encoding="latin-1").splitlines():
            if line.startswith("  "):  # licence header
                continue
            p = line.split(" | ")[0].split()
            count = int(p[3], 16)
            words = [p[4 + 2 * i].lower().split("(")[0] for i in range(count)]
            i = 4 + 2 * count
            ptrs = [tuple(p[i + 1 + 4 * k : i + 4 + 4 * k]) for k in range(int(p[i]))]
            synsets[(p[0], pos)] = (words, ptrs)
    return synsets


def senses(wn: Path) -> Counter:
    out: Counter = Counter()
    for name in _FILES.values():
        for line in (wn / f"index.{name}").read_text(encoding="latin-1").splitlines():
            if not line.startswith("  "):
                p = line.split()
                out[p[0]] += int(p[2])
    return out


def expansion(wn: Path, max_senses: int) -> dict[str, list[str]]:
    synsets, n_senses = read_synsets(wn), senses(wn)
    labels_of = defaultdict(set)
    for offset, label in DOMAINS.items():
        for symbol, target, pos in synsets[(offset, "n")][1]:
            key = (target, "a" if pos == "s" else pos)
            if symbol == "-c" and key in synsets:
                for word in synsets[key][0]:
                    labels_of[word].add(label)
    out = defaultdict(list)
    for word, labels in labels_of.items():
        letters = word.replace("_", "")
        if (
            len(labels) == 1
            and n_senses[word] <= max_senses
            and len(word) >= 4
            and letters.isalpha()
        ):
            out[next(iter(labels))].append(word.replace("_", " "))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("wordnet_dir", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--max-senses", type=int, default=2)
    ap.add_argument("--weight", type=float, default=0.5)
    ap.add_argument(
        "--taxonomy",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "transforms/topics/data/taxonomy.yaml",
    )
    args = ap.parse_args()
    tax = yaml.safe_load(args.taxonomy.read_text(encoding="utf-8"))
    for label, words in sorted(expansion(args.wordnet_dir, args.max_senses).items()):
        en = tax["labels"][label]["en"]
        known = {t for terms in en.values() for t in terms}
        new = sorted(set(words) - known)
        en[args.weight] = en.get(args.weight, []) + new
        print(f"{label:20} +{len(new):4}  e.g. {', '.join(new[:6])}")
    args.out.write_text(yaml.safe_dump(tax, allow_unicode=True), encoding="utf-8")


if __name__ == "__main__":
    main()
