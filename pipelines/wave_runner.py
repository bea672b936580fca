"""Running a batch run in waves (``waves.py``): one pipeline per wave, then one commit."""

from __future__ import annotations

import gc
import sys
import time

from apache_beam.options.pipeline_options import PipelineOptions

from pagestream.pipelines.plan import RunPlan
from pagestream.pipelines.runner import new_pipeline
from pagestream.pipelines.wave_files import finished_wave, wave_dir
from pagestream.pipelines.waves import Wave
from pagestream.progress_display import ProgressDisplay
from pagestream.transforms.dedup import state as dedup_state
from pagestream.transforms.write.commit import commit_staged, fault_point
from pagestream.transforms.write.files import delete, match_under, staging_dir
from pagestream.transforms.write.progress import progress_dir
from pagestream.transforms.write.stats import finalise, merge_stats

__all__ = ["plan_earlier", "run_waves", "say_resumable"]


def plan_earlier(plan: RunPlan) -> list[tuple[str, str]]:
    """``(segment file, logical_date)`` of the committed runs a run dedups against."""
    options = plan.options
    return dedup_state.other_segments(options.state, options.run_id) if options.state else []


def say_resumable(plan: RunPlan) -> None:
    options = plan.options
    done = match_under(wave_dir(options.output, options.run_id), "wave-*.json")
    if done:
        print(
            f"pagestream run: {len(done)} of {len(plan.waves)} waves of run {options.run_id} "
            f"stay staged; rerun with --run_id {options.run_id} (same inputs and options) "
            "to resume from them",
            file=sys.stderr,
        )


def run_waves(plan: RunPlan, beam_options: PipelineOptions, build) -> None:
    """Runs the waves not staged yet, one pipeline each (``build(pipeline, plan, wave,
    earlier)`` adds a wave's graph), then commits the run."""
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
        gc.collect()  # the finished pipeline's buffers, before the next wave fills its own
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
