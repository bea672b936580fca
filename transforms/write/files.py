"""Names and listings of a run's files in an output directory (any Beam filesystem).

A committed file is named ``part-<run_id>-<attempt>-<n>.parquet``: ``attempt`` is 8 random hex
digits chosen once per attempt (``new_attempt``), so no two attempts of a run ever write the
same name, and the run id is the name without its last two ``-`` fields (``parse_file_name``).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import uuid
from pathlib import PurePosixPath

from apache_beam.io.filesystems import FileSystems

__all__ = [
    "delete",
    "file_name",
    "listed_files",
    "match_under",
    "mkdirs",
    "new_attempt",
    "parse_file_name",
    "remove_staging",
    "staging_dir",
]

_NAME = re.compile(r"^part-(?P<run_id>.+)-(?P<attempt>[0-9a-f]{8})-(?P<n>\d+)\.parquet$")


def new_attempt() -> str:
    """A fresh attempt token: 8 random hex digits."""
    return uuid.uuid4().hex[:8]


def file_name(run_id: str, attempt: str, n: int) -> str:
    return f"part-{run_id}-{attempt}-{n}.parquet"


def parse_file_name(name: str) -> tuple[str, str] | None:
    """``(run_id, attempt)`` of a file written by pagestream, None for any other name."""
    found = _NAME.match(name)
    return (found["run_id"], found["attempt"]) if found else None


def staging_dir(output: str, run_id: str) -> str:
    return f"{output.rstrip('/')}/_staging/{run_id}"


def mkdirs(path: str) -> None:
    try:
        FileSystems.mkdirs(path)
    except Exception:  # exists already (local), or object stores that have no directories
        pass


def delete(paths: list[str]) -> None:
    """Deletes files or directories. Local paths are taken literally (Beam's local delete
    globs them: ``out[1]`` would match nothing); missing ones raise ``FileNotFoundError``."""
    remote = [p for p in paths if FileSystems.get_scheme(p) is not None]
    for path in paths:
        if FileSystems.get_scheme(path) is not None:
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    if remote:
        FileSystems.delete(remote)


def match_under(root: str, pattern: str) -> list[str]:
    """Paths matching the glob ``pattern`` below ``root``, sorted.

    ``root`` is taken literally: an output directory named ``out[1]`` is not a glob.
    """
    root = root.rstrip("/")
    if FileSystems.get_scheme(root) is None:
        return sorted(glob.glob(f"{glob.escape(root)}/{pattern}"))
    try:
        matched = FileSystems.match([f"{root}/{pattern}"])[0].metadata_list
    except Exception:  # nothing there
        return []
    return sorted(m.path for m in matched)


def listed_files(manifest: dict) -> list[str]:
    """Every file a manifest lists, relative to the output directory."""
    if manifest.get("file_list") is not None:
        return [item["path"] for item in manifest["file_list"]]
    return [path for paths in (manifest.get("files") or {}).values() for path in paths]


def remove_staging(output: str, run_id: str) -> None:
    """Deletes ``_staging/<run_id>``, and ``_staging`` itself once it is empty (local)."""
    try:
        delete([staging_dir(output, run_id)])
    except Exception:  # nothing staged (an empty run) or already gone
        pass
    parent = f"{output.rstrip('/')}/_staging"
    if FileSystems.get_scheme(parent) is None:
        try:
            os.rmdir(parent)
        except OSError:  # another run is staging, or it is gone
            pass


def relative(root: str, path: str) -> str:
    return str(PurePosixPath(path).relative_to(root.rstrip("/")))
