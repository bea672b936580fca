"""The batch pipeline: plan the run, build the graph from composites, run it, return the manifest.

The graph::

    ReadPages -> ExtractText -> DetectLanguage -> ScoreQuality -> MarkDuplicates -> TagTopics
      -> WritePartitionedParquet ─┐
      -> RunStats ────────────────┤-> CommitRun (moves files, writes the manifest: the commit)
      -> WriteIndexSegment ───────┘   (only with --state)
"""

from __future__ import annotations

import ctypes
import dataclasses
import gc
import logging
import os
import sys
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pagestream.pipelines.options import RunOptions
from pagestream.pipelines.plan import RunPlan, plan_run
from pagestream.pipelines.runner import new_pipeline
from pagestream.pipelines.waves import (
    FILES_PER_WAVE,
    StageWave,
    Wave,
    finished_wave,
    wave_dir,
)
from pagestream.progress_display import ProgressDisplay
from pagestream.transforms.dedup import segments as dedup_segments
from pagestream.transforms.dedup import state as dedup_state
from pagestream.transforms.dedup.mark import MarkDuplicates
from pagestream.transforms.extract.composite import ExtractText
from pagestream.transforms.language.detect import DetectLanguage
from pagestream.transforms.quality.rules import QualityConfig
from pagestream.transforms.quality.score import ScoreQuality
from pagestream.transforms.read.pages import ReadPages
from pagestream.transforms.topics.tag import TagTopics
from pagestream.transforms.write.commit import (
    CommitRun,
    abandon,
    commit_staged,
    fault_point,
    manifest_path,
    read_manifest,
)
from pagestream.transforms.write.files import delete, match_under, staging_dir
from pagestream.transforms.write.parquet import WritePartitionedParquet
from pagestream.transforms.write.progress import progress_dir
from pagestream.transforms.write.stats import RunStats, finalise, merge_stats

__all__ = ["RunSubmitted", "build", "run"]

LOG = logging.getLogger("pagestream")


class RunSubmitted(Exception):
    """The runner accepted the job but did not wait for it; carries the manifest path."""


