"""``pagestream run --streaming``: watch a directory and commit new files as micro-batches.

On the DirectRunner (the default) this is a **micro-batch loop**: every ``--trigger_interval``
seconds it lists ``--input`` (``transforms.read.expand_inputs``: names starting with ``.`` or
``_`` are ignored), takes the *stable* files that are not in the ledger, and runs the batch
graph (``pipelines.batch``) on them in this process as run ``<run_id>-<seq>``, with ``--state``,
so every micro-batch is deduplicated against every committed one (first committed page wins;
committed rows are never rewritten). On a streaming runner (``--runner DataflowRunner``,
``FlinkRunner``, ...) the same composites run behind ``fileio.MatchContinuously``
(``transforms.streaming``); see ``docs/streaming.md``.

**Ledger: why no file is ingested twice or lost.** A micro-batch's manifest
(``OUT/_runs/<run_id>-<seq>.json``, written last and atomically by ``CommitRun``) carries a
``streaming`` section listing its input files with size and mtime. That manifest *is* the
ledger entry: a file is ingested exactly when a committed manifest names it. The copy in
``STATE/ledger/<run_id>-<seq>.json`` is written after the commit and is only an index that
survives a wiped output directory; at start-up ``reconcile`` rewrites any copy a crash left
missing. So:

* crash before the manifest: no manifest, no ledger entry; the batch is invisible (its files
  sit in ``_staging/``, cleared by the next run of that id) and its input files are taken
  again, under the same ``<seq>``;
* crash after the manifest: the files are in the ledger (derived from the manifest), so they
  are never read again; a ``--state`` index marker the crash left unwritten is written by
  ``reconcile`` from the attempt recorded in the manifest (the segment files were complete
  before the manifest, since the commit step depends on them).

**File identity** (``pipelines.ledger``): a file is keyed by path plus size, ``mtime_ns`` and
SHA-256, taken once unchanged for ``--settle_seconds``; a file replaced with other bytes is a
new version, ingested again by the next micro-batch, whose manifest names the micro-batch it
``replaces``. Rows of the old version stay (committed rows are never rewritten); its pages
that the new version repeats are marked as duplicates by ``--state``. FIFOs, sockets and
devices are never opened: skipped, logged once and counted.

**Stop.** The first SIGINT/SIGTERM lets the running micro-batch finish and commit, then exits
0; a second one drops the running batch whole (no manifest: invisible; its files are read
again after a restart) and exits 0.

Modules: this one holds the entry point (``main``, ``run_unbounded``) and the live status
line; ``streaming_loop.py`` the micro-batch loop (``StreamLoop``); ``streaming_recovery.py``
micro-batch ids, the ledger copies and ``reconcile``.
"""

from __future__ import annotations

import signal
import sys
import threading

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pagestream.pipelines import plan as run_plan
from pagestream.pipelines.options import OptionsError, RunOptions
from pagestream.pipelines.streaming_loop import EXIT_OK, EXIT_USAGE, Drop, StreamLoop
from pagestream.transforms.read.inputs import InputError, expand_inputs

__all__ = ["main", "run_unbounded"]

_LOCAL_RUNNERS = {"", "directrunner", "bundlebaseddirectrunner", "swallowingdirectrunner"}


class _StatusLine:
    """A rich live status line on stderr while the loop runs (terminals only, not --quiet)."""

    def __init__(self, loop: StreamLoop, enabled: bool) -> None:
        self.loop, self.enabled = loop, enabled and sys.stderr.isatty()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self):
        if self.enabled:
            from rich.console import Console

            self.console = Console(file=sys.stderr)
            self.loop.log = _ConsoleLog(self.console)
            self._thread = threading.Thread(target=self._show, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return False

    def _show(self) -> None:
        from rich.live import Live
        from rich.text import Text

        with Live(Text(""), console=self.console, transient=True, refresh_per_second=2) as live:
            while not self._done.wait(0.5):
                live.update(Text(self.loop.status()))


class _ConsoleLog:
    """A file-like object printing through a rich console (keeps the live line intact)."""

    def __init__(self, console) -> None:
        self.console = console

    def write(self, text: str) -> None:
        if text.strip():
            self.console.print(text.rstrip("\n"), markup=False, highlight=False)

    def flush(self) -> None:
        pass


def _runner(beam_args: list[str]) -> str:
    runner = PipelineOptions(beam_args).view_as(StandardOptions).runner or ""
    return str(runner).lower()


def run_unbounded(options: RunOptions, beam_args: list[str]) -> int:
    """Submits the streaming graph (``transforms.streaming``) to a streaming runner.

    Every ``--input`` directory is watched with ``fileio.MatchContinuously`` (each file once,
    for the job's lifetime; the runner's checkpoints carry that across updates); every
    ``--trigger_interval`` seconds of arrival time become one committed run. Returns once
    the job is submitted (Dataflow) or finished (runners that block).
    """
    from pagestream.pipelines.streaming_graph import ProcessStream, StreamConfig, WatchFiles
    from pagestream.transforms.quality.rules import QualityConfig

    text, language, dedup, topics = run_plan.configs_for(options)
    beam_options = PipelineOptions(beam_args)
    beam_options.view_as(StandardOptions).streaming = True
    try:
        config = StreamConfig(window_s=max(1.0, options.trigger_interval))
    except ValueError as exc:
        print(f"pagestream run: --trigger_interval: {exc}", file=sys.stderr)
        return EXIT_USAGE
    pipeline = beam.Pipeline(options=beam_options)
    sources = [
        pipeline | f"Watch{i}" >> WatchFiles(f"{path.rstrip('/')}/**", options.trigger_interval)
        for i, path in enumerate(options.inputs)
    ]
    raw = sources[0] if len(sources) == 1 else sources | "AllInputs" >> beam.Flatten()
    _ = raw | "ProcessStream" >> ProcessStream(
        options.output, options.run_id, config, text, language, dedup, topics,
        manifest_options=options.as_manifest(),
        quality=QualityConfig(drop=options.drop_low_quality),
    )  # fmt: skip
    result = pipeline.run()
    print(f"pagestream run: streaming job submitted ({type(result).__name__})", file=sys.stderr)
    if "dataflow" not in _runner(beam_args):
        result.wait_until_finish()
    return EXIT_OK


def main(options: RunOptions, beam_args: list[str]) -> int:
    """``pagestream run --streaming``: the micro-batch loop locally, a streaming job elsewhere.

    Returns the exit status: 0 after a clean stop, 2 for bad options, 1 when micro-batches
    keep failing.
    """
    if _runner(beam_args) not in _LOCAL_RUNNERS:
        return run_unbounded(options, beam_args)
    try:
        for path in options.inputs:  # fail early on a missing directory
            expand_inputs([path])
        loop = StreamLoop(options, beam_args)
    except (OptionsError, InputError) as exc:
        print(f"pagestream run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    handlers = {sig: signal.signal(sig, loop.on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with _StatusLine(loop, enabled=not options.quiet):
            return loop.run()
    except Drop:
        loop._say("stopped")
        return EXIT_OK
    finally:
        loop.release()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
