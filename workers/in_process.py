"""Running one trial attempt as a function call in this very process: what `sweepctl.agent(function=...)` does.

The same promises as a worker's trial process (workers/trial.py): the attempt
is claimed through the store's fenced script and holds a lease, renewed beside
the call by a watch thread that also writes the reports as they come, reads
stop requests and a cancelled sweep, and minds trial_timeout; the result is
written fenced by the attempt. What differs is what a process boundary gave:

- Reports reach the watch directly (`sweepctl.report.reporting_to`), checked as
  a stdout report line is (`MetricBuffer.feed` of the same line), never by
  reading our own stdout.
- The function cannot be killed: a stop (early termination, a cancelled sweep,
  trial_timeout, a lease another attempt took) is raised as `TrialStopped` from
  its next `report()`; a function that never reports again runs to its end.
- What it raises fails the trial (the traceback's tail is kept as its stderr
  tail) and the agent goes on; a KeyboardInterrupt hands the trial back to the
  queue as a new attempt (no loss), then goes on up to the caller.
"""

from __future__ import annotations

import logging
import numbers
import os
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from sweepctl.errors import StoreError, StoreUnavailable
from sweepctl.protocol import format_report
from sweepctl.records import StopRequest, Trial, TrialState
from sweepctl.report import TrialStopped, reporting_to
from sweepctl.spec import SweepSpec
from sweepctl.store import Outcome, Store
from workers import provenance
from workers.attempt_writes import AttemptWrites, Resend
from workers.backoff import until_done
from workers.callable_entry import exit_code, report_result
from workers.caller_environment import caller_environment, reset_wandb
from workers.identity import WorkerIdentity
from workers.metric_buffer import MetricBuffer
from workers.outcome import judge_call
from workers.trial import Ending, RunnerSettings
from workers.trial_process import TAIL_CHARS
from workers.wandb_feed import WandbFeed

log = logging.getLogger(__name__)

TrialFunction = Callable[[], object]


class InProcessRunner:
    """Runs trial attempts of one sweep as calls of `function` in this process, one at a time."""

    def __init__(self, store: Store, identity: WorkerIdentity, settings: RunnerSettings, resend: Resend) -> None:
        self.store = store
        self.identity = identity
        self.settings = settings
        self._writes = AttemptWrites(store, identity, lease_seconds=settings.lease_seconds, give_up=lambda: False, resend=resend)

    def run(
        self, spec: SweepSpec, sweep_id: str, number: int, attempt: int, function: TrialFunction, fold: int | None = None
    ) -> TrialState | None:
        """Claim the attempt (of fold `fold` of a k-fold trial) and call `function` for it; the final state, or None
        when it was not ours to run. The function learns its fold from `sweepctl.fold()`.

        Raises KeyboardInterrupt after handing the trial back, when the call was interrupted.
        """
        trial = until_done(lambda: self._read_trial(sweep_id, number, fold), "reading the trial")
        # The function's code is the caller's: its folder's git state is what a re-run needs.
        claimed = self._writes.claim(sweep_id, number, attempt, fold, argv=(), code=provenance.code_version(Path.cwd()))
        if claimed is not Outcome.OK or trial is None:
            return self._writes.not_claimed(claimed, sweep_id, number, attempt, fold)
        trial = replace(trial, attempt=attempt)
        metrics = MetricBuffer.for_sweep(spec)
        watch = _Watch(self.store, self._writes, self.identity, trial, metrics, self.settings, spec.trial_timeout)
        raised, tail = self._call(spec, trial, watch, function)
        if watch.ending is Ending.LEASE_LOST:
            log.warning("trial %s/%s attempt %s: lease lost to another attempt; nothing recorded", sweep_id, number, attempt)
            return None
        verdict = judge_call(
            raised,
            metric=None if spec.metric is None else spec.metric.name,
            last_value=metrics.objective_value,
            timed_out=watch.ending is Ending.TIMED_OUT,
            cancelled=watch.ending is Ending.CANCELLED,
            timeout=spec.trial_timeout,
            stopped=watch.stop_request if watch.ending is Ending.STOPPED else None,
            others=metrics.other_values,
        )
        return self._writes.record(trial, verdict, metrics, None, returncode=None, stderr_tail=tail)

    def _read_trial(self, sweep_id: str, number: int, fold: int | None) -> Trial | None:
        try:
            return self.store.get_trial(sweep_id, number, fold=fold)
        except StoreError:
            return None  # the claim refuses it, and counts the refusal

    def _call(self, spec: SweepSpec, trial: Trial, watch: _Watch, function: TrialFunction) -> tuple[str | None, str]:
        """Call the function with the watch running; (what it raised, as the trial's error, or None; the traceback's tail)."""
        raised: BaseException | None = None
        reset_wandb()  # a W&B run left open before the agent started must not swallow this trial's
        # What the function logs with wandb.log is read into its metrics as a worker reads a trial's run.
        watch.wandb = feed = WandbFeed(trial, os.getcwd())
        watch.start()
        try:
            with caller_environment(trial, feed.files), reporting_to(watch.report):
                try:
                    _report_returned(function(), "" if spec.metric is None else spec.metric.name)
                except TrialStopped:
                    pass  # the watch knows why; what was reported stands
                except SystemExit as exc:
                    raised = exc if exit_code(exc.code) != 0 else None
                except KeyboardInterrupt:
                    watch.finish()
                    reset_wandb(exit_code=1)
                    self._writes.hand_back(spec, trial)
                    raise
                except Exception as exc:  # noqa: BLE001  # whatever the function raises fails its trial, never the agent
                    raised = exc
                reset_wandb(exit_code=0 if raised is None else 1)
        finally:
            watch.finish()
            feed.finish(watch.metrics)  # what the run wrote last, and its final summary: the objective
            feed.close()
        if raised is None:
            return None, ""
        text = "".join(traceback.format_exception(raised))
        summary = f"exited with status {exit_code(raised.code)}" if isinstance(raised, SystemExit) else _one_line(raised)
        return summary, text[-TAIL_CHARS:]


