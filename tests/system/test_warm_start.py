"""Warm start: given points run first, and the engine learns from earlier sweeps on the same space."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.loop import Controller
from sweepctl.celery_app import make_celery
from sweepctl.lifecycle import submit_sweep
from sweepctl.records import Sweep, SweepState, Trial, TrialState
from sweepctl.settings import RedisSettings
from sweepctl.store import Outcome, Store

pytestmark = pytest.mark.system


def finished_sweep(store: Store, sweep_id: str, losses: list[float]) -> None:
    raw = {"metric": {"name": "loss"}, "function": "m:f", "parameters": {"x": {"min": 0.0, "max": 1.0}}}
    store.create_sweep(Sweep(id=sweep_id, raw_spec=raw, state=SweepState.RUNNING, seed=1, created_at=1.0))
    for n, loss in enumerate(losses, start=1):
        assert (
            store.create_trial(Trial(sweep_id=sweep_id, number=n, state=TrialState.QUEUED, params={"x": loss / 10}, seed=n)) is Outcome.OK
        )
        store.claim_trial(sweep_id, n, 1, worker="w")
        assert store.finish_trial(sweep_id, n, 1, TrialState.COMPLETED, loss) is Outcome.OK


def test_given_points_run_first_and_earlier_sweeps_are_learned_from(tmp_path: Path, store: Store, redis_settings: RedisSettings) -> None:
    # Given an earlier sweep with five finished trials, and a new sweep naming it and two points
    finished_sweep(store, "earlier1", [0.9, 0.5, 0.2, 0.7, 0.4])
    path = tmp_path / "sweep.yaml"
    path.write_text(
        "method: tpe\nmetric: {name: loss}\nfunction: m:f\nparameters:\n  x: {min: 0.0, max: 1.0}\n"
        "run_cap: 4\nparallelism: 4\nwarm_start:\n  points: [{x: 0.123}, {x: 0.456}]\n  sweeps: [earlier1, missing]\n"
    )
    sweep, _ = submit_sweep(store, path)

    # When the controller takes the sweep on
    controller = Controller(store, make_celery(redis_settings))
    controller.step(sweep.id)

    # Then trials 1 and 2 are the given points, the rest are suggested, and the engine knows the earlier five
    trials = store.get_trials(sweep.id)
    assert [t.params for t in trials[:2]] == [{"x": 0.123}, {"x": 0.456}]
    assert len(trials) == 4 and all(0.0 <= t.params["x"] <= 1.0 for t in trials[2:])
    learned = controller._contexts[sweep.id].suggester.observations
    assert sorted(o.loss for o in learned) == [0.2, 0.4, 0.5, 0.7, 0.9]
