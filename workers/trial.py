"""Running one trial attempt: claim it, start its process, stream metrics, record the outcome.

Every write is fenced by the attempt number (see `sweepctl.scripts`), so a
duplicate Celery delivery or a late worker cannot change a trial it no longer
owns. The attempt holds a lease renewed here; when renewal is refused (the
reaper gave the trial to another attempt) the process is stopped at once and
nothing is recorded. Redis outages are ridden out: the process keeps running,
metrics wait in a bounded buffer, and the result is written once Redis is back.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

import redis

from sweepctl.command import Macro, args_json_text, build_argv
from sweepctl.errors import StoreError
from sweepctl.protocol import RejectedReport, classify_line
from sweepctl.records import GpuRef, MetricPoint, SweepState, Trial, TrialState
from sweepctl.report import PARAMS_ENV, SEED_ENV
from sweepctl.spec import SweepSpec
from sweepctl.store import DEFAULT_LEASE_SECONDS, Outcome, Requeue, Store
from sweepctl.sweepfile import parse_sweep
from workers import provenance
from workers.backoff import until_done
from workers.outcome import judge
from workers.trial_process import Launcher, TrialProcess

log = logging.getLogger(__name__)

MAX_BUFFERED_POINTS = 10_000
HANDED_BACK = "handed_back"


@dataclass(frozen=True)
class WorkerIdentity:
    """Who runs a trial: recorded on every trial it claims."""

    worker_id: str
    host: str
    slot: str
    gpu: GpuRef | None = None


@dataclass(frozen=True)
class RunnerSettings:
    poll_interval: float = 0.05  # longest wait between checks of shutdown; a trial's end is seen at once
    flush_interval: float = 0.5  # how often metrics reach Redis while a trial runs
    # How often the trial is checked for cancellation and early stops: a stop must take effect
    # within a second of the decision, with room for a loaded machine (one small read per check).
    control_interval: float = 0.2
    kill_grace: float = 5.0  # SIGTERM -> SIGKILL
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    shutdown_grace: float = 60.0  # on SIGTERM, how long a running trial may take before it is handed back

    @classmethod
    def from_env(cls, env: dict[str, str]) -> RunnerSettings:
        return cls(
            lease_seconds=float(env.get("SWEEPCTL_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)),
            shutdown_grace=float(env.get("SWEEPCTL_SHUTDOWN_GRACE", 60.0)),
            kill_grace=float(env.get("SWEEPCTL_KILL_GRACE", 5.0)),
        )


class Ending(str, Enum):
    """Why supervision of a trial process ended."""

    EXITED = "exited"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    STOPPED = "stopped"  # early termination asked for it
    LEASE_LOST = "lease_lost"  # another attempt owns the trial now: record nothing
    HANDED_BACK = "handed_back"  # worker shutting down: the trial went back to the queue


class MetricBuffer:
    """Reports parsed from stdout, collected by the reader thread and drained by the runner.

    Bounded: during a long Redis outage the oldest points are dropped (and counted).
    """

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self._points: list[MetricPoint] = []
        self._lock = threading.Lock()
        self.last_value: float | None = None
        self.last_values: dict[str, float] = {}
        self.last_step: int | None = None
        self.count = 0
        self.dropped = 0
        self.rejected: dict[str, int] = {}

    def feed(self, line: str) -> None:
        report = classify_line(line)
        if report is None:
            return
        with self._lock:
            if isinstance(report, RejectedReport):
                self.rejected[report.reason] = self.rejected.get(report.reason, 0) + 1
                return
            self._points.append(MetricPoint(time=time.time(), step=report.step, values=report.values))
            if len(self._points) > MAX_BUFFERED_POINTS:
                del self._points[0]
                self.dropped += 1
            self.last_values.update(report.values)
            if report.step is not None:
                self.last_step = report.step
            if self.metric in report.values:
                self.last_value = report.values[self.metric]
            self.count += 1

    def drain(self) -> list[MetricPoint]:
        with self._lock:
            points, self._points = self._points, []
            return points

    def put_back(self, points: list[MetricPoint]) -> None:
        """Return points whose write failed, ahead of newer ones."""
        with self._lock:
            self._points[:0] = points
            excess = len(self._points) - MAX_BUFFERED_POINTS
            if excess > 0:
                del self._points[:excess]
                self.dropped += excess

    def summary(self) -> dict[str, object]:
        with self._lock:
            return {
                "last_metrics": dict(self.last_values),
                "last_step": self.last_step,
                "reports": self.count,
                "rejected_reports": dict(self.rejected),
            }


Resend = Callable[[str, int, int, str], None]  # (sweep id, number, attempt, queue): send a run_trial task


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
    ) -> None:
        self.store = store
        self.identity = identity
        self.settings = settings or RunnerSettings()
        self._should_stop = should_stop
        self._resend = resend
        self._specs: dict[str, tuple[SweepSpec, str]] = {}
        self.current: tuple[str, int] | None = None  # the trial running now, for GPU telemetry
        self._stop_request: dict[str, object] | None = None
        self.launcher = Launcher(self.settings.kill_grace)

    def _spec(self, sweep_id: str) -> tuple[SweepSpec, str]:
        if sweep_id not in self._specs:
            sweep = self.store.get_sweep(sweep_id)
            self._specs[sweep_id] = (parse_sweep(sweep.raw_spec, source=sweep.source or sweep_id), sweep.workdir)
        return self._specs[sweep_id]

    def run(self, sweep_id: str, number: int, attempt: int) -> TrialState | None:
        """Run the attempt if it is still ours to run; the final state, or None when not recorded here."""
        spec, workdir = self._spec(sweep_id)
        cwd = workdir if workdir and os.path.isdir(workdir) else os.getcwd()
        try:
            trial: Trial | None = self.store.get_trial(sweep_id, number)
        except StoreError:
            trial = None  # the claim below refuses it, and counts the refusal
        needs_file = trial is not None and spec.function is None and Macro.ARGS_JSON_FILE.token in spec.command
        scratch = Path(tempfile.mkdtemp(prefix=f"sweepctl-{sweep_id}-{number}-")) if needs_file else None
        try:
            # What the attempt will run is recorded by the claim itself: one round trip.
            argv = () if trial is None else self._argv(spec, trial, scratch)
            started = {} if trial is None else self._provenance(spec, argv, cwd)
            claimed = self.store.claim_trial(
                sweep_id,
                number,
                attempt,
                lease_seconds=self.settings.lease_seconds,
                worker=self.identity.worker_id,
                host=self.identity.host,
                gpu=self.identity.gpu,
                **started,
            )
            if claimed is Outcome.CANCELLED:
                self.store.finish_trial(sweep_id, number, attempt, TrialState.CANCELLED, error="the sweep was cancelled", ended_at=time.time())
                return TrialState.CANCELLED
            if claimed is not Outcome.OK or trial is None:
                log.info("trial %s/%s attempt %s not run: %s", sweep_id, number, attempt, claimed.value)
                return None
            self.current = (sweep_id, number)
            return self._execute(spec, replace(trial, attempt=attempt), argv, cwd)
        finally:
            self.current = None
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)

    def _argv(self, spec: SweepSpec, trial: Trial, scratch: Path | None) -> tuple[str, ...]:
        if spec.function is not None:
            return ()  # called in the forked trial process: no command runs
        args_file = None
        if scratch is not None:
            args_file = scratch / "params.json"
            args_file.write_text(args_json_text(trial.params))
        return build_argv(
            spec.command,
            program=spec.program,
            params=trial.params,
            interpreter=sys.executable,
            args_json_file=None if args_file is None else str(args_file),
        )

    def _provenance(self, spec: SweepSpec, argv: tuple[str, ...], cwd: str) -> dict[str, object]:
        code_path = Path(cwd) / spec.program if spec.program else Path(cwd)
        return {
            "argv": argv,
            "code": provenance.code_version(code_path),
            "data": provenance.data_fingerprints(spec.data, Path(cwd)),
        }

    def _environment(self, trial: Trial) -> dict[str, str]:
        """What the trial's environment adds to the worker's (the launcher already dropped the Redis URL)."""
        return {
            PARAMS_ENV: json.dumps(trial.params),
            SEED_ENV: str(trial.seed),
            "SWEEPCTL_SWEEP_ID": trial.sweep_id,
            "SWEEPCTL_TRIAL_NUMBER": str(trial.number),
            "SWEEPCTL_TRIAL_ATTEMPT": str(trial.attempt),
            "PYTHONUNBUFFERED": "1",
        }

    def _execute(self, spec: SweepSpec, trial: Trial, argv: tuple[str, ...], cwd: str) -> TrialState | None:
        sid, n, attempt = trial.sweep_id, trial.number, trial.attempt
        metrics = MetricBuffer(spec.metric.name)
        process = TrialProcess(
            self.launcher,
            argv,
            env=self._environment(trial),
            cwd=cwd,
            on_stdout_line=metrics.feed,
            function=spec.function,
            metric=spec.metric.name,
            reuse=spec.reuse_process,
        )
        returncode, ending = self._supervise(spec, trial, attempt, process, metrics)
        process.kill_leftovers()
        process.finish_output()
        if ending is Ending.LEASE_LOST:
            log.warning("trial %s/%s attempt %s: lease lost to another attempt; stopped, nothing recorded", sid, n, attempt)
            return None
        if ending is Ending.HANDED_BACK:
            return None
        outcome = judge(
            returncode,
            metric=spec.metric.name,
            last_value=metrics.last_value,
            timed_out=ending is Ending.TIMED_OUT,
            cancelled=ending is Ending.CANCELLED,
            timeout=spec.trial_timeout,
            stderr_last_line=process.stderr.last_line(),
            stopped=self._stop_request if ending is Ending.STOPPED else None,
        )
        # Drained once: a retry after an outage writes these same points, in the same step as the result.
        last_points = metrics.drain()
        ended_at = time.time()
        result = until_done(
            lambda: self.store.finish_trial(
                sid,
                n,
                attempt,
                outcome.state,
                outcome.objective,
                points=last_points,
                error=outcome.error,
                exit_code=returncode,
                ended_at=ended_at,
                stdout_tail=process.stdout.text(),
                stderr_tail=process.stderr.text(),
                dropped_points=metrics.dropped,
                **metrics.summary(),
            ),
            "recording the result",
        )
        if result is not Outcome.OK:
            log.warning("result of trial %s/%s attempt %s rejected: %s", sid, n, attempt, result and result.value)
            return None
        if metrics.rejected:
            until_done(lambda: self.store.count_rejections(sid, metrics.rejected), "counting rejected reports")
        return outcome.state

    def _supervise(
        self, spec: SweepSpec, trial: Trial, attempt: int, process: TrialProcess, metrics: MetricBuffer
    ) -> tuple[int, Ending]:
        """Wait for the process, renewing the lease, flushing metrics, obeying timeout, cancel and shutdown."""
        s = self.settings
        sid, n = trial.sweep_id, trial.number
        started = time.monotonic()
        next_flush = next_control = started
        next_renew = started + s.lease_seconds / 3
        stop_seen: float | None = None
        while True:
            returncode = process.wait(s.poll_interval)
            if returncode is not None:
                return returncode, Ending.EXITED
            now = time.monotonic()
            if spec.trial_timeout is not None and now - started > spec.trial_timeout:
                return process.stop(s.kill_grace), Ending.TIMED_OUT
            try:
                if now >= next_renew:
                    renewed = self.store.renew_lease(sid, n, attempt, self.identity.worker_id, s.lease_seconds)
                    next_renew = now + s.lease_seconds / 3
                    if renewed is not Outcome.OK:
                        return process.stop(0.0), Ending.LEASE_LOST
                if now >= next_flush:
                    next_flush = now + s.flush_interval
                    points = metrics.drain()
                    if points:
                        try:
                            written = self.store.record_progress(sid, n, attempt, points, **metrics.summary())
                        except redis.ConnectionError:
                            metrics.put_back(points)
                            raise
                        if written is Outcome.INVALID:
                            log.error("trial %s/%s: metric points refused by the store", sid, n)
                        elif written is not Outcome.OK:
                            return process.stop(0.0), Ending.LEASE_LOST
                if now >= next_control:
                    next_control = now + s.control_interval
                    sweep_state, stop = self.store.trial_control(sid, n)
                    if sweep_state is SweepState.CANCELLED:
                        return process.stop(s.kill_grace), Ending.CANCELLED
                    if stop is not None:
                        self._stop_request = stop
                        return process.stop(s.kill_grace), Ending.STOPPED
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                # Keep the trial running through an outage; the lease has room for it.
                log.warning("Redis unavailable during trial %s/%s: %s", sid, n, exc)
                next_renew = next_flush = next_control = now + 1.0
            if self._should_stop():
                stop_seen = stop_seen or now
                if now - stop_seen >= s.shutdown_grace:
                    return process.stop(s.kill_grace), self._hand_back(spec, trial, attempt)

    def _hand_back(self, spec: SweepSpec, trial: Trial, attempt: int) -> Ending:
        """Worker shutting down: return the trial to the queue as a new attempt (not a loss)."""
        sid, n = trial.sweep_id, trial.number
        result = until_done(
            lambda: self.store.requeue_trial(sid, n, max_lost=spec.max_retries, reason=HANDED_BACK, attempt=attempt),
            "handing the trial back",
        )
        if result is Requeue.REQUEUED and self._resend is not None:
            self._resend(sid, n, attempt + 1, spec.queue)
            self.store.update_trial(sid, n, sent_at=time.time())
        log.warning("trial %s/%s attempt %s handed back on shutdown: %s", sid, n, attempt, result and result.value)
        return Ending.HANDED_BACK
