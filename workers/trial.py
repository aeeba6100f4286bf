"""Running one trial attempt: claim it, start its process, stream metrics, record the outcome.

Every write is fenced by the attempt number (see `sweepctl.scripts`), so a
duplicate Celery delivery or a late worker cannot change a trial it no longer owns.
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
from dataclasses import dataclass
from pathlib import Path

from sweepctl.command import args_json_text, build_argv
from sweepctl.protocol import parse_report
from sweepctl.records import GpuRef, MetricPoint, SweepState, Trial, TrialState
from sweepctl.report import PARAMS_ENV, SEED_ENV
from sweepctl.settings import REDIS_URL_ENV
from sweepctl.spec import SweepSpec
from sweepctl.store import Outcome as StoreOutcome
from sweepctl.store import Store
from sweepctl.sweepfile import parse_sweep
from workers import provenance
from workers.outcome import judge
from workers.trial_process import TrialProcess

log = logging.getLogger(__name__)

CALLABLE_ENTRY = "workers.callable_entry"


@dataclass(frozen=True)
class WorkerIdentity:
    """Who runs a trial: recorded on every trial it claims."""

    worker_id: str
    host: str
    slot: str
    gpu: GpuRef | None = None


@dataclass(frozen=True)
class RunnerSettings:
    poll_interval: float = 0.05  # how fast a finished trial is noticed: this bounds the GPU idle gap
    flush_interval: float = 0.5  # how often metrics reach Redis while a trial runs
    control_interval: float = 0.5  # how often the sweep is checked for cancellation
    kill_grace: float = 5.0  # SIGTERM -> SIGKILL


class MetricBuffer:
    """Reports parsed from stdout, collected by the reader thread and drained by the runner."""

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self._points: list[MetricPoint] = []
        self._lock = threading.Lock()
        self.last_value: float | None = None
        self.last_values: dict[str, float] = {}
        self.last_step: int | None = None
        self.count = 0

    def feed(self, line: str) -> None:
        report = parse_report(line)
        if report is None:
            return
        with self._lock:
            self._points.append(MetricPoint(time=time.time(), step=report.step, values=report.values))
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

    def summary(self) -> dict[str, object]:
        with self._lock:
            return {"last_metrics": dict(self.last_values), "last_step": self.last_step, "reports": self.count}


class TrialRunner:
    """Runs trial attempts for one worker slot."""

    def __init__(self, store: Store, identity: WorkerIdentity, settings: RunnerSettings | None = None) -> None:
        self.store = store
        self.identity = identity
        self.settings = settings or RunnerSettings()
        self._specs: dict[str, tuple[SweepSpec, str]] = {}

    def _spec(self, sweep_id: str) -> tuple[SweepSpec, str]:
        if sweep_id not in self._specs:
            sweep = self.store.get_sweep(sweep_id)
            self._specs[sweep_id] = (parse_sweep(sweep.raw_spec, source=sweep.source or sweep_id), sweep.workdir)
        return self._specs[sweep_id]

    def run(self, sweep_id: str, number: int, attempt: int) -> TrialState | None:
        """Run the attempt if it is still ours to run; the final state, or None when skipped."""
        spec, workdir = self._spec(sweep_id)
        claimed = self.store.claim_trial(
            sweep_id,
            number,
            attempt,
            started_at=time.time(),
            worker=self.identity.worker_id,
            host=self.identity.host,
            gpu=self.identity.gpu,
        )
        if claimed is StoreOutcome.CANCELLED:
            self.store.finish_trial(sweep_id, number, attempt, TrialState.CANCELLED, error="the sweep was cancelled", ended_at=time.time())
            return TrialState.CANCELLED
        if claimed is not StoreOutcome.OK:
            log.info("trial %s/%s attempt %s not run: %s", sweep_id, number, attempt, claimed.value)
            return None
        trial = self.store.get_trial(sweep_id, number)
        cwd = workdir if workdir and os.path.isdir(workdir) else os.getcwd()
        scratch = Path(tempfile.mkdtemp(prefix=f"sweepctl-{sweep_id}-{number}-"))
        try:
            return self._execute(spec, trial, attempt, cwd, scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _argv(self, spec: SweepSpec, trial: Trial, scratch: Path) -> tuple[str, ...]:
        if spec.function is not None:
            return (sys.executable, "-m", CALLABLE_ENTRY, spec.function, spec.metric.name)
        args_file = scratch / "params.json"
        args_file.write_text(args_json_text(trial.params))
        return build_argv(
            spec.command,
            program=spec.program,
            params=trial.params,
            interpreter=sys.executable,
            args_json_file=str(args_file),
        )

    def _environment(self, trial: Trial) -> dict[str, str]:
        # The trial gets no Redis credentials: it reports through stdout.
        env = {k: v for k, v in os.environ.items() if k != REDIS_URL_ENV}
        env.update(
            {
                PARAMS_ENV: json.dumps(trial.params),
                SEED_ENV: str(trial.seed),
                "SWEEPCTL_SWEEP_ID": trial.sweep_id,
                "SWEEPCTL_TRIAL_NUMBER": str(trial.number),
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def _execute(self, spec: SweepSpec, trial: Trial, attempt: int, cwd: str, scratch: Path) -> TrialState:
        sid, n = trial.sweep_id, trial.number
        argv = self._argv(spec, trial, scratch)
        code_path = Path(cwd) / spec.program if spec.program else Path(cwd)
        self.store.record_progress(
            sid,
            n,
            attempt,
            argv=argv,
            code=provenance.code_version(code_path),
            data=provenance.data_fingerprints(spec.data, Path(cwd)),
        )
        metrics = MetricBuffer(spec.metric.name)
        try:
            process = TrialProcess(argv, env=self._environment(trial), cwd=cwd, on_stdout_line=metrics.feed)
        except OSError as exc:
            self.store.finish_trial(sid, n, attempt, TrialState.FAILED, error=f"could not start {argv[0]!r}: {exc}", ended_at=time.time())
            return TrialState.FAILED
        returncode, timed_out, cancelled = self._supervise(spec, trial, attempt, process, metrics)
        process.kill_leftovers()
        process.finish_output()
        outcome = judge(
            returncode,
            metric=spec.metric.name,
            last_value=metrics.last_value,
            timed_out=timed_out,
            cancelled=cancelled,
            timeout=spec.trial_timeout,
            stderr_last_line=process.stderr.last_line(),
        )
        self.store.record_progress(sid, n, attempt, metrics.drain())
        result = self.store.finish_trial(
            sid,
            n,
            attempt,
            outcome.state,
            outcome.objective,
            error=outcome.error,
            exit_code=returncode,
            ended_at=time.time(),
            stdout_tail=process.stdout.text(),
            stderr_tail=process.stderr.text(),
            **metrics.summary(),
        )
        if result is not StoreOutcome.OK:
            log.warning("result of trial %s/%s attempt %s rejected: %s", sid, n, attempt, result.value)
        return outcome.state

    def _supervise(
        self, spec: SweepSpec, trial: Trial, attempt: int, process: TrialProcess, metrics: MetricBuffer
    ) -> tuple[int, bool, bool]:
        """Wait for the process, flushing metrics and obeying timeout and cancellation."""
        s = self.settings
        started = time.monotonic()
        next_flush = next_control = started
        while True:
            returncode = process.poll()
            if returncode is not None:
                return returncode, False, False
            now = time.monotonic()
            if spec.trial_timeout is not None and now - started > spec.trial_timeout:
                return process.stop(s.kill_grace), True, False
            if now >= next_flush:
                next_flush = now + s.flush_interval
                points = metrics.drain()
                if points:
                    self.store.record_progress(trial.sweep_id, trial.number, attempt, points, **metrics.summary())
            if now >= next_control:
                next_control = now + s.control_interval
                if self.store.sweep_state(trial.sweep_id) is SweepState.CANCELLED:
                    return process.stop(s.kill_grace), False, True
            time.sleep(s.poll_interval)