def build(pipeline: beam.Pipeline, plan: RunPlan, wave: Wave | None = None, earlier=()):
    """Adds the run's graph to ``pipeline``; returns the PCollection holding the manifest.

    With ``wave`` (a run of several waves, ``waves.py``) the graph reads the wave's files,
    dedups against ``earlier`` (``(segment file, logical_date)`` of the committed runs and of
    the run's earlier waves), and ends by staging the wave (``StageWave``) instead of
    committing the run.
    """
    options = plan.options
    beats = progress_dir(staging_dir(options.output, options.run_id))
    files, write, dedup_earlier = plan.files, plan.write, None
    if wave is not None:
        beats = f"{beats}/wave-{wave.index:05d}"
        files = list(wave.files)
        write = dataclasses.replace(write, first_file=(wave.index + 1) * FILES_PER_WAVE)
        dedup_earlier = list(earlier)
    pages = (
        pipeline
        | "ReadPages"
        >> ReadPages(
            files, redistribute=plan.redistribute, progress_dir=beats, parts=plan.read_parts
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
        >> MarkDuplicates(
            plan.dedup,
            options.run_id,
            options.logical_date,
            options.state,
            dedup_earlier,
            # Dask recomputes a side input's upstream in every task that reads it
            filter_earlier=plan.redistribute != "group",
        )
        | "TagTopics" >> TagTopics(plan.topics)
    )
    written = pages | "Write" >> WritePartitionedParquet(
        options.output, options.run_id, write, beats, attempt=plan.attempt
    )
    stats = pages | "RunStats" >> RunStats(accumulate=wave is not None)
    extra, state_commit = [], None
    if options.state or wave is not None:
        prefix = "" if wave is None else f"w{wave.index:05d}-"
        directory = None if options.state else f"{wave_dir(options.output, options.run_id)}/index"
        extra.append(
            pages
            | "WriteIndexSegment"
            >> dedup_segments.WriteIndexSegment(
                options.state, options.run_id, plan.state_attempt, plan.dedup, prefix, directory
            )
        )
    if options.state:
        state_commit = dedup_state.StateCommit(
            options.state, options.run_id, plan.state_attempt, options.logical_date, options.output
        )
    if wave is not None:
        return (written, stats, *extra) | "StageWave" >> StageWave(
            options.output, options.run_id, wave.index
        )
    return (written, stats, *extra) | "Commit" >> CommitRun(
        options.output, options.run_id, plan.manifest_base, state_commit
    )


def plan_earlier(plan: RunPlan) -> list[tuple[str, str]]:
    """``(segment file, logical_date)`` of the committed runs a run dedups against."""
    if not plan.options.state:
        return []
    runs = dedup_state.other_runs(plan.options.state, plan.options.run_id)
    return [(path, run.logical_date) for run in runs for path in run.files]


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
        resumable = len(plan.waves) > 1 and not committed
        try:
            abandon(plan.options.output, plan.options.run_id, keep_staging=resumable)
        except Exception:  # noqa: BLE001 - best effort: the next run or `pagestream vacuum`
            LOG.debug("could not clean up after run %s", plan.options.run_id, exc_info=True)
        if resumable:
            _say_resumable(plan)
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


def _say_resumable(plan: RunPlan) -> None:
    options = plan.options
    done = match_under(wave_dir(options.output, options.run_id), "wave-*.json")
    if done:
        print(
            f"pagestream run: {len(done)} of {len(plan.waves)} waves of run {options.run_id} "
            f"stay staged; rerun with --run_id {options.run_id} (same inputs and options) "
            "to resume from them",
            file=sys.stderr,
        )


def _run_planned(plan: RunPlan, beam_options: PipelineOptions):
    if len(plan.waves) > 1:
        return _run_waves(plan, beam_options)
    pipeline = new_pipeline(beam_options)
    build(pipeline, plan)
    beats = progress_dir(staging_dir(plan.options.output, plan.options.run_id))
    total_bytes = plan.manifest_base["inputs"]["bytes"]
    with ProgressDisplay(beats, total_bytes, enabled=not plan.options.quiet):
        result = pipeline.run()
        result.wait_until_finish()
    return result


def _run_waves(plan: RunPlan, beam_options: PipelineOptions):
    """Runs the waves not staged yet, one pipeline each, then commits the run (``waves.py``)."""
    options = plan.options
    output, run_id, count = options.output, options.run_id, len(plan.waves)
    staged = {}
    if plan.resumed:
        for wave in plan.waves:
            finished = finished_wave(output, run_id, wave.index)
            if finished is not None:
                staged[wave.index] = finished
        if not options.quiet:
            print(
                f"pagestream run: resuming run {run_id}: {len(staged)} of {count} waves "
                "already staged",
                file=sys.stderr,
            )
    resumed = len(staged)
    committed = plan_earlier(plan)  # once: every wave sees the same committed runs
    for wave in plan.waves:
        if wave.index in staged:
            continue
        earlier = committed + [
            (path, options.logical_date)
            for k in sorted(staged)
            if k < wave.index
            for path in staged[k]["segments"]
        ]
        _clear_wave_segments(plan, wave)
        pipeline = new_pipeline(beam_options)
        build(pipeline, plan, wave, earlier)
        beats = f"{progress_dir(staging_dir(output, run_id))}/wave-{wave.index:05d}"
        label = f"wave {wave.index + 1}/{count}"
        started = time.monotonic()
        with ProgressDisplay(
            beats, 0, enabled=not options.quiet, label=label, total_records=wave.records
        ):
            result = pipeline.run()
            result.wait_until_finish()
        finished = finished_wave(output, run_id, wave.index)
        if finished is None:
            raise RuntimeError(
                f"wave {wave.index + 1} of {count} of run {run_id} ended without staging its "
                "files (a runner that returns before the job is done cannot run waves: "
                "pass --wave_pages 0)"
            )
        staged[wave.index] = finished
        fault_point(f"wave-{wave.index + 1}")
        del pipeline, result
        release_memory()
        LOG.debug("wave %s: RSS %.0f MiB after the wave", label, _rss_mib())
        if not options.quiet:  # one line per wave: logs of scheduled runs show progress too
            print(
                f"pagestream run: {label} staged ({wave.records:,} records, "
                f"{time.monotonic() - started:.1f} s)",
                file=sys.stderr,
            )
    files = [f for k in sorted(staged) for f in staged[k]["files"]]
    stats = finalise(merge_stats([staged[k]["stats"] for k in sorted(staged)]))
    base = {
        **plan.manifest_base,
        "waves": {"count": count, "resumed": resumed, "records": [w.records for w in plan.waves]},
    }
    state_commit = None
    if options.state:
        state_commit = dedup_state.StateCommit(
            options.state, run_id, plan.state_attempt, options.logical_date, output
        )
    commit_staged(output, run_id, files, stats, base, state_commit)
    return None  # the run is committed: its manifest says how it went


def _rss_mib() -> float:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return float("nan")


def release_memory() -> None:
    """Frees what a finished wave's pipeline left (its runner's buffers are garbage once the
    pipeline is dropped) and hands the freed heap back to the system, so the next wave starts
    from the same footprint. ``malloc_trim`` is glibc's; elsewhere only the collection runs."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): the allocator keeps it
        pass


def _clear_wave_segments(plan: RunPlan, wave: Wave) -> None:
    """Removes index segment files a crashed try of ``wave`` left (a shard it wrote that the
    rerun may not write again would otherwise be listed with the run's segment)."""
    options = plan.options
    if options.state:
        directory = dedup_state.state_attempt_dir(options.state, options.run_id, plan.state_attempt)
    else:
        directory = f"{wave_dir(options.output, options.run_id)}/index"
    leftovers = match_under(directory, f"part-w{wave.index:05d}-*.parquet")
    if leftovers:
        delete(leftovers)
