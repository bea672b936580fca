"""Reading WARC files (gzip'd per record, as one whole member, or not at all), and WET files.

Every HTTP ``response`` record is one record: an HTML page (``text/html``, XHTML), or
``rejected`` with reason ``http_status`` (not 2xx) or ``not_html:<media type>`` (a 2xx
response of another type: ``not_html:application/pdf``, ``not_html:image/gif``, or
``not_html:none`` without a Content-Type), so they are counted by type. Other record types
(request, metadata, warcinfo, DNS responses without HTTP headers) are not pages and are passed
over. In a WET file (``read_wet``) each ``conversion`` record is one plain-text page.

The position is the byte offset of the record (in the decompressed stream for a WARC gzip'd
as one whole file). A record shorter than its ``Content-Length`` is ``truncated``; a garbage
region between records gives one ``corrupt`` record and reading resumes at the next record
(``warc_scan`` finds it).
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator
from typing import NamedTuple

from pagestream.schemas.records import KIND_RAW, KIND_REJECTED, RawPage
from pagestream.transforms.errors import dead_raw
from pagestream.transforms.read.common import (
    MAX_RECORD_BYTES,
    STAGE,
    open_input,
    parse_fetch_time,
    too_large,
)
from pagestream.transforms.read.html_decode import decode_html
from pagestream.transforms.read.warc_scan import (
    GZIP_MAGIC,
    after_blank,
    is_blank,
    member_end,
    next_record_start,
    starts_record,
)

__all__ = ["NotARecordStart", "read_warc", "read_wet"]

# warcio parses records but, on damaged files, stops silently (a gzip member cut short), returns
# a record shorter than its Content-Length without saying so, or raises and cannot go on. So the
# reader checks each record's length, compares where warcio stopped with the end of the file,
# and after a damaged region scans for the next record start (a gzip member header, or a line
# starting with ``WARC/``) and resumes there with a new iterator.

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_MIME = re.compile(r"[^a-z0-9!#$&^_.+/-]")  # what may stand in a media type (RFC 6838)
_WHOLE_GZIP = "non-chunked gzip"  # warcio's message for a WARC gzip'd as one member


def _warc_charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def _check_header(record) -> None:
    length = record.rec_headers.get_header("length") or ""
    if record.format == "arc" and not (record.rec_headers.get_header("uri") and length.isdigit()):
        # warcio falls back to the old ARC format for any line it cannot read as a WARC
        # header; an ARC "record" without a url is damage, not a page.
        raise ValueError("not a WARC or ARC record header")
    if record.format != "arc" and not record.rec_headers.get_header("WARC-Type"):
        # a header without the type the WARC standard requires: damage, not a record to pass over
        raise ValueError("the WARC record header has no WARC-Type")


def _warc_page(record, source: str) -> RawPage | None:
    """The record of an HTTP response; None for records that are not responses."""
    _check_header(record)
    if record.rec_type != "response" or record.http_headers is None:
        return None
    url = record.rec_headers.get_header("WARC-Target-URI") or ""
    status_text = record.http_headers.get_statuscode() or ""
    status = int(status_text) if status_text.isdigit() else None
    try:
        fetch_time = parse_fetch_time(record.rec_headers.get_header("WARC-Date"))
    except ValueError as exc:
        return dead_raw(url, source, STAGE, "invalid_fetch_time", exc)
    if status is None or not 200 <= status < 300:
        return RawPage(
            KIND_REJECTED, url, source, fetch_time, status, stage=STAGE, reason="http_status",
            error=f"HTTP status {status_text or 'missing'}",
        )  # fmt: skip
    content_type = record.http_headers.get_header("Content-Type") or ""
    mime = content_type.split(";")[0].strip().lower()
    if mime not in _HTML_TYPES:
        return RawPage(
            KIND_REJECTED, url, source, fetch_time, status, stage=STAGE,
            reason=f"not_html:{_MIME.sub('', mime)[:60] or 'none'}",
            error=f"Content-Type {content_type.strip() or 'missing'}",
        )  # fmt: skip
    payload = record.content_stream().read(MAX_RECORD_BYTES + 1)
    if len(payload) > MAX_RECORD_BYTES:
        return too_large(url, source, "the payload")
    return RawPage(
        KIND_RAW, url, source, fetch_time, status,
        html=decode_html(payload, _warc_charset(content_type)),
    )  # fmt: skip


def _wet_page(record, source: str) -> RawPage | None:
    """A plain-text page for a WET ``conversion`` record; None for other records."""
    _check_header(record)
    if record.rec_type != "conversion":
        return None
    url = record.rec_headers.get_header("WARC-Target-URI") or ""
    try:
        fetch_time = parse_fetch_time(record.rec_headers.get_header("WARC-Date"))
    except ValueError as exc:
        return dead_raw(url, source, STAGE, "invalid_fetch_time", exc)
    payload = record.content_stream().read(MAX_RECORD_BYTES + 1)
    if len(payload) > MAX_RECORD_BYTES:
        return too_large(url, source, "the payload")
    return RawPage(KIND_RAW, url, source, fetch_time, None, text=decode_html(payload, "utf-8"))


def _cut(record) -> str | None:
    """Why the record is incomplete, or None for a whole record. Call after reading it."""
    missing = getattr(record.raw_stream, "limit", None)
    if missing is None:  # warcio found no Content-Length: the header itself is cut or broken
        return "the record has no valid Content-Length (its header is cut or broken)"
    if missing > 0:
        return f"the record is cut: {missing} of its {record.length} bytes are missing"
    return None


class _Stop(NamedTuple):
    """Where and why one pass of warcio over a WARC stream ended."""

    end: int  # end of the last whole record (its offset + length)
    error: BaseException | None  # what warcio raised, if anything
    reported: bool  # a dead record for the damage was already yielded
    yielded: frozenset[int]  # offsets of the records yielded


def _warc_pass(stream, path: str, start: int, skip: frozenset[int], gzipped: bool, page_of):
    """Yields the records from ``start`` until warcio stops; returns a ``_Stop``."""
    from warcio.archiveiterator import ArchiveIterator

    stream.seek(start)
    iterator = ArchiveIterator(stream)
    end, yielded, last = start, set(), None
    try:
        for record in iterator:
            url = record.rec_headers.get_header("WARC-Target-URI") or ""
            try:
                page = page_of(record, path)
            except Exception as exc:  # one bad record, not a bad file
                page = dead_raw(url, path, STAGE, "bad_record", exc)
            offset = last = iterator.get_record_offset()  # known once the content is read
            end = max(end, offset + iterator.get_record_length())
            cut = _cut(record)
            if cut:
                page = dead_raw(url, path, STAGE, "truncated", error=cut)
            if page is not None and offset not in skip:
                yielded.add(offset)
                yield page._replace(source=f"{path}#{offset}")
            if cut:
                return _Stop(end, None, True, frozenset(yielded))
    except Exception as exc:  # warcio cannot go on from here
        return _Stop(end, exc, False, frozenset(yielded))
    if gzipped and last is not None:
        # warcio counts a cut member after the last record as part of that record: measure it.
        end = member_end(stream, last) or end
    return _Stop(end, None, False, frozenset(yielded))


def _damage(stream, path: str, stop: _Stop, following: int | None, gzipped: bool) -> RawPage:
    """One dead record for the region from ``stop.end`` to ``following`` (or the end); its
    excerpt holds the region's first bytes."""
    position = after_blank(stream, stop.end)
    cut = following is None and starts_record(stream, position, gzipped)
    if stop.error is not None:
        detail = _printable(f"{type(stop.error).__name__}: {stop.error}".strip(), 300)
    else:
        detail = "the file ends inside a record" if cut else "the data after it is not a record"
    try:
        stream.seek(position)
        region = stream.read(min(500, (following or position + 500) - position))
    except (OSError, EOFError, zlib.error):
        region = None
    return dead_raw(
        "", f"{path}#{position}", STAGE, "truncated" if cut else "corrupt",
        error=f"no WARC record could be read at offset {position}: {detail}", content=region,
    )  # fmt: skip


