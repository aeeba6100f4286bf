"""Running one trial attempt: claim it, start its process, stream metrics, record the outcome.

Every write is fenced by the attempt number (see `sweepctl.scripts`), so a
duplicate Celery delivery or a late worker cannot change a trial it no longer
owns. The attempt holds a lease renewed here; when renewal is refused (the
reaper gave the trial to another attempt) the process is stopped at once and
nothing is recorded. Redis outages are ridden out: the process keeps running,
metrics wait in a bounded buffer, and the result is written once Redis is back.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

from sweepctl.command import Macro, args_json_text, build_argv
from sweepctl.errors import StoreError, TrialTooLargeError
from sweepctl.keys import METRICS_MAX
from sweepctl.protocol import RejectedReport, classify_line
from sweepctl.records import (
    GpuRef,
    MetricPoint,
    StopRequest,
    SweepState,
    Trial,
    TrialState,
)
from sweepctl.report import PARAMS_ENV, SEED_ENV
from sweepctl.spec import SweepSpec
from sweepctl.store import (
    DEFAULT_LEASE_SECONDS,
    UNAVAILABLE,
    Outcome,
    Requeue,
    Store,
    is_out_of_memory,
)
from workers import outcome as judging
from workers import provenance
from workers.backoff import until_done
from workers.oom import oom_kill_between, oom_kills
from workers.trial_process import Launcher, TrialProcess

log = logging.getLogger(__name__)

# Metric points a running trial may have waiting for Redis (an outage, a full Redis): as many as a
# trial's history keeps (keys.METRICS_MAX), so no outage shorter than the whole history loses a point.
MAX_BUFFERED_POINTS = METRICS_MAX
# Distinct metric names one trial may report; a report adding a name past it is rejected (counted in
# rejected_reports as too_many_metric_names), so `last_metrics` stays small whatever a trial prints.
MAX_METRIC_NAMES = 1000
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
    data_hash_seconds: float = provenance.HASH_SECONDS  # all of one trial's `data:` fingerprints

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RunnerSettings:
        return cls(
            lease_seconds=float(env.get("SWEEPCTL_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)),
            shutdown_grace=float(env.get("SWEEPCTL_SHUTDOWN_GRACE", 60.0)),
            kill_grace=float(env.get("SWEEPCTL_KILL_GRACE", 5.0)),
            data_hash_seconds=float(env.get(provenance.HASH_SECONDS_ENV, provenance.HASH_SECONDS)),
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

    Each accepted point gets the attempt's next number (0, 1, ...), which the
    store uses to append a retried write only once. Bounded: during an outage
    longer than MAX_BUFFERED_POINTS points the oldest are dropped (and counted).
    """

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self._points: collections.deque[MetricPoint] = collections.deque()
        self._first = 0  # the number of _points[0]
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
                self._reject(report.reason)
                return
            new_names = report.values.keys() - self.last_values.keys()
            if new_names and len(self.last_values) + len(new_names) > MAX_METRIC_NAMES:
                self._reject("too_many_metric_names")
                return
            self._points.append(MetricPoint(time=time.time(), step=report.step, values=report.values))
            self._drop_excess()
            self.last_values.update(report.values)
            if report.step is not None:
                self.last_step = report.step
            if self.metric in report.values:
                self.last_value = report.values[self.metric]
            self.count += 1

    def _reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def _drop_excess(self) -> None:
        while len(self._points) > MAX_BUFFERED_POINTS:
            self._points.popleft()
            self._first += 1
            self.dropped += 1

    def drain(self) -> tuple[int, list[MetricPoint]]:
        """The waiting points and the number of the first."""
        with self._lock:
            first, points = self._first, list(self._points)
            self._points.clear()
            self._first += len(points)
            return first, points

    def put_back(self, first: int, points: list[MetricPoint]) -> None:
        """Return points whose write failed (numbered from `first`), ahead of newer ones."""
        with self._lock:
            self._points.extendleft(reversed(points))
            self._first = first
            self._drop_excess()

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
        self._stop_request: StopRequest | None = None
        self._stop_seen: float | None = None  # when the worker was first seen asked to stop (monotonic)
        self.launcher = Launcher(self.settings.kill_grace)

    def _spec(self, sweep_id: str) -> tuple[SweepSpec, str]:
        if sweep_id not in self._specs:
            sweep = self.store.get_sweep(sweep_id)
            self._specs[sweep_id] = (self.store.get_spec(sweep_id), sweep.workdir)
        return self._specs[sweep_id]

    def run(self, sweep_id: str, number: int, attempt: int) -> TrialState | None:
        """Run the attempt if it is still ours to run; the final state, or None when not recorded here."""
        found = until_done(lambda: self._spec(sweep_id), "reading the sweep", give_up=self._shutdown_overdue)
        if found is None:
            return None
        spec, workdir = found
        folder = _trial_folder(workdir)
        trial = until_done(lambda: self._read_trial(sweep_id, number), "reading the trial", give_up=self._shutdown_overdue)
        needs_file = trial is not None and spec.function is None and Macro.ARGS_JSON_FILE.token in spec.command
        scratch = Path(tempfile.mkdtemp(prefix=f"sweepctl-{sweep_id}-{number}-")) if needs_file else None
        try:
            # What the attempt will run is recorded by the claim itself: one round trip.
            try:
                argv = () if trial is None else self._argv(spec, trial, scratch)
                started = {} if trial is None else self._provenance(spec, argv, folder)
            except Exception as exc:  # noqa: BLE001  # a trial that cannot be prepared fails, clearly, once
                return self._fail_unstarted(sweep_id, number, attempt, f"could not prepare the trial: {exc}")
            claimed = self._claim(sweep_id, number, attempt, **started)
            if claimed is Outcome.CANCELLED:
                self._finish_unstarted(sweep_id, number, attempt, TrialState.CANCELLED, "the sweep was cancelled")
                return TrialState.CANCELLED
            if claimed is not Outcome.OK or trial is None:
                log.info("trial %s/%s attempt %s not run: %s", sweep_id, number, attempt, claimed and claimed.value)
                return None
            self.current = (sweep_id, number)
            hasher = provenance.DataHasher(spec.data, Path(folder), self.settings.data_hash_seconds) if spec.data else None
            try:
                return self._execute(spec, replace(trial, attempt=attempt), argv, folder, hasher)
            finally:
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

    def _read_trial(self, sweep_id: str, number: int) -> Trial | None:
        try:
            return self.store.get_trial(sweep_id, number)
        except StoreError:
            return None  # the claim refuses it, and counts the refusal

    def _claim(self, sweep_id: str, number: int, attempt: int, **fields: object) -> Outcome | None:
        """QUEUED -> RUNNING for this attempt; waits out an outage or a full Redis rather than losing the message."""
        identity = self.identity
        return until_done(
            lambda: self.store.claim_trial(
                sweep_id,
                number,
                attempt,
                lease_seconds=self.settings.lease_seconds,
                worker=identity.worker_id,
                host=identity.host,
                gpu=identity.gpu,
                **fields,
            ),
            "claiming the trial",
            give_up=self._shutdown_overdue,
        )

    def _finish_unstarted(self, sweep_id: str, number: int, attempt: int, state: TrialState, error: str) -> Outcome | None:
        return until_done(
            lambda: self.store.finish_trial(sweep_id, number, attempt, state, error=error, ended_at=time.time()),
            "recording the result",
            give_up=self._shutdown_overdue,
        )

    def _fail_unstarted(self, sweep_id: str, number: int, attempt: int, error: str) -> TrialState | None:
        """A trial that cannot even start fails (its own fault: it would fail the same way anywhere).

        It is claimed first, so that a trial another delivery of the same attempt
        is running is never touched; otherwise it would stay queued and be re-sent forever.
        """
        log.error("trial %s/%s attempt %s: %s", sweep_id, number, attempt, error)
        if self._claim(sweep_id, number, attempt) is not Outcome.OK:
            return None
        self._finish_unstarted(sweep_id, number, attempt, TrialState.FAILED, error)
        return TrialState.FAILED

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

    def _provenance(self, spec: SweepSpec, argv: tuple[str, ...], folder: str) -> dict[str, object]:
        """What the claim records: the argv and the code's version. The data is hashed beside the trial."""
        code_path = Path(folder) / spec.program if spec.program else Path(folder)
        return {"argv": argv, "code": provenance.code_version(code_path)}

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

    def _execute(
        self, spec: SweepSpec, trial: Trial, argv: tuple[str, ...], folder: str, hasher: provenance.DataHasher | None
    ) -> TrialState | None:
        metrics = MetricBuffer(spec.metric.name)
        oom_before = oom_kills()
        try:
            process = TrialProcess(
                self.launcher,
                argv,
                env=self._environment(trial),
                cwd=folder,
                on_stdout_line=metrics.feed,
                function=spec.function,
                metric=spec.metric.name,
                reuse=spec.reuse_process,
            )
        except TrialTooLargeError as exc:
            # Nothing started: the parameters' fault, as an exec refusing them (E2BIG) would be.
            # (Any other failure to start, a launcher that died, is the machine's: the lease lapses, another attempt runs.)
            return self._record(trial, judging.Outcome(TrialState.FAILED, None, str(exc)), metrics, hasher, returncode=None)
        try:
            returncode, ending = self._supervise(spec, trial, process, metrics, hasher)
        except BaseException:
            # Whatever went wrong here, the trial must not run on unsupervised: its lease would
            # lapse and a second attempt start beside it. Stopped now, it is re-run as a lost attempt.
            process.stop(0.0)
            raise
        finally:
            process.kill_leftovers()
            process.finish_output()
        if ending is Ending.LEASE_LOST:
            log.warning("trial %s/%s attempt %s: lease lost to another attempt; stopped, nothing recorded", trial.sweep_id, trial.number, trial.attempt)
            return None
        if ending is Ending.HANDED_BACK:
            return None
        outcome = judging.judge(
            returncode,
            metric=spec.metric.name,
            last_value=metrics.last_value,
            timed_out=ending is Ending.TIMED_OUT,
            cancelled=ending is Ending.CANCELLED,
            timeout=spec.trial_timeout,
            stderr_last_line=process.stderr.last_line(),
            stopped=self._stop_request if ending is Ending.STOPPED else None,
            # Only a SIGKILL needs the OOM count (a second read of /proc/vmstat, ~20 µs).
            oom_killed=oom_kill_between(oom_before, oom_kills()) if returncode == -signal.SIGKILL else None,
        )
        tails = {"stdout_tail": process.stdout.text(), "stderr_tail": process.stderr.text()}
        return self._record(trial, outcome, metrics, hasher, returncode=returncode, **tails)

    def _record(
        self,
        trial: Trial,
        outcome: judging.Outcome,
        metrics: MetricBuffer,
        hasher: provenance.DataHasher | None,
        *,
        returncode: int | None,
        **fields: object,
    ) -> TrialState | None:
        """Write the result with the last metric points, in one atomic step, however long Redis takes to take it."""
        sid, n, attempt = trial.sweep_id, trial.number, trial.attempt
        if hasher is not None:
            fields["data"] = hasher.result()
        # Drained once: a retry after an outage writes these same points (numbered: never twice).
        first, last_points = metrics.drain()
        ended_at = time.time()
        result = until_done(
            lambda: self.store.finish_trial(
                sid,
                n,
                attempt,
                outcome.state,
                outcome.objective,
                points=last_points,
                first_point=first,
                error=outcome.error,
                exit_code=returncode,
                ended_at=ended_at,
                dropped_points=metrics.dropped,
                **fields,
                **metrics.summary(),
            ),
            "recording the result",
            give_up=self._shutdown_overdue,
        )
        if result is not Outcome.OK:
            log.warning("result of trial %s/%s attempt %s rejected: %s", sid, n, attempt, result and result.value)
            return None
        if metrics.rejected:
            until_done(lambda: self.store.count_rejections(sid, metrics.rejected), "counting rejected reports", give_up=self._shutdown_overdue)
        return outcome.state

    def _flush(self, trial: Trial, metrics: MetricBuffer, data: dict[str, str] | None) -> Outcome:
        """Write the points reported since the last flush (and the data fingerprints once known)."""
        first, points = metrics.drain()
        fields: dict[str, object] = {} if data is None else {"data": data}
        if not points and not fields:
            return Outcome.OK
        try:
            return self.store.record_progress(trial.sweep_id, trial.number, trial.attempt, points, first_point=first, **fields, **metrics.summary())
        except UNAVAILABLE:
            metrics.put_back(first, points)
            raise

    def _supervise(
        self, spec: SweepSpec, trial: Trial, process: TrialProcess, metrics: MetricBuffer, hasher: provenance.DataHasher | None
    ) -> tuple[int, Ending]:
        """Wait for the process, renewing the lease, flushing metrics, obeying timeout, cancel and shutdown."""
        s = self.settings
        sid, n, attempt = trial.sweep_id, trial.number, trial.attempt
        started = time.monotonic()
        next_flush = next_control = started
        next_renew = started + s.lease_seconds / 3
        data_pending = hasher is not None
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
                    data = hasher.result() if data_pending and hasher is not None and hasher.done else None
                    written = self._flush(trial, metrics, data)
                    data_pending = data_pending and data is None
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
            except UNAVAILABLE as exc:
                # Keep the trial running through an outage or a full Redis; the lease has room for
                # it, and the controller gives leases a fresh period once Redis takes writes again.
                if is_out_of_memory(exc):
                    log.error("Redis is out of memory during trial %s/%s: metrics wait here until memory is freed", sid, n)
                else:
                    log.warning("Redis unavailable during trial %s/%s: %s", sid, n, exc)
                next_renew = next_flush = next_control = now + 1.0
            if self._shutdown_overdue():
                return process.stop(s.kill_grace), self._hand_back(spec, trial, attempt)

    def _hand_back(self, spec: SweepSpec, trial: Trial, attempt: int) -> Ending:
        """Worker shutting down: return the trial to the queue as a new attempt (not a loss)."""
        sid, n = trial.sweep_id, trial.number
        result = until_done(
            lambda: self.store.requeue_trial(sid, n, max_lost=spec.max_retries, reason=HANDED_BACK, attempt=attempt),
            "handing the trial back",
            give_up=self._shutdown_overdue,
        )
        if result is Requeue.REQUEUED and self._resend is not None:
            self._resend(sid, n, attempt + 1, spec.queue)
            self.store.update_trial(sid, n, sent_at=time.time())
        log.warning("trial %s/%s attempt %s handed back on shutdown: %s", sid, n, attempt, result and result.value)
        return Ending.HANDED_BACK


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
