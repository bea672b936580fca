"""Reading single-page files (``.html``, ``.txt``, gzip'd or not): one record per file.

The position is always ``0``. An empty file gives one ``empty`` record, a file over
``MAX_RECORD_BYTES`` one ``too_large`` record (not decoded), and binary content (images,
archives, executables) under a text name one ``binary`` record.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator

from pagestream.schemas.records import KIND_RAW, RawPage
from pagestream.transforms.errors import dead_raw
from pagestream.transforms.read.common import (
    MAX_RECORD_BYTES,
    STAGE,
    file_uri,
    open_input,
    stream_failure,
    too_large,
)
from pagestream.transforms.read.html_decode import decode_html
from pagestream.transforms.read.html_head import canonical_url

__all__ = ["read_whole"]

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


def read_whole(path: str, fmt: str) -> Iterator[RawPage]:
    source, url = f"{path}#0", file_uri(path)
    try:
        with open_input(path, fmt) as stream:
            payload = stream.read(MAX_RECORD_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        yield dead_raw(url, source, STAGE, stream_failure(exc), exc)
        return
    if len(payload) > MAX_RECORD_BYTES:
        yield too_large(url, source, "the file")
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
