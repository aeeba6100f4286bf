"""Typed records passed between modules: lost attempts, and the method a sweep is shown with."""

from __future__ import annotations

from sweepctl.cli.output import sweep_record
from sweepctl.records import (
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