def _printable(text: str, limit: int) -> str:
    """``text`` on one line, non-printable characters escaped (warcio quotes raw bytes)."""
    escaped = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:limit])
    return escaped + ("..." if len(text) > limit else "")


def _warc_stream(
    stream, path: str, gzipped: bool, page_of, skip: frozenset[int] = frozenset(), start: int = 0
):
    """The records of a seekable WARC stream from offset ``start``, resuming after damage.
    Returns the offsets yielded if the file turns out to be one whole gzip member, else None."""
    while True:
        stop = yield from _warc_pass(stream, path, start, skip, gzipped, page_of)
        if gzipped and start == 0 and _WHOLE_GZIP in str(stop.error or ""):
            return stop.yielded
        if stop.error is None and (stop.reported or is_blank(stream, stop.end)):
            return None
        following = next_record_start(stream, max(stop.end + 1, start + 1), gzipped)
        if not stop.reported and not (following and is_blank(stream, stop.end, following)):
            yield _damage(stream, path, stop, following, gzipped)
        if following is None:
            return None
        start = following


def read_warc(path: str, start: int = 0) -> Iterator[RawPage]:
    """The response records of a WARC file (see the module doc), from the record at byte
    offset ``start`` (a position this reader gave; ``NotARecordStart`` if none starts there)."""
    records = _read_archive(path, _warc_page, start)
    return records if start else _never_silent(records, path, "HTTP response")


