"""Bad input: duplicate, unknown and stale writes, bad metric payloads. Refused and counted; nothing recorded changes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sweepctl.errors import StoreError
from sweepctl.records import MetricPoint, Sweep, SweepState, Trial, TrialState
from sweepctl.store import Outcome, Store, keys
from tests.support.processes import Processes
from tests.system.helpers import submit, wait_until_done, write_sweep

pytestmark = pytest.mark.system

SID = "badinput"


def snapshot(store: Store) -> dict[str, bytes]:
    """Every key's serialized value, byte for byte, except the rejection counters themselves."""
    raw = store.redis.connection_pool.connection_kwargs
    import redis

    binary = redis.Redis(host=raw["host"], port=raw["port"], password=raw.get("password"), decode_responses=False)
    return {k.decode(): binary.dump(k) for k in binary.keys("*") if k.decode() != keys.rejections_key(SID)}


def recorded_sweep(store: Store) -> None:
    """A sweep with trial 1 completed, trial 2 running (attempt 1, worker w1) and trial 3 queued."""
    store.create_sweep(Sweep(id=SID, raw_spec={"metric": {"name": "loss"}}, state=SweepState.RUNNING, seed=1, created_at=1.0))
    for n in (1, 2, 3):
        assert store.create_trial(Trial(sweep_id=SID, number=n, state=TrialState.QUEUED, params={"x": n}, seed=n)) is Outcome.OK
    for n in (1, 2):
        assert store.claim_trial(SID, n, 1, worker="w1") is Outcome.OK
    assert store.record_progress(SID, 1, 1, [MetricPoint(time=2.0, step=1, values={"loss": 0.5})]) is Outcome.OK
    assert store.finish_trial(SID, 1, 1, TrialState.COMPLETED, 0.5, ended_at=3.0) is Outcome.OK


def test_duplicate_unknown_stale_and_malformed_writes_are_counted_and_change_nothing(store: Store) -> None:
    # Given a store with trials already recorded
    recorded_sweep(store)
    before = snapshot(store)
    good = [MetricPoint(time=4.0, step=2, values={"loss": 0.25})]
    huge = [MetricPoint(time=4.0, step=2, values={f"m{i}_{'x' * 200}": 1.0 for i in range(100)})]
    words = [MetricPoint(time=4.0, step=2, values={"loss": "abc"})]  # type: ignore[dict-item]
    fractional_step = [MetricPoint(time=4.0, step=1.5, values={"loss": 1.0})]  # type: ignore[arg-type]
    bad_name = [MetricPoint(time=4.0, step=2, values={"loss\nDROP": 1.0})]  # any name W&B allows is fine; a newline is not

    # When every kind of bad write arrives
    outcomes = [
        store.finish_trial(SID, 1, 1, TrialState.COMPLETED, 0.1),  # a duplicate result
        store.finish_trial(SID, 99, 1, TrialState.COMPLETED, 0.1),  # an unknown trial
        store.record_progress(SID, 99, 1, good),
        store.finish_trial(SID, 2, 2, TrialState.COMPLETED, 0.1),  # a stale (future) attempt
        store.record_progress(SID, 2, 0, good),  # a stale (past) attempt
        store.renew_lease(SID, 2, 7, "w1", 30),
        store.renew_lease(SID, 2, 1, "someone-else", 30),  # not the lease holder
        store.claim_trial(SID, 2, 1, worker="w2"),  # a duplicate delivery
        store.record_progress(SID, 3, 1, good),  # progress for a trial not running
        store.record_progress(SID, 2, 1, huge),  # over the size cap
        store.record_progress(SID, 2, 1, words),  # a non-numeric metric value
        store.record_progress(SID, 2, 1, fractional_step),
        store.record_progress(SID, 2, 1, bad_name),
    ]
    with pytest.raises(StoreError, match="objective must be finite"):
        store.finish_trial(SID, 2, 1, TrialState.COMPLETED, math.nan)

    # Then each got its refusal, each refusal was counted, and the store is byte-for-byte unchanged
    assert [o.value for o in outcomes] == [
        "already_finished",
        "unknown",
        "unknown",
        "stale",
        "stale",
        "stale",
        "not_running",
        "not_queued",
        "not_running",
        "invalid",
        "invalid",
        "invalid",
        "invalid",
    ]
    assert snapshot(store) == before
    assert store.rejections(SID) == {
        "already_finished": 1,
        "unknown": 2,
        "stale": 3,
        "not_running": 2,
        "not_queued": 1,
        "invalid_metrics": 4,
    }


def test_a_program_printing_bad_reports_gets_them_counted_and_keeps_its_good_ones(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a program that prints a non-numeric value, a fractional step and an oversized report among good ones
    (tmp_path / "noisy.py").write_text(
        "print('step=1 loss=0.9')\n"
        "print('loss=abc')\n"
        "print('step=1.5 loss=0.1')\n"
        "print(' '.join(f'm{i}=1' for i in range(500)))\n"
        "print('epoch 3: loss=0.2 is ordinary output')\n"
        "print('step=2 loss=0.4')\n"
    )
    sweep_file = write_sweep(
        tmp_path,
        """
        method: random
        metric: {name: loss}
        program: noisy.py
        parameters:
          x: {min: 0.0, max: 1.0}
        run_cap: 1
        """,
    )
    sweep_id = submit(procs, sweep_file)
    procs.start("controller")
    procs.start("worker", "--gpus", "none")

    # When it runs
    wait_until_done(store, sweep_id, timeout=60)

    # Then the good reports make the history and the objective; the bad ones are counted, not recorded
    trial = store.get_trial(sweep_id, 1)
    assert trial.state is TrialState.COMPLETED and trial.objective == 0.4
    assert [(p.step, p.values) for p in store.metric_history(sweep_id, 1)] == [(1, {"loss": 0.9}), (2, {"loss": 0.4})]
    assert trial.rejected_reports == {"non_numeric_metric": 1, "bad_step": 1, "oversized_report": 1}
    assert store.rejections(sweep_id) == {"non_numeric_metric": 1, "bad_step": 1, "oversized_report": 1}
