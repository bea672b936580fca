"""The batch pipeline: plan the run, build the graph from composites, run it, return the manifest.

The graph::

    ReadPages -> ExtractText -> DetectLanguage -> ScoreQuality -> MarkDuplicates -> TagTopics
      -> WritePartitionedParquet ─┐
      -> RunStats ────────────────┤-> CommitRun (moves files, writes the manifest: the commit)
      -> WriteIndexSegment ───────┘   (only with --state)
"""

from __future__ import annotations

import dataclasses
import logging

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pagestream.pipelines.options import RunOptions
from pagestream.pipelines.plan import RunPlan, plan_run
from pagestream.pipelines.runner import new_pipeline
from pagestream.pipelines.wave_files import StageWave, wave_dir
from pagestream.pipelines.wave_runner import run_waves, say_resumable
from pagestream.pipelines.waves import FILES_PER_WAVE, Wave
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
    manifest_path,
    read_manifest,
)
from pagestream.transforms.write.files import staging_dir
from pagestream.transforms.write.parquet import WritePartitionedParquet
from pagestream.transforms.write.progress import progress_dir
from pagestream.transforms.write.stats import RunStats

__all__ = ["RunSubmitted", "build", "run", "run_planned"]

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


def run(options: RunOptions, beam_args: list[str]) -> dict:
    """Runs one batch run to completion and returns its committed manifest."""
    beam_options = PipelineOptions(beam_args)
    plan = plan_run(options, beam_options)
    try:
        result = run_planned(plan, beam_options)
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
            say_resumable(plan)
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


def run_planned(plan: RunPlan, beam_options: PipelineOptions):
    """Runs a planned run: its one pipeline, or its waves (``wave_runner.run_waves``). The run
    commits itself; a streaming micro-batch is run by this too."""
    if len(plan.waves) > 1:
        return run_waves(plan, beam_options, build)
    pipeline = new_pipeline(beam_options)
    build(pipeline, plan)
    beats = progress_dir(staging_dir(plan.options.output, plan.options.run_id))
    total_bytes = plan.manifest_base["inputs"]["bytes"]
    with ProgressDisplay(beats, total_bytes, enabled=not plan.options.quiet):
        result = pipeline.run()
        result.wait_until_finish()
    return result
