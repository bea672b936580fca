"""Near-duplicate quality and fingerprint cost on perturbed real articles.

Positives: each article extracted (trafilatura) from ``../shared/data/extraction-dev`` paired with
a perturbed copy (added boilerplate, a dropped or swapped paragraph, word edits, truncation, a
mix). Negatives: different articles sharing the same site boilerplate, the most similar pairs
of different articles in the set (same subject/site, found by exhaustive comparison), and random
pairs. A pair is detected at threshold ``t`` the way ``MarkDuplicates`` decides it: the two
pages share an LSH band key (bands/rows derived for ``t``) and their estimated Jaccard is ``>= t``.

    python benchmarks/neardup_eval.py [--limit N] [--shingle_size 5] [--min_line_words 5]
        [--num_perm 128] [--cache DIR] [--json OUT.json]

Prints recall per perturbation, false positives per negative type, pooled precision, and the
fingerprint cost in CPU ms/page (process time, best of 3 passes; one process).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from pagestream.transforms.dedup.fingerprint import (
    DedupConfig,
    band_keys,
    content_hash,
    estimated_jaccard,
    minhash,
    normalise_url,
    shingles,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "extraction-dev"
THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9)
FILLER = [
    "the",
    "of",
    "and",
    "a",
    "to",
    "in",
    "is",
    "was",
    "for",
    "on",
    "that",
    "with",
    "by",
    "as",
    "at",
    "from",
    "this",
    "be",
    "are",
    "it",
]
BOILERPLATE = [
    "Home",
    "News",
    "World",
    "Business",
    "Sport",
    "Share this article",
    "Follow us on Twitter",
    "Read more",
    "Sign up for our newsletter to receive the top stories of the day in your inbox every morning.",
    "© 2024 Example Media Group. All rights reserved. No part of this site may be reproduced "
    "without our written permission. Terms of use. Privacy policy. Cookie settings.",
]


def load_texts(cache: Path, limit: int) -> list[str]:
    """Extracted article texts (>= 150 words, >= 3 paragraphs), cached as JSON."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / "extraction-dev-texts.json"
    if not path.exists():
        import trafilatura

        texts = []
        with gzip.open(DATA / "pages.jsonl.gz", "rt", encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                texts.append(trafilatura.extract(rec["html"], url=rec["url"]) or "")
        path.write_text(json.dumps(texts), encoding="utf-8")
    texts = json.loads(path.read_text(encoding="utf-8"))
    good = [t for t in texts if len(t.split()) >= 150 and len(t.splitlines()) >= 3]
    unique = list({content_hash(t): t for t in good}.values())
    return unique[:limit]


def paragraphs(text: str) -> list[str]:
    return [p for p in text.splitlines() if p.strip()]


def edit_words(text: str, rate: float, rng: random.Random) -> str:
    out_lines = []
    for line in text.splitlines():
        words = []
        for w in line.split():
            r = rng.random()
            if r < rate / 3:
                continue  # delete
            if r < 2 * rate / 3:
                words.append(rng.choice(FILLER))  # substitute
            elif r < rate:
                words.extend([w, rng.choice(FILLER)])  # insert
            else:
                words.append(w)
        out_lines.append(" ".join(words))
    return "\n".join(out_lines)


def with_boilerplate(text: str) -> str:
    return "\n".join(BOILERPLATE[:5]) + "\n" + text + "\n" + "\n".join(BOILERPLATE[5:])


def drop_paragraph(text: str, rng: random.Random) -> str:
    paras = paragraphs(text)
    del paras[rng.randrange(len(paras))]
    return "\n".join(paras)


def swap_paragraphs(text: str, rng: random.Random) -> str:
    paras = paragraphs(text)
    i, j = rng.sample(range(len(paras)), 2)
    paras[i], paras[j] = paras[j], paras[i]
    return "\n".join(paras)


def truncate(text: str, keep: float) -> str:
    words = text.split(" ")
    return " ".join(words[: max(1, int(len(words) * keep))])


PERTURBATIONS = {
    "boilerplate": lambda t, rng: with_boilerplate(t),
    "drop_paragraph": drop_paragraph,
    "swap_paragraphs": swap_paragraphs,
    "edits_2pct": lambda t, rng: edit_words(t, 0.02, rng),
    "edits_5pct": lambda t, rng: edit_words(t, 0.05, rng),
    "edits_10pct": lambda t, rng: edit_words(t, 0.10, rng),
    "truncate_80pct": lambda t, rng: truncate(t, 0.8),
    "truncate_60pct": lambda t, rng: truncate(t, 0.6),
    "mix": lambda t, rng: with_boilerplate(edit_words(drop_paragraph(t, rng), 0.02, rng)),
}


def true_jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def detected(sig_a, sig_b, t: float, config: DedupConfig) -> bool:
    c = DedupConfig(
        threshold=t,
        num_perm=config.num_perm,
        shingle_size=config.shingle_size,
        min_line_words=config.min_line_words,
    )
    shared = set(band_keys(sig_a, c)) & set(band_keys(sig_b, c))
    return bool(shared) and estimated_jaccard(sig_a, sig_b) >= t


def build_pairs(texts: list[str], config: DedupConfig, rng: random.Random):
    """(kind, label, text_a, text_b) for every positive and negative pair."""
    pairs = []
    for text in texts:
        for name, perturb in PERTURBATIONS.items():
            pairs.append((name, True, text, perturb(text, rng)))
    sigs = [minhash(t, config) for t in texts]
    n = len(texts)
    sims = sorted(
        (
            (estimated_jaccard(sigs[i], sigs[j]), i, j)
            for i, j in itertools.combinations(range(n), 2)
        ),
        reverse=True,
    )
    for _, i, j in sims[: 2 * n]:
        pairs.append(("neg_most_similar", False, texts[i], texts[j]))
    for _ in range(2 * n):
        i, j = rng.sample(range(n), 2)
        pairs.append(("neg_random", False, texts[i], texts[j]))
    for _ in range(n):
        i, j = rng.sample(range(n), 2)
        pairs.append(
            (
                "neg_shared_boilerplate",
                False,
                with_boilerplate(texts[i]),
                with_boilerplate(texts[j]),
            )
        )
        # a different article quoting the longest paragraph of this one
        quote = max(paragraphs(texts[i]), key=len)
        pairs.append(("neg_quotes_paragraph", False, texts[i], texts[j] + "\n" + quote))
        # two short stories (~80 words) on one site template whose long-line blocks survived
        # extraction (3 paragraphs of a third article): the hard case for shingling
        template = "\n".join(paragraphs(texts[rng.randrange(n)])[:3])
        short_i, short_j = texts[i][:500], texts[j][:500]
        pairs.append(
            ("neg_same_template", False, f"{short_i}\n{template}", f"{short_j}\n{template}")
        )
    return pairs, sims[:10]


def evaluate(pairs, config: DedupConfig):
    rows = {}
    for kind, label, a, b in pairs:
        sa, sb = minhash(a, config), minhash(b, config)
        grams = [shingles(t, config.shingle_size, config.min_line_words) for t in (a, b)]
        stats = rows.setdefault(
            kind, {"label": label, "n": 0, "jaccard": [], "hits": dict.fromkeys(THRESHOLDS, 0)}
        )
        stats["n"] += 1
        stats["jaccard"].append(true_jaccard(*grams))
        for t in THRESHOLDS:
            stats["hits"][t] += detected(sa, sb, t, config)
    return rows


def timing(texts: list[str], config: DedupConfig) -> dict[str, float]:
    steps = {
        "content_hash": lambda t: content_hash(t),
        "normalise_url": lambda t: normalise_url("https://www.example.com/a/b/?utm_source=x&id=3"),
        "minhash": lambda t: minhash(t, config),
        "minhash+band_keys": lambda t: band_keys(minhash(t, config), config),
        # reference: the same shingles through datasketch's per-value update_batch
        "datasketch_update_batch": lambda t: _datasketch_minhash(t, config),
    }
    out = {}
    for name, fn in steps.items():
        best = float("inf")
        for _ in range(3):
            start = time.process_time()
            for t in texts:
                fn(t)
            best = min(best, time.process_time() - start)
        out[name] = best / len(texts) * 1000
    return out


def _datasketch_minhash(text: str, config: DedupConfig):
    import xxhash
    from datasketch import MinHash

    mh = MinHash(num_perm=config.num_perm, seed=config.seed, hashfunc=xxhash.xxh32_intdigest)
    grams = shingles(text[: config.max_chars], config.shingle_size, config.min_line_words)
    mh.update_batch([g.encode("utf-8") for g in grams])
    return mh.hashvalues


def report(rows, sims_top, times, config, n_texts) -> dict:
    print(
        f"\n{n_texts} articles; shingle_size={config.shingle_size} min_line_words={config.min_line_words} num_perm={config.num_perm}"
    )
    print(
        "LSH (bands x rows) per threshold: "
        + ", ".join(
            f"{t}: {DedupConfig(threshold=t, num_perm=config.num_perm).bands}x{DedupConfig(threshold=t, num_perm=config.num_perm).rows}"
            for t in THRESHOLDS
        )
    )
    head = "| pairs | n | true J mean [min] | " + " | ".join(f"t={t}" for t in THRESHOLDS) + " |"
    print("\n" + head + "\n|" + "---|" * (3 + len(THRESHOLDS)))
    tp = dict.fromkeys(THRESHOLDS, 0)
    fp = dict.fromkeys(THRESHOLDS, 0)
    pos = 0
    for kind, s in rows.items():
        j = np.array(s["jaccard"])
        if s["label"]:
            cells = [f"{s['hits'][t] / s['n']:.3f}" for t in THRESHOLDS]  # recall
            pos += s["n"]
            for t in THRESHOLDS:
                tp[t] += s["hits"][t]
        else:
            cells = [f"{s['hits'][t]} FP" for t in THRESHOLDS]
            for t in THRESHOLDS:
                fp[t] += s["hits"][t]
        print(f"| {kind} | {s['n']} | {j.mean():.3f} [{j.min():.3f}] | " + " | ".join(cells) + " |")
    recall = {t: tp[t] / pos for t in THRESHOLDS}
    precision = {t: tp[t] / (tp[t] + fp[t]) if tp[t] + fp[t] else 1.0 for t in THRESHOLDS}
    print(
        "| **recall (all positives)** | | | "
        + " | ".join(f"{recall[t]:.3f}" for t in THRESHOLDS)
        + " |"
    )
    print(
        "| **precision (pooled)** | | | "
        + " | ".join(f"{precision[t]:.3f}" for t in THRESHOLDS)
        + " |"
    )
    print(
        "\nmost similar different-article pairs (estimated J): "
        + ", ".join(f"{s:.2f}" for s, _, _ in sims_top)
    )
    print("\nfingerprint cost, ms/page: " + ", ".join(f"{k} {v:.2f}" for k, v in times.items()))
    return {
        "config": {
            "shingle_size": config.shingle_size,
            "min_line_words": config.min_line_words,
            "num_perm": config.num_perm,
        },
        "articles": n_texts,
        "rows": {
            k: {
                **v,
                "jaccard": float(np.mean(v["jaccard"])),
                "hits": {str(t): h for t, h in v["hits"].items()},
            }
            for k, v in rows.items()
        },
        "recall": {str(t): v for t, v in recall.items()},
        "precision": {str(t): v for t, v in precision.items()},
        "ms_per_page": times,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=300, help="articles used (default 300)")
    parser.add_argument("--shingle_size", type=int, default=DedupConfig.shingle_size)
    parser.add_argument("--min_line_words", type=int, default=DedupConfig.min_line_words)
    parser.add_argument("--num_perm", type=int, default=DedupConfig.num_perm)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "pagestream-neardup"
    )
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    if not DATA.exists():
        raise SystemExit(f"missing {DATA}")
    config = DedupConfig(
        shingle_size=args.shingle_size, min_line_words=args.min_line_words, num_perm=args.num_perm
    )
    texts = load_texts(args.cache, args.limit)
    pairs, sims_top = build_pairs(texts, config, random.Random(args.seed))
    rows = evaluate(pairs, config)
    result = report(rows, sims_top, timing(texts, config), config, len(texts))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
