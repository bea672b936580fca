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
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timezone

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pagestream.pipelines import batch
from pagestream.pipelines.ledger import FileWatcher, read_ledger
from pagestream.pipelines.options import OptionsError, RunOptions
from pagestream.transforms.dedup import state as dedup_state
from pagestream.transforms.read.inputs import InputError, expand_inputs
from pagestream.transforms.write.commit import list_manifests, read_manifest
from pagestream.transforms.write.files import staging_dir
from pagestream.transforms.write.lease import LeaseHeld, streamer_lease
from pagestream.transforms.write.progress import progress_dir, read_progress

__all__ = [
    "StreamLoop",
    "main",
    "micro_batch_id",
    "reconcile",
    "run_unbounded",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: Consecutive failed micro-batches after which the loop gives up (exit 1).
MAX_FAILURES = 3
_LOCAL_RUNNERS = {"", "directrunner", "bundlebaseddirectrunner", "swallowingdirectrunner"}


class _Drop(BaseException):
    """Raised by the second signal: abandon the running micro-batch (not an ``Exception``)."""


def micro_batch_id(base: str, seq: int) -> str:
    """``<base>-<seq>``, zero-padded so that run ids sort in commit order."""
    return f"{base}-{seq:06d}"


def _ledger_path(state: str, run_id: str) -> str:
    return f"{state.rstrip('/')}/ledger/{run_id}.json"


def _write_json(path: str, payload: dict) -> None:
    """Writes ``payload`` atomically: a hidden temporary name, then a rename."""
    directory, name = path.rsplit("/", 1)
    try:
        FileSystems.mkdirs(directory)
    except Exception:  # exists already, or an object store without directories
        pass
    temporary = f"{directory}/.{name}.tmp"
    with FileSystems.create(temporary) as handle:
        handle.write(json.dumps(payload, indent=1, sort_keys=True).encode("utf-8"))
    FileSystems.rename([temporary], [path])


def reconcile(state: str, manifests: Iterable[dict], output: str | None = None) -> list[str]:
    """Finishes what a crash after a micro-batch's manifest left undone; returns the run ids.

    Writes the missing ``STATE/ledger`` copies and commits the ``--state`` index segment of
    committed micro-batches whose marker is missing. Idempotent.
    """
    repaired = []
    committed = {run.run_id for run in dedup_state.committed_runs(state)}
    for manifest in manifests:
        section = manifest.get("streaming")
        if not section:
            continue
        run_id = manifest["run_id"]
        fixed = False
        if not FileSystems.exists(_ledger_path(state, run_id)):
            _write_json(_ledger_path(state, run_id), {"run_id": run_id, "files": section["files"]})
            fixed = True
        if run_id not in committed and section.get("state_attempt"):
            dedup_state.commit_run(
                state, run_id, section["state_attempt"], manifest["logical_date"], output
            )
            fixed = True
        if fixed:
            repaired.append(run_id)
    return repaired


def _utc_today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def _now() -> str:
    return datetime.now().strftime("%H:%M:%S")


class StreamLoop:
    """The micro-batch loop of one ``pagestream run --streaming`` process.

    Args:
        options: validated run options (``streaming`` and ``state`` set); ``run_id`` is the
            base of the micro-batch ids.
        beam_args: Beam pipeline flags for every micro-batch.
        log: where the one-line-per-commit log goes (stderr by default).
    """

    def __init__(self, options: RunOptions, beam_args: list[str], log=None) -> None:
        self.options = options
        self.base = options.run_id
        self.beam_options = PipelineOptions(beam_args)
        self.log = log or sys.stderr
        self.stop = threading.Event()
        self.dropping = False
        self.running: str | None = None
        self.session = {"batches": 0, "files": 0, "records": 0, "pages": 0}
        self.last_commit: str | None = None
        self.busy_s = 0.0
        self.leases = [
            streamer_lease(options.output, "--output"),
            streamer_lease(options.state, "--state"),
        ]
        try:
            for lease in self.leases:
                lease.acquire()
            self._start(options)
        except LeaseHeld as exc:
            self.release()
            raise OptionsError(str(exc)) from exc
        except BaseException:
            self.release()
            raise

    def _start(self, options: RunOptions) -> None:
        """Reads the ledger and the next sequence number (under the streamer leases)."""
        manifests = list_manifests(options.output)
        repaired = reconcile(options.state, manifests, options.output)
        self.watch = FileWatcher(
            options.inputs, options.settle_seconds, read_ledger(options.state, manifests), self._say
        )
        own = [m["streaming"]["seq"] for m in manifests if self._is_own(m)]
        self.seq = max(own, default=-1) + 1
        self._check_order()
        self._say(
            f"watching {', '.join(options.inputs)} every {options.trigger_interval:g} s; "
            f"{len(self.watch.ledger)} files already ingested; next micro-batch "
            f"{micro_batch_id(self.base, self.seq)}"
            + (f"; repaired {', '.join(repaired)}" if repaired else "")
        )

    def release(self) -> None:
        """Gives up the streamer leases (idempotent)."""
        for lease in self.leases:
            lease.release()

    def _is_own(self, manifest: dict) -> bool:
        section = manifest.get("streaming") or {}
        return section.get("base_run_id") == self.base and "seq" in section

    def _say(self, message: str) -> None:
        print(f"pagestream stream {_now()} {message}", file=self.log, flush=True)

    # --- planning ------------------------------------------------------------------------

    def _logical_date(self) -> str:
        """The date of the next micro-batch: never before a committed run in ``--state``."""
        base = self.options.logical_date if self.options.logical_date_given else _utc_today()
        dates = [run.logical_date for run in dedup_state.committed_runs(self.options.state)]
        return max([base, *dates])

    def _check_order(self) -> None:
        """Refuses a base run id whose micro-batches would sort before committed runs.

        Runs in ``--state`` are ordered by (logical_date, run_id) and a run only sees the runs
        ordered before it; a micro-batch that sorted earlier would miss their pages.
        """
        date, run_id = self._logical_date(), micro_batch_id(self.base, self.seq)
        later = [
            run.run_id
            for run in dedup_state.committed_runs(self.options.state)
            if (run.logical_date, run.run_id) >= (date, run_id)
        ]
        if later:
            raise OptionsError(
                f"--run_id {self.base}: micro-batch {run_id} would sort before committed run(s) "
                f"{', '.join(later[:3])} in --state {self.options.state} (runs order by "
                "logical date, then run id); choose a --run_id that sorts after them"
            )

    def list_new(self) -> list[str]:
        """The settled input files whose version is not in the ledger (``FileWatcher``)."""
        try:
            return self.watch.poll()
        except InputError as exc:
            self._say(f"cannot list the input ({exc}); retrying")
            return []

    @property
    def waiting(self) -> int:
        return self.watch.waiting

    # --- one micro-batch -------------------------------------------------------------------

    def run_batch(self, paths: list[str]) -> dict | None:
        """Runs and commits one micro-batch; returns its manifest (None if dropped)."""
        run_id = micro_batch_id(self.base, self.seq)
        files = [self.watch.ready[p] for p in paths]
        started = time.monotonic()
        self.running = run_id
        try:
            self._run_pipeline(run_id, files)
        except _Drop:
            if read_manifest(self.options.output, run_id) is None:
                self._say(f"dropped micro-batch {run_id} (not committed; its files are read again)")
                return None
        finally:
            self.running = None
            self.busy_s += time.monotonic() - started
        manifest = read_manifest(self.options.output, run_id)
        if manifest is None:
            raise RuntimeError(f"micro-batch {run_id} finished without a manifest")
        _write_json(_ledger_path(self.options.state, run_id), {"run_id": run_id, "files": files})
        self.watch.record(run_id, files)
        self.seq += 1
        self._record(manifest, len(files), time.monotonic() - started)
        return manifest

    def _run_pipeline(self, run_id: str, files: list[dict]) -> None:
        """Plans, builds and runs the batch graph of one micro-batch in this process."""
        options = dataclasses.replace(
            self.options,
            inputs=tuple(f["path"] for f in files),
            run_id=run_id,
            logical_date=self._logical_date(),
            logical_date_given=True,
            quiet=True,
        )
        plan = batch.plan_run(options, self.beam_options)
        section = {
            "base_run_id": self.base,
            "seq": self.seq,
            "files": files,
            "state_attempt": plan.state_attempt,
        }
        plan = dataclasses.replace(plan, manifest_base={**plan.manifest_base, "streaming": section})
        try:
            pipeline = batch.new_pipeline(self.beam_options)
            batch.build(pipeline, plan)
            pipeline.run().wait_until_finish()
        finally:
            plan.lease.release()

    def _record(self, manifest: dict, n_files: int, seconds: float) -> None:
        counts = manifest["counts"]
        dups = sum(n for status, n in manifest.get("dup_status", {}).items() if status != "unique")
        self.session["batches"] += 1
        self.session["files"] += n_files
        self.session["records"] += counts["records_read"]
        self.session["pages"] += counts["pages"]
        self.last_commit = f"{_now()} ({manifest['run_id']})"
        self._say(
            f"committed {manifest['run_id']}: {n_files} files, {counts['records_read']} records "
            f"-> {counts['pages']} pages ({dups} duplicates), {counts['rejected']} rejected, "
            f"{counts['dead_letter']} dead letters in {seconds:.1f} s"
        )

    # --- the loop ----------------------------------------------------------------------------

    def on_signal(self, signum, frame) -> None:
        if self.stop.is_set() and self.running:
            self.dropping = True
            raise _Drop()
        self.stop.set()
        if self.running:
            self._say(
                f"stopping after micro-batch {self.running} commits (signal again to drop it)"
            )

    def run(self) -> int:
        """Ticks until stopped; returns the exit status."""
        failures = 0
        self.list_new()  # the first listing: files must look the same at the next tick
        while not self.stop.wait(self.options.trigger_interval):
            ready = self.list_new()
            if not ready:
                continue
            try:
                manifest = self.run_batch(ready)
                failures = 0
                if manifest is None:
                    break
            except (OptionsError, InputError) as exc:  # a file vanished or changed meanwhile
                self._say(f"skipped this tick: {exc}")
                self.watch.previous = {}
            except Exception as exc:  # noqa: BLE001 - a failed micro-batch is retried
                failures += 1
                self._say(f"micro-batch failed ({type(exc).__name__}: {exc}); attempt {failures}")
                if failures >= MAX_FAILURES:
                    self._say(f"giving up after {failures} failed micro-batches")
                    return EXIT_FAILED
        s = self.session
        self._say(
            f"stopped: {s['batches']} micro-batches committed this session "
            f"({s['files']} files, {s['records']} records, {s['pages']} pages; "
            f"{len(self.watch.not_files)} non-regular files skipped)"
        )
        return EXIT_OK

    def status(self) -> str:
        """The progress line: pages/s, files waiting, the running batch, the last commit."""
        rate = self.session["pages"] / self.busy_s if self.busy_s else 0.0
        parts = [f"{rate:.1f} pages/s", f"{self.waiting} files waiting"]
        running = self.running
        if running:
            beats = read_progress(progress_dir(staging_dir(self.options.output, running)))
            parts.append(f"{running}: read {beats.get('records', 0)}")
        parts.append(f"last commit {self.last_commit or 'none yet'}")
        return " · ".join(parts)


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

    text, language, dedup, topics = batch.configs_for(options)
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
    except _Drop:
        loop._say("stopped")
        return EXIT_OK
    finally:
        loop.release()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
