"""Running one trial attempt: claim it, start its process, stream metrics, record the outcome.

Every write is fenced by the attempt number (see `sweepctl/store/lua/`), so a
duplicate Celery delivery or a late worker cannot change a trial it no longer
owns. The attempt holds a lease renewed here; when renewal is refused (the
reaper gave the trial to another attempt) the process is stopped at once and
nothing is recorded. Redis outages are ridden out: the process keeps running,
metrics wait in a bounded buffer, and the result is written once Redis is back.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

from sweepctl.agent_count import TrialCount
from sweepctl.command import Macro
from sweepctl.errors import StoreError, StoreUnavailable, TrialTooLargeError, UnknownSweepError
from sweepctl.records import StopRequest, Trial, TrialState
from sweepctl.spec import SweepSpec
from sweepctl.store import Outcome, Store, is_out_of_memory
from sweepctl.trial_environment import trial_environment
from sweepctl.worker_settings import (
    DEFAULT_DATA_HASH_SECONDS,
    DEFAULT_KILL_GRACE,
    DEFAULT_LEASE_SECONDS,
    DEFAULT_SHUTDOWN_GRACE,
    WorkerSettings,
)
from workers import provenance
from workers.attempt_writes import AttemptWrites, Resend
from workers.backoff import until_done
from workers.counted import CountGate
from workers.gpu_telemetry import TrialGpuUsage
from workers.identity import WorkerIdentity
from workers.metric_buffer import MetricBuffer
from workers.oom import oom_kill_between, oom_kills
from workers.outcome import Verdict, judge_exit
from workers.trial_argv import trial_argv
from workers.trial_process import LauncherClient, TrialProcess
from workers.wandb_feed import WandbFeed

log = logging.getLogger(__name__)

__all__ = ["Ending", "RunnerSettings", "TrialRunner", "WorkerIdentity"]


@dataclass(frozen=True)
class RunnerSettings:
    """How a slot's runner paces and bounds its trials; the worker's settings give the configurable ones."""

    poll_interval: float = 0.05  # longest wait between checks of shutdown; a trial's end is seen at once
    flush_interval: float = 0.5  # how often metrics reach Redis while a trial runs
    # How often the trial is checked for cancellation and early stops: a stop must take effect
    # within a second of the decision, with room for a loaded machine. A check reads the trial's
    # control only when its worker was told of a stop or a change of the sweep's state (pub/sub,
    # `ControlSignals`: no round trip otherwise), and at least every control_fallback seconds in
    # case a message was lost.
    control_interval: float = 0.2
    control_fallback: float = 1.0
    kill_grace: float = DEFAULT_KILL_GRACE  # SIGTERM -> SIGKILL
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE  # on SIGTERM, how long a running trial may take before it is handed back
    data_hash_seconds: float = DEFAULT_DATA_HASH_SECONDS  # all of one trial's `data:` fingerprints
    count: TrialCount | None = None  # `sweepctl agent --count N`: this worker starts no N+1-th trial of its sweep

    @classmethod
    def from_worker_settings(cls, settings: WorkerSettings) -> RunnerSettings:
        return cls(
            lease_seconds=settings.lease_seconds,
            shutdown_grace=settings.shutdown_grace,
            kill_grace=settings.kill_grace,
            data_hash_seconds=settings.data_hash_seconds,
            count=settings.count,
        )


class Ending(str, Enum):
    """Why supervision of a trial process ended."""

    EXITED = "exited"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    STOPPED = "stopped"  # early termination asked for it
    LEASE_LOST = "lease_lost"  # another attempt owns the trial now: record nothing
    HANDED_BACK = "handed_back"  # worker shutting down: the trial went back to the queue


@dataclass
class _Due:
    """When supervision next renews the lease, flushes metrics and reads the sweep's control (monotonic)."""

    renew: float
    flush: float
    control: float
    data_pending: bool  # the data fingerprints are still to be written with a flush


