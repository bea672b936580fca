"""``pagestream report``: one self-contained HTML page about the committed runs of an output.

The report is built from the run manifests (``DIR/_runs/*.json``) alone, so it costs nothing
however large the corpus; ``scan=True`` recomputes the corpus figures from the Parquet files
of the committed runs instead (through :func:`pagestream.query.connect`). Charts are inline SVG
drawn by matplotlib (:mod:`pagestream.report_charts`); the page loads nothing from the
network: no script, no stylesheet, no font, no image from elsewhere.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import html
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pagestream import __version__
from pagestream.query import (
    QueryError,
    RunManifest,
    UsageError,
    connect,
    load_manifests,
    local_output_dir,
)
from pagestream.report_charts import COLORS as _COLORS
from pagestream.report_charts import MAX_BARS
from pagestream.report_charts import barh as _barh
from pagestream.report_charts import bin_labels as _bin_labels
from pagestream.report_charts import histogram_chart as _histogram_chart
from pagestream.report_charts import runs_chart as _runs_chart
from pagestream.report_charts import top as _top
from pagestream.report_html import CSS, empty, per_file_tables, section, table

__all__ = ["CHART_TITLES", "Summary", "add_arguments", "main", "summarize", "write_report"]

#: The ``<h2>`` title of every chart section, in page order ("Runs over time" only when the
#: report covers more than one run).
CHART_TITLES = (
    "Records by outcome",
    "Rejections and failures by stage and reason",
    "Languages",
    "Topics",
    "Duplicates",
    "Text length (word count)",
    "Pages per crawl date",
    "Top domains",
    "Timings per stage",
    "Quality flags by domain",
    "Runs over time",
)
_STAGES = ("read", "extract", "language", "dedup", "topics")
_FLAG_COLORS = {"gopher_quality": "#7b5ea7", "gopher_repetition": "#e0a526", "c4_lines": "#3a9a6b"}

Summary = dict[str, Any]


def _add(total: Counter, part: Mapping[str, Any] | None) -> None:
    for key, value in (part or {}).items():
        if isinstance(value, (int, float)):
            total[str(key)] += value


def summarize(runs: Sequence[RunManifest]) -> Summary:
    """Sums the manifests of ``runs`` into one summary (the keys of a manifest, added up).

    ``domains`` are each run's top 50, so their sum is exact only for domains in every top 50.
    Histograms whose bin edges differ from the first run's are left out (``histogram_runs``
    counts the ones summed). Timings that a run did not measure (null) add nothing.
    """
    s: Summary = {k: Counter() for k in ("counts", "languages", "topics", "dup_status",
                                         "crawl_dates", "domains", "timings_ms", "reasons",
                                         "quality_flags")}  # fmt: skip
    edges, hist, hist_runs = None, [], 0
    for run in runs:
        d = run.data
        for key in ("counts", "languages", "topics", "dup_status", "crawl_dates", "domains"):
            _add(s[key], d.get(key))
        _add(
            s["timings_ms"], {k: v for k, v in (d.get("timings_ms") or {}).items() if v is not None}
        )
        for r in d.get("reasons") or []:
            s["reasons"][(r.get("table", "rejected"), r.get("stage"), r.get("reason"))] += r.get(
                "count", 0
            )
        for domain, flags in (d.get("quality_flags_by_domain") or {}).items():
            _add(s["quality_flags"], {f"{domain or '(none)'} · {f}": n for f, n in flags.items()})
        h = d.get("word_count_histogram") or {}
        if h.get("edges") and (edges is None or h["edges"] == edges):
            edges = h["edges"]
            hist = [a + b for a, b in zip(hist or [0] * len(h["counts"]), h["counts"], strict=True)]
            hist_runs += 1
    s.update(histogram={"edges": edges or [], "counts": hist}, histogram_runs=hist_runs)
    return s


def _scan_summary(out_dir: str | Path, run_id: str | None, edges: list[int]) -> Summary:
    """The corpus figures of :func:`summarize`, computed from the Parquet files instead."""
    con = connect(out_dir, run_id)
    try:

        def pairs(sql: str) -> Counter:
            return Counter({str(k): v for k, v in con.execute(sql).fetchall()})

        s: Summary = {
            "languages": pairs("SELECT language, count(*) FROM pages GROUP BY 1"),
            "topics": pairs("SELECT t, count(*) FROM (SELECT unnest(topics) AS t FROM pages) GROUP BY 1"),
            "dup_status": pairs("SELECT dup_status, count(*) FROM pages GROUP BY 1"),
            "crawl_dates": pairs("SELECT crawl_date::VARCHAR, count(*) FROM pages GROUP BY 1"),
            "domains": pairs("SELECT domain, count(*) FROM pages WHERE domain IS NOT NULL GROUP BY 1 ORDER BY 2 DESC LIMIT 50"),
            "quality_flags": pairs("SELECT concat(coalesce(domain, '(none)'), ' · ', f), count(*) "
                                   "FROM (SELECT domain, unnest(quality_flags) AS f FROM pages) GROUP BY 1"),
            "reasons": Counter({(t, st, r): n for t, st, r, n in con.execute(
                "SELECT 'rejected', stage, reason, count(*) FROM rejected GROUP BY ALL UNION ALL "
                "SELECT 'dead_letter', stage, reason, count(*) FROM dead_letter GROUP BY ALL").fetchall()}),
        }  # fmt: skip
        counts = con.execute(
            "SELECT (SELECT count(*) FROM pages), (SELECT count(*) FROM rejected),"
            " (SELECT count(*) FROM dead_letter)"
        ).fetchone()
        words = con.execute("SELECT word_count, count(*) FROM pages GROUP BY 1").fetchall()
    finally:
        con.close()
    s["counts"] = Counter(dict(zip(("pages", "rejected", "dead_letter"), counts, strict=True)))
    s["counts"]["records_read"] = sum(counts)
    bins = edges or [0, 50, 100, 200, 500, 1000, 2000, 5000, 10000]
    hist = [0] * len(bins)  # bin i holds [edge i, edge i+1); the last one everything above
    for words_per_page, n in words:
        hist[max(bisect.bisect_right(bins, words_per_page or 0) - 1, 0)] += n
    s["histogram"] = {"edges": bins, "counts": hist}
    return s


def _render(runs: Sequence[RunManifest], s: Summary, out_dir: str, scanned: bool) -> str:
    counts = s["counts"]
    read = counts.get("records_read", 0)
    pages = counts.get("pages", 0)
    dups = sum(v for k, v in s["dup_status"].items() if k != "unique")
    rate = f"{dups / pages:.1%}" if pages else "n/a"
    cards = [("runs", len(runs)), ("records read", read), ("pages", pages),
             ("rejected", counts.get("rejected", 0)), ("dead letters", counts.get("dead_letter", 0)),
             ("duplicate rate", rate)]  # fmt: skip
    cards_html = "".join(f'<div class="card"><b>{html.escape(f"{v:,}" if isinstance(v, int) else v)}'
                         f"</b>{html.escape(k)}</div>" for k, v in cards)  # fmt: skip
    reasons = _top({f"{t}: {st} / {r}": n for (t, st, r), n in s["reasons"].items()})
    reason_colors = [
        _COLORS["dead_letter" if k.startswith("dead_letter") else "rejected"] for k, _ in reasons
    ]
    timings = {k: v / 1000 for k, v in s["timings_ms"].items() if k != "total_wall"}
    unmeasured = [k for k in _STAGES if k not in timings]
    wall = s["timings_ms"].get("total_wall")
    dates = sorted(s["crawl_dates"].items())[-MAX_BARS:]
    hist_ok = sum(s["histogram"]["counts"]) > 0 and _bin_labels(
        s["histogram"]["edges"], len(s["histogram"]["counts"])
    )
    outcome = [("pages", pages), ("rejected", counts.get("rejected", 0)),
               ("dead_letter", counts.get("dead_letter", 0))]  # fmt: skip
    sections = [
        section(CHART_TITLES[0], _barh(outcome, "c0", "records by outcome",
                 [_COLORS[k] for k, _ in outcome]),
                 f"{read:,} records read; every record ends in exactly one of these tables."),
        section(CHART_TITLES[1], _barh(reasons, "c1", "reasons", reason_colors) if reasons
                 else empty("rejections or failures")),
        section(CHART_TITLES[2], _barh(_top(s["languages"]), "c2", "languages") if s["languages"]
                 else empty("languages"), "Pages per detected language (und: undetermined)."),
        section(CHART_TITLES[3], _barh(_top(s["topics"]), "c3", "topics") if s["topics"]
                 else empty("topics"), "A page may carry several topics."),
        section(CHART_TITLES[4], _barh(_top(s["dup_status"]), "c4", "duplicates") if s["dup_status"]
                 else empty("duplicate statuses"),
                 f"Duplicate rate: {rate} of pages are marked exact, near or url duplicates."),
        section(CHART_TITLES[5], _histogram_chart(s["histogram"], "c5") if hist_ok
                 else empty("word counts")),
        section(CHART_TITLES[6], _barh(dates, "c6", "pages per crawl date") if dates
                 else empty("crawl dates")),
        section(CHART_TITLES[7], _barh(_top(s["domains"]), "c7", "top domains") if s["domains"]
                 else empty("domains"), "" if scanned else "From each run's top 50 domains."),
        section(CHART_TITLES[8], _barh(_top(timings), "c8", "timings", unit=" s") if timings
                 else empty("timings"),
                 "Time spent per stage, summed over records and workers, in seconds"
                 + (f"; wall time {wall / 1000:,.1f} s (all runs)" if wall else "")
                 + (f"; not measured: {', '.join(unmeasured)}" if unmeasured else "") + "."),
    ]  # fmt: skip
    flags = _top(s["quality_flags"])
    sections.append(section(
        CHART_TITLES[9], _barh(flags, "c9", "quality flags by domain",
                               [_FLAG_COLORS.get(k.rsplit(" · ", 1)[-1], "#888888") for k, _ in flags])
        if flags else empty("quality flags"),
        "Pages per domain and quality rule they fail (a page may fail several); see docs/quality.md."
        + ("" if scanned else " From each run's 50 domains with the most flags.")))  # fmt: skip
    if len(runs) > 1:
        sections.append(section(CHART_TITLES[10], _runs_chart(runs, "c10")))
    run_rows = [[r.run_id, r.data.get("logical_date"), r.data.get("finished_at"), r.data.get("duration_s"),
                 *((r.data.get("counts") or {}).get(k) for k in ("records_read", "pages", "rejected",
                                                                  "dead_letter"))]
                for r in reversed(runs)]  # fmt: skip
    sections.append(section("Runs", table(["run", "logical date", "finished (UTC)", "duration s",
                                             "read", "pages", "rejected", "dead letters"], run_rows)))  # fmt: skip
    sections.append(section("Per-file counts", per_file_tables(runs)))
    source = "a scan of the Parquet files" if scanned else "the run manifests"
    generated = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>pagestream report: {html.escape(out_dir)}</title><style>{CSS}</style></head>"
        f"<body><main><h1>pagestream report</h1><p class=note>{html.escape(out_dir)} · "
        f"{len(runs)} committed run{'s' if len(runs) != 1 else ''} · figures from {source} · "
        f"generated {generated} by pagestream {__version__}</p>"
        f'<div class="cards">{cards_html}</div>{"".join(sections)}</main></body></html>\n'
    )


def write_report(out_dir: str | Path, run_id: str | None = None, scan: bool = False) -> Path:
    """Writes ``DIR/_report/index.html`` about the committed runs of ``out_dir``.

    Guarantees: the file is self-contained (inline CSS and SVG, no external reference); it is
    written to a temporary name and renamed, so a reader never sees half a report; only
    manifests are read unless ``scan`` is true.

    Args:
        out_dir: An output directory written by ``pagestream run``.
        run_id: Report on this committed run only.
        scan: Recompute the corpus figures from the Parquet files of the committed runs.

    Returns:
        The path of the written report.

    Raises:
        QueryError: no such directory, no committed run, unknown ``run_id``; ``UsageError``
            for a remote path (``gs://``, ``s3://``: not supported).
    """
    out_dir = local_output_dir(out_dir)
    runs = load_manifests(out_dir, run_id)
    summary = summarize(runs)
    if scan:
        summary.update(_scan_summary(out_dir, run_id, summary["histogram"]["edges"]))
    page = _render(runs, summary, str(out_dir), scan)
    target = Path(out_dir) / "_report" / "index.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(".index.html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(target)
    return target


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``pagestream report`` arguments: ``DIR [--run_id ID] [--scan]``."""
    parser.add_argument("dir", help="output directory of pagestream run")
    parser.add_argument("--run_id", default=None, help="report on this run only")
    parser.add_argument(
        "--scan", action="store_true", help="recompute figures from the Parquet files"
    )


def main(args: argparse.Namespace) -> int:
    """Runs ``pagestream report``: prints the report path; errors are one line on stderr, exit
    status 2 for a path it cannot read (remote), 1 for others."""
    try:
        print(write_report(args.dir, run_id=args.run_id, scan=args.scan))
    except QueryError as exc:
        print(f"pagestream report: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
    return 0
