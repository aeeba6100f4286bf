"""The worker's Celery app: the `sweepctl.run_trial` task bound to one slot's TrialRunner."""

from __future__ import annotations

from celery import Celery

from sweepctl.celery_app import RUN_TRIAL_TASK, make_celery
from sweepctl.settings import RedisSettings
from workers.trial import TrialRunner


def make_worker_app(settings: RedisSettings, runner: TrialRunner) -> Celery:
    """A Celery app whose run_trial task runs attempts through `runner`."""
    app = make_celery(settings)

    @app.task(name=RUN_TRIAL_TASK, ignore_result=True)
    def run_trial(sweep_id: str, number: int, attempt: int) -> str | None:
        state = runner.run(sweep_id, int(number), int(attempt))
        return None if state is None else state.value

    return app
