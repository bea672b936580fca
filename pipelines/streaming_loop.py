"""The micro-batch loop of ``pagestream run --streaming`` on the DirectRunner: ``StreamLoop``.

Every tick it takes the settled input files not in the ledger, runs the batch graph on them as
micro-batch ``<run_id>-<seq>`` and records the commit (``streaming.py`` describes the ledger,
file identity and how signals stop the loop).
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from datetime import datetime, timezone

from apache_beam.options.pipeline_options import PipelineOptions

from pagestream.pipelines import batch
from pagestream.pipelines import plan as run_plan
from pagestream.pipelines.ledger import FileWatcher, read_ledger
from pagestream.pipelines.options import OptionsError, RunOptions
from pagestream.pipelines.streaming_recovery import (
    ledger_path,
    micro_batch_id,
    reconcile,
    write_json,
)
from pagestream.transforms.dedup import state as dedup_state
from pagestream.transforms.read.inputs import InputError
from pagestream.transforms.write.commit import list_manifests, read_manifest
from pagestream.transforms.write.files import staging_dir
from pagestream.transforms.write.lease import LeaseHeld, streamer_lease
from pagestream.transforms.write.progress import progress_dir, read_progress

__all__ = ["StreamLoop"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: Consecutive failed micro-batches after which the loop gives up (exit 1).
MAX_FAILURES = 3


class Drop(BaseException):
    """Raised by the second signal: abandon the running micro-batch (not an ``Exception``)."""


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
        except Drop:
            if read_manifest(self.options.output, run_id) is None:
                self._say(f"dropped micro-batch {run_id} (not committed; its files are read again)")
                return None
        finally:
            self.running = None
            self.busy_s += time.monotonic() - started
        manifest = read_manifest(self.options.output, run_id)
        if manifest is None:
            raise RuntimeError(f"micro-batch {run_id} finished without a manifest")
        write_json(ledger_path(self.options.state, run_id), {"run_id": run_id, "files": files})
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
            quiet=True,  # a micro-batch of many records runs in waves, as a batch run does
        )
        plan = run_plan.plan_run(options, self.beam_options)
        section = {
            "base_run_id": self.base,
            "seq": self.seq,
            "files": files,
            "state_attempt": plan.state_attempt,
        }
        plan = dataclasses.replace(plan, manifest_base={**plan.manifest_base, "streaming": section})
        try:
            batch.run_planned(plan, self.beam_options)
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
            raise Drop()
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
