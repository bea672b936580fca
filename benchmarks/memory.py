"""Peak memory of ``pagestream run`` against input size, on generated light news pages.

    python benchmarks/memory.py [--sizes 4000 16000] [--repeat 1] [--files 8] [--json OUT.json]
    python benchmarks/memory.py --sizes 4000 -- --direct_num_workers 2 \\
        --direct_running_mode multi_processing        # anything after -- goes to pagestream run
    python benchmarks/memory.py --sizes 4000 --dask 2 [--npartitions 4]   # a local Dask cluster
    python benchmarks/memory.py --sizes 16000 --generate-only DIR   # only write the corpus

Issue 22 asks that 16,000 light pages peak within 1.3x of 4,000 pages, and under 2 GiB for
the process tree at 16,000. This script measures that; it asserts nothing.

**Corpus** (``write_light_corpus``; seeded, byte-for-byte deterministic). N "light" news pages
of ~8 KB of HTML each, as JSON Lines records ``{"url", "html", "fetch_time"}`` written
round-robin into ``--files`` ``pages-NNN.jsonl`` files (uncompressed):

- 50 sites, ``https://site-K.example/news/N`` (N the page's number), each with its own name,
  language (30 en, 6 de, 5 es, 5 fr, 4 pl), authors and nav/footer in that language.
- A page: ``<html lang>``, ``<head>`` with ``<title>``, meta author / date / description and
  og tags, a header with a nav menu, an ``<article>`` with a headline, a byline with
  ``<time>`` and 5-10 paragraphs, a newsletter box and a footer. Its text is sentences of
  real paragraphs (the trafilatura baseline texts of ``extraction-dev``, the pool of
  ``size_corpus.paragraph_pools``, split into sentences of 6-60 words without a ``|``, in the site's
  language), drawn with a seeded RNG, 2+ per paragraph, ~4.8-6.2 KB of text per page; each
  paragraph also carries the page's own invented name or place (page-specific words), so no
  two unique pages share a paragraph line and their shingle overlap stays near zero.
- Publication times spread over ``--days`` days (default 30) from 2024-05-01; ``fetch_time``
  1-30 hours after publication, so rows fall into ~30 crawl-date partitions per language.
- ~5 % **exact copies** (same HTML, a new url on the same site, a later ``fetch_time``) and
  ~5 % **near copies** (one sentence of a middle paragraph replaced) of earlier unique pages;
  a unique page is copied at most once. ``_planted.csv`` / ``_planted.json`` sit next to the
  files (pagestream skips ``_`` files).

**Runs.** Per size, ``--repeat`` times: ``pagestream run --input DIR --output OUT --run_id mem
--quiet`` plus the arguments after ``--``, as a fresh subprocess (``common.run_measured``: wall,
CPU and the peak RSS of the whole process tree, sampled every 0.1 s). The committed manifest
(``OUT/_runs/mem.json``) gives rows written and ``dup_status`` counts. One JSON line per size
(``peak_rss_mib``, ``seconds``, ``cpu_s`` are medians over the repeats), then one line with
``peak_ratio`` = peak of the largest size / peak of the smallest. Note that
``--direct_num_workers 2`` alone keeps Beam's ``in_memory`` mode (one process); two worker
processes need ``--direct_running_mode multi_processing`` as well.

``--dask N`` starts a local Dask cluster (``scaling.start_dask``: a scheduler and N
single-thread workers on 127.0.0.1, one cluster for all sizes) and runs on Beam's DaskRunner
with ``--dask_npartitions`` ``--npartitions``; peak RSS and CPU then cover the cluster's
processes too (their RSS before the run included: ``cluster_idle_mib`` gives it).

Generation holds only the sentence pools and the plan: 16,000 pages (~135 MB of JSON Lines,
8.2 KB of HTML a page on average) take ~5 s.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from html import escape
from pathlib import Path
from typing import NamedTuple

import psutil

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    PYTHON,
    load_average,
    machine_info,
    median,
    run_measured,
    tree_rss,
)
from scaling import DASK_RUNNER, start_dask, stop_dask  # noqa: E402
from size_corpus import KINDS, CorpusConfig, paragraph_pools  # noqa: E402

__all__ = [
    "LightPlanned",
    "measure",
    "plan_light",
    "render_light_page",
    "sentence_pools",
    "write_light_corpus",
]

SITES = 50
#: Language of each site, by index (30 en, 6 de, 5 es, 5 fr, 4 pl: the languages whose
#: extraction-dev baseline texts have a pool of their own in ``size_corpus``).
SITE_LANGS = ("en",) * 30 + ("de",) * 6 + ("es",) * 5 + ("fr",) * 5 + ("pl",) * 4
START = datetime(2024, 5, 1, tzinfo=timezone.utc)
RUN_ID = "mem"

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_NAV = {
    "en": ("Home", "World", "Politics", "Business", "Science", "Sport", "Culture", "Opinion"),
    "de": ("Startseite", "Welt", "Politik", "Wirtschaft", "Wissen", "Sport", "Kultur", "Meinung"),
    "es": ("Inicio", "Mundo", "Política", "Economía", "Ciencia", "Deportes", "Cultura", "Opinión"),
    "fr": ("Accueil", "Monde", "Politique", "Économie", "Sciences", "Sport", "Culture", "Opinions"),
    "pl": ("Start", "Świat", "Polityka", "Biznes", "Nauka", "Sport", "Kultura", "Opinie"),
}
_FOOTER = {  # by, newsletter, rights, about, contact, privacy
    "en": ("By", "Get our morning newsletter in your inbox.", "All rights reserved.",
           "About us", "Contact", "Privacy policy"),
    "de": ("Von", "Unser Newsletter jeden Morgen in Ihrem Postfach.", "Alle Rechte vorbehalten.",
           "Über uns", "Kontakt", "Datenschutz"),
    "es": ("Por", "Reciba nuestro boletín cada mañana.", "Todos los derechos reservados.",
           "Quiénes somos", "Contacto", "Política de privacidad"),
    "fr": ("Par", "Recevez notre lettre d'information chaque matin.", "Tous droits réservés.",
           "Qui sommes-nous", "Contact", "Confidentialité"),
    "pl": ("Autor:", "Nasz poranny newsletter w Twojej skrzynce.", "Wszelkie prawa zastrzeżone.",
           "O nas", "Kontakt", "Polityka prywatności"),
}  # fmt: skip
_FIRST = ("Anna", "Marek", "Julia", "Tomas", "Lena", "David", "Sofia", "Pavel", "Clara", "Omar",
          "Ines", "Jonas", "Maria", "Lukas", "Elena", "Hugo", "Nora", "Felix", "Alma", "Victor")  # fmt: skip
_LAST = ("Keller", "Novak", "Garcia", "Dubois", "Kowalski", "Brennan", "Rossi", "Lindqvist",
         "Moreau", "Schmidt", "Ortega", "Fischer", "Walsh", "Petit", "Wagner", "Silva")  # fmt: skip
_NAME_WORDS = ("Herald", "Courier", "Tribune", "Gazette", "Chronicle", "Observer", "Post", "Times",
               "Ledger", "Dispatch")  # fmt: skip
_TOWNS = ("Northfield", "Riverton", "Ashford", "Bellmont", "Cedar Bay", "Dunmore", "Eastwick",
          "Fairhaven", "Glenrock", "Harborview")  # fmt: skip
_SYLLABLES = ("ka", "ro", "vin", "del", "mar", "to", "sel", "bra", "ni", "quor", "lu", "zen",
              "ta", "mir", "os", "ve", "dra", "kel", "an", "fi", "gor", "is", "pe", "tral")  # fmt: skip


class LightPlanned(NamedTuple):
    """One page of the corpus: its number, kind (``unique``/``exact``/``near``) and the unique
    page it copies (itself if unique)."""

    n: int
    kind: str
    source: int


class _Site(NamedTuple):
    k: int
    lang: str
    name: str
    authors: tuple[str, ...]


def sentence_pools(config: CorpusConfig | None = None) -> dict[str, list[str]]:
    """Sentences of 6-60 words of ``size_corpus.paragraph_pools``, per language of
    ``SITE_LANGS`` (en ~8,900, de ~5,600, es ~1,300, fr ~1,100, pl ~800)."""
    pools = paragraph_pools(config or CorpusConfig())
    out: dict[str, list[str]] = {}
    for lang in sorted(set(SITE_LANGS)):
        sentences = []
        for words in pools.get(lang, pools[""]):
            for sentence in _SENTENCE_END.split(" ".join(words)):
                if 6 <= len(sentence.split()) <= 60 and "|" not in sentence:  # no table rows
                    sentences.append(sentence)
        out[lang] = sentences
    return out


def _site(k: int, seed: int) -> _Site:
    rng = random.Random(f"site-{seed}-{k}")
    name = f"{rng.choice(_TOWNS)} {rng.choice(_NAME_WORDS)}"
    authors = tuple(f"{rng.choice(_FIRST)} {rng.choice(_LAST)}" for _ in range(6))
    return _Site(k, SITE_LANGS[k % len(SITE_LANGS)], name, authors)


def plan_light(pages: int, seed: int, exact_rate: float = 0.05, near_rate: float = 0.05):
    """Which page is unique and which copies which (an earlier unique page, copied once)."""
    rng = random.Random(seed)
    plan: list[LightPlanned] = []
    uncopied: list[int] = []
    for n in range(pages):
        roll = rng.random()
        if uncopied and roll < exact_rate + near_rate:
            source = uncopied.pop(rng.randrange(len(uncopied)))
            plan.append(LightPlanned(n, "exact" if roll < exact_rate else "near", source))
        else:
            plan.append(LightPlanned(n, "unique", n))
            uncopied.append(n)
    return plan


def _invented(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def _with_word(sentence: str, word: str, rng: random.Random) -> str:
    words = sentence.split()
    words.insert(rng.randint(1, len(words) - 1), word)
    return " ".join(words)


def _article(source: int, seed: int, pools: dict[str, list[str]], days: int):
    """``(site, published, headline, paragraphs as sentence lists)`` of unique page ``source``."""
    rng = random.Random(seed * 1_000_003 + source)
    site = _site(rng.randrange(SITES), seed)
    pool = pools[site.lang]
    published = START + timedelta(seconds=rng.randrange(days * 86400))
    own = (_invented(rng), f"{_invented(rng)} {rng.choice(('Valley', 'Street', 'Harbour'))}")
    lead = pool[rng.randrange(len(pool))].rstrip(".!?").split()
    headline = f"{own[0]}: {' '.join(lead[: rng.randint(6, 12)])}"
    count, text_chars = rng.randint(5, 10), rng.randint(4800, 6200)
    paragraphs = []
    for _ in range(count):
        target = text_chars / count * rng.uniform(0.7, 1.3)
        sentences: list[str] = []
        while len(sentences) < 2 or sum(map(len, sentences)) < target:
            sentences.append(pool[rng.randrange(len(pool))])
        i = rng.randrange(len(sentences))
        sentences[i] = _with_word(sentences[i], rng.choice(own), rng)
        paragraphs.append(sentences)
    return site, published, headline, paragraphs


def _html(site: _Site, author: str, published: datetime, headline: str, paragraphs) -> str:
    nav = _NAV.get(site.lang, _NAV["en"])
    by, newsletter, rights, about, contact, privacy = _FOOTER.get(site.lang, _FOOTER["en"])
    stamp = published.strftime("%Y-%m-%dT%H:%M:%SZ")
    title, name = escape(headline), escape(site.name)
    body = "\n".join(f"<p>{escape(' '.join(s), quote=False)}</p>" for s in paragraphs)
    menu = "".join(f'<li><a href="/{label.lower()}/">{escape(label)}</a></li>' for label in nav)
    return f"""<!DOCTYPE html>
