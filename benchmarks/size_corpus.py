"""The size corpus of ``benchmarks/scaling.py size``: N pages of real HTML with planted duplicates.

N pages made from the real HTML of
``extraction-dev/pages.jsonl.gz`` (``write_corpus``; seeded, byte-for-byte deterministic):

- **Templates.** 376 of the 436 real pages: those whose ``<p ...>...</p>`` elements of >= 5
  words hold >= 50 % of the 5-word shingles of their trafilatura baseline text
  (``CorpusConfig.min_coverage``). On the other 60 (9 without such a ``<p>``, 51 with their
  main text mostly elsewhere: ``<div>``, ``<br>``, ``<pre>``, short ``<p>``...) most of the
  extracted text would be the same on every page made from them -- false duplicates.
- **Unique pages** (~84 %). Each takes a template (a seeded shuffle of the 376, reshuffled after
  every pass, so all are used equally) and keeps its HTML byte for byte except the content of
  those ``<p>`` elements (inline tags included; shorter ``<p>`` -- bylines, buttons, captions --
  stay as template boilerplate, as do headings, lists, tables, menus and footers). Each such
  content becomes as many words as it had, taken from paragraphs drawn at random from the
  baseline texts (``baseline_predictions.jsonl.gz`` split on newlines, >= 12 words: 8,058
  paragraphs; from the template's language when it has >= 200 of them -- en, de, es, fr, pl --
  else from all), each with every 10th word (from a random offset, so at least one) replaced
  by consecutive words of another random paragraph, ``html.escape``-d. So a page keeps its
  real size (~170 KB of HTML), structure, boilerplate and amount of text, with new main text;
  measured with ``extract_html`` and dedup's shingles, two pages of one template share at most
  31 % of their shingles (Jaccard), far below the near-duplicate threshold (0.7).
- **Exact copies** (~8 %): a unique page generated earlier, byte for byte, under a new url.
- **Near copies** (~8 %): a unique page generated earlier, edited only in paragraphs whose
  original text the baseline extracted: half of the time one of the middle half of them that
  holds <= 10 % of their words is rewritten (when there is one), else 2 % of their words (at
  least one) are replaced. Measured shingle Jaccard to the source, one near copy per template:
  median 0.84, 5th percentile 0.81, minimum 0.73 (a 55-word page); on 3 of 376 templates the
  edit fell in reader comments, which the baseline keeps but pagestream's extraction drops,
  so that copy extracts as an exact one. A page is copied by one kind only and near-copied at
  most once, so every planted group has one right answer (a second near copy would also make
  the shared lines "repeated on 3 pages of the site", which extraction removes as boilerplate).
- Every page has its own url: its template's url + ``?pagestream_page=N`` (``&`` if the url has
  a query), N the page's number. No ``fetch_time``. Pages go round-robin into ``--shards``
  ``part-NNN.jsonl.gz`` files (gzip level 1, mtime 0). ``_planted.csv`` (page, kind, source page)
  and ``_planted.json`` (counts) sit next to them; pagestream skips ``_`` files.

Generation streams: it holds the templates (cut into constant pieces around the replaced
paragraphs, ~70 MB), the paragraph pool and one small plan entry per page; a copy regenerates
its source from the source's seed. 20,000 pages are 3.4 GB of JSON Lines, 0.8 GB gzipped,
written in ~60 s of CPU (about half of it zlib) with a flat ~250 MB peak RSS.

:func:`found_duplicates` reads what a run marked back from its Parquet and compares it
with the plan (``_planted.csv``).
"""

from __future__ import annotations

import csv
import gzip
import json
import random
import re
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from html import escape, unescape
from pathlib import Path
from typing import NamedTuple

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATA  # noqa: E402

