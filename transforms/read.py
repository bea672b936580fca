"""Reading raw pages: WARC, JSON Lines, HTML and plain-text files, gzip'd or not.

Globs and directories are expanded into a file list while the graph is built (``expand_inputs``),
so parallelism comes from the file list on every runner (``Read``/``Reshuffle`` are no-ops on the
DaskRunner). Each file is streamed record by record; a bad record becomes a ``dead`` record with
its position, never an exception that kills the bundle.

``source`` is ``<path>#<position>``: the line number (from 1) for JSON Lines, the byte offset of the
record for WARC, ``0`` for single-page files.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
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
    "InputError",
    "InputFile",
    "ReadPages",
    "expand_inputs",
    "input_format",
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

#: How many bytes of a whole-file input are read at most; larger files are cut and flagged
#: (extraction then applies `--max_page_bytes`). Keeps one huge file from exhausting a worker.
MAX_FILE_BYTES = 64 * 1024 * 1024


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


def _list_one(path: str) -> tuple[str, list[tuple[str, int]]]:
    """Returns (root used for the hidden-name rule, matched files) for one --input value."""
    if any(c in _GLOB_CHARS for c in path):
        root = path[: min(path.index(c) for c in _GLOB_CHARS if c in path)]
        return root.rsplit("/", 1)[0] + "/", _match(path)
    is_local = FileSystems.get_scheme(path) is None
    if is_local:
        if os.path.isdir(path):
            root = os.path.abspath(path).rstrip("/") + "/"
            return root, _match(root + "**")
        if not os.path.exists(path):
            raise InputError(f"--input {path}: no such file or directory")
        path = os.path.abspath(path)
        return path.rsplit("/", 1)[0] + "/", [(path, os.path.getsize(path))]
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

    A naive time is taken as UTC. Returns None for None/empty; raises ValueError for garbage.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"fetch_time must be an ISO 8601 string, got {type(value).__name__}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return delta // _MICROSECOND


_MICROSECOND = datetime.resolution


def file_uri(path: str) -> str:
    """The url of a page that has none: ``file://`` + absolute path for local files."""
    if FileSystems.get_scheme(path) is None:
        return "file://" + os.path.abspath(path)
    return path


def _open(path: str, fmt: str):
    """Opens ``path`` for streaming; gzip is decompressed on the fly (warcio does WARC's own)."""
    if fmt == "warc":
        return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    if path.lower().endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    return raw


# --- JSON Lines --------------------------------------------------------------------------


def _jsonl_record(line: bytes, source: str) -> RawPage:
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        return dead_raw("", source, STAGE, "invalid_json", exc, content=line)
    if not isinstance(obj, dict):
        return dead_raw(
            "", source, STAGE, "not_an_object",
            error=f"a JSON Lines record must be an object, got {type(obj).__name__}", content=line,
        )  # fmt: skip
    url = obj.get("url")
    url = url if isinstance(url, str) else ""
    html, text = obj.get("html"), obj.get("text")
    if not isinstance(html, str) and not isinstance(text, str):
        return dead_raw(
            url, source, STAGE, "missing_content",
            error="the record has no string 'html' or 'text' field", content=line,
        )  # fmt: skip
    try:
        fetch_time = parse_fetch_time(obj.get("fetch_time"))
    except (ValueError, TypeError, OverflowError) as exc:
        return dead_raw(url, source, STAGE, "invalid_fetch_time", exc, content=line)
    if isinstance(html, str):
        return RawPage(KIND_RAW, url, source, fetch_time, None, html=html)
    return RawPage(KIND_RAW, url, source, fetch_time, None, text=text)


def _read_jsonl(path: str) -> Iterator[RawPage]:
    line_no = 0
    with _open(path, "jsonl") as stream:
        try:
            for line_no, line in enumerate(stream, start=1):  # noqa: B007 - used after the loop
                if line.strip():
                    yield _jsonl_record(line, f"{path}#{line_no}")
        except (OSError, EOFError, zlib.error) as exc:
            yield dead_raw(
                "", f"{path}#{line_no + 1}", STAGE, "truncated",
                exc, content=f"the file is cut or corrupt after line {line_no}",
            )  # fmt: skip


# --- single-page files -----------------------------------------------------------------------


def _read_whole(path: str, fmt: str) -> Iterator[RawPage]:
    source = f"{path}#0"
    try:
        with _open(path, fmt) as stream:
            payload = stream.read(MAX_FILE_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        yield dead_raw(file_uri(path), source, STAGE, "unreadable", exc)
        return
    if not payload.strip():
        yield dead_raw(file_uri(path), source, STAGE, "empty", error="the file is empty")
        return
    if fmt == "txt":
        text = decode_html(payload, None)
        if "\x00" in text[:4096]:
            yield dead_raw(
                file_uri(path), source, STAGE, "binary", error="not text", content=payload
            )
            return
        yield RawPage(KIND_RAW, file_uri(path), source, text=text)
        return
    html = decode_html(payload, None)
    if "\x00" in html[:4096]:
        yield dead_raw(file_uri(path), source, STAGE, "binary", error="not HTML", content=payload)
        return
    yield RawPage(KIND_RAW, canonical_url(html) or file_uri(path), source, html=html)


# --- WARC ------------------------------------------------------------------------------------

_HTML_TYPES = ("text/html", "application/xhtml+xml")


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
    fetch_time = parse_fetch_time(record.rec_headers.get_header("WARC-Date"))
    if status is None or not 200 <= status < 300:
        return RawPage(
            KIND_REJECTED, url, source, fetch_time, status, stage=STAGE, reason="http_status",
            error=f"HTTP status {status_text or 'missing'}",
        )  # fmt: skip
    payload = record.content_stream().read()
    return RawPage(
        KIND_RAW,
        url,
        source,
        fetch_time,
        status,
        html=decode_html(payload, _warc_charset(content_type)),
    )


def _read_warc(path: str) -> Iterator[RawPage]:
    from warcio.archiveiterator import ArchiveIterator

    offset = 0
    with _open(path, "warc") as stream:
        iterator = ArchiveIterator(stream, no_record_parse=False)
        try:
            for record in iterator:
                try:
                    page = _warc_page(record, path)
                except Exception as exc:  # one bad record, not a bad file
                    url = record.rec_headers.get_header("WARC-Target-URI") or ""
                    page = dead_raw(url, path, STAGE, "bad_record", exc)
                # The offset is known only once the record's content has been read.
                offset = iterator.get_record_offset()
                if page is not None:
                    yield page._replace(source=f"{path}#{offset}")
        except Exception as exc:  # a cut or corrupt file: keep what came before it
            yield dead_raw(
                "", f"{path}#{offset}", STAGE, "truncated", exc,
                content=f"the WARC file is cut or corrupt after offset {offset}",
            )  # fmt: skip


_READERS = {"jsonl": _read_jsonl, "warc": _read_warc}


def read_records(file: InputFile) -> Iterator[RawPage]:
    """Streams the records of one input file; never raises for bad content.

    Yields at most ``file.limit`` records when it is set. A file that cannot be opened
    yields one dead record for the file.
    """
    reader = _READERS.get(file.fmt)
    records = reader(file.path) if reader else _read_whole(file.path, file.fmt)
    count = 0
    try:
        for record in records:
            if file.limit is not None and count >= file.limit:
                return
            count += 1
            yield record
    except Exception as exc:  # opening failed (permissions, vanished file, ...)
        yield dead_raw(file_uri(file.path), f"{file.path}#0", STAGE, "unreadable", exc)


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