<html lang="{site.lang}">
<head>
<meta charset="utf-8">
<title>{title} | {name}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="author" content="{escape(author)}">
<meta name="date" content="{stamp}">
<meta property="article:published_time" content="{stamp}">
<meta property="og:type" content="article">
<meta property="og:title" content="{title}">
<meta property="og:site_name" content="{name}">
<meta name="description" content="{escape(" ".join(paragraphs[0][:1]))}">
<link rel="stylesheet" href="/static/site.css">
</head>
<body>
<header class="site-header"><a class="logo" href="/">{name}</a>
<nav class="menu"><ul>{menu}</ul></nav></header>
<main>
<article>
<h1>{title}</h1>
<p class="byline">{by} <span class="author">{escape(author)}</span> |
<time datetime="{stamp}">{published.strftime("%d.%m.%Y %H:%M")}</time></p>
{body}
</article>
<aside class="newsletter"><p>{escape(newsletter)}</p><a href="/newsletter/">{nav[0]}</a></aside>
</main>
<footer><p>&copy; 2024 {name}. {escape(rights)}</p>
<ul><li><a href="/about/">{escape(about)}</a></li><li><a href="/contact/">{escape(contact)}</a></li>
<li><a href="/privacy/">{escape(privacy)}</a></li></ul></footer>
</body>
</html>
"""


def render_light_page(
    planned: LightPlanned, seed: int, pools: dict[str, list[str]], days: int = 30
) -> dict:
    """The JSON Lines record (``url``, ``html``, ``fetch_time``) of one planned page."""
    site, published, headline, paragraphs = _article(planned.source, seed, pools, days)
    rng = random.Random(seed * 1_000_003 + planned.n + 7)
    if planned.kind == "near":  # one sentence of a middle paragraph, replaced
        middle = paragraphs[len(paragraphs) // 4 : len(paragraphs) - len(paragraphs) // 4]
        sentences = rng.choice(middle)
        i = rng.randrange(len(sentences))
        pool = pools[site.lang]
        while (new := pool[rng.randrange(len(pool))]) == sentences[i]:
            pass
        sentences[i] = new
    author = site.authors[planned.source % len(site.authors)]
    fetched = published + timedelta(seconds=rng.randrange(3600, 30 * 3600))
    if planned.kind != "unique":  # fetched after the original
        fetched += timedelta(seconds=rng.randrange(3600, 72 * 3600))
    return {
        "url": f"https://site-{site.k}.example/news/{planned.n}",
        "html": _html(site, author, published, headline, paragraphs),
        "fetch_time": fetched.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def write_light_corpus(
    pages: int, folder: Path, files: int = 8, seed: int = 22, days: int = 30
) -> dict:
    """Writes ``pages`` light pages into ``folder`` (see the module docstring); returns and
    writes (``_planted.json``) the planted counts and sizes."""
    if files < 1:
        raise ValueError(f"files must be >= 1, got {files}")
    started = time.perf_counter()
    pools = sentence_pools()
    plan = plan_light(pages, seed)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("pages-*.jsonl"):
        stale.unlink()
    html_bytes = 0
    with ExitStack() as stack:
        handles = [
            stack.enter_context(open(folder / f"pages-{i:03d}.jsonl", "w", encoding="utf-8"))
            for i in range(files)
        ]
        for planned in plan:
            record = render_light_page(planned, seed, pools, days)
            html_bytes += len(record["html"].encode("utf-8"))
            handles[planned.n % files].write(json.dumps(record, ensure_ascii=False) + "\n")
    with open(folder / "_planted.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["page", "kind", "source"])
        writer.writerows(plan)
    counts = {kind: sum(p.kind == kind for p in plan) for kind in KINDS}
    summary = {
        "pages": pages,
        "files": files,
        "planted": counts,
        "jsonl_mb": round(sum(f.stat().st_size for f in folder.glob("pages-*.jsonl")) / 1e6, 1),
        "html_kb_mean": round(html_bytes / max(pages, 1) / 1e3, 2),
        "seed": seed,
        "days": days,
        "generate_s": round(time.perf_counter() - started, 1),
    }
    (folder / "_planted.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def measure(corpus: Path, output: Path, extra: list[str], beside: list[int] = ()) -> tuple:
    """One measured ``pagestream run`` on ``corpus``: ``(common.Measured, its manifest)``;
    ``beside``: pids of a cluster whose memory and CPU count too."""
    shutil.rmtree(output, ignore_errors=True)
    argv = [PYTHON, "-m", "pagestream.cli", "run", "--input", str(corpus), "--output",
            str(output), "--run_id", RUN_ID, "--quiet", *extra]  # fmt: skip
    run = run_measured(argv, beside=beside)
    if not run.ok:
        raise SystemExit(f"pagestream run on {corpus} failed (stderr above)")
    manifest = json.loads((output / "_runs" / f"{RUN_ID}.json").read_text())
    shutil.rmtree(output, ignore_errors=True)
    return run, manifest


def cluster_rss_mib(pids: list[int]) -> float:
    """RSS of the process trees of ``pids`` now, in MiB."""
    return tree_rss([psutil.Process(pid) for pid in pids]) / 1024**2


def _sizes(args, tmp: Path, extra: list[str], beside: list[int], results: dict) -> None:
    root = args.generate_only or tmp
    for size in args.sizes:
        corpus = root / f"pages-{size}"
        summary = write_light_corpus(size, corpus, args.files, args.seed, args.days)
        if args.generate_only is not None:
            print(json.dumps({**summary, "corpus": str(corpus)}), flush=True)
            continue
        runs = [measure(corpus, tmp / f"out-{size}", extra, beside) for _ in range(args.repeat)]
        shutil.rmtree(corpus)
        measured = [run for run, _ in runs]
        manifest = runs[-1][1]
        dup_status = manifest.get("dup_status", {})
        seconds = median([r.wall_s for r in measured])
        row = {
            "pages": size,
            "seconds": round(seconds, 1),
            "pages_per_s": round(size / seconds, 1),
            "cpu_s": round(median([r.cpu_s for r in measured]), 1),
            "peak_rss_mib": round(median([r.peak_rss_mib for r in measured])),
            "peaks_mib": [round(r.peak_rss_mib) for r in measured],
            "rows": manifest["counts"]["pages"],
            "rejected": manifest["counts"]["rejected"],
            "dead_letter": manifest["counts"]["dead_letter"],
            "duplicates": sum(v for k, v in dup_status.items() if k != "unique"),
            "dup_status": dup_status,
            "planted": summary["planted"],
            "jsonl_mb": summary["jsonl_mb"],
            "generate_s": summary["generate_s"],
            "load": [r.load for r in measured],
            "extra_args": " ".join(extra),
        }
        results["sizes"].append({**row, "corpus": summary})
        print(json.dumps(row), flush=True)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    extra: list[str] = []
    if "--" in argv:
        extra, argv = argv[argv.index("--") + 1 :], argv[: argv.index("--")]
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        usage="%(prog)s [options] [-- PAGESTREAM RUN ARGS]",
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 16000])
    parser.add_argument("--repeat", type=int, default=1, help="runs per size (median)")
    parser.add_argument("--files", type=int, default=8, help="JSON Lines files per corpus")
    parser.add_argument("--days", type=int, default=30, help="publication dates spread")
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--json", type=Path, help="also write machine, corpora and rows here")
    parser.add_argument(
        "--dask",
        type=int,
        default=0,
        metavar="N",
        help="run on a local Dask cluster of N single-thread workers",
    )
    parser.add_argument("--npartitions", type=int, default=4, help="--dask_npartitions")
    parser.add_argument(
        "--generate-only", type=Path, metavar="DIR",
        help="only write each corpus to DIR/pages-N (kept) and print its summary",
    )  # fmt: skip
    args = parser.parse_args(argv)
    results: dict = {"machine": machine_info(), "extra_args": extra, "sizes": []}
    with tempfile.TemporaryDirectory(prefix="pagestream-memory-") as tmp:
        beside: list[int] = []
        cluster: list = []
        if args.dask and args.generate_only is None:
            address, cluster = start_dask(Path(tmp) / "dask", args.dask)
            beside = [process.pid for process in cluster]
            extra = [f"--runner={DASK_RUNNER}", f"--dask_client_address={address}",
                     f"--dask_npartitions={args.npartitions}", *extra]  # fmt: skip
            results["cluster_idle_mib"] = round(cluster_rss_mib(beside))
        try:
            _sizes(args, Path(tmp), extra, beside, results)
        finally:
            if cluster:
                stop_dask(cluster)
    if len(results["sizes"]) >= 2:
        by_size = sorted(results["sizes"], key=lambda r: r["pages"])
        small, large = by_size[0], by_size[-1]
        results["ratio"] = {
            "peak_ratio": round(large["peak_rss_mib"] / small["peak_rss_mib"], 2),
            "largest": large["pages"],
            "smallest": small["pages"],
            "largest_peak_mib": large["peak_rss_mib"],
            "load_end": load_average(),
        }
        print(json.dumps(results["ratio"]), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