class TrialRunner:
    """Runs trial attempts for one worker slot."""

    def __init__(
        self,
        store: Store,
        identity: WorkerIdentity,
        settings: RunnerSettings | None = None,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        resend: Resend | None = None,
        gpu_usage: TrialGpuUsage | None = None,
        stop_taking: Callable[[], None] = lambda: None,
    ) -> None:
        """`stop_taking`: make the worker take no more trials (a counted agent's worker ran its share)."""
        self.store = store
        self.identity = identity
        self.settings = settings or RunnerSettings()
        self._should_stop = should_stop
        self._writes = AttemptWrites(
            store, identity, lease_seconds=self.settings.lease_seconds, give_up=self._shutdown_overdue, resend=resend
        )
        self._specs: dict[str, tuple[SweepSpec, str]] = {}
        self.current: tuple[str, int] | None = None  # the trial running now, for GPU telemetry
        self._gpu_usage = gpu_usage  # None on a CPU slot
        self._stop_request: StopRequest | None = None
        self._stop_seen: float | None = None  # when the worker was first seen asked to stop (monotonic)
        self._wandb: WandbFeed | None = None  # the running attempt's W&B run, read into its metrics
        self.launcher = LauncherClient(self.settings.kill_grace)
        self._signals = store.control_signals(self.settings.control_fallback)
        count = self.settings.count
        self._gate = (
            None if count is None else CountGate(store, count, self._writes, stop_taking=stop_taking, give_up=self._shutdown_overdue)
        )

    def close(self) -> None:
        """Stop a trial still running (the launcher's end), and stop listening for stops."""
        self.launcher.close()
        self._signals.close()

    def _spec(self, sweep_id: str) -> tuple[SweepSpec, str]:
        if sweep_id not in self._specs:
            sweep = self.store.get_sweep(sweep_id)
            self._specs[sweep_id] = (self.store.spec_of(sweep), sweep.workdir)
        return self._specs[sweep_id]

    def run(self, sweep_id: str, number: int, attempt: int, fold: int | None = None) -> TrialState | None:
        """Run the attempt (of fold `fold` of a k-fold trial) if it is still ours to run; the final state, or None when
        not recorded here. A fold's attempt runs exactly as a trial's: its record (`Trial.fold` set) is what it runs."""
        try:
            found = until_done(lambda: self._spec(sweep_id), "reading the sweep", give_up=self._shutdown_overdue)
        except UnknownSweepError:
            log.info("trial %s/%s attempt %s not run: the sweep is gone (deleted)", sweep_id, number, attempt)
            return None
        if found is None:
            return None
        spec, workdir = found
        folder = _trial_folder(workdir)
        trial = until_done(lambda: self._read_trial(sweep_id, number, fold), "reading the trial", give_up=self._shutdown_overdue)
        needs_file = trial is not None and spec.function is None and Macro.ARGS_JSON_FILE.token in spec.command
        scratch = Path(tempfile.mkdtemp(prefix=f"sweepctl-{sweep_id}-{number}-{fold}-")) if needs_file else None
        try:
            # What the attempt will run is recorded by the claim itself: one round trip.
            try:
                argv = () if trial is None else trial_argv(spec, replace(trial, attempt=attempt), scratch, folder)
                started = {} if trial is None else self._provenance(spec, argv, folder)
            except Exception as exc:  # noqa: BLE001  # a trial that cannot be prepared fails, clearly, once
                return self._writes.fail_unstarted(sweep_id, number, attempt, fold, f"could not prepare the trial: {exc}")
            claimed = self._writes.claim(sweep_id, number, attempt, fold, **started)
            if claimed is not Outcome.OK or trial is None:
                return self._writes.not_claimed(claimed, sweep_id, number, attempt, fold)
            if self._gate is not None and not self._gate.admits(spec, replace(trial, attempt=attempt)):
                return None
            self.current = (sweep_id, number)
            if self._gpu_usage is not None:
                self._gpu_usage.begin(sweep_id, number)
            self._wandb = WandbFeed(replace(trial, attempt=attempt), folder)  # the attempt's W&B parameter file, written
            hasher = provenance.DataHasher(spec.data, Path(folder), self.settings.data_hash_seconds) if spec.data else None
            try:
                return self._execute(spec, replace(trial, attempt=attempt), argv, folder, hasher)
            finally:
                self._wandb.close()
                self._wandb = None
                if hasher is not None:
                    hasher.cancel()
        finally:
            self.current = None
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)

    def _shutdown_overdue(self) -> bool:
        """Whether the worker was asked to stop `shutdown_grace` seconds ago or more.

        A running trial is then handed back, and a write Redis has not taken by then
        is abandoned (the trial's lease lapses and it runs again as a new attempt):
        a worker whose Redis is gone for good (a killed `sweepctl run` took its
        embedded one along) must end, not retry forever.
        """
        if not self._should_stop():
            return False
        if self._stop_seen is None:
            self._stop_seen = time.monotonic()
        return time.monotonic() - self._stop_seen >= self.settings.shutdown_grace

    def _read_trial(self, sweep_id: str, number: int, fold: int | None) -> Trial | None:
        try:
            return self.store.get_trial(sweep_id, number, fold=fold)
        except StoreError:
            return None  # the claim refuses it, and counts the refusal

    def _provenance(self, spec: SweepSpec, argv: tuple[str, ...], folder: str) -> dict[str, object]:
        """What the claim records: the argv and the code's version. The data is hashed beside the trial."""
        code_path = Path(folder) / spec.program if spec.program else Path(folder)
        return {"argv": argv, "code": provenance.code_version(code_path)}

    def _execute(
        self, spec: SweepSpec, trial: Trial, argv: tuple[str, ...], folder: str, hasher: provenance.DataHasher | None
    ) -> TrialState | None:
        """Start the attempt's process, supervise it to its end and record what that end comes to."""
        metrics = MetricBuffer.for_sweep(spec)
        oom_before = oom_kills()
        try:
            process = self._start(spec, trial, argv, folder, metrics)
        except TrialTooLargeError as exc:
            # Nothing started: the parameters' fault, as an exec refusing them (E2BIG) would be.
            # (Any other failure to start, a launcher that died, is the machine's: the lease lapses, another attempt runs.)
            verdict = Verdict(TrialState.FAILED, None, str(exc))
            return self._writes.record(trial, verdict, metrics, hasher, returncode=None, **self._gpu_usage_fields())
        returncode, ending = self._run_to_end(spec, trial, process, metrics, hasher)
        if self._wandb is not None:
            self._wandb.finish(metrics)  # what the run wrote last, and its final summary: the objective
        if ending is Ending.LEASE_LOST:
            log.warning(
                "trial %s/%s attempt %s: lease lost to another attempt; stopped, nothing recorded",
                trial.sweep_id,
                trial.number,
                trial.attempt,
            )
            return None
        if ending is Ending.HANDED_BACK:
            return None
        verdict = self._judge(spec, process, metrics, returncode, ending, oom_before)
        tails = {"stdout_tail": process.stdout.text(), "stderr_tail": process.stderr.text()}
        return self._writes.record(trial, verdict, metrics, hasher, returncode=returncode, **tails, **self._gpu_usage_fields())

    def _gpu_usage_fields(self) -> dict[str, object]:
        """The trial's GPU usage, written with its result (no round trip of its own); nothing on a CPU slot."""
        usage = None if self._gpu_usage is None else self._gpu_usage.end()
        return {} if usage is None else {"gpu_usage": usage}

    def _start(self, spec: SweepSpec, trial: Trial, argv: tuple[str, ...], folder: str, metrics: MetricBuffer) -> TrialProcess:
        assert self._wandb is not None
        return TrialProcess(
            self.launcher,
            argv,
            env=trial_environment(trial, self._wandb.files, os.environ),  # the launcher already dropped the Redis URL
            cwd=folder,
            on_stdout_line=metrics.feed,
            function=spec.function,
            metric="" if spec.metric is None else spec.metric.name,  # "": no metric a returned number could be
            reuse=spec.reuse_process,
        )

    def _run_to_end(
        self, spec: SweepSpec, trial: Trial, process: TrialProcess, metrics: MetricBuffer, hasher: provenance.DataHasher | None
    ) -> tuple[int, Ending]:
        """Supervise the process until it ends; whatever happens, it and what it left are gone afterwards."""
        try:
            return self._supervise(spec, trial, process, metrics, hasher)
        except BaseException:
            # Whatever went wrong here, the trial must not run on unsupervised: its lease would
            # lapse and a second attempt start beside it. Stopped now, it is re-run as a lost attempt.
            process.stop(0.0)
            raise
        finally:
            process.kill_leftovers()
            process.finish_output()

    def _judge(
        self, spec: SweepSpec, process: TrialProcess, metrics: MetricBuffer, returncode: int, ending: Ending, oom_before: int | None
    ) -> Verdict:
        return judge_exit(
            returncode,
            metric=None if spec.metric is None else spec.metric.name,
            last_value=metrics.objective_value,
            timed_out=ending is Ending.TIMED_OUT,
            cancelled=ending is Ending.CANCELLED,
            timeout=spec.trial_timeout,
            stderr_last_line=process.stderr.last_line(),
            stopped=self._stop_request if ending is Ending.STOPPED else None,
            # Only a SIGKILL needs the OOM count (a second read of /proc/vmstat, ~20 µs).
            oom_killed=oom_kill_between(oom_before, oom_kills()) if returncode == -signal.SIGKILL else None,
            others=metrics.other_values,
        )

    def _supervise(
        self, spec: SweepSpec, trial: Trial, process: TrialProcess, metrics: MetricBuffer, hasher: provenance.DataHasher | None
    ) -> tuple[int, Ending]:
        """Wait for the process, renewing the lease, flushing metrics, obeying timeout, cancel and shutdown."""
        s = self.settings
        started = time.monotonic()
        due = _Due(renew=started + s.lease_seconds / 3, flush=started, control=started, data_pending=hasher is not None)
        while True:
            returncode = process.wait(s.poll_interval)
            if returncode is not None:
                return returncode, Ending.EXITED
            now = time.monotonic()
            if spec.trial_timeout is not None and now - started > spec.trial_timeout:
                return process.stop(s.kill_grace), Ending.TIMED_OUT
            ending = self._checks(trial, metrics, hasher, due, now)
            if ending is not None:
                # A lost lease means another attempt owns the trial: no grace for this one.
                return process.stop(0.0 if ending is Ending.LEASE_LOST else s.kill_grace), ending
            if self._shutdown_overdue():
                returncode = process.stop(s.kill_grace)
                self._writes.hand_back(spec, trial)
                return returncode, Ending.HANDED_BACK

    def _checks(self, trial: Trial, metrics: MetricBuffer, hasher: provenance.DataHasher | None, due: _Due, now: float) -> Ending | None:
        """The store-side checks that are due (lease, metrics, control); why the trial must stop, or None."""
        sid, n = trial.sweep_id, trial.number
        try:
            ending = self._renew(trial, due, now)
            if ending is None:
                ending = self._flush(trial, metrics, hasher, due, now)
            if ending is None:
                ending = self._control(trial, due, now)
            return ending
        except StoreUnavailable as exc:
            # Keep the trial running through an outage or a full Redis; the lease has room for
            # it, and the controller gives leases a fresh period once Redis takes writes again.
            if is_out_of_memory(exc):
                log.error("Redis is out of memory during trial %s/%s: metrics wait here until memory is freed", sid, n)
            else:
                log.warning("Redis unavailable during trial %s/%s: %s", sid, n, exc)
            due.renew = due.flush = due.control = now + 1.0
            return None

    def _renew(self, trial: Trial, due: _Due, now: float) -> Ending | None:
        if now < due.renew:
            return None
        lease = self.settings.lease_seconds
        renewed = self.store.renew_lease(trial.sweep_id, trial.number, trial.attempt, self.identity.worker_id, lease, fold=trial.fold)
        due.renew = now + lease / 3
        return None if renewed is Outcome.OK else Ending.LEASE_LOST

    def _flush(self, trial: Trial, metrics: MetricBuffer, hasher: provenance.DataHasher | None, due: _Due, now: float) -> Ending | None:
        if now < due.flush:
            return None
        due.flush = now + self.settings.flush_interval
        if self._wandb is not None:
            self._wandb.poll(metrics)
        data = hasher.result() if due.data_pending and hasher is not None and hasher.done else None
        written = self._writes.flush(trial, metrics, data)
        due.data_pending = due.data_pending and data is None
        if written is Outcome.INVALID:
            log.error("trial %s/%s: metric points refused by the store", trial.sweep_id, trial.number)
        elif written is not Outcome.OK:
            return Ending.LEASE_LOST
        return None

    def _control(self, trial: Trial, due: _Due, now: float) -> Ending | None:
        if now < due.control:
            return None
        due.control = now + self.settings.control_interval
        if not self._signals.due(trial.sweep_id, trial.number, now):
            return None
        sweep_state, stop = self.store.trial_control(trial.sweep_id, trial.number)
        if sweep_state.stops_running_trials:  # cancelled, or being deleted: its result is refused if it is gone
            return Ending.CANCELLED
        if stop is not None:
            self._stop_request = stop
            return Ending.STOPPED
        return None


def _trial_folder(workdir: str) -> str:
    """Where a sweep's trials run: the folder its file was submitted from.

    Never the worker's own working directory when the sweep names one: if a trial
    deleted that folder, the next trials fail clearly ("cannot enter ...") instead
    of running elsewhere, and the worker (whose own folder may be gone too) lives on.
    """
    if workdir:
        return workdir
    try:
        return os.getcwd()  # a sweep recorded before sweeps named their folder
    except OSError:
        return "/"
