"""Typed records passed between modules: lost and retried attempts, and the method a sweep is shown with."""

from __future__ import annotations

import dataclasses
import math

from sweepctl.cli.output import sweep_record
from sweepctl.records import (
    ATTEMPT_FIELDS,
    LossReason,
    LostAttempt,
    Sweep,
    SweepState,
    Trial,
    TrialState,
)
from sweepctl.spec import Method
from sweepctl.sweepfile import parse_sweep


def test_lost_attempts_read_as_records_and_a_hand_back_is_no_loss() -> None:
    # Given a trial taken back once from a lost worker and once handed back on shutdown, as the store keeps them
    trial = Trial(
        sweep_id="s",
        number=1,
        state=TrialState.QUEUED,
        params={},
        seed=1,
        attempt=3,
        lost_attempts=(
            {"attempt": 1, "worker": "h/0/7", "reason": LossReason.LEASE_EXPIRED.value, "at": 10.5},
            {"attempt": 2, "worker": None, "reason": LossReason.HANDED_BACK.value, "at": 20.0},
        ),
    )
    # Then each reads as a record, and only the lost worker counts against max_retries
    assert trial.lost == (
        LostAttempt(attempt=1, worker="h/0/7", reason="lease_expired", at=10.5),
        LostAttempt(attempt=2, worker=None, reason="handed_back", at=20.0),
    )
    assert [a.is_loss for a in trial.lost] == [True, False]
    assert trial.infrastructure_failures == 1


def test_retried_attempts_read_as_records_and_their_losses_stay_in_the_trials_history() -> None:
    # Given a trial lost once (attempt 1), re-queued, failed (attempt 2), retried, and lost again as attempt 3
    lost_1 = {"attempt": 1, "worker": "h/0/7", "reason": LossReason.LEASE_EXPIRED.value, "at": 10.5}
    lost_3 = {"attempt": 3, "worker": "h/1/8", "reason": LossReason.LEASE_EXPIRED.value, "at": 40.0}
    failed = {
        "attempt": 2, "state": "failed", "retried_at": 30.0, "objective": None, "error": "exited with status 4", "exit_code": 4,
        "worker": "h/0/9", "last_metrics": {"loss": 0.5, "grad": "nan"}, "lost_attempts": [lost_1],
    }  # fmt: skip
    trial = Trial(
        sweep_id="s", number=1, state=TrialState.QUEUED, params={}, seed=1, attempt=4, lost_attempts=(lost_3,), retried_attempts=(failed,)
    )
    # Then the retried attempt reads as a record of its result, non-finite values as floats
    [earlier] = trial.retried
    assert (earlier.attempt, earlier.state, earlier.retried_at, earlier.error, earlier.exit_code, earlier.worker) == (
        2, TrialState.FAILED, 30.0, "exited with status 4", 4, "h/0/9"
    )  # fmt: skip
    assert earlier.objective is None and earlier.last_metrics["loss"] == 0.5 and math.isnan(earlier.last_metrics["grad"])
    # And the current attempt's losses are its own (max_retries counts them), while the history has every loss
    assert [a.attempt for a in trial.lost] == [3] and trial.infrastructure_failures == 1
    assert [(a.attempt, a.worker) for a in earlier.lost] == [(1, "h/0/7")]
    assert [a.attempt for a in trial.lost_history] == [1, 3]


def test_every_attempt_field_is_a_trial_field_with_a_default_and_the_trials_own_fields_are_not() -> None:
    # The retry script resets ATTEMPT_FIELDS to their defaults: each must have one, and none is the trial's identity
    fields = {f.name: f for f in dataclasses.fields(Trial)}
    assert set(ATTEMPT_FIELDS) <= set(fields) and len(set(ATTEMPT_FIELDS)) == len(ATTEMPT_FIELDS)
    assert all(fields[n].default is not dataclasses.MISSING or fields[n].default_factory is not dataclasses.MISSING for n in ATTEMPT_FIELDS)
    kept = set(fields) - set(ATTEMPT_FIELDS)
    assert kept == {"sweep_id", "number", "state", "params", "seed", "attempt", "created_at", "retried_attempts", "folds", "fold"}


def test_w_and_b_method_names_map_to_ours_and_status_shows_ours() -> None:
    # Given W&B's `bayes` and our own names
    assert {name: Method.by_name(name) for name in Method.names()} == {
        "tpe": Method.TPE,
        "bayes": Method.TPE,
        "random": Method.RANDOM,
        "grid": Method.GRID,
    }
    # When a sweep written with method: bayes is shown by `sweepctl status`
    raw = {"method": "bayes", "name": "n", "metric": {"name": "loss"}, "program": "t.py", "parameters": {"x": {"min": 0, "max": 1}}}
    spec = parse_sweep(raw)
    record = sweep_record(Sweep(id="s", raw_spec=raw, state=SweepState.RUNNING, seed=1, created_at=1.0), spec, {}, None)
    # Then it says tpe, the name the exporter's sweepctl_sweep_info uses too
    assert (record["name"], record["method"]) == ("n", "tpe")
    assert record["metric"] == {"name": "loss", "goal": "minimize", "target": None}
