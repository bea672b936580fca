"""The batch pipeline: plan the run, build the graph from composites, run it, return the manifest.

The graph::

    ReadPages -> ExtractText -> DetectLanguage -> ScoreQuality -> MarkDuplicates -> TagTopics
      -> WritePartitionedParquet ─┐
      -> RunStats ────────────────┤-> CommitRun (moves files, writes the manifest: the commit)
      -> WriteIndexSegment ───────┘   (only with --state)
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from pagestream import SCHEMA_VERSION, __version__
from pagestream.pipelines.options import OptionsError, RunOptions
from pagestream.progress_display import ProgressDisplay
from pagestream.schemas.validation import one_line
from pagestream.transforms import version_guard
from pagestream.transforms.dedup import segments as dedup_segments
from pagestream.transforms.dedup import state as dedup_state
from pagestream.transforms.dedup.fingerprint import DedupConfig
from pagestream.transforms.dedup.mark import MarkDuplicates
from pagestream.transforms.dedup.state_check import check_state
from pagestream.transforms.extract.composite import ExtractText, TextConfig
from pagestream.transforms.extract.config import ExtractConfig
from pagestream.transforms.language.detect import DetectLanguage, LanguageConfig
from pagestream.transforms.quality.rules import QualityConfig
from pagestream.transforms.quality.score import ScoreQuality
from pagestream.transforms.read.inputs import InputError, InputFile, expand_inputs
from pagestream.transforms.read.pages import ReadPages, limit_records, split_files
from pagestream.transforms.topics.tag import TagTopics, TopicConfig
from pagestream.transforms.topics.taxonomy import load_taxonomy
from pagestream.transforms.write.commit import CommitRun, abandon, manifest_path, read_manifest
from pagestream.transforms.write.compact import absorbed_by
from pagestream.transforms.write.files import delete, new_attempt, staging_dir
from pagestream.transforms.write.lease import Lease, LeaseHeld, run_lease
from pagestream.transforms.write.parquet import WriteConfig, WritePartitionedParquet
from pagestream.transforms.write.progress import progress_dir
from pagestream.transforms.write.stats import RunStats

__all__ = [
    "RunPlan",
    "RunSubmitted",
    "build",
    "configs_for",
    "forks_workers",
    "new_pipeline",
    "plan_run",
    "redistribution",
    "run",
]

LOG = logging.getLogger("pagestream")

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


def versions() -> dict:
    found = {"python": platform.python_version(), "pagestream": __version__}
    for name in _VERSIONED:
        try:
            found[name.replace("-", "_")] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name.replace("-", "_")] = None
    return found


def check_output_writable(output: str, run_id: str) -> None:
    """Clears the run's old staging directory and proves the output location takes a file."""
    staging = staging_dir(output, run_id)
    try:
        if FileSystems.exists(staging):
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
        if previous:  # a rerun of a scheduled slot keeps its date
            options = _replace(options, logical_date=previous["logical_date"])
    compacted = absorbed_by(options.output, options.run_id)
    if compacted:
        raise OptionsError(
            f"--run_id {options.run_id}: its rows were compacted with other runs into shared "
            f"files (pagestream compact, compaction {compacted}); a compacted run cannot be rerun"
        )
    check_output_writable(options.output, options.run_id)
    total_bytes = sum(f.size for f in files)
    warn_if_disk_is_short(options.output, total_bytes)
    runner = runner_name(beam_options)
    redistribute = redistribution(runner, beam_options)
    read_parts = direct_workers(beam_options) if redistribute == "none" else 1
    if redistribute == "none":
        warn_if_files_are_fewer_than_workers(split_files(files, read_parts), read_parts)
    write = WriteConfig(shards=max(1, -(-total_bytes // BYTES_PER_WRITE_SHARD)))
    state_attempt = dedup_state.begin_run(options.state, options.run_id) if options.state else None
    attempt = new_attempt()
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
    )


def runner_name(beam_options: PipelineOptions) -> str:
    """``--runner`` as given, ``DirectRunner`` (Beam's default) when it is not."""
    return str(beam_options.view_as(StandardOptions).runner or "DirectRunner")


def redistribution(runner: str, beam_options: PipelineOptions) -> str:
    """How ``ReadPages`` spreads records over workers on ``runner`` (see ``ReadPages``).

    ``group`` on Dask (where ``Reshuffle`` is a no-op). ``none`` on the DirectRunner: its
    workers share out the input files (each WARC/JSONL file split into one part per worker,
    ``split_files``, so a file of slow pages does not load one worker), and a reshuffle there
    would hold every page's HTML in the runner process and hand each worker its whole share
    at once (10,000 pages, 0.4 GB gzipped: 8.7 GB in the runner and 3 GB per worker with 2
    workers, against ~0.5 GB per process without); in one process it only copies the HTML
    (~4 % of the run's time).
    ``reshuffle`` on the other runners, which shuffle through disk.
    """
    if "Dask" in runner:
        return "group"
    if runner.rsplit(".", 1)[-1] in ("DirectRunner", "FnApiRunner", "BundleBasedDirectRunner"):
        return "none"
    return "reshuffle"


def direct_workers(beam_options: PipelineOptions) -> int:
    """The DirectRunner's worker count (``--direct_num_workers``, 0 meaning one per core)."""
    workers = beam_options.view_as(DirectOptions).direct_num_workers
    return workers if workers > 0 else os.cpu_count() or 1


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
    import dataclasses

    return dataclasses.replace(options, **changes)


class RunSubmitted(Exception):
    """The runner accepted the job but did not wait for it; carries the manifest path."""


def build(pipeline: beam.Pipeline, plan: RunPlan):
    """Adds the run's graph to ``pipeline``; returns the PCollection holding the manifest."""
    options = plan.options
    beats = progress_dir(staging_dir(options.output, options.run_id))
    pages = (
        pipeline
        | "ReadPages"
        >> ReadPages(
            plan.files, redistribute=plan.redistribute, progress_dir=beats, parts=plan.read_parts
        )
        | "ExtractText"
        >> ExtractText(
            plan.text,
            options.run_id,
            options.logical_date,
            beats,
            lxml_speedups=True,
        )
        | "DetectLanguage" >> DetectLanguage(plan.language)
        | "ScoreQuality" >> ScoreQuality(QualityConfig(drop=options.drop_low_quality))
        | "MarkDuplicates"
        >> MarkDuplicates(plan.dedup, options.run_id, options.logical_date, options.state)
        | "TagTopics" >> TagTopics(plan.topics)
    )
    files = pages | "Write" >> WritePartitionedParquet(
        options.output, options.run_id, plan.write, beats, attempt=plan.attempt
    )
    stats = pages | "RunStats" >> RunStats()
    extra, state_commit = [], None
    if options.state:
        extra.append(
            pages
            | "WriteIndexSegment"
            >> dedup_segments.WriteIndexSegment(
                options.state, options.run_id, plan.state_attempt, plan.dedup
            )
        )
        state_commit = dedup_state.StateCommit(
            options.state, options.run_id, plan.state_attempt, options.logical_date, options.output
        )
    return (files, stats, *extra) | "Commit" >> CommitRun(
        options.output, options.run_id, plan.manifest_base, state_commit
    )


_DIRECT_RUNNER_NAMES = ("DirectRunner", "SwitchingDirectRunner")


def new_pipeline(beam_options: PipelineOptions) -> beam.Pipeline:
    """An empty pipeline for ``beam_options``; a DirectRunner one runs on the FnApiRunner.

    Beam 2.77's DirectRunner first tries the PrismRunner, which downloads a binary from
    GitHub: a network call in every run (offline it fails after ~0.4 s and a second graph
    translation; online a run would fetch and use an engine pagestream is not tested on).
    For a batch graph like ours, without TestStream, it then picks the FnApiRunner, built
    here the way ``SwitchingDirectRunner.run_pipeline`` builds it, so only the attempt goes.
    Other runners, and ``--streaming``, get Beam's own choice. With ``multi_processing`` and
    more than one worker, the workers are forked from a pre-loaded process (``local_workers``).
    """
    if (
        runner_name(beam_options).rsplit(".", 1)[-1] not in _DIRECT_RUNNER_NAMES
        or beam_options.view_as(StandardOptions).streaming
        or not version_guard.tested("fn_api_runner")  # Beam's own choice on other versions
    ):
        return beam.Pipeline(options=beam_options)
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(beam_options.get_all_options())
    provision_info = fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)
    )
    if forks_workers(beam_options):
        from pagestream.pipelines.local_workers import ForkingFnApiRunner

        runner = ForkingFnApiRunner(provision_info=provision_info)
    else:
        runner = fn_runner.FnApiRunner(provision_info=provision_info)
    return beam.Pipeline(runner=runner, options=beam_options)