def read_wet(path: str, start: int = 0) -> Iterator[RawPage]:
    """The ``conversion`` records of a WET file (Common Crawl's extracted text) as text pages,
    from the record at byte offset ``start`` (as ``read_warc``)."""
    records = _read_archive(path, _wet_page, start)
    return records if start else _never_silent(records, path, "conversion")


def _never_silent(records: Iterator[RawPage], path: str, kind: str) -> Iterator[RawPage]:
    """``records``, or one ``rejected`` record (``no_pages``) for a file that held none (only
    request or metadata records, or headers with a type no reader knows): no file vanishes."""
    seen = False
    for record in records:
        seen = True
        yield record
    if not seen:
        yield RawPage(
            KIND_REJECTED, "", f"{path}#0", None, None, stage=STAGE, reason="no_pages",
            error=f"the file holds no {kind} record",
        )  # fmt: skip


class NotARecordStart(ValueError):
    """No record starts at the offset a read was asked to start at (the file changed, or it
    is gzip'd as one whole member, whose positions are in the decompressed stream)."""


def _read_archive(path: str, page_of, start: int = 0) -> Iterator[RawPage]:
    with open_input(path, "warc") as raw:
        gzipped = raw.read(2) == GZIP_MAGIC[:2]
        if start:
            if not starts_record(raw, start, gzipped):
                raise NotARecordStart(f"{path}: no WARC record starts at offset {start}")
            yield from _warc_stream(raw, path, gzipped, page_of, start=start)
            return
        if is_blank(raw, 0):
            yield dead_raw("", f"{path}#0", STAGE, "empty", error="the file is empty")
            return
        whole_gzip = yield from _warc_stream(raw, path, gzipped, page_of)
        if whole_gzip is None:
            return
        # One gzip member holding every record (``gzip file.warc``): read the decompressed
        # stream instead, without the records already yielded (offsets are then positions in
        # the decompressed stream, which for the first record is 0 in both).
        raw.seek(0)
        with gzip.GzipFile(fileobj=raw, mode="rb") as whole:
            yield from _warc_stream(_UpToTheCut(whole), path, False, page_of, whole_gzip)


class _UpToTheCut:
    """A GzipFile whose ``read`` returns the data decompressed before a cut, and raises
    EOFError only on the next call (GzipFile drops the partial block), so the records before
    the cut are read and the cut record is seen as short."""

    def __init__(self, gz: gzip.GzipFile):
        self.gz = gz

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = MAX_RECORD_BYTES
        parts, left = [], size
        while left > 0:
            try:
                part = self.gz.read1(left)
            except EOFError:
                if parts:
                    break
                raise
            if not part:
                break
            parts.append(part)
            left -= len(part)
        return b"".join(parts)

    def readline(self, size: int = -1) -> bytes:
        return self.gz.readline(size)

    def seek(self, position: int, whence: int = 0) -> int:
        return self.gz.seek(position, whence)

    def tell(self) -> int:
        return self.gz.tell()
