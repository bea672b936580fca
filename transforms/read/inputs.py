"""Planning the input of a run: globs and directories expanded into a sorted file list.

Runs while the graph is built (``expand_inputs``), so parallelism comes from the file list on
every runner. Names starting with ``.`` or ``_`` below an input directory are ignored (the
Spark/Hadoop rule); files of unknown formats, and local paths that are not regular files
(FIFOs, sockets, devices: opening one can block for ever), are returned as skipped, with why.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from typing import NamedTuple

from apache_beam.io.filesystems import FileSystems

__all__ = [
    "COMPRESSIONS",
    "FORMATS",
    "InputError",
    "InputFile",
    "SkippedFile",
    "expand_inputs",
    "input_format",
    "not_regular",
]

#: File-name endings -> format, longest first where one ends another (``.warc.wet``).
FORMATS = {
    ".warc.wet": "wet",
    ".wet": "wet",
    ".warc": "warc",
    ".jsonl": "jsonl",
    ".json": "json",
    ".html": "html",
    ".htm": "html",
    ".txt": "txt",
}

#: Compression suffixes accepted after a format ending: gzip everywhere; zstd everywhere but
#: WARC/WET (warcio reads gzip'd WARCs only; a ``.warc.zst`` needs its own dictionary framing).
COMPRESSIONS = {".gz": None, ".zst": {"warc", "wet"}}

#: Characters that make an input path a glob for Beam's FileSystems.match.
_GLOB_CHARS = set("*?[")


class InputError(ValueError):
    """An input path that cannot be used (missing, unreadable); raised before the run starts."""


class InputFile(NamedTuple):
    """One input file of a run, as planned while the graph is built."""

    path: str
    size: int
    fmt: str
    limit: int | None = None  # read at most this many records (--max_pages, waves)
    part: int = 0  # of ``parts``: this reads the records dealt to it (read.read_records)
    parts: int = 1
    mtime_ns: int | None = None  # when listed (None where the filesystem does not say)
    skip: int = 0  # the records before this one are not read (a later wave's share of a file)
    offset: int = 0  # > 0: byte offset of record ``skip`` (WARC, WET), where reading starts


class SkippedFile(NamedTuple):
    """A file found under an input that is not read, and why (``unknown_format``,
    ``unsupported_compression``, ``fifo``, ``socket``, ``device``, ``not_a_file``)."""

    path: str
    reason: str


def _split_name(path: str) -> tuple[str | None, str | None]:
    """(format, compression suffix) of ``path`` from its name; format None if unknown."""
    name = path.rsplit("/", 1)[-1].lower()
    suffix = next((s for s in COMPRESSIONS if name.endswith(s)), None)
    if suffix:
        name = name[: -len(suffix)]
    fmt = next((f for ending, f in FORMATS.items() if name.endswith(ending)), None)
    return fmt, suffix


def input_format(path: str) -> str | None:
    """The format of ``path`` from its name (``warc``, ``wet``, ``jsonl``, ``json``, ``html``,
    ``txt``; ``.gz`` after any, ``.zst`` after all but WARC/WET), else None."""
    fmt, suffix = _split_name(path)
    if fmt is None or fmt in (COMPRESSIONS.get(suffix) or ()):
        return None
    return fmt


def _skip_reason(path: str) -> str:
    fmt, _ = _split_name(path)
    return "unknown_format" if fmt is None else "unsupported_compression"


def not_regular(path: str) -> str | None:
    """Why a local path cannot be read as a file (``fifo``, ``socket``, ``device``,
    ``not_a_file``), else None (a regular file, a broken link, or a remote path)."""
    if FileSystems.get_scheme(path) is not None:
        return None
    try:
        mode = os.stat(path).st_mode
    except OSError:  # a broken link or a vanished file: reading reports it as unreadable
        return None
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "not_a_file"


def _is_hidden(path: str, root: str) -> bool:
    """True if a path component below ``root`` starts with ``.`` or ``_`` (Spark/Hadoop rule)."""
    relative = path[len(root) :] if path.startswith(root) else path.rsplit("/", 1)[-1]
    return any(
        part.startswith((".", "_")) for part in relative.replace(os.sep, "/").split("/") if part
    )


#: A file found: (path, size, mtime_ns or None).
_Found = tuple[str, int, int | None]


def _match(pattern: str) -> list[_Found]:
    try:
        result = FileSystems.match([pattern])[0]
    except Exception as exc:  # Beam raises BeamIOError for a missing scheme or bucket
        raise InputError(f"--input {pattern}: cannot list it ({exc})") from exc
    return [
        (m.path, m.size_in_bytes, _ns(getattr(m, "last_updated_in_seconds", None)))
        for m in result.metadata_list
    ]


def _ns(seconds: float | None) -> int | None:
    return int(seconds * 1e9) if seconds else None


def _local(path: str) -> _Found:
    try:
        info = os.stat(path)
    except OSError:  # a broken link: listed, so reading reports it as unreadable
        return path, 0, None
    return path, info.st_size, info.st_mtime_ns


def _walk_local(root: str) -> list[_Found]:
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
        found.extend(_local(os.path.join(directory, name)) for name in sorted(names))
    return found


def _list_one(path: str) -> tuple[str, list[_Found]]:
    """Returns (root used for the hidden-name rule, matched files) for one --input value.

    A local path that exists is taken literally even when its name holds glob characters.
    """
    is_local = FileSystems.get_scheme(path) is None
    if is_local and os.path.isdir(path):
        root = os.path.abspath(path).rstrip("/") + "/"
        return root, _walk_local(root)
    if is_local and os.path.exists(path):
        path = os.path.abspath(path)
        return path.rsplit("/", 1)[0] + "/", [_local(path)]
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


def expand_inputs(paths: Iterable[str]) -> tuple[list[InputFile], list[SkippedFile]]:
    """Expands files, directories (recursively) and globs into input files.

    Returns:
        ``(files, skipped)``: the readable input files sorted by path, and the other files
        found, sorted by path, with why they are not read (unknown format, a FIFO, ...),
        which a run counts as skipped. Names starting with ``.`` or ``_`` below an input
        directory are ignored altogether. No file is opened: a FIFO is seen by its mode.

    Raises:
        InputError: a path does not exist or cannot be listed.
    """
    found: dict[str, InputFile] = {}
    skipped: dict[str, str] = {}
    for path in paths:
        root, matched = _list_one(path)
        for file_path, size, mtime_ns in matched:
            if _is_hidden(file_path, root):
                continue
            fmt = input_format(file_path)
            reason = not_regular(file_path) or (None if fmt else _skip_reason(file_path))
            if reason:
                skipped[file_path] = reason
            else:
                found[file_path] = InputFile(file_path, size, fmt, mtime_ns=mtime_ns)
    return sorted(found.values()), [SkippedFile(p, r) for p, r in sorted(skipped.items())]