def forks_workers(beam_options: PipelineOptions) -> bool:
    """Whether a DirectRunner run starts its workers from a pre-loaded zygote
    (``local_workers``): with ``multi_processing`` and more than one worker, on the Beam
    versions ``local_workers`` was tested on (else Beam starts them, after one log line)."""
    direct = beam_options.view_as(DirectOptions)
    if direct.direct_running_mode != "multi_processing" or direct_workers(beam_options) < 2:
        return False
    return version_guard.tested("forked_workers")


def run(options: RunOptions, beam_args: list[str]) -> dict:
    """Runs one batch run to completion and returns its committed manifest."""
    beam_options = PipelineOptions(beam_args)
    plan = plan_run(options, beam_options)
    try:
        result = _run_planned(plan, beam_options)
    except BaseException as exc:  # a failure, or Ctrl-C
        manifest = read_manifest(plan.options.output, plan.options.run_id)
        committed = manifest is not None and manifest.get("attempt") == plan.attempt
        # Under the lease still: files of the run that its committed manifest (the previous
        # one, or this attempt's if the failure came after the commit point) does not list go.
        try:
            abandon(plan.options.output, plan.options.run_id)
        except Exception:  # noqa: BLE001 - best effort: the next run or `pagestream vacuum`
            LOG.debug("could not clean up after run %s", plan.options.run_id, exc_info=True)
        if not committed or not isinstance(exc, Exception):
            raise
        LOG.warning("run %s committed; a step after its commit failed", plan.options.run_id)
        return manifest
    finally:
        plan.lease.release()
    manifest = read_manifest(plan.options.output, plan.options.run_id)
    if manifest is None and str(getattr(result, "state", "DONE")) not in (
        "DONE",
        "PipelineState.DONE",
    ):
        # Runners that return once the job is submitted (Dataflow Flex Templates): the job
        # commits itself; its manifest appears when it is done.
        raise RunSubmitted(manifest_path(plan.options.output, plan.options.run_id))
    if manifest is None:
        raise RuntimeError(
            f"the run finished but wrote no manifest at {plan.options.output}/_runs/{plan.options.run_id}.json"
        )
    return manifest


def _run_planned(plan: RunPlan, beam_options: PipelineOptions):
    pipeline = new_pipeline(beam_options)
    build(pipeline, plan)
    beats = progress_dir(staging_dir(plan.options.output, plan.options.run_id))
    total_bytes = plan.manifest_base["inputs"]["bytes"]
    with ProgressDisplay(beats, total_bytes, enabled=not plan.options.quiet):
        result = pipeline.run()
        result.wait_until_finish()
    return result
