"""Planning a batch run: every decision taken before the graph is built (``plan_run``).

The inputs are listed, the options turned into the composites' configs, the output proven
writable and the run's lease taken; the result is a ``RunPlan`` that ``batch.build`` turns into
a graph and ``batch.run`` runs.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import shutil
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pagestream import SCHEMA_VERSION, __version__
from pagestream.pipelines.options import OptionsError, RunOptions
from pagestream.pipelines.runner import (
    direct_workers,
    redistribution,
    runner_name,
    worker_processes,
)
from pagestream.pipelines.wave_files import read_plan, write_plan
from pagestream.pipelines.waves import Wave, cut_waves
from pagestream.schemas.validation import one_line
from pagestream.transforms.dedup import state as dedup_state
from pagestream.transforms.dedup.fingerprint import DedupConfig
from pagestream.transforms.dedup.state_check import check_state
from pagestream.transforms.extract.composite import TextConfig
from pagestream.transforms.extract.config import ExtractConfig
from pagestream.transforms.language.detect import LanguageConfig
from pagestream.transforms.read.inputs import InputError, InputFile, expand_inputs
from pagestream.transforms.read.pages import limit_records, split_files
from pagestream.transforms.topics.tag import TopicConfig
from pagestream.transforms.topics.taxonomy import load_taxonomy
from pagestream.transforms.write.commit import read_manifest
from pagestream.transforms.write.compact import absorbed_by
from pagestream.transforms.write.files import delete, new_attempt, staging_dir
from pagestream.transforms.write.lease import Lease, LeaseHeld, run_lease
from pagestream.transforms.write.parquet import WriteConfig

__all__ = ["RunPlan", "configs_for", "plan_run", "versions"]

#: One writer shard per this many input bytes (bounds the rows one writer sorts in memory).
BYTES_PER_WRITE_SHARD = 1024**3

_VERSIONED = ("apache-beam", "trafilatura", "langdetect", "pyarrow", "warcio", "lxml")


@dataclass(frozen=True)
class RunPlan:
    """Everything decided before the graph is built."""

    options: RunOptions
    files: list[InputFile]
    skipped: list[str]
    text: TextConfig
    language: LanguageConfig
    dedup: DedupConfig
    topics: TopicConfig
    write: WriteConfig
    redistribute: str = "reshuffle"
    read_parts: int = 1  # ReadPages(parts=...): each WARC/JSONL file split for this many workers
    state_attempt: str | None = None
    manifest_base: dict = field(default_factory=dict)
    attempt: str = ""  # this attempt's file-name token (``files.new_attempt``)
    lease: Lease | None = None  # held from planning to the end of ``run``
    waves: tuple[Wave, ...] = ()  # more than one: the run goes in waves (``waves.py``)
    resumed: bool = False  # the staged waves of an interrupted attempt are reused


def versions() -> dict:
    found = {"python": platform.python_version(), "pagestream": __version__}
    for name in _VERSIONED:
        try:
            found[name.replace("-", "_")] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name.replace("-", "_")] = None
    return found


def check_output_writable(output: str, run_id: str, keep_staging: bool = False) -> None:
    """Clears the run's old staging directory (unless ``keep_staging``: a resumed run) and
    proves the output location takes a file."""
    staging = staging_dir(output, run_id)
    try:
        if FileSystems.exists(staging) and not keep_staging:
            delete([staging])
        probe = f"{staging}/.probe"
        with FileSystems.create(probe) as handle:
            handle.write(b"ok")
        delete([probe])
    except Exception as exc:
        raise OptionsError(f"--output {output}: cannot write there ({exc})") from exc


def warn_if_disk_is_short(output: str, input_bytes: int) -> None:
    """Warns (stderr) when a local output has less free space than half the input size.

    Output is mostly smaller than the input (text only, zstd), so this is a warning, not an
    error; a run that does fill the disk fails with a one-line message and commits nothing.
    """
    if FileSystems.get_scheme(output) is not None:
        return
    path = os.path.abspath(output)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    free = shutil.disk_usage(path).free
    if free < input_bytes / 2:
        print(
            f"pagestream run: warning: {free / 1e6:.0f} MB free at --output {output}, inputs are "
            f"{input_bytes / 1e6:.0f} MB; the run may fill the disk",
            file=sys.stderr,
        )


def configs_for(options: RunOptions) -> tuple[TextConfig, LanguageConfig, DedupConfig, TopicConfig]:
    """The composites' configs for ``options`` (already validated by ``parse_run_args``).

    Raises:
        OptionsError: the ``--taxonomy`` file is not a valid taxonomy.
    """
    try:
        text = TextConfig(
            min_words=options.min_words,
            text_cleaning=options.text_cleaning,
            extract=ExtractConfig(
                max_page_bytes=options.max_page_bytes,
                timeout_s=options.extract_timeout,
                # htmldate rejects dates after this one: the slot's date keeps reruns identical.
                latest_date=options.logical_date,
            ),
        )
        language = LanguageConfig(languages=options.languages, min_score=options.language_min_score)
        dedup = DedupConfig(threshold=options.near_dup_threshold)
        topics = TopicConfig(taxonomy=options.taxonomy)
    except ValueError as exc:
        raise OptionsError(str(exc)) from exc
    if options.taxonomy is not None:
        try:
            load_taxonomy(options.taxonomy)
        except ValueError as exc:  # "taxonomy FILE: problem": said once, with the flag's name
            problem = str(exc).removeprefix(f"taxonomy {options.taxonomy}: ")
            raise OptionsError(f"--taxonomy {options.taxonomy}: {one_line(problem)}") from exc
    return text, language, dedup, topics


def plan_run(options: RunOptions, beam_options: PipelineOptions) -> RunPlan:
    """Validates the inputs and output and fixes every decision before the graph is built.

    Raises:
        OptionsError: a bad option, a missing input or an unwritable output.
    """
    text, language, dedup, topics = configs_for(options)
    try:
        files, skipped = expand_inputs(options.inputs)
    except InputError as exc:
        raise OptionsError(str(exc)) from exc
    if not files:
        raise OptionsError(
            f"--input {' '.join(options.inputs)}: no input files found"
            + (f" ({len(skipped)} files of other formats skipped)" if skipped else "")
            + "; nothing was run"
        )
    files = limit_records(files, options.max_pages)
    if options.state:
        try:
            check_state(options.state)
        except ValueError as exc:
            raise OptionsError(str(exc)) from exc
    lease = run_lease(options.output, options.run_id)
    try:
        lease.acquire()
    except LeaseHeld as exc:
        raise OptionsError(str(exc)) from exc
    except OSError as exc:
        raise OptionsError(f"--output {options.output}: cannot write there ({exc})") from exc
    try:
        return _plan_locked(
            options, beam_options, text, language, dedup, topics, files, skipped, lease
        )
    except BaseException:
        lease.release()
        raise


def _plan_locked(options, beam_options, text, language, dedup, topics, files, skipped, lease):
    """The part of ``plan_run`` that touches the output, under the run's lease."""
    if not options.logical_date_given:
        previous = read_manifest(options.output, options.run_id)
        staged = read_plan(options.output, options.run_id)
        if previous:  # a rerun of a scheduled slot keeps its date
            options = _replace(options, logical_date=previous["logical_date"])
        elif staged and staged.get("logical_date"):  # so does the resumed run, the next day too
            options = _replace(options, logical_date=staged["logical_date"])
    compacted = absorbed_by(options.output, options.run_id)
    if compacted:
        raise OptionsError(
            f"--run_id {options.run_id}: its rows were compacted with other runs into shared "
            f"files (pagestream compact, compaction {compacted}); a compacted run cannot be rerun"
        )
    runner = runner_name(beam_options)
    waves, staged, key = cut_waves(options, runner, files, worker_processes(beam_options))
    check_output_writable(options.output, options.run_id, keep_staging=staged is not None)
    total_bytes = sum(f.size for f in files)
    warn_if_disk_is_short(options.output, total_bytes)
    redistribute = redistribution(runner, beam_options)
    read_parts = direct_workers(beam_options) if redistribute == "none" else 1
    if redistribute == "none":
        warn_if_files_are_fewer_than_workers(split_files(files, read_parts), read_parts)
    write = WriteConfig(shards=max(1, -(-total_bytes // BYTES_PER_WRITE_SHARD)))
    if staged is not None:  # the tokens of the staged files and index segments
        attempt, state_attempt = staged["attempt"], staged["state_attempt"]
    else:
        attempt = new_attempt()
        state_attempt = (
            dedup_state.begin_run(options.state, options.run_id) if options.state else None
        )
        if len(waves) > 1:
            tokens = {
                "attempt": attempt,
                "state_attempt": state_attempt,
                "logical_date": options.logical_date,
            }
            write_plan(options.output, options.run_id, key, tokens, len(waves))
    base = {
        "run_id": options.run_id,
        "attempt": attempt,
        "logical_date": options.logical_date,
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "schema_version": SCHEMA_VERSION,
        "pipeline_version": __version__,
        "versions": versions(),
        "runner": runner,
        "options": options.as_manifest(),
        "inputs": {
            "files": len(files),
            "bytes": total_bytes,
            "skipped": [s.path for s in skipped],
            "skipped_count": len(skipped),
            "skipped_reasons": {s.path: s.reason for s in skipped},
        },
        "command": " ".join(sys.argv),
    }
    return RunPlan(
        options=options,
        files=files,
        skipped=[s.path for s in skipped],
        text=text,
        language=language,
        dedup=dedup,
        topics=topics,
        write=write,
        redistribute=redistribute,
        read_parts=read_parts,
        state_attempt=state_attempt,
        manifest_base=base,
        attempt=attempt,
        lease=lease,
        waves=tuple(waves),
        resumed=staged is not None,
    )


def warn_if_files_are_fewer_than_workers(items: list[InputFile], workers: int) -> None:
    """The DirectRunner's workers share out the read items (``split_files`` splits WARC and
    JSON Lines files; an HTML or text file is one page): fewer items than workers idle some."""
    if workers > 1 and len(items) < workers:
        print(
            f"pagestream run: warning: {len(items)} input file(s) for --direct_num_workers "
            f"{workers}: each file is read and extracted by one worker; give at least as "
            "many files as workers to use them all",
            file=sys.stderr,
        )


def _replace(options: RunOptions, **changes) -> RunOptions:
    return dataclasses.replace(options, **changes)
