"""Reading JSON Lines files: one record per non-blank line, positions are line numbers from 1.

A line that is not a JSON object with a string ``html`` or ``text`` field becomes one ``dead``
record (so does a ``text`` record whose ``text_cleaning`` is not ``lines``/``repeats``/``off``);
a line over ``MAX_RECORD_BYTES`` is skipped without being held in memory and becomes one
``too_large`` record; a file cut or corrupt midway keeps the lines before the damage.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator

from pagestream.schemas.records import KIND_RAW, RawPage
from pagestream.transforms.clean.modes import TEXT_CLEANING_MODES
from pagestream.transforms.errors import dead_raw
from pagestream.transforms.read.common import (
    MAX_RECORD_BYTES,
    STAGE,
    open_input,
    parse_fetch_time,
    stream_failure,
    too_large,
)

__all__ = ["jsonl_record", "object_record", "read_jsonl"]


def jsonl_record(line: bytes, source: str) -> RawPage:
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return dead_raw("", source, STAGE, "invalid_json", exc, content=line)
    return object_record(obj, source, line)


def object_record(obj: object, source: str, line: str | bytes) -> RawPage:
    """The record of one parsed JSON value (a JSON Lines line, an item of a JSON array);
    ``line`` is its text, kept as the excerpt of a dead record."""
    if not isinstance(obj, dict):
        return dead_raw(
            "", source, STAGE, "not_an_object",
            error=f"a JSON record must be an object, got {type(obj).__name__}", content=line,
        )  # fmt: skip
    url = obj.get("url")
    if url is not None and not isinstance(url, str):
        return dead_raw(
            "", source, STAGE, "invalid_url",
            error=f"'url' must be a string, got {type(url).__name__}", content=line,
        )  # fmt: skip
    url = url or ""
    html, text = obj.get("html"), obj.get("text")
    if not isinstance(html, str) and not isinstance(text, str):
        return dead_raw(
            url, source, STAGE, "missing_content",
            error="the record has no string 'html' or 'text' field", content=line,
        )  # fmt: skip
    try:
        fetch_time = parse_fetch_time(obj.get("fetch_time"))
    except ValueError as exc:
        return dead_raw(url, source, STAGE, "invalid_fetch_time", exc, content=line)
    if isinstance(html, str):
        return RawPage(KIND_RAW, url, source, fetch_time, None, html=html)
    cleaning = obj.get("text_cleaning")
    if cleaning is not None and cleaning not in TEXT_CLEANING_MODES:
        return dead_raw(
            url, source, STAGE, "invalid_text_cleaning",
            error=f"'text_cleaning' must be one of {', '.join(TEXT_CLEANING_MODES)}, got {cleaning!r}",
            content=line,
        )  # fmt: skip
    return RawPage(KIND_RAW, url, source, fetch_time, None, text=text, text_cleaning=cleaning)


def _skip_line(stream) -> None:
    """Reads past the end of the current line without holding it in memory."""
    while True:
        chunk = stream.readline(1 << 20)
        if not chunk or chunk.endswith(b"\n"):
            return


def read_jsonl(path: str, skip: int = 0) -> Iterator[RawPage]:
    """The records of a JSON Lines file (see the module doc) after its first ``skip``, which
    are counted but not parsed (a later wave's share of a big file starts after them)."""
    line_no = records = 0
    with open_input(path, "jsonl") as stream:
        try:
            while line := stream.readline(MAX_RECORD_BYTES + 1):
                line_no += 1
                if len(line) > MAX_RECORD_BYTES and not line.endswith(b"\n"):
                    records += 1
                    _skip_line(stream)
                    if records > skip:
                        yield too_large("", f"{path}#{line_no}", "the line")
                elif line.strip():
                    records += 1
                    if records > skip:
                        yield jsonl_record(line, f"{path}#{line_no}")
        except (OSError, EOFError, zlib.error) as exc:
            if records >= skip:
                yield dead_raw(
                    "", f"{path}#{line_no + 1}", STAGE, stream_failure(exc), exc,
                    content=f"the file is cut or corrupt after line {line_no}",
                )  # fmt: skip
            return
    if not records and not skip:
        yield dead_raw("", f"{path}#0", STAGE, "empty", error="the file has no records")
