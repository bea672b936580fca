"""Quality and speed of topic tagging (transforms/topics.py) on the shared dev data.

    python benchmarks/topics_eval.py agnews [--split holdout|tune|all] [--errors N] [--taxonomy F]
    python benchmarks/topics_eval.py articles [--en 20 --other 10]   # eyeball full articles
    python benchmarks/topics_eval.py speed                           # ms/page on ~5 kB texts
    python benchmarks/topics_eval.py collisions [--lang en]          # stems shared by labels
    python benchmarks/topics_eval.py common [--lang en] [--min-df 0.2] # terms in most pages

``common`` lists lexicon terms that match in a large share of the extraction-dev pages of a
language: a term that matches everywhere is no evidence (often a stemmer collision such as
German "sicherheit" -> "sich"); make it a wildcard, a phrase, or drop it.

``agnews`` scores ``../shared/data/topics-dev`` (AG News headline + lead; the headline is
passed as the title). Items split by ``sha1(url)``: even first byte = ``tune`` (looked at
while writing the lexicons), odd = ``holdout`` (only measured). Top-1 is right when the
best label is in ``accept``; no label counts as wrong.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import statistics
import time
from collections import Counter, defaultdict
from pathlib import Path

from pagestream.transforms.topics.tag import TopicConfig, explain_topics, score_topics
from pagestream.transforms.topics.taxonomy import load_taxonomy

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def split_of(url: str) -> str:
    return "tune" if hashlib.sha1(url.encode()).digest()[0] % 2 == 0 else "holdout"


def agnews(args, taxonomy, config) -> None:
    items = _jsonl(DATA / "topics-dev" / "input.jsonl.gz")
    truth = {t["url"]: t for t in _jsonl(DATA / "topics-dev" / "truth.jsonl.gz")}
    rows = [i for i in items if args.split == "all" or split_of(i["url"]) == args.split]
    right = anyright = untagged = 0
    by_class, predicted, labels_per_item, errors = Counter(), Counter(), Counter(), []
    class_right, pred_right = Counter(), Counter()
    for item in rows:
        title, _, lead = item["text"].partition("\n\n")
        tags = score_topics(lead, title, "en", taxonomy, config)
        t = truth[item["url"]]
        cls, accept = t["original_label"], set(t["accept"])
        by_class[cls] += 1
        labels_per_item[len(tags)] += 1
        if not tags:
            untagged += 1
            errors.append((cls, None, item))
            continue
        top = tags[0][0]
        predicted[top] += 1
        ok = top in accept
        right += ok
        class_right[cls] += ok
        pred_right[top] += ok
        anyright += any(label in accept for label, _ in tags)
        if not ok:
            errors.append((cls, tags, item))
    n = len(rows)
    print(f"split={args.split} items={n} threshold={config.threshold}")
    print(f"top-1 accuracy {right / n:.4f}   any-label accuracy {anyright / n:.4f}   "
          f"untagged {untagged / n:.4f}   labels/item {dict(sorted(labels_per_item.items()))}")  # fmt: skip
    print("recall per AG class (top label accepted):")
    for cls in sorted(by_class):
        print(f"  {cls:10s} {class_right[cls] / by_class[cls]:.4f}  (n={by_class[cls]})")
    print("precision per predicted top label:")
    for label, count in predicted.most_common():
        print(f"  {label:20s} {pred_right[label] / count:.4f}  (n={count})")
    for cls, tags, item in errors[: args.errors]:
        print(f"\n[{cls}] -> {tags}\n  {item['text'][:300]!r}")


def _articles(n_en: int, n_other: int) -> list[tuple[dict, str]]:
    import trafilatura

    truth = {t["url"]: t for t in _jsonl(DATA / "extraction-dev" / "truth.jsonl.gz")}
    want = {"en": n_en, "de": n_other, "fr": n_other, "es": n_other}
    picked = []
    for page in _jsonl(DATA / "extraction-dev" / "pages.jsonl.gz"):
        lang = truth[page["url"]]["lang"]
        if want.get(lang, 0) > 0:
            doc = trafilatura.bare_extraction(page["html"], url=page["url"], with_metadata=True)
            text = doc.text if doc is not None else None
            if text and len(text) > 500:
                want[lang] -= 1
                picked.append(({"url": page["url"], "title": doc.title, "lang": lang}, text))
    return picked


def articles(args, taxonomy, config) -> None:
    for meta, text in _articles(args.en, args.other):
        tags = score_topics(text, meta["title"], meta["lang"], taxonomy, config)
        why = explain_topics(text, meta["title"], meta["lang"], taxonomy, config)
        print(
            f"\n[{meta['lang']}] {meta['url'][:90]}\n  title: {meta['title']!r}  chars={len(text)}"
        )
        print(f"  tags: {tags}")
        for label, _ in tags:
            print(f"    {label}: {why[label][:8]}")


def speed(args, taxonomy, config) -> None:
    texts = [(text, meta["title"], meta["lang"]) for meta, text in _articles(40, 10)]
    five_kb = [(t[:5000], title, lang) for t, title, lang in texts if len(t) >= 5000]
    for name, batch in (("full articles", texts), ("5 kB prefixes", five_kb)):
        for text, title, lang in batch:  # warm the token caches as a long-running worker would
            score_topics(text, title, lang, taxonomy, config)
        times = []  # best of 5 per page: the machine is shared, the minimum is the cost
        for text, title, lang in batch:
            runs = []
            for _ in range(5):
                start = time.perf_counter()
                score_topics(text, title, lang, taxonomy, config)
                runs.append((time.perf_counter() - start) * 1000)
            times.append(min(runs))
        chars = statistics.mean(len(t) for t, _, _ in batch)
        print(f"{name}: n={len(batch)} mean chars={chars:.0f} ms/page mean={statistics.mean(times):.3f} "
              f"median={statistics.median(times):.3f} max={max(times):.3f}")  # fmt: skip
    cold = load_taxonomy(args.taxonomy)
    start = time.perf_counter()
    for text, title, lang in five_kb:
        score_topics(text, title, lang, cold, config)
    print(
        f"5 kB prefixes, cold token cache: {(time.perf_counter() - start) * 1000 / len(five_kb):.3f} ms/page"
    )


def collisions(args, taxonomy, config) -> None:
    lexicon = taxonomy.lexicons[args.lang]
    shared = defaultdict(list)
    for stem, entries in lexicon.words.items():
        if len(entries) > 1:
            shared[stem] = [(taxonomy.labels[i], w, term) for i, w, term in entries]
    for stem, entries in sorted(shared.items()):
        print(f"{stem:16s} {entries}")


def common(args, taxonomy, config) -> None:
    import trafilatura

    truth = {t["url"]: t["lang"] for t in _jsonl(DATA / "extraction-dev" / "truth.jsonl.gz")}
    lexicon, df, docs = taxonomy.lexicons[args.lang], Counter(), 0
    for page in _jsonl(DATA / "extraction-dev" / "pages.jsonl.gz"):
        text = truth[page["url"]] == args.lang and trafilatura.extract(
            page["html"], url=page["url"]
        )
        if text:
            docs += 1
            chunks = set(text.lower().split())
            df.update(
                {
                    (taxonomy.labels[e[0]], e[2])
                    for c in chunks
                    for t in lexicon.lookup(c)
                    for e in t[1]
                }
            )
    print(f"{args.lang}: {docs} pages; terms matching in >= {args.min_df:.0%} of them")
    for (label, term), count in df.most_common():
        if count / docs >= args.min_df:
            print(f"  {count / docs:5.0%}  {label:20s} {term}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["agnews", "articles", "speed", "collisions", "common"])
    parser.add_argument("--split", default="holdout", choices=["holdout", "tune", "all"])
    parser.add_argument("--errors", type=int, default=0)
    parser.add_argument("--taxonomy", default=None)
    parser.add_argument("--threshold", type=float, default=TopicConfig.threshold)
    parser.add_argument("--en", type=int, default=20)
    parser.add_argument("--other", type=int, default=10)
    parser.add_argument("--lang", default="en")
    parser.add_argument("--min-df", type=float, default=0.2)
    args = parser.parse_args()
    config = TopicConfig(taxonomy=args.taxonomy, threshold=args.threshold)
    taxonomy = load_taxonomy(args.taxonomy)
    globals()[args.command](args, taxonomy, config)


if __name__ == "__main__":
    main()
