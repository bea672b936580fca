"""Reading raw pages: WARC, JSON Lines, HTML and plain-text files, gzip'd or not.

Globs and directories are expanded into a file list while the graph is built (``expand_inputs``),
so parallelism comes from the file list on every runner (``Read``/``Reshuffle`` are no-ops on the
DaskRunner). Each file is streamed record by record; a bad record becomes a ``dead`` record with
its position, never an exception that kills the bundle.

``source`` is ``<path>#<position>``, always with a position, so ``source.rsplit("#", 1)[0]`` is the
path even when the path holds a ``#``: the line number (from 1) for JSON Lines, the byte offset of
the record for WARC (in the decompressed stream for a WARC gzip'd as one whole file), ``0`` for
single-page files and for problems of a whole file (empty, unreadable).

Guarantees of ``read_records`` (tested on a corpus of bad inputs and with hypothesis):

- it never raises for bad content; one bad record gives one ``dead`` record, never one per line
  of it, and the records before a cut or a corrupt region are kept;
- a WARC record shorter than its ``Content-Length`` is ``truncated`` (warcio does not say so);
  a garbage region between WARC records gives one ``corrupt`` record and reading resumes at the
  next record;
- an empty file gives one ``empty`` record; binary content (images, archives, executables) named
  ``.html``/``.txt`` gives one ``binary`` record; a record over ``MAX_RECORD_BYTES`` gives one
  ``too_large`` record without being held in memory whole (JSON Lines) or decoded (others);
- every string is valid UTF-8 (lone surrogates, e.g. from JSON escapes or undecodable file
  names, are replaced), so nothing downstream fails to encode it.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import NamedTuple

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from pagestream.schemas.records import KIND_RAW, KIND_REJECTED, RawPage
from pagestream.transforms.errors import dead_raw
from pagestream.transforms.extract_html import canonical_url, decode_html
from pagestream.transforms.progress import Heartbeat

__all__ = [
    "FORMATS",
    "MAX_RECORD_BYTES",
    "InputError",
    "InputFile",
    "ReadPages",
    "expand_inputs",
    "file_uri",
    "input_format",
    "limit_records",
    "parse_fetch_time",
    "read_records",
]

STAGE = "read"

#: File-name endings -> format. `.gz` is accepted after each of them.
FORMATS = {
    ".warc": "warc",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".html": "html",
    ".htm": "html",
    ".txt": "txt",
}

#: Characters that make an input path a glob for Beam's FileSystems.match.
_GLOB_CHARS = set("*?[")

#: The largest record read: a single-page file, a JSON line or a WARC payload. A bigger one
#: becomes a ``too_large`` dead record (extraction then applies the smaller ``--max_page_bytes``
#: to what is read). Keeps one huge record from exhausting a worker.
MAX_RECORD_BYTES = 64 * 1024 * 1024
MAX_FILE_BYTES = MAX_RECORD_BYTES  # the former name


class InputError(ValueError):
    """An input path that cannot be used (missing, unreadable); raised before the run starts."""


class InputFile(NamedTuple):
    """One input file of a run, as planned while the graph is built."""

    path: str
    size: int
    fmt: str
    limit: int | None = None  # read at most this many records (--max_pages)


def input_format(path: str) -> str | None:
    """Returns the format of ``path`` from its name (``warc``/``jsonl``/``html``/``txt``), else None."""
    name = path.rsplit("/", 1)[-1].lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for ending, fmt in FORMATS.items():
        if name.endswith(ending):
            return fmt
    return None


def _is_hidden(path: str, root: str) -> bool:
    """True if a path component below ``root`` starts with ``.`` or ``_`` (Spark/Hadoop rule)."""
    relative = path[len(root) :] if path.startswith(root) else path.rsplit("/", 1)[-1]
    return any(
        part.startswith((".", "_")) for part in relative.replace(os.sep, "/").split("/") if part
    )


def _match(pattern: str) -> list[tuple[str, int]]:
    try:
        result = FileSystems.match([pattern])[0]
    except Exception as exc:  # Beam raises BeamIOError for a missing scheme or bucket
        raise InputError(f"--input {pattern}: cannot list it ({exc})") from exc
    return [(m.path, m.size_in_bytes) for m in result.metadata_list]


def _walk_local(root: str) -> list[tuple[str, int]]:
    """Every file below a local directory, hidden names pruned, symlinked directories followed
    once. Hand-written rather than ``FileSystems.match(root + "**")``: a glob would read ``[``,
    ``*`` or ``?`` in the directory's own name as pattern characters and match nothing."""
    found, seen = [], set()
    for directory, subdirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(directory)
        if real in seen:  # a symlink cycle
            subdirs[:] = []
            continue
        seen.add(real)
        subdirs[:] = sorted(d for d in subdirs if not d.startswith((".", "_")))
        for name in sorted(names):
            path = os.path.join(directory, name)
            try:
                size = os.path.getsize(path)
            except OSError:  # a broken link: listed, so reading reports it as unreadable
                size = 0
            found.append((path, size))
    return found


def _list_one(path: str) -> tuple[str, list[tuple[str, int]]]:
    """Returns (root used for the hidden-name rule, matched files) for one --input value.

    A local path that exists is taken literally even when its name holds glob characters.
    """
    is_local = FileSystems.get_scheme(path) is None
    if is_local and os.path.isdir(path):
        root = os.path.abspath(path).rstrip("/") + "/"
        return root, _walk_local(root)
    if is_local and os.path.exists(path):
        path = os.path.abspath(path)
        return path.rsplit("/", 1)[0] + "/", [(path, os.path.getsize(path))]
    if any(c in _GLOB_CHARS for c in path):
        root = path[: min(path.index(c) for c in _GLOB_CHARS if c in path)]
        return root.rsplit("/", 1)[0] + "/", _match(path)
    if is_local:
        raise InputError(f"--input {path}: no such file or directory")
    files = _match(path)
    exact = [f for f in files if f[0] == path]
    if exact:
        return path.rsplit("/", 1)[0] + "/", exact
    root = path.rstrip("/") + "/"
    files = _match(root + "**")
    if not files:
        raise InputError(f"--input {path}: no such file or directory")
    return root, files


def expand_inputs(paths: Iterable[str]) -> tuple[list[InputFile], list[str]]:
    """Expands files, directories (recursively) and globs into input files.

    Returns:
        ``(files, skipped)``: the readable input files sorted by path, and the paths of the
        other files found (unknown formats), which a run counts as skipped. Names starting
        with ``.`` or ``_`` below an input directory are ignored altogether.

    Raises:
        InputError: a path does not exist or cannot be listed.
    """
    found: dict[str, InputFile] = {}
    skipped: set[str] = set()
    for path in paths:
        root, matched = _list_one(path)
        for file_path, size in matched:
            if _is_hidden(file_path, root):
                continue
            fmt = input_format(file_path)
            if fmt is None:
                skipped.add(file_path)
            else:
                found[file_path] = InputFile(file_path, size, fmt)
    return sorted(found.values()), sorted(skipped)


def parse_fetch_time(value: object) -> int | None:
    """ISO 8601 (``2019-07-04T09:15:00Z``, offsets, dates) -> microseconds since the epoch, UTC.

    A naive time is taken as UTC. Returns None for None/empty; raises ValueError (and nothing
    else) for anything that is not such a string, including times out of the datetime range.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"fetch_time must be an ISO 8601 string, got {type(value).__name__}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+01:00 is before datetime.min in UTC
        raise ValueError(f"fetch_time out of range: {value!r}") from exc
    return delta // _MICROSECOND


_MICROSECOND = datetime.resolution


def file_uri(path: str) -> str:
    """The url of a page that has none: the ``file://`` URI of a local file, percent-encoded
    (``#``, spaces and non-ASCII in a name cannot break it), else the path as given."""
    if FileSystems.get_scheme(path) is None:
        return PurePosixPath(os.path.abspath(path)).as_uri()
    return path


def _open(path: str, fmt: str):
    """Opens ``path`` for streaming; gzip is decompressed on the fly (warcio does WARC's own)."""
    if fmt == "warc":
        return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    if path.lower().endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    return raw


# --- problems of a whole file ----------------------------------------------------------------


def _stream_failure(exc: BaseException) -> str:
    """The dead-letter reason for an exception raised while streaming a file."""
    if isinstance(exc, EOFError):
        return "truncated"  # a compressed stream that ends before its end marker
    if isinstance(exc, zlib.error | gzip.BadGzipFile):
        return "corrupt"
    return "unreadable"


#: Leading bytes of binary formats that turn up in scrapes under text names.
_MAGIC = (
    b"\x89PNG", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"%PDF-", b"PK\x03\x04", b"\x1f\x8b",
    b"BZh", b"\xfd7zXZ", b"7z\xbc\xaf", b"Rar!", b"\x28\xb5\x2f\xfd", b"\x7fELF", b"MZ",
    b"RIFF", b"OggS", b"ID3", b"fLaC", b"\x00\x00\x01\x00", b"wOFF", b"wOF2", b"\xca\xfe\xba\xbe",
)  # fmt: skip
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f]")
_SAMPLE_CHARS = 4096


def _looks_binary(payload: bytes, text: str) -> bool:
    """A known binary signature, or control characters (NUL, ...) in over 1 % of the decoded
    start: text in any encoding has almost none (UTF-16 with a BOM decodes without them)."""
    if payload.startswith(_MAGIC):
        return True
    sample = text[:_SAMPLE_CHARS]
    return len(_CONTROL.findall(sample)) * 100 > len(sample)


def _too_large(url: str, source: str, what: str) -> RawPage:
    return dead_raw(
        url, source, STAGE, "too_large", error=f"{what} is over MAX_RECORD_BYTES={MAX_RECORD_BYTES}"
    )


# --- JSON Lines --------------------------------------------------------------------------


def _jsonl_record(line: bytes, source: str) -> RawPage:
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return dead_raw("", source, STAGE, "invalid_json", exc, content=line)
    if not isinstance(obj, dict):
        return dead_raw(
            "", source, STAGE, "not_an_object",
            error=f"a JSON Lines record must be an object, got {type(obj).__name__}", content=line,
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
    return RawPage(KIND_RAW, url, source, fetch_time, None, text=text)


def _skip_line(stream) -> None:
    """Reads past the end of the current line without holding it in memory."""
    while True:
        chunk = stream.readline(1 << 20)
        if not chunk or chunk.endswith(b"\n"):
            return


def _read_jsonl(path: str) -> Iterator[RawPage]:
    line_no, content = 0, False
    with _open(path, "jsonl") as stream:
        try:
            while line := stream.readline(MAX_RECORD_BYTES + 1):
                line_no += 1
                source = f"{path}#{line_no}"
                if len(line) > MAX_RECORD_BYTES and not line.endswith(b"\n"):
                    content = True
                    _skip_line(stream)
                    yield _too_large("", source, "the line")
                elif line.strip():
                    content = True
                    yield _jsonl_record(line, source)
        except (OSError, EOFError, zlib.error) as exc:
            yield dead_raw(
                "", f"{path}#{line_no + 1}", STAGE, _stream_failure(exc), exc,
                content=f"the file is cut or corrupt after line {line_no}",
            )  # fmt: skip
            return
    if not content:
        yield dead_raw("", f"{path}#0", STAGE, "empty", error="the file has no records")


# --- single-page files -----------------------------------------------------------------------


def _read_whole(path: str, fmt: str) -> Iterator[RawPage]:
    source, url = f"{path}#0", file_uri(path)
    try:
        with _open(path, fmt) as stream:
            payload = stream.read(MAX_RECORD_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        yield dead_raw(url, source, STAGE, _stream_failure(exc), exc)
        return
    if len(payload) > MAX_RECORD_BYTES:
        yield _too_large(url, source, "the file")
        return
    if not payload.strip():
        yield dead_raw(url, source, STAGE, "empty", error="the file is empty")
        return
    content = decode_html(payload, None)
    if _looks_binary(payload, content):
        what = "text" if fmt == "txt" else "HTML"
        yield dead_raw(
            url, source, STAGE, "binary", error=f"binary data, not {what}", content=payload
        )
    elif fmt == "txt":
        yield RawPage(KIND_RAW, url, source, text=content)
    else:
        yield RawPage(KIND_RAW, canonical_url(content) or url, source, html=content)


# --- WARC ------------------------------------------------------------------------------------
#
# warcio parses records but, on damaged files, stops silently (a gzip member cut short), returns
# a record shorter than its Content-Length without saying so, or raises and cannot go on. So the
# reader checks each record's length, compares where warcio stopped with the end of the file,
# and after a damaged region scans for the next record start (a gzip member header, or a line
# starting with ``WARC/``) and resumes there with a new iterator.

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_GZIP_MAGIC = b"\x1f\x8b\x08"
_WARC_LINE = re.compile(rb"\nWARC/\d")
_SCAN_BLOCK = 1 << 20
_WHOLE_GZIP = "non-chunked gzip"  # warcio's message for a WARC gzip'd as one member


def _warc_charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def _warc_page(record, source: str) -> RawPage | None:
    """A RawPage for an HTML response record; None for records that are not pages."""
    if record.rec_type != "response" or record.http_headers is None:
        return None
    content_type = record.http_headers.get_header("Content-Type") or ""
    if content_type.split(";")[0].strip().lower() not in _HTML_TYPES:
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
    payload = record.content_stream().read(MAX_RECORD_BYTES + 1)
    if len(payload) > MAX_RECORD_BYTES:
        return _too_large(url, source, "the payload")
    return RawPage(
        KIND_RAW, url, source, fetch_time, status,
        html=decode_html(payload, _warc_charset(content_type)),
    )  # fmt: skip


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


def _member_end(stream, position: int) -> int | None:
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


def _warc_pass(stream, path: str, start: int, skip: frozenset[int], gzipped: bool):
    """Yields the records from ``start`` until warcio stops; returns a ``_Stop``."""
    from warcio.archiveiterator import ArchiveIterator

    stream.seek(start)
    iterator = ArchiveIterator(stream)
    end, yielded, last = start, set(), None
    try:
        for record in iterator:
            url = record.rec_headers.get_header("WARC-Target-URI") or ""
            try:
                page = _warc_page(record, path)
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
        end = _member_end(stream, last) or end
    return _Stop(end, None, False, frozenset(yielded))


def _next_record_start(stream, start: int, gzipped: bool) -> int | None:
    """Position of the next thing at or after ``start`` that looks like the start of a record."""
    position = start
    try:
        stream.seek(position)
        while block := stream.read(_SCAN_BLOCK):
            if gzipped:
                found = block.find(_GZIP_MAGIC)
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


def _blank(stream, start: int, stop: int | None = None) -> bool:
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


def _starts_record(stream, position: int, gzipped: bool) -> bool:
    try:
        stream.seek(position)
        head = stream.read(8).lstrip()
    except (OSError, EOFError, zlib.error):
        return False
    return head.startswith(_GZIP_MAGIC if gzipped else b"WARC/")


def _damage(stream, path: str, stop: _Stop, following: int | None, gzipped: bool) -> RawPage:
    """One dead record for the region from ``stop.end`` to ``following`` (or the end); its
    excerpt holds the region's first bytes."""
    position = _after_blank(stream, stop.end)
    cut = following is None and _starts_record(stream, position, gzipped)
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


def _after_blank(stream, position: int) -> int:
    """``position`` moved past the blank lines that end an uncompressed record."""
    try:
        stream.seek(position)
        head = stream.read(64)
    except (OSError, EOFError, zlib.error):
        return position
    return position + len(head) - len(head.lstrip())


def _warc_stream(stream, path: str, gzipped: bool, skip: frozenset[int] = frozenset()):
    """All records of a seekable WARC stream, resuming after damage. Returns the offsets
    yielded if the file turns out to be one whole gzip member, else None."""
    start = 0
    while True:
        stop = yield from _warc_pass(stream, path, start, skip, gzipped)
        if gzipped and start == 0 and _WHOLE_GZIP in str(stop.error or ""):
            return stop.yielded
        if stop.error is None and (stop.reported or _blank(stream, stop.end)):
            return None
        following = _next_record_start(stream, max(stop.end + 1, start + 1), gzipped)
        if not stop.reported and not (following and _blank(stream, stop.end, following)):
            yield _damage(stream, path, stop, following, gzipped)
        if following is None:
            return None
        start = following


def _read_warc(path: str) -> Iterator[RawPage]:
    with _open(path, "warc") as raw:
        gzipped = raw.read(2) == _GZIP_MAGIC[:2]
        if _blank(raw, 0):
            yield dead_raw("", f"{path}#0", STAGE, "empty", error="the file is empty")
            return
        whole_gzip = yield from _warc_stream(raw, path, gzipped)
        if whole_gzip is None:
            return
        # One gzip member holding every record (``gzip file.warc``): read the decompressed
        # stream instead, without the records already yielded (offsets are then positions in
        # the decompressed stream, which for the first record is 0 in both).
        raw.seek(0)
        with gzip.GzipFile(fileobj=raw, mode="rb") as whole:
            yield from _warc_stream(_UpToTheCut(whole), path, False, whole_gzip)


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


_READERS = {"jsonl": _read_jsonl, "warc": _read_warc}


def _utf8(value: str | None) -> str | None:
    """``value`` with lone surrogates replaced, so that it encodes to UTF-8."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


_TEXT_FIELDS = ("url", "source", "html", "text", "error", "traceback", "excerpt")


def _valid_strings(record: RawPage) -> RawPage:
    fixed = {name: _utf8(getattr(record, name)) for name in _TEXT_FIELDS}
    changed = {k: v for k, v in fixed.items() if v is not getattr(record, k)}
    return record._replace(**changed) if changed else record


def read_records(file: InputFile) -> Iterator[RawPage]:
    """Streams the records of one input file; never raises for bad content.

    Yields at most ``file.limit`` records when it is set. A file that cannot be opened
    yields one dead record for the file (position 0).
    """
    reader = _READERS.get(file.fmt)
    records = reader(file.path) if reader else _read_whole(file.path, file.fmt)
    count = 0
    try:
        for record in records:
            if file.limit is not None and count >= file.limit:
                return
            count += 1
            yield _valid_strings(record)
    except Exception as exc:  # opening failed (permissions, vanished file, ...)
        if file.limit is None or count < file.limit:
            yield _valid_strings(
                dead_raw(file_uri(file.path), f"{file.path}#0", STAGE, "unreadable", exc)
            )


def limit_records(files: list[InputFile], max_pages: int | None) -> list[InputFile]:
    """Plans ``--max_pages``: the first ``max_pages`` records in file order, as per-file limits."""
    if max_pages is None:
        return files
    planned, left = [], max_pages
    for file in files:
        if left <= 0:
            break
        count = sum(1 for _ in zip(range(left), read_records(file), strict=False))
        planned.append(file._replace(limit=count))
        left -= count
    return planned


def _offset(source: str) -> int:
    position = source.rsplit("#", 1)[-1]
    return int(position) if position.isdigit() else 0


class ReadRecordsFn(beam.DoFn):
    """InputFile -> RawPage records, streamed; reports records and bytes read as progress."""

    def __init__(self, progress_dir: str | None = None):
        self.progress_dir = progress_dir
        self.read = Metrics.counter(STAGE, "records")

    def setup(self):
        self.heartbeat = Heartbeat(self.progress_dir, STAGE)

    def process(self, file: InputFile) -> Iterator[RawPage]:
        done = 0  # bytes of this file accounted for (WARC offsets are positions in the file)
        for record in read_records(file):
            self.read.inc()
            if file.fmt == "warc":
                position = min(_offset(record.source), file.size)
                self.heartbeat.add("bytes", max(0, position - done))
                done = max(done, position)
            self.heartbeat.add("records")
            yield record
        self.heartbeat.add("bytes", max(0, file.size - done))
        self.heartbeat.add("files")

    def finish_bundle(self):
        self.heartbeat.flush()


class ReadPages(beam.PTransform):
    """Reads input files into ``RawPage`` records.

    Input: the pipeline root. Output: ``PCollection[RawPage]`` with kind ``raw`` (content to
    extract), ``rejected`` (e.g. non-2xx WARC responses) or ``dead`` (unreadable records).

    Args:
        files: the planned input files (``expand_inputs``, ``limit_records``).
        redistribute: spread records over workers after reading (a fusion break); on the
            DaskRunner, where ``Reshuffle`` is a no-op, a keyed ``GroupByKey`` does it.
        shards: number of keys used by the GroupByKey redistribution.
        progress_dir: where workers write heartbeat files (``transforms.progress``), or None.
    """

    def __init__(
        self,
        files: list[InputFile],
        redistribute: str = "reshuffle",
        shards: int = 16,
        progress_dir: str | None = None,
    ):
        super().__init__()
        self.progress_dir = progress_dir
        if redistribute not in ("reshuffle", "group", "none"):
            raise ValueError(f"redistribute must be reshuffle, group or none, got {redistribute!r}")
        self.files = list(files)
        self.redistribute = redistribute
        self.shards = shards

    def expand(self, pbegin):
        records = (
            pbegin
            | "Files" >> beam.Create(self.files)
            | "ReadRecords" >> beam.ParDo(ReadRecordsFn(self.progress_dir))
        )
        if self.redistribute == "reshuffle":
            return records | "Redistribute" >> beam.Reshuffle()
        if self.redistribute == "group":
            shards = self.shards
            return (
                records
                | "KeyByShard" >> beam.Map(lambda r: (zlib.crc32(r.source.encode()) % shards, r))
                | "GroupByShard" >> beam.GroupByKey()
                | "Ungroup" >> beam.FlatMap(lambda kv: sorted(kv[1], key=lambda r: r.source))
            )
        return records
