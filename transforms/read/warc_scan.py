"""Byte-level scans of a seekable WARC stream, used to resume reading after damage.

warcio cannot say where a damaged region ends, so these helpers look at the bytes themselves:
where a gzip member ends, where the next record starts (a gzip member header, or a line
starting with ``WARC/``), and whether a region is only whitespace. None of them raises for
a cut or corrupt stream (``OSError``, ``EOFError``, ``zlib.error``): each then gives its cautious
answer (``None``, ``False``, or the position unchanged).
"""

from __future__ import annotations

import re
import zlib

__all__ = [
    "GZIP_MAGIC",
    "after_blank",
    "is_blank",
    "member_end",
    "next_record_start",
    "starts_record",
]

GZIP_MAGIC = b"\x1f\x8b\x08"
_WARC_LINE = re.compile(rb"\nWARC/\d")
_SCAN_BLOCK = 1 << 20


def member_end(stream, position: int) -> int | None:
    """End of the gzip member starting at ``position``; None if the file ends inside it."""
    decompressor = zlib.decompressobj(wbits=31)
    try:
        stream.seek(position)
        while block := stream.read(_SCAN_BLOCK):
            position += len(block)
            decompressor.decompress(block, _SCAN_BLOCK)
            while decompressor.unconsumed_tail and not decompressor.eof:
                decompressor.decompress(decompressor.unconsumed_tail, _SCAN_BLOCK)
            if decompressor.eof:
                return position - len(decompressor.unused_data)
    except (OSError, EOFError, zlib.error):
        return None
    return None


def next_record_start(stream, start: int, gzipped: bool) -> int | None:
    """Position of the next thing at or after ``start`` that looks like the start of a record."""
    position = start
    try:
        stream.seek(position)
        while block := stream.read(_SCAN_BLOCK):
            if gzipped:
                found = block.find(GZIP_MAGIC)
            else:
                match = _WARC_LINE.search(block)
                found = match.start() + 1 if match else -1
            if found >= 0:
                return position + found
            if len(block) < _SCAN_BLOCK:
                return None
            position += len(block) - 8  # overlap: a start may straddle two blocks
            stream.seek(position)
    except (OSError, EOFError, zlib.error):
        return None
    return None


def is_blank(stream, start: int, stop: int | None = None) -> bool:
    """Whether only whitespace lies between ``start`` and ``stop`` (the end of the file)."""
    try:
        stream.seek(start)
        left = stop - start if stop is not None else None
        while left is None or left > 0:
            block = stream.read(_SCAN_BLOCK if left is None else min(left, _SCAN_BLOCK))
            if not block:
                return True
            if block.strip():
                return False
            if left is not None:
                left -= len(block)
    except (OSError, EOFError, zlib.error):
        return False
    return True


def starts_record(stream, position: int, gzipped: bool) -> bool:
    try:
        stream.seek(position)
        head = stream.read(8).lstrip()
    except (OSError, EOFError, zlib.error):
        return False
    return head.startswith(GZIP_MAGIC if gzipped else b"WARC/")


def after_blank(stream, position: int) -> int:
    """``position`` moved past the blank lines that end an uncompressed record."""
    try:
        stream.seek(position)
        head = stream.read(64)
    except (OSError, EOFError, zlib.error):
        return position
    return position + len(head) - len(head.lstrip())
