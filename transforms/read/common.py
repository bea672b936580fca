"""What the format readers share: the stage name, the record size bound, opening a file,
fetch times, file URIs and the dead records for problems of a whole stream.

Used by ``read_jsonl``, ``read_files`` and ``read_warc``; the composite is ``read.ReadPages``.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from datetime import datetime, timezone
from pathlib import PurePosixPath

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pagestream.schemas.records import RawPage
from pagestream.transforms.errors import dead_raw
from pagestream.transforms.read.inputs import not_regular
from pagestream.transforms.write.progress import track_read

__all__ = [
    "CorruptStream",
    "MAX_RECORD_BYTES",
    "STAGE",
    "file_uri",
    "open_input",
    "parse_fetch_time",
    "stream_failure",
    "too_large",
]

STAGE = "read"

#: The largest record read: a single-page file, a JSON line or a WARC payload. A bigger one
#: becomes a ``too_large`` dead record (extraction then applies the smaller ``--max_page_bytes``
#: to what is read). Keeps one huge record from exhausting a worker.
MAX_RECORD_BYTES = 64 * 1024 * 1024


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


def open_input(path: str, fmt: str):
    """Opens ``path`` for streaming; gzip and zstd are decompressed on the fly (warcio does
    WARC's own gzip).

    Raises:
        OSError: ``path`` is a local FIFO, socket or device (opening one could block for ever;
            ``expand_inputs`` skips them, this catches one that replaced a file since).
    """
    kind = not_regular(path)
    if kind:
        raise OSError(f"{path}: not a regular file ({kind})")
    raw = track_read(FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED))
    if fmt in ("warc", "wet"):
        return raw
    name = path.lower()
    if name.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if name.endswith(".zst"):
        return io.BufferedReader(_ZstdStream(raw), buffer_size=1 << 20)
    return raw


class CorruptStream(OSError):
    """Compressed data that cannot be decompressed (for codecs without their own OSError)."""


class _ZstdStream(io.RawIOBase):
    """A zstd-compressed stream, frame after frame, that raises ``EOFError`` when the data
    ends inside a frame. Hand-written over ``zstandard.ZstdDecompressor().decompressobj``:
    the library's ``stream_reader`` returns a cut file's data without saying it is cut."""

    def __init__(self, raw) -> None:
        import zstandard  # a dependency of Beam's too; imported only for .zst inputs

        self.error = zstandard.ZstdError
        self.raw, self.new = raw, zstandard.ZstdDecompressor().decompressobj
        self.frame, self.pending, self.started = self.new(), b"", False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending:
            block = self.raw.read(1 << 20)
            if not block:
                if self.started and not self.frame.eof:
                    raise EOFError("the zstd stream ends inside a frame")
                return 0
            while block:
                if self.frame.eof:  # the next frame of a multi-frame file
                    self.frame = self.new()
                self.started = True
                try:
                    self.pending += self.frame.decompress(block)
                except self.error as exc:
                    raise CorruptStream(str(exc)) from exc
                block = self.frame.unused_data if self.frame.eof else b""
        size = min(len(buffer), len(self.pending))
        buffer[:size], self.pending = self.pending[:size], self.pending[size:]
        return size


def stream_failure(exc: BaseException) -> str:
    """The dead-letter reason for an exception raised while streaming a file."""
    if isinstance(exc, EOFError):
        return "truncated"  # a compressed stream that ends before its end marker
    if isinstance(exc, zlib.error | gzip.BadGzipFile | CorruptStream):
        return "corrupt"
    return "unreadable"


def too_large(url: str, source: str, what: str) -> RawPage:
    return dead_raw(
        url, source, STAGE, "too_large", error=f"{what} is over MAX_RECORD_BYTES={MAX_RECORD_BYTES}"
    )
