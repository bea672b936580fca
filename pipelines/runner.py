"""The runner of a batch run: its name, how reads are spread over its workers, the pipeline.

On the DirectRunner, ``new_pipeline`` builds the FnApiRunner directly (Beam's own choice
first tries the PrismRunner, which downloads a binary), and forks multi-process workers from a
pre-loaded process (``local_workers``) on the Beam versions that was tested on.
"""

from __future__ import annotations

import os

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from pagestream.transforms import version_guard

__all__ = [
    "direct_workers",
    "forks_workers",
    "new_pipeline",
    "redistribution",
    "runner_name",
    "worker_processes",
]


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


_DIRECT_RUNNER_NAMES = ("DirectRunner", "SwitchingDirectRunner")


def new_pipeline(beam_options: PipelineOptions) -> beam.Pipeline:
    """An empty pipeline for ``beam_options``; a DirectRunner one runs on the FnApiRunner.

    Beam 2.77's DirectRunner first tries the PrismRunner, which downloads a binary from
    GitHub: a network call in every run (offline it fails after ~0.4 s and a second graph
    translation; online a run would fetch and use an engine pagestream is not tested on).
    For a batch graph like ours, without TestStream, it then picks the FnApiRunner, built
    here the way ``SwitchingDirectRunner.run_pipeline`` builds it, so only the attempt goes.
    The DaskRunner is Beam's with the partitions of each step bounded (``dask_runner``).
    Other runners, and ``--streaming``, get Beam's own choice. With ``multi_processing`` and
    more than one worker, the workers are forked from a pre-loaded process (``local_workers``).
    """
    name = runner_name(beam_options).rsplit(".", 1)[-1]
    if name == "DaskRunner" and version_guard.tested("dask_partitions"):
        from pagestream.pipelines.dask_runner import BoundedDaskRunner

        return beam.Pipeline(runner=BoundedDaskRunner(), options=beam_options)
    if (
        name not in _DIRECT_RUNNER_NAMES
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


def worker_processes(beam_options: PipelineOptions) -> int:
    """The DirectRunner's worker processes: ``--direct_num_workers`` with ``multi_processing``,
    else 1 (``in_memory`` runs its workers as threads of one process)."""
    direct = beam_options.view_as(DirectOptions)
    if direct.direct_running_mode != "multi_processing":
        return 1
    return direct_workers(beam_options)


def forks_workers(beam_options: PipelineOptions) -> bool:
    """Whether a DirectRunner run starts its workers from a pre-loaded zygote
    (``local_workers``): with ``multi_processing`` and more than one worker, on the Beam
    versions ``local_workers`` was tested on (else Beam starts them, after one log line)."""
    direct = beam_options.view_as(DirectOptions)
    if direct.direct_running_mode != "multi_processing" or direct_workers(beam_options) < 2:
        return False
    return version_guard.tested("forked_workers")
