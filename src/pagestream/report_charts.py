"""The charts of ``pagestream report``: inline SVG drawn by matplotlib (Agg backend).

Every chart is a self-contained ``<svg>`` whose ids carry a per-chart prefix, so several can
share one HTML page; text stays text (``svg.fonttype`` none) and no date is embedded, so the
same figures give the same bytes.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.ticker import MaxNLocator  # noqa: E402

from pagestream.query import RunManifest  # noqa: E402

__all__ = ["COLORS", "MAX_BARS", "barh", "bin_labels", "histogram_chart", "runs_chart", "top"]

#: Bars shown at most per chart (the rest are summed into "other").
MAX_BARS = 25
#: Colour of each table's records.
COLORS = {"pages": "#2b7bb9", "rejected": "#e0a526", "dead_letter": "#c8423b"}


def _svg(fig: plt.Figure, prefix: str, label: str) -> str:
    """The figure as inline SVG; ids are prefixed so several charts can share one page."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": prefix}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = re.sub(r'\bid="', f'id="{prefix}-', svg)
    svg = svg.replace("url(#", f"url(#{prefix}-").replace('href="#', f'href="#{prefix}-')
    return svg.replace("<svg ", f'<svg role="img" aria-label="{html.escape(label)}" ', 1)


def top(counts: Mapping[str, float], limit: int = MAX_BARS) -> list[tuple[str, float]]:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(items) > limit:
        items = items[: limit - 1] + [("other", sum(v for _, v in items[limit - 1 :]))]
    return items


def barh(items: Sequence[tuple[str, float]], prefix: str, label: str, colors=None, unit="") -> str:
    fig, ax = plt.subplots(figsize=(8, 0.6 + 0.32 * len(items)))
    names = [k for k, _ in items][::-1]
    values = [v for _, v in items][::-1]
    bars = ax.barh(names, values, color=(colors or ["#2b7bb9"] * len(items))[::-1])
    ax.bar_label(bars, labels=[f"{v:,.0f}{unit}" if v >= 10 else f"{v:,.3g}{unit}" for v in values],
                 padding=3, fontsize=9)  # fmt: skip
    ax.spines[["top", "right"]].set_visible(False)
    ax.margins(x=0.15)
    if not unit:  # counts: whole-number ticks
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _svg(fig, prefix, label)


def bin_labels(edges: Sequence[int], n: int) -> list[str] | None:
    """Labels of ``n`` bins over ``edges``: n == len(edges) - 1 (closed last bin, as numpy) or
    n == len(edges) (the last bin open-ended); None when they do not fit together."""
    if n not in (len(edges) - 1, len(edges)) or n == 0:
        return None
    labels = [f"{a:,}–{b:,}" for a, b in zip(edges, edges[1:], strict=False)][:n]
    if n == len(edges):
        labels.append(f"≥ {edges[-1]:,}")
    return labels


def histogram_chart(hist: Mapping[str, list], prefix: str) -> str:
    counts = hist["counts"]
    labels = bin_labels(hist["edges"], len(counts))
    fig, ax = plt.subplots(figsize=(8, 3.2))
    bars = ax.bar(labels, counts, color="#2b7bb9")
    ax.bar_label(bars, padding=2, fontsize=9)
    ax.set_xlabel("words per page")
    ax.set_ylabel("pages")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig, prefix, "word count histogram")


def runs_chart(runs: Sequence[RunManifest], prefix: str) -> str:
    shown = runs[-60:]
    labels = [f"{r.data.get('logical_date', '')}\n{r.run_id}" for r in shown]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(shown)), 3.6))
    bottom = [0] * len(shown)
    for table in ("pages", "rejected", "dead_letter"):
        values = [int((r.data.get("counts") or {}).get(table) or 0) for r in shown]
        ax.bar(labels, values, bottom=bottom, label=table, color=COLORS[table])
        bottom = [a + b for a, b in zip(bottom, values, strict=True)]
    ax.set_ylabel("records")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(frameon=False, ncols=3, loc="upper left", bbox_to_anchor=(0, 1.15))
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig, prefix, "records per run")
