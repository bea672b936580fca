"""Reading ``.json`` files: a JSON array of page objects, one page object, or JSON Lines.

The first non-blank line decides: ``[`` starts an array, streamed item by item with ijson
(positions are item numbers from 1; one item is held in memory at a time); a line holding a
whole JSON object means JSON Lines (``jsonl``: many exports name them ``.json``); any other
``{`` starts one pretty-printed object (one record, position 1, the file bounded by
``MAX_RECORD_BYTES``). Finding the first line reads it whole (up to ``MAX_RECORD_BYTES``). Anything else is one ``not_pages`` dead record for the file, never
one dead record per line. An array cut or broken midway keeps the items before the damage
and gives one ``invalid_json`` (or ``truncated``) record for the rest.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator

from pagestream.schemas.records import KIND_DEAD, RawPage
from pagestream.transforms.errors import EXCERPT_CHARS, dead_raw
from pagestream.transforms.read.common import (
    MAX_RECORD_BYTES,
    STAGE,
    open_input,
    stream_failure,
    too_large,
)
from pagestream.transforms.read.jsonl import object_record, read_jsonl

__all__ = ["read_json"]

_STREAM_ERRORS = (OSError, EOFError, zlib.error)


def _first_line(path: str) -> bytes:
    """The first non-blank line of the file, stripped (b"" if none); a line over
    ``MAX_RECORD_BYTES`` is cut there (then it cannot parse: see ``read_json``)."""
    with open_input(path, "json") as stream:
        while line := stream.readline(MAX_RECORD_BYTES + 1):
            if line.strip():
                return line.strip().removeprefix(b"\xef\xbb\xbf")
    return b""


def _is_json_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False


def read_json(path: str) -> Iterator[RawPage]:
    try:
        head = _first_line(path)
    except _STREAM_ERRORS as exc:
        yield dead_raw("", f"{path}#0", STAGE, stream_failure(exc), exc)
        return
    if not head:
        yield dead_raw("", f"{path}#0", STAGE, "empty", error="the file has no records")
    elif head.startswith(b"["):
        yield from _read_array(path)
    elif head.startswith(b"{") and (len(head) > MAX_RECORD_BYTES or _is_json_object(head)):
        yield from read_jsonl(path)  # (a first line too long to hold: read_jsonl reports it)
    elif head.startswith(b"{"):
        yield from _read_object(path)
    else:
        yield dead_raw(
            "", f"{path}#0", STAGE, "not_pages", content=head[:200],
            error="a .json file must hold an array of page objects, one page object or JSON "
            "Lines (one object per line)",
        )  # fmt: skip


def _read_object(path: str) -> Iterator[RawPage]:
    """One pretty-printed page object: one record."""
    source = f"{path}#1"
    try:
        with open_input(path, "json") as stream:
            data = stream.read(MAX_RECORD_BYTES + 1)
    except _STREAM_ERRORS as exc:
        yield dead_raw("", source, STAGE, stream_failure(exc), exc)
        return
    if len(data) > MAX_RECORD_BYTES:
        yield too_large("", source, "the JSON object")
        return
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        yield dead_raw("", source, STAGE, "invalid_json", exc, content=data)
        return
    yield object_record(obj, source, data)


def _read_array(path: str) -> Iterator[RawPage]:
    """A JSON array: one record per item, streamed."""
    import ijson  # streams the array: a many-GB export is never held whole

    count = 0
    with open_input(path, "json") as stream:
        try:
            for item in ijson.items(stream, "item", use_float=True):
                count += 1
                record = object_record(item, f"{path}#{count}", "")
                if record.kind == KIND_DEAD:  # its excerpt: the item as JSON
                    excerpt = json.dumps(item, ensure_ascii=False)[:EXCERPT_CHARS]
                    record = record._replace(excerpt=excerpt)
                yield record
        except ijson.JSONError as exc:
            yield dead_raw(
                "", f"{path}#{count + 1}", STAGE, "invalid_json", exc,
                content=f"the JSON array is cut or invalid after item {count}",
            )  # fmt: skip
            return
        except _STREAM_ERRORS as exc:
            yield dead_raw(
                "", f"{path}#{count + 1}", STAGE, stream_failure(exc), exc,
                content=f"the file is cut or corrupt after item {count}",
            )  # fmt: skip
            return
    if count == 0:
        yield dead_raw("", f"{path}#0", STAGE, "empty", error="the JSON array is empty")
