"""How much of a plain-text page the cleaner may drop: ``--text_cleaning`` and the per-record
JSON Lines field ``"text_cleaning"`` (a record's own value wins over the option).

* ``lines`` (default): every line rule of ``clean_text`` (scraped pages: menus, widgets...);
* ``repeats``: only the lines the page's site repeats on many pages (``remove_repeated_lines``,
  what HTML-extracted text gets): for text already extracted by another tool;
* ``off``: the text as given; only ``--min_words`` applies (tweets, titles, clean corpora).

Kept apart from ``text.py`` so that readers can validate a record without importing the cleaner.
"""

from __future__ import annotations

__all__ = ["DEFAULT_TEXT_CLEANING", "TEXT_CLEANING_MODES"]

TEXT_CLEANING_MODES = ("lines", "repeats", "off")
DEFAULT_TEXT_CLEANING = "lines"