__all__ = [
    "CorpusConfig",
    "KINDS",
    "PAGE_PARAM",
    "Planned",
    "Template",
    "found_duplicates",
    "load_templates",
    "near_edit",
    "page_url",
    "paragraph_pools",
    "parse_template",
    "plan_corpus",
    "render_page",
    "unique_paragraphs",
    "usable",
    "write_corpus",
]

EXTRACTION_DEV = DATA / "extraction-dev"
PAGE_PARAM = "pagestream_page"
KINDS = ("unique", "exact", "near")

Words = tuple[str, ...]  # a pool paragraph, split on whitespace

# Regex on the raw HTML rather than an HTML parser: a parser would re-serialise the page and
# change its bytes; this keeps everything outside the replaced text as it was. The content may
# hold inline tags but no <p> or <div> (an unclosed <p> then does not swallow the next block).
_PARAGRAPH = re.compile(r"(<p\b[^>]*>)([^<]*(?:<(?!/?(?:p|div)\b)[^<]*)*)</p\s*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class CorpusConfig:
    """How ``write_corpus`` builds a corpus (defaults: the corpus the module docstring describes).

    Attributes:
        seed: seeds the plan and, with the page number, every page.
        exact_rate, near_rate: share of pages planted as exact / near copies, each in [0, 0.5).
        perturb_rate: share of a drawn paragraph's words replaced (every ``1/rate``-th), in
            [0, 1].
        near_word_rate: share of a near copy's paragraph words replaced, in (0, 0.5].
        near_paragraph_share: a near copy may replace one paragraph holding at most this share
            of the page's paragraph words, in [0, 1].
        min_slot_words: a ``<p>`` with at least this many words of text is replaced, >= 1.
        min_coverage: a template is used only if its replaced ``<p>`` elements hold at least
            this share of the 5-word shingles of its baseline text, in (0, 1]. Below it, most of
            what trafilatura extracts would be the same on every page made from the template
            (measured: two pages of one template with coverage < 0.5 had a shingle Jaccard
            >= 0.5 on 36 of 51 such templates, 1.0 on 18; >= 0.5 keeps 376 of the 436 pages,
            whose page pairs reach at most 0.31).
        min_pool_words: paragraphs of at least this many words make the pool, >= 1.
        min_language_pool: a language with fewer pool paragraphs draws from the whole pool.
    """

    seed: int = 7
    exact_rate: float = 0.08
    near_rate: float = 0.08
    perturb_rate: float = 0.10
    near_word_rate: float = 0.02
    near_paragraph_share: float = 0.10
    min_slot_words: int = 5
    min_coverage: float = 0.5
    min_pool_words: int = 12
    min_language_pool: int = 200

    def __post_init__(self) -> None:
        for name in ("exact_rate", "near_rate"):
            if not 0.0 <= getattr(self, name) < 0.5:
                raise ValueError(f"{name} must be in [0, 0.5), got {getattr(self, name)!r}")
        for name in ("perturb_rate", "near_paragraph_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        if not 0.0 < self.min_coverage <= 1.0:
            raise ValueError(f"min_coverage must be in (0, 1], got {self.min_coverage!r}")
        if not 0.0 < self.near_word_rate <= 0.5:
            raise ValueError(f"near_word_rate must be in (0, 0.5], got {self.near_word_rate!r}")
        for name in ("min_slot_words", "min_pool_words", "min_language_pool"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")


class Template(NamedTuple):
    """A real page cut around its replaceable paragraphs.

    ``pieces`` are the HTML between the slots, already JSON-string-escaped and UTF-8 encoded
    (``len(pieces) == slots + 1``), so rendering a page is a join. ``sizes`` are the words each
    slot gets (those of the text it replaces), ``original`` the replaced texts, ``coverage``
    the share of the baseline text's 5-word shingles inside them, ``extracted`` the slots whose
    original text trafilatura extracted (>= half of their shingles are in the baseline text).
    """

    url: str
    lang: str
    pieces: tuple[bytes, ...]
    sizes: tuple[int, ...]
    original: tuple[str, ...]
    coverage: float
    extracted: tuple[int, ...]

    @property
    def slots(self) -> int:
        return len(self.pieces) - 1


class Planned(NamedTuple):
    """One page of the corpus: its number, kind, the unique page it copies (itself if unique)
    and its template index."""

    n: int
    kind: str
    source: int
    template: int


def _json_chars(text: str) -> bytes:
    """``text`` as the inside of a JSON string (UTF-8); pieces of one string concatenate."""
    return json.dumps(text, ensure_ascii=False)[1:-1].encode("utf-8", "replace")


def _plain(fragment: str) -> str:
    return " ".join(unescape(_TAG.sub(" ", fragment)).split())


def _slot_coverage(baseline_text: str, replaced: Sequence[str]) -> tuple[float, tuple[int, ...]]:
    """``(coverage, extracted)`` of ``Template`` for slots holding the texts ``replaced``."""
    from pagestream.transforms.dedup.normalise import shingles

    in_baseline = shingles(baseline_text, 5)
    slots = [shingles(text, 5) for text in replaced]
    extracted = tuple(
        i for i, sh in enumerate(slots) if sh and 2 * len(sh & in_baseline) >= len(sh)
    )
    counted = shingles(baseline_text, 5, 5)  # as dedup counts them: lines of >= 5 words
    inside = counted & set().union(*slots)
    return (len(inside) / len(counted) if counted else 0.0), extracted


def parse_template(
    url: str, lang: str, html: str, baseline_text: str, config: CorpusConfig
) -> Template:
    """Cuts ``html`` around the content of its ``<p>`` elements of >= ``min_slot_words`` words.

    A page without such an element gets no slot and coverage 0. (Inserting paragraphs into a
    ``<div>`` at the start of ``<body>`` was tried and dropped: on 6 of the 9 such pages
    trafilatura still extracted only the page's own text, so every page made from them was
    the same text, i.e. false exact duplicates.)
    """
    pieces, original, pos = [], [], 0
    for match in _PARAGRAPH.finditer(html):
        text = _plain(match.group(2))
        if len(text.split()) < config.min_slot_words:
            continue
        pieces.append(html[pos : match.start(2)])
        original.append(text)
        pos = match.end(2)
    pieces.append(html[pos:])
    sizes = tuple(len(text.split()) for text in original)
    coverage, extracted = _slot_coverage(baseline_text, original)
    encoded = tuple(_json_chars(piece) for piece in pieces)
    return Template(url, lang, encoded, sizes, tuple(original), coverage, extracted)


def _dev_languages_and_texts(source: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Truth language and trafilatura baseline text of each extraction-dev url."""
    with gzip.open(source / "truth.jsonl.gz", "rt", encoding="utf-8") as lines:
        langs = {row["url"]: row["lang"] for row in map(json.loads, lines)}
    with gzip.open(source / "baseline_predictions.jsonl.gz", "rt", encoding="utf-8") as lines:
        texts = {row["url"]: row["text"] for row in map(json.loads, lines)}
    return langs, texts


def load_templates(config: CorpusConfig, source: Path = EXTRACTION_DEV) -> list[Template]:
    """All 436 extraction-dev pages as templates, in file order (used or not: ``usable``)."""
    langs, texts = _dev_languages_and_texts(source)
    with gzip.open(source / "pages.jsonl.gz", "rt", encoding="utf-8") as lines:
        return [
            parse_template(
                row["url"],
                langs.get(row["url"], ""),
                row["html"],
                texts.get(row["url"], ""),
                config,
            )
            for row in map(json.loads, lines)
        ]


def usable(templates: Sequence[Template], config: CorpusConfig) -> list[int]:
    """Indices of the templates a corpus uses: those with ``coverage >= min_coverage``."""
    return [i for i, t in enumerate(templates) if t.coverage >= config.min_coverage]


def paragraph_pools(config: CorpusConfig, source: Path = EXTRACTION_DEV) -> dict[str, list[Words]]:
    """Baseline-text paragraphs of >= ``min_pool_words`` words: ``""`` holds all of them, and
    each language with >= ``min_language_pool`` paragraphs has its own list too; split in words."""
    langs, texts = _dev_languages_and_texts(source)
    pools: dict[str, list[Words]] = {"": []}
    for url, text in texts.items():
        for paragraph in text.split("\n"):
            words = tuple(paragraph.split())
            if len(words) >= config.min_pool_words:
                pools[""].append(words)
                pools.setdefault(langs.get(url, ""), []).append(words)
    return {
        lang: pool
        for lang, pool in pools.items()
        if lang == "" or len(pool) >= config.min_language_pool
    }


def page_url(template_url: str, n: int) -> str:
    """``template_url`` (fragment dropped) with ``pagestream_page=n`` added to its query."""
    base = template_url.split("#", 1)[0]
    return f"{base}{'&' if '?' in base else '?'}{PAGE_PARAM}={n}"


def _page_rng(seed: int, n: int) -> random.Random:
    return random.Random(seed * 1_000_003 + n)


def _other_word(old: str, new: str) -> str:
    """``new``, made to differ from ``old`` (a suffix) if it equals it."""
    return new if new != old else new + "s"


def _perturbed(words: Words, donor: Words, rng: random.Random, rate: float) -> list[str]:
    """``words`` with every ``1/rate``-th word, from a random offset below that step (so at least
    one word), replaced by consecutive words of ``donor`` from a random start.

    A fixed stride rather than random positions: the same share of 5-word shingles changes
    (each one holds at most one replaced word), for 2 random draws instead of 2 per word;
    this loop is most of the generator's CPU time.
    """
    out = list(words)
    if rate <= 0:
        return out
    step = max(1, round(1 / rate))
    first, start = rng.randrange(min(step, len(out))), rng.randrange(len(donor))
    for k, i in enumerate(range(first, len(out), step)):
        out[i] = _other_word(out[i], donor[(start + k) % len(donor)])
    return out


def _fill(size: int, pool: Sequence[Words], rng: random.Random, rate: float) -> str:
    """``size`` words: pool paragraphs drawn at random, each ``_perturbed`` with another random
    paragraph as the donor, joined and cut to ``size``."""
    words: list[str] = []
    while len(words) < size:
        words += _perturbed(rng.choice(pool), rng.choice(pool), rng, rate)
    return " ".join(words[:size])


def unique_paragraphs(
    template: Template, pool: Sequence[Words], rng: random.Random, config: CorpusConfig
) -> list[str]:
    """New text for each slot of ``template``, as many words as the text it replaces."""
    return [_fill(size, pool, rng, config.perturb_rate) for size in template.sizes]


def near_edit(
    paragraphs: list[str],
    editable: Sequence[int],
    pool: Sequence[Words],
    rng: random.Random,
    config: CorpusConfig,
) -> list[str]:
    """A near copy of ``paragraphs``, edited in the ``editable`` ones only (the slots extraction
    keeps, so the edit shows in the text): half of the time (if there is one) a paragraph of
    the middle half of them holding <= ``near_paragraph_share`` of their words is rewritten,
    else ``near_word_rate`` of their words (at least one) are replaced."""
    words = [paragraph.split() for paragraph in paragraphs]
    total = sum(len(words[i]) for i in editable)
    # Only the middle half: first and last extracted paragraphs are often a lead or comments,
    # which the pipeline's extraction settings may drop where the baseline kept them.
    middle = editable[len(editable) // 4 : len(editable) - len(editable) // 4]
    small = [i for i in middle if len(words[i]) <= total * config.near_paragraph_share]
    if small and rng.random() < 0.5:
        i = rng.choice(small)
        words[i] = _fill(len(words[i]), pool, rng, config.perturb_rate).split()
    else:
        positions = [(i, j) for i in editable for j in range(len(words[i]))]
        donor = rng.choice(pool)
        for i, j in rng.sample(positions, max(1, round(len(positions) * config.near_word_rate))):
            words[i][j] = _other_word(words[i][j], rng.choice(donor))
    return [" ".join(w) for w in words]


def _pick_source(
    uniques: list[int], roles: dict[int, str], kind: str, rng: random.Random
) -> int | None:
    """A unique page to copy as ``kind``: one not yet copied, or (for ``exact``) one copied
    exactly before. ``None`` after 8 misses."""
    for _ in range(8):
        source = rng.choice(uniques)
        role = roles.get(source)
        if role is None or (role == "exact" and kind == "exact"):
            return source
    return None


def plan_corpus(pages: int, templates: Sequence[int], config: CorpusConfig) -> list[Planned]:
    """Which page is unique (and on which of ``templates``) and which copies which; seeded.

    Unique pages go through a seeded shuffle of ``templates``, reshuffled after each pass.
    """
    rng = random.Random(config.seed)
    order = list(templates)
    plan: list[Planned] = []
    uniques: list[int] = []
    roles: dict[int, str] = {}
    for n in range(pages):
        roll = rng.random()
        if uniques and roll < config.exact_rate + config.near_rate:
            kind = "exact" if roll < config.exact_rate else "near"
            source = _pick_source(uniques, roles, kind, rng)
            if source is not None:
                roles[source] = kind
                plan.append(Planned(n, kind, source, plan[source].template))
                continue
        if len(uniques) % len(order) == 0:
            rng.shuffle(order)
        plan.append(Planned(n, "unique", n, order[len(uniques) % len(order)]))
        uniques.append(n)
    return plan


def render_page(
    planned: Planned,
    templates: Sequence[Template],
    pools: dict[str, list[Words]],
    config: CorpusConfig,
) -> bytes:
    """The JSON Lines record (``url``, ``html``) of one planned page, newline included."""
    template = templates[planned.template]
    pool = pools.get(template.lang, pools[""])
    paragraphs = unique_paragraphs(template, pool, _page_rng(config.seed, planned.source), config)
    if planned.kind == "near":
        editable = template.extracted or tuple(range(template.slots))
        rng = _page_rng(config.seed, planned.n)
        paragraphs = near_edit(paragraphs, editable, pool, rng, config)
    url = json.dumps(page_url(template.url, planned.n), ensure_ascii=False).encode("utf-8")
    parts = [b'{"url": ', url, b', "html": "']
    for piece, paragraph in zip(template.pieces[:-1], paragraphs, strict=True):
        parts += (piece, _json_chars(escape(paragraph, quote=False)))
    parts += (template.pieces[-1], b'"}\n')
    return b"".join(parts)


def write_corpus(
    pages: int,
    folder: Path,
    shards: int = 8,
    config: CorpusConfig = CorpusConfig(),
    source: Path = EXTRACTION_DEV,
) -> dict:
    """Writes a ``pages``-page corpus into ``folder`` (see the module docstring).

    Same arguments, same bytes. Returns the planted counts and sizes, also written to
    ``folder/_planted.json``; ``folder/_planted.csv`` lists page, kind and source page.
    """
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    templates = load_templates(config, source)
    pools = paragraph_pools(config, source)
    used = usable(templates, config)
    if not used:
        raise ValueError(f"no template of {source} has coverage >= {config.min_coverage}")
    plan = plan_corpus(pages, used, config)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("part-*.jsonl.gz"):  # of an earlier corpus with more shards
        stale.unlink()
    jsonl_bytes = 0
    with ExitStack() as stack:
        handles = []
        for i in range(shards):
            raw = stack.enter_context(open(folder / f"part-{i:03d}.jsonl.gz", "wb"))
            handles.append(
                stack.enter_context(
                    gzip.GzipFile(filename="", mode="wb", compresslevel=1, fileobj=raw, mtime=0)
                )
            )
        for planned in plan:
            record = render_page(planned, templates, pools, config)
            jsonl_bytes += len(record)
            handles[planned.n % shards].write(record)
    with open(folder / "_planted.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["page", "kind", "source"])
        writer.writerows((p.n, p.kind, p.source) for p in plan)
    counts = {kind: sum(p.kind == kind for p in plan) for kind in KINDS}
    summary = {
        "pages": pages,
        "planted": counts,
        "planted_dup_rate": round((counts["exact"] + counts["near"]) / max(pages, 1), 4),
        "input_mb": round(sum(f.stat().st_size for f in folder.glob("part-*.jsonl.gz")) / 1e6, 1),
        "jsonl_mb": round(jsonl_bytes / 1e6, 1),
        "templates": len(used),
        "seed": config.seed,
        "shards": shards,
    }
    (folder / "_planted.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


_FOUND_SQL = """
WITH found AS (
    SELECT CAST(regexp_extract(url, '[?&]{param}=([0-9]+)', 1) AS BIGINT) AS page, dup_status
    FROM read_parquet('{pages}', hive_partitioning = true)
),
planted AS (
    SELECT * FROM read_csv('{planted}', header = true,
                           columns = {{'page': 'BIGINT', 'kind': 'VARCHAR', 'source': 'BIGINT'}})
),
joined AS (
    SELECT p.source, f.page IS NOT NULL AS present, f.dup_status,
           max(CASE WHEN p.kind <> 'unique' THEN p.kind END) OVER (PARTITION BY p.source) AS kind
    FROM planted p LEFT JOIN found f USING (page)
),
groups AS (
    SELECT source,
           count(*) FILTER (WHERE present) AS present,
           count(*) FILTER (WHERE NOT present) AS absent,
           count(*) FILTER (WHERE dup_status <> 'unique') AS flagged,
           count(*) FILTER (WHERE dup_status <> 'unique' AND dup_status <> kind) AS flagged_other
    FROM joined
    GROUP BY source
)
SELECT sum(greatest(present - 1 - flagged, 0)) AS missed,
       sum(greatest(flagged - greatest(present - 1, 0), 0)) AS false_flags,
       sum(flagged_other) AS wrong_kind,
       sum(absent) AS not_in_output
FROM groups
"""


def found_duplicates(output: Path, corpus: Path) -> dict:
    """What a run marked, read back from ``output/pages`` with DuckDB, against the plan.

    ``found``: rows per ``dup_status``; ``found_dup_rate``: share of rows not ``unique``.
    Per planted group (a unique page and its copies, rows present in the output):
    ``missed`` = copies left ``unique``, ``false_flags`` = flags beyond ``present - 1``,
    ``wrong_kind`` = copies flagged with another status than planted (in the group a copy or
    its source may carry the flag: the kept page is the first in pagestream's keep order);
    ``not_in_output`` = planted pages with no row (rejected or dead).
    """
    import duckdb

    pages = (output / "pages" / "**" / "*.parquet").as_posix()
    with duckdb.connect() as con:
        found = dict(
            con.execute(
                f"SELECT dup_status, count(*) FROM read_parquet('{pages}', hive_partitioning = true)"
                " GROUP BY 1 ORDER BY 1"
            ).fetchall()
        )
        sql = _FOUND_SQL.format(param=PAGE_PARAM, pages=pages, planted=corpus / "_planted.csv")
        columns = ("missed", "false_flags", "wrong_kind", "not_in_output")
        checks = dict(zip(columns, (int(v or 0) for v in con.execute(sql).fetchone()), strict=True))
    rows = sum(found.values())
    rate = round((rows - found.get("unique", 0)) / rows, 4) if rows else None
    return {"found": found, "found_dup_rate": rate, **checks}
