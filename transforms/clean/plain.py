"""A plain-text page cleaned as its ``--text_cleaning`` mode says, with its metadata.

The one entry point of the extraction stage for plain text (``*.txt``, JSON Lines ``text``).
"""

from __future__ import annotations

from typing import NamedTuple

from pagestream.transforms.clean.lines import DEFAULT_CONFIG, CleanTextConfig
from pagestream.transforms.clean.metadata import TextMetadata, metadata_from
from pagestream.transforms.clean.modes import TEXT_CLEANING_MODES
from pagestream.transforms.clean.text import analyse, remove_repeated_lines, result

__all__ = ["PlainText", "clean_plain_text"]


class PlainText(NamedTuple):
    """The cleaned text and what the page says about itself."""

    text: str
    metadata: TextMetadata


def clean_plain_text(
    text: str, mode: str, repeated: frozenset[str], config: CleanTextConfig = DEFAULT_CONFIG
) -> PlainText:
    """``text`` cleaned by ``mode`` (see ``modes.py``) and its title, date and author.

    ``lines``: every line rule (``clean_text``); ``repeats``: only the lines the site repeats
    (``remove_repeated_lines``); both read the metadata from the line analysis. ``off``: the
    text unchanged and no metadata (the text may be a tweet or a title: no line of it is a
    headline we can tell). Raises ``ValueError`` on another mode.
    """
    if mode not in TEXT_CLEANING_MODES:
        raise ValueError(
            f"text_cleaning must be one of {', '.join(TEXT_CLEANING_MODES)}, got {mode!r}"
        )
    if mode == "off":
        return PlainText(text, TextMetadata())
    lines, reasons = analyse(text, repeated, config)
    metadata = metadata_from(lines, reasons, config)
    if mode == "lines":
        return PlainText(result(lines, reasons).text, metadata)
    return PlainText(remove_repeated_lines(text, repeated, config), metadata)
