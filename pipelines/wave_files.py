"""The staged state of a run in waves (``waves.py``): its plan, finished waves, ``StageWave``.

Under ``_staging/<run_id>/waves/``: ``plan.json`` (the key of the inputs and options the waves
were cut for, and the run's file-name tokens) and one ``wave-<k>.json`` per finished wave (its
staged files, statistics accumulator and index segment files), each written under a temporary
name and renamed, so a reader sees a whole file or none. A rerun with the same key resumes
from them (``wave_runner``).
"""

from __future__ import annotations

import json
from collections import Counter

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pagestream.transforms.write.commit import GatherRun
from pagestream.transforms.write.files import staging_dir
from pagestream.transforms.write.parquet import StagedFile
from pagestream.transforms.write.stats import empty_accumulator

__all__ = [
    "StageWave",
    "finished_wave",
    "read_plan",
    "stats_from_json",
    "stats_to_json",
    "wave_dir",
    "write_plan",
    "write_wave",
]


def wave_dir(output: str, run_id: str) -> str:
    return f"{staging_dir(output, run_id)}/waves"


def _read_json(path: str) -> dict | None:
    try:
        with FileSystems.open(path) as handle:
            return json.loads(handle.read().decode("utf-8"))
    except Exception:  # noqa: BLE001 - missing or cut short: not there
        return None


def _write_json(path: str, value: dict) -> None:
    """Written under a temporary name, then renamed: a reader sees all of it or nothing."""
    temporary = f"{path}.tmp"
    with FileSystems.create(temporary) as handle:
        handle.write(json.dumps(value, sort_keys=True).encode("utf-8"))
    FileSystems.rename([temporary], [path])


def read_plan(output: str, run_id: str) -> dict | None:
    """The staged plan of an unfinished waved run of ``run_id`` (None when there is none)."""
    return _read_json(f"{wave_dir(output, run_id)}/plan.json")


def write_plan(output: str, run_id: str, key: str, tokens: dict, waves: int) -> None:
    _write_json(f"{wave_dir(output, run_id)}/plan.json", {"key": key, "waves": waves, **tokens})


def _wave_file(output: str, run_id: str, index: int) -> str:
    return f"{wave_dir(output, run_id)}/wave-{index:05d}.json"


def write_wave(output: str, run_id: str, index: int, files, stats: dict, segments) -> str:
    """Records a finished wave (the sidecar resume looks for); returns its path."""
    path = _wave_file(output, run_id, index)
    value = {
        "files": [list(f) for f in sorted(files)],
        "stats": stats_to_json(stats),
        "segments": sorted(segments),
    }
    _write_json(path, value)
    return path


def finished_wave(output: str, run_id: str, index: int) -> dict | None:
    """The sidecar of wave ``index`` when the wave is finished and all its files are there:
    ``{"files": [StagedFile], "stats": accumulator, "segments": [path]}``; else None."""
    value = _read_json(_wave_file(output, run_id, index))
    if value is None:
        return None
    files = [StagedFile(*f) for f in value["files"]]
    paths = [f.staged_path for f in files] + value["segments"]
    if not all(FileSystems.exists(p) for p in paths):
        return None
    return {"files": files, "stats": stats_from_json(value["stats"]), "segments": value["segments"]}


# The statistics accumulator (``write.stats``) holds Counters keyed by tuples: JSON keeps them
# as [key, count] pairs.
def stats_to_json(acc: dict) -> dict:
    out = {}
    for name, value in acc.items():
        if name == "per_file":
            out[name] = {f: dict(c) for f, c in value.items()}
        elif isinstance(value, Counter):
            out[name] = [[list(k) if isinstance(k, tuple) else k, n] for k, n in value.items()]
        else:
            out[name] = value
    return out


def stats_from_json(value: dict) -> dict:
    acc = {}
    for name, item in value.items():
        if name == "per_file":
            acc[name] = {f: Counter(c) for f, c in item.items()}
        elif isinstance(item, list) and name != "word_counts":
            acc[name] = Counter({tuple(k) if isinstance(k, list) else k: n for k, n in item})
        else:
            acc[name] = item
    return acc


class _StageWaveFn(beam.DoFn):
    def __init__(self, output: str, run_id: str, index: int):
        self.output, self.run_id, self.index = output, run_id, index

    def process(self, element):
        _, items = element
        files = [item for kind, item in items if kind == "file"]
        stats = next((item for kind, item in items if kind == "stats"), None)
        segments = [item for kind, item in items if kind == "other"]
        yield write_wave(
            self.output, self.run_id, self.index, files, stats or empty_accumulator(), segments
        )


class StageWave(beam.PTransform):
    """The terminal step of a wave's graph: ``(files, stats accumulator, segment paths)`` ->
    the wave's sidecar (``write_wave``); the run is committed after its last wave."""

    def __init__(self, output: str, run_id: str, index: int):
        super().__init__()
        self.output, self.run_id, self.index = output, run_id, index

    def expand(self, inputs):
        return (
            inputs
            | "GatherWave" >> GatherRun()
            | "Stage" >> beam.ParDo(_StageWaveFn(self.output, self.run_id, self.index))
        )
