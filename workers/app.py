"""The worker's Celery app: the `sweepctl.run_trial` task bound to one slot's TrialRunner."""

from __future__ import annotations

from celery import Celery
from celery.platforms import EX_OK
from celery.worker import state as worker_state

from sweepctl.celery_app import RUN_TRIAL_TASK, make_celery, send_attempt
from sweepctl.settings import RedisSettings
from sweepctl.store import Store
from workers.gpu_telemetry import TrialGpuUsage
from workers.trial import RunnerSettings, TrialRunner, WorkerIdentity


def shutdown_requested() -> bool:
    """Whether Celery got a warm (SIGTERM) or cold (SIGQUIT) shutdown signal; it sets 0 for 'yes'."""
    return any(flag is not None and flag is not False for flag in (worker_state.should_stop, worker_state.should_terminate))


def stop_taking_tasks() -> None:
    """Ask Celery for a warm shutdown, as its SIGTERM handler does: no task is taken after the one running now."""
    worker_state.should_stop = EX_OK


def make_worker_app(
    settings: RedisSettings,
    store: Store,
    identity: WorkerIdentity,
    runner_settings: RunnerSettings,
    gpu_usage: TrialGpuUsage | None = None,
) -> tuple[Celery, TrialRunner]:
    """A Celery app whose run_trial task runs attempts of this slot's trials, and its runner (tallying `gpu_usage` on a GPU slot)."""
    app = make_celery(settings)

    def resend(sweep_id: str, number: int, attempt: int, queue: str, fold: int | None) -> None:
        send_attempt(app, sweep_id, number, attempt, queue, fold)

    runner = TrialRunner(
        store, identity, runner_settings, should_stop=shutdown_requested, resend=resend, gpu_usage=gpu_usage, stop_taking=stop_taking_tasks
    )

    @app.task(name=RUN_TRIAL_TASK, ignore_result=True)
    def run_trial(sweep_id: str, number: int, attempt: int, fold: int | None = None) -> str | None:
        # `fold`: the message of one fold of a k-fold trial (sweepctl.kfold); messages of other trials have three arguments.
        state = runner.run(sweep_id, int(number), int(attempt), None if fold is None else int(fold))
        return None if state is None else state.value

    return app, runner