def _report_returned(result: object, metric: str) -> None:
    """What the function returned, reported as a `function:` trial's return is: a number is the value of
    `metric`, a mapping metric values. Anything else is ignored: W&B ignores what a sweep function returns."""
    if isinstance(result, Mapping) or (isinstance(result, numbers.Real) and not isinstance(result, bool)):
        report_result(result, metric)


def _one_line(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()
    return f"raised {type(exc).__name__}" + (f": {message[-1]}" if message else "")


class _Watch:
    """Beside a trial function's call: its lease renewed, its reports written, its stop requests, cancel and timeout read.

    `ending` says why the trial must stop (None: it may go on); `report` is the
    call's report sink, which raises TrialStopped once `ending` is set.
    """

    def __init__(
        self,
        store: Store,
        writes: AttemptWrites,
        identity: WorkerIdentity,
        trial: Trial,
        metrics: MetricBuffer,
        settings: RunnerSettings,
        timeout: float | None,
    ) -> None:
        self.store = store
        self.trial = trial
        self.metrics = metrics
        self.ending: Ending | None = None
        self.stop_request: StopRequest | None = None
        self.wandb: WandbFeed | None = None  # the call's W&B run, read into `metrics` before each write
        self._writes = writes
        self._worker = identity.worker_id
        self._settings = settings
        self._timeout = timeout
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"sweepctl-trial-{trial.number}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        """Stop watching (idempotent); the reports not yet written are left in `metrics` for the result."""
        self._done.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def report(self, step: int | None, values: dict[str, float]) -> None:
        """One checked report of the function: kept for the next write; TrialStopped once the trial must stop."""
        self.metrics.feed(format_report(step, values))
        if self.ending is not None:
            raise TrialStopped(self._why())

    def _why(self) -> str:
        if self.ending is Ending.STOPPED and self.stop_request is not None:
            return f"trial {self.trial.number} stopped early: {self.stop_request.reason}"
        return f"trial {self.trial.number} must stop: {self.ending.value if self.ending else ''}"

    def _loop(self) -> None:
        s = self._settings
        started = time.monotonic()
        renew, flush, control = started + s.lease_seconds / 3, started + s.flush_interval, started
        while not self._done.wait(s.poll_interval):
            now = time.monotonic()
            try:
                if now >= renew:
                    renew = now + s.lease_seconds / 3
                    self._renew()
                if now >= flush:
                    flush = now + s.flush_interval
                    self._flush()
                if now >= control and self.ending is None:
                    control = now + s.control_interval
                    self._control(now - started)
            except StoreUnavailable as exc:
                # Ridden out as a worker does: the lease has room for it, reports wait in the buffer.
                log.warning("Redis unavailable during trial %s/%s: %s", self.trial.sweep_id, self.trial.number, exc)
                renew = flush = control = now + 1.0
            if self.ending is Ending.LEASE_LOST:
                return

    def _renew(self) -> None:
        t = self.trial
        renewed = self.store.renew_lease(t.sweep_id, t.number, t.attempt, self._worker, self._settings.lease_seconds, fold=t.fold)
        if renewed is not Outcome.OK:
            self.ending = Ending.LEASE_LOST

    def _flush(self) -> None:
        if self.wandb is not None:
            self.wandb.poll(self.metrics)
        written = self._writes.flush(self.trial, self.metrics, None)
        if written is Outcome.INVALID:
            log.error("trial %s/%s: metric points refused by the store", self.trial.sweep_id, self.trial.number)
        elif written is not Outcome.OK:
            self.ending = Ending.LEASE_LOST

    def _control(self, elapsed: float) -> None:
        if self._timeout is not None and elapsed > self._timeout:
            self.ending = Ending.TIMED_OUT
            return
        sweep_state, stop = self.store.trial_control(self.trial.sweep_id, self.trial.number)
        if sweep_state.stops_running_trials:
            self.ending = Ending.CANCELLED
        elif stop is not None:
            self.stop_request = stop
            self.ending = Ending.STOPPED

