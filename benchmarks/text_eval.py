"""Plain-text cleaning in 51 languages: body sentences kept, template lines removed, metadata.

The development set is built here, deterministically, from ``../shared/data/lang-dev`` (real
sentences, word pairs and single words of the 51 languages langdetect knows): one site per
language, ``--pages`` text pages per site, each laid out as a scraped news page is:

    nav bar "w | w | w | w | w", a vertical menu (one word per line), a breadcrumb "w › w",
    a "trending" word + two other headlines, the headline, a native long date (Babel/CLDR),
    3-7 body paragraphs of 1-3 real sentences, a social line, a "related" word + three
    headlines, the site's slogan (one real sentence on every page) and "© 2024 <site>".

Headlines are real sentences of the language without their final punctuation. Every body
sentence is used once. The site's repeated lines are found as ``SiteStats`` finds them (a line
key on at least 3 pages of the site). Scores, per language and overall:

* body keep rate: body sentences found in the cleaned text;
* template removal rate: template lines that are not a paragraph of the cleaned text;
* title / date found: ``text_metadata`` gives the headline / the date line's date;
* sentence records: each lang-dev sentence alone as a record, kept whole (``too_short`` else).

Usage: ``python benchmarks/text_eval.py [--pages 12] [--json OUT.json] [--markdown]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path

from babel.dates import format_date

from pagestream.transforms.clean.lines import normalise
from pagestream.transforms.clean.metadata import text_metadata
from pagestream.transforms.clean.sites import line_keys
from pagestream.transforms.clean.text import clean_text
from pagestream.transforms.scripts import han_or_kana, strip_terminal, word_count

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
_BABEL_LOCALE = {"no": "nb", "tl": "fil", "zh": "zh_Hans"}


def _read(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def lang_dev(data: Path = DATA) -> dict[str, dict[str, list[str]]]:
    """``{language: {"sentence": [...], "wordpair": [...], "word": [...]}}``."""
    out: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    texts = _read(data / "lang-dev" / "input.jsonl.gz")
    for row, truth in zip(texts, _read(data / "lang-dev" / "truth.jsonl.gz"), strict=True):
        out[truth["language"]][truth["kind"]].append(" ".join(row["text"].split()))
    return out


def _headline(sentence: str) -> str:
    return strip_terminal(sentence)


def build_site(lang: str, kinds: dict[str, list[str]], pages: int, seed: int = 0) -> list[dict]:
    """The pages of one language's site: ``{url, text, title, date, body, template}`` each."""
    rng = random.Random(f"{lang}-{seed}")
    sentences = list(kinds["sentence"])
    # Headline material: the sentences closest to 9 words (Han/kana: 18 characters).
    # (Not a form line: no "____", no final colon.)
    headline_like = [s for s in sentences if "__" not in s and not s.rstrip().endswith(":")]
    by_length = sorted(
        headline_like, key=lambda s: (abs(word_count(s) / (2 if han_or_kana(s) else 1) - 9), s)
    )
    pool = by_length[: max(40, len(sentences) // 4)]
    body = [s for s in sentences if s not in set(pool)]  # each used once
    rng.shuffle(body)
    words = [w for w in kinds["word"] if w.strip()] or list(kinds["wordpair"])  # ja: no words
    pairs = kinds["wordpair"]
    slogan = pool.pop()
    titles, pool = pool[:pages], pool[pages:]  # a page's title is in no other page's lists
    nav = " | ".join(rng.sample(words, 5))
    menu = rng.sample(words, 6)
    crumb = " › ".join(rng.sample(words, 2))
    section, trending, related = rng.sample(pairs, 3)
    site = f"{lang}-news.example"
    locale = _BABEL_LOCALE.get(lang, lang)
    out = []
    for number in range(pages):
        title = _headline(titles[number % len(titles)])
        others = [_headline(s) for s in rng.sample(pool, 5)]
        day = dt.date(2016, 1, 1) + dt.timedelta(days=rng.randrange(3000))
        date_line = format_date(day, "long", locale=locale)
        groups = []
        for _ in range(rng.randint(3, 7)):
            take = rng.randint(1, 3)
            groups.append(body[:take])
            body = body[take:]
        groups = [g for g in groups if g]
        paragraphs = [" ".join(g) for g in groups]
        head = [nav, *menu, crumb, section, trending, *others[:2]]
        foot = [
            "Facebook Twitter WhatsApp Telegram",
            related,
            *others[2:5],
            slogan,
            f"© 2024 {site}",
        ]
        lines = [*head, title, date_line, *paragraphs, *foot]
        out.append(
            {
                "url": f"https://{site}/{number}",
                "text": "\n\n".join(lines),
                "title": title,
                "date": day.isoformat(),
                "body": [s for g in groups for s in g],
                "template": head + foot,
            }
        )
    return out


def repeated_lines(pages: list[dict], min_pages: int = 3) -> frozenset[str]:
    counts = Counter(key for page in pages for key in line_keys(page["text"]))
    return frozenset(key for key, n in counts.items() if n >= min_pages)


def score_language(pages: list[dict], sentences: list[str]) -> dict:
    repeated = repeated_lines(pages)
    body_total = body_kept = tpl_total = tpl_removed = titles = dates = 0
    for page in pages:
        cleaned = clean_text(page["text"], repeated)
        # The cleaner's own line normalisation (whitespace; zero-width characters and soft
        # hyphens deleted by design), so a body sentence counts as kept without them.
        text = normalise(cleaned.text)
        paragraphs = set(cleaned.text.split("\n\n"))  # a template line kept is one of them
        body_total += len(page["body"])
        body_kept += sum(normalise(s) in text for s in page["body"])
        tpl_total += len(page["template"])
        tpl_removed += sum(line not in paragraphs for line in page["template"])
        meta = text_metadata(page["text"], repeated)
        titles += meta.title == page["title"]
        dates += meta.published_date == page["date"]
    alone = sum(clean_text(s).text == s for s in sentences)
    return {
        "pages": len(pages),
        "body": body_total,
        "body_keep": body_kept / body_total if body_total else 1.0,
        "template": tpl_total,
        "template_removed": tpl_removed / tpl_total if tpl_total else 1.0,
        "title_found": titles / len(pages),
        "date_found": dates / len(pages),
        "sentences": len(sentences),
        "sentences_whole": alone / len(sentences),
    }


def run(pages: int = 12) -> dict:
    data = lang_dev()
    per_lang = {
        lang: score_language(build_site(lang, kinds, pages), kinds["sentence"])
        for lang, kinds in sorted(data.items())
    }
    total = Counter()
    for row in per_lang.values():
        for key in ("pages", "body", "template", "sentences"):
            total[key] += row[key]
        total["body_kept"] += row["body_keep"] * row["body"]
        total["tpl_removed"] += row["template_removed"] * row["template"]
        total["titles"] += row["title_found"] * row["pages"]
        total["dates"] += row["date_found"] * row["pages"]
        total["whole"] += row["sentences_whole"] * row["sentences"]
    overall = {
        "pages": total["pages"],
        "body_keep": total["body_kept"] / total["body"],
        "template_removed": total["tpl_removed"] / total["template"],
        "title_found": total["titles"] / total["pages"],
        "date_found": total["dates"] / total["pages"],
        "sentences_whole": total["whole"] / total["sentences"],
        "worst_body_keep": min(per_lang.items(), key=lambda kv: kv[1]["body_keep"])[0],
    }
    return {"overall": overall, "languages": per_lang}


def markdown(result: dict) -> str:
    o = result["overall"]
    lines = [
        f"{o['pages']} pages of 51 sites. Overall: body sentences kept {o['body_keep']:.4f}, "
        f"template lines removed {o['template_removed']:.4f}, title found {o['title_found']:.3f}, "
        f"date found {o['date_found']:.3f}, lone sentences kept whole {o['sentences_whole']:.4f}.",
        "",
        "| lang | body kept | template removed | title | date | lone sentences whole |",
        "|---|---|---|---|---|---|",
    ]
    for lang, r in result["languages"].items():
        lines.append(
            f"| {lang} | {r['body_keep']:.3f} | {r['template_removed']:.3f} | "
            f"{r['title_found']:.2f} | {r['date_found']:.2f} | {r['sentences_whole']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=12, help="pages per language site")
    parser.add_argument("--json", help="write the scores here")
    parser.add_argument("--markdown", action="store_true", help="print a per-language table")
    args = parser.parse_args(argv)
    result = run(args.pages)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(markdown(result) if args.markdown else json.dumps(result["overall"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
