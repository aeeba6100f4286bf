"""`sweepctl.agent(sweep_id, function=train, count=N)`: a sweep's trials as calls of `function` in this process, as `wandb.agent`.

For a sweep made without program or function (`sweepctl.sweep(config)`,
or a file without them), whose trials wait in a queue of their own. The agent
takes them one at a time from that queue and calls `function` for each
(workers.in_process: claimed and leased through the store's scripts like any
trial), starting a controller thread while no live controller owns the sweep,
and heartbeating as a worker of slot `agent` so the controller counts it.

It returns after `count` trials (each one whose function it called, whatever
its end; in a k-fold sweep each fold is a call of its own), or when the sweep
is over. A KeyboardInterrupt hands the running trial back to the queue and
goes on up to the caller, after the agent stopped everything it started. One agent runs at a time in a process.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from sweepctl.api.controller_thread import SweepController
from sweepctl.api.session import session
from sweepctl.celery_app import AttemptInbox, make_celery, send_attempt
from sweepctl.errors import ConfigError, StoreError, StoreUnavailable
from sweepctl.settings import RedisSettings
from sweepctl.spec import SweepSpec
from sweepctl.store import Store
from sweepctl.worker_settings import SlotPin, WorkerSettings

log = logging.getLogger(__name__)

AGENT_SLOT = "agent"  # the slot name in the agent's worker id (host/agent/pid)
POLL_SECONDS = 0.1  # how often the queue is looked at while no trial waits
HEARTBEAT_SECONDS = 5.0
_running = threading.Lock()  # one agent at a time in a process: reports go to one trial


def agent(
    sweep_id: str,
    function: Callable[[], object] | None = None,
    count: int | None = None,
    *,
    redis_url: str | None = None,
    state_dir: str | None = None,
    project: str | None = None,
    entity: str | None = None,
) -> None:
    """Run trials of sweep `sweep_id` here, one after another, each as a call of `function()`.

    The function takes no arguments: it reads its trial's parameters with
    `sweepctl.params()` (or `wandb.config` after `wandb.init()`, W&B offline),
    and reports with `sweepctl.report(...)`; what it returns, when a number (the
    sweep's metric) or a mapping of metrics, is reported too. An exception fails
    its trial (the traceback's tail is recorded) and the agent goes on. Once its
    trial must stop (early termination, a cancelled sweep, trial_timeout) the
    function's next `report()` raises `sweepctl.TrialStopped`.

    Returns after `count` trials (None: until the sweep is over). The store is as
    for `sweepctl.sweep`; an embedded one is served by this call while it runs.
    `project` and `entity` are accepted, as `wandb.agent` takes them, and ignored.
    """
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ConfigError(f"count: expected a whole number of trials, at least 1, or None, got {count!r}")
    if function is not None and not callable(function):
        raise ConfigError(f"function: expected a callable taking no arguments, got {function!r}")
    if not _running.acquire(blocking=False):
        raise ConfigError("sweepctl.agent is already running in this process; one agent runs at a time in a process")
    try:
        with session(redis_url, state_dir, long_running=True, create=False) as (store, redis):
            spec = store.get_spec(sweep_id)
            _InProcessAgent(store, redis, sweep_id, spec, _function_for(sweep_id, spec, function), count).run()
    finally:
        _running.release()


def _function_for(sweep_id: str, spec: SweepSpec, function: Callable[[], object] | None) -> Callable[[], object]:
    """The function to call for each trial; ConfigError for a sweep whose trials are not this agent's to run."""
    if not spec.runs_in_caller:
        what = f"program {spec.program!r}" if spec.program is not None else f"function {spec.function!r}"
        raise ConfigError(
            f"sweep {sweep_id} runs {what} on workers (queue {spec.queue!r}): run its trials here with `sweepctl agent {sweep_id}`; "
            "sweepctl.agent(sweep_id, function=...) runs sweeps made without program or function"
        )
    if function is None:
        raise ConfigError(
            f"sweep {sweep_id} has no program and no function: give the function to call, sweepctl.agent({sweep_id!r}, function=train)"
        )
    return function


class _InProcessAgent:
    """One call of `agent`: what it started (controller thread, heartbeat) and its loop over the sweep's queue."""

    def __init__(
        self, store: Store, redis: RedisSettings, sweep_id: str, spec: SweepSpec, function: Callable[[], object], count: int | None
    ) -> None:
        # The roles' parts an agent runs, imported when one starts (the core imports no role at load time).
        from workers.identity import WorkerIdentity
        from workers.in_process import InProcessRunner
        from workers.trial import RunnerSettings

        self.store = store
        self.sweep_id = sweep_id
        self.spec = spec
        self.function = function
        self.count = count
        settings = WorkerSettings.from_environment(os.environ)
        self.app = make_celery(redis)
        self.identity = WorkerIdentity.of(settings.hostname, SlotPin(AGENT_SLOT), os.getpid())
        self.runner = InProcessRunner(store, self.identity, RunnerSettings.from_worker_settings(settings), resend=self._resend)
        self.controller = SweepController(store, redis, sweep_id, lease_seconds=settings.lease_seconds)
        self._beating = threading.Event()

    def _resend(self, sweep_id: str, number: int, attempt: int, queue: str, fold: int | None = None) -> None:
        send_attempt(self.app, sweep_id, number, attempt, queue, fold)

    def run(self) -> None:
        inbox = AttemptInbox(self.app, self.spec.queue)
        beat = threading.Thread(target=self._heartbeat, name="sweepctl-agent-heartbeat", daemon=True)
        beat.start()
        _say(f"agent for sweep {self.sweep_id}: " + ("until the sweep is over" if self.count is None else f"{self.count} trial(s)"))
        ran = 0
        try:
            while self.count is None or ran < self.count:
                taken = self._next(inbox)
                if taken is None:
                    break
                ran += self._run_one(*taken)
        except KeyboardInterrupt:
            _say(f"interrupted after {ran} trial(s); the trial running, if any, went back to the sweep's queue")
            raise
        finally:
            self._beating.set()
            self.controller.stop()
            inbox.close()
            beat.join(HEARTBEAT_SECONDS)
            self._unregister()
        _say(f"agent for sweep {self.sweep_id} done: {ran} trial(s) run")

    def _next(self, inbox: AttemptInbox) -> tuple[int, int, int | None] | None:
        """The next attempt of the sweep to run, waiting for one; None once the sweep is over."""
        while True:
            try:
                self.controller.start_unless_owned()
                taken = inbox.take()
                if taken is None:
                    if self._sweep_over():
                        return None
                    time.sleep(POLL_SECONDS)
                    continue
            except StoreUnavailable as exc:
                log.warning("Redis unavailable while waiting for a trial of sweep %s: %s", self.sweep_id, exc)
                time.sleep(1.0)
                continue
            sweep_id, number, attempt, fold = taken
            if sweep_id == self.sweep_id:
                return number, attempt, fold
            # Another sweep's trial in a queue its file named: back where it was, for its own agent.
            self._resend(sweep_id, number, attempt, self.spec.queue, fold)
            time.sleep(POLL_SECONDS)

    def _sweep_over(self) -> bool:
        state = self.store.sweep_state(self.sweep_id)
        return state.is_terminal and not self.store.active_numbers(self.sweep_id)

    def _run_one(self, number: int, attempt: int, fold: int | None) -> int:
        """Run one attempt (of one fold of a k-fold trial: each is a call); 1 when the function was called for it,
        0 when it was not this agent's to run."""
        what = f"trial {number}" if fold is None else f"trial {number} fold {fold}"
        try:
            params = self.store.get_trial(self.sweep_id, number).params
        except (StoreError, StoreUnavailable):
            params = {}
        _say(f"{what} of sweep {self.sweep_id}: {_describe(params)}")
        state = self.runner.run(self.spec, self.sweep_id, number, attempt, self.function, fold)
        if state is None:
            return 0
        try:
            trial = self.store.get_trial(self.sweep_id, number, fold=fold)
        except (StoreError, StoreUnavailable):
            _say(f"{what} {state.value}")
            return 1
        shown = []  # each objective's value (the first is the trial's objective when it has one)
        for index, metric in enumerate(self.spec.objectives):
            value = trial.objective if index == 0 and trial.objective is not None else trial.last_metrics.get(metric.name)
            if value is not None:
                shown.append(f"{metric.name}={value:.6g}")
        detail = " ".join(shown) or (trial.error or "")
        _say(f"{what} {state.value}: {detail}")
        return 1

    def _heartbeat(self) -> None:
        info = {"host": self.identity.host, "slot": self.identity.slot, "gpu": None, "pid": os.getpid()}
        while not self._beating.is_set():
            try:
                self.store.heartbeat_worker(self.identity.worker_id, info)
            except Exception as exc:  # noqa: BLE001  # nothing may end the beat: a dead beat reads as a dead worker
                log.warning("agent heartbeat failed: %s", exc)
            self._beating.wait(HEARTBEAT_SECONDS)

    def _unregister(self) -> None:
        try:
            self.store.remove_worker(self.identity.worker_id)
        except (StoreUnavailable, StoreError) as exc:  # the registration expires on its own
            log.warning("could not remove the agent's worker registration: %s", exc)


def _describe(params: dict[str, Any]) -> str:
    return " ".join(f"{name}={value!r}" for name, value in params.items()) or "(no parameters)"


def _say(line: str) -> None:
    """Progress for the person running the agent, on stderr (as `wandb.agent` prints its own)."""
    print(f"sweepctl: {line}", file=sys.stderr, flush=True)

