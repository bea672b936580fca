"""The HTML pieces of ``pagestream report``: the stylesheet, sections, tables.

Plain strings with every value escaped; the charts are in ``report_charts`` and the page is
put together by ``report``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from pagestream.query import RunManifest

__all__ = ["CSS", "MAX_FILE_ROWS", "empty", "is_number", "per_file_tables", "section", "table"]

#: Per-file rows shown for one run (the rest are counted).
MAX_FILE_ROWS = 500

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;margin:0;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:0 0 10px}
section{background:#fff;border:1px solid #e2e4e8;border-radius:8px;padding:16px 20px;margin:16px 0}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{background:#fff;border:1px solid #e2e4e8;
border-radius:8px;padding:10px 16px;min-width:130px}.card b{display:block;font-size:24px}
svg{max-width:100%;height:auto}.empty,.note{color:#666}
table{border-collapse:collapse;font-size:13px;width:100%}th,td{padding:4px 8px;
border-bottom:1px solid #eee;text-align:left}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
details{margin:8px 0}summary{cursor:pointer;font-weight:600}
"""


def section(title: str, body: str, note: str = "") -> str:
    note_html = f'<p class="note">{html.escape(note)}</p>' if note else ""
    return f"<section><h2>{html.escape(title)}</h2>{note_html}{body}</section>"


def empty(what: str) -> str:
    return f'<p class="empty">No {html.escape(what)} recorded.</p>'


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML table; columns whose values are all numbers are right-aligned, header too."""
    numeric = [all(is_number(r[i]) or r[i] is None for r in rows) for i in range(len(headers))]

    def cell(v: Any, tag: str, right: bool) -> str:
        text = f"{v:,}" if isinstance(v, int) else f"{v:,.1f}" if is_number(v) else v
        css = " class=n" if right else ""
        return f"<{tag}{css}>{html.escape('' if text is None else str(text))}</{tag}>"

    head = "".join(cell(h, "th", n) for h, n in zip(headers, numeric, strict=True))
    body = "".join(
        "<tr>" + "".join(cell(v, "td", n) for v, n in zip(row, numeric, strict=True)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def per_file_tables(runs: Sequence[RunManifest]) -> str:
    parts = []
    for i, run in enumerate(reversed(runs)):  # latest first, open
        per_file = run.data.get("per_file") or {}
        rows = [[path, c.get("read"), c.get("pages"), c.get("rejected"), c.get("dead_letter")]
                for path, c in sorted(per_file.items())]  # fmt: skip
        more = f" (first {MAX_FILE_ROWS} of {len(rows)})" if len(rows) > MAX_FILE_ROWS else ""
        files = table(
            ["input file", "read", "pages", "rejected", "dead letters"], rows[:MAX_FILE_ROWS]
        )
        parts.append(f"<details{' open' if i == 0 else ''}><summary>run {html.escape(run.run_id)}: "
                     f"{len(rows)} file{'' if len(rows) == 1 else 's'}{more}</summary>{files if rows else empty('files')}</details>")  # fmt: skip
    return "".join(parts)
