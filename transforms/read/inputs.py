"""Planning the input of a run: globs and directories expanded into a sorted file list.

Runs while the graph is built (``expand_inputs``), so parallelism comes from the file list on
every runner. Names starting with ``.`` or ``_`` below an input directory are ignored (the
Spark/Hadoop rule); files of unknown formats are returned as skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import NamedTuple

from apache_beam.io.filesystems import FileSystems

__all__ = ["FORMATS", "InputError", "InputFile", "expand_inputs", "input_format"]

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


class InputError(ValueError):
    """An input path that cannot be used (missing, unreadable); raised before the run starts."""


class InputFile(NamedTuple):
    """One input file of a run, as planned while the graph is built."""

    path: str
    size: int
    fmt: str
    limit: int | None = None  # read at most this many records (--max_pages)
    part: int = 0  # of ``parts``: this reads the records dealt to it (read.read_records)
    parts: int = 1


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
