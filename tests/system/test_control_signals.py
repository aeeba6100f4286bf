"""A running trial's worker reads its control when told (pub/sub), not every 200 ms, and misses no stop.

Real redis-server; `ControlSignals.due` is checked as the runner checks it (every 50 ms here) with the
store's scripts doing what the controller, the CLI and other folds' workers do.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from pathlib import Path

import pytest
import yaml

from sweepctl.embedded import EmbeddedRedis
from sweepctl.records import StopRequest, Sweep, SweepState, Trial, TrialState
from sweepctl.settings import RedisSettings
from sweepctl.store import Outcome, Store, keys
from sweepctl.store.control import ControlSignals
from sweepctl.sweepfile import parse_sweep
from tests.support.processes import wait_for
from workers.trial import RunnerSettings, TrialRunner, WorkerIdentity

pytestmark = pytest.mark.system

SID = "ctlsig01"
CHECK = 0.05
REQUEST = StopRequest(band=3, value=2.5, threshold=1.5, reason="hyperband: worse than the cut", at=1.0)


def running(store: Store, number: int, folds: int | None = None) -> None:
    if not store.redis.exists(keys.sweep_key(SID)):
        raw = {"metric": {"name": "loss"}, "parameters": {"x": {"min": 0, "max": 1}}, "program": "t.py"}
        if folds:
            raw["cross_validation"] = {"folds": folds}
        store.create_sweep(Sweep(id=SID, raw_spec=raw, state=SweepState.RUNNING, seed=7, created_at=time.time()))
    trial = Trial(sweep_id=SID, number=number, state=TrialState.QUEUED, params={"x": number / 10}, seed=1, folds=folds)
    assert store.create_trial(trial) is Outcome.OK
    for fold in [None] if folds is None else range(folds):
        assert store.claim_trial(SID, number, 1, fold=fold, worker=f"host/cpu{fold}/1", host="host") is Outcome.OK


def reads(signals: ControlSignals, number: int, seconds: float) -> list[float]:
    """When (seconds from now) a read was due, checking every CHECK seconds for `seconds`."""
    began = time.monotonic()
    due = []
    while (now := time.monotonic()) - began < seconds:
        if signals.due(SID, number, now):
            due.append(now - began)
        time.sleep(CHECK)
    return due


def settled(signals: ControlSignals, number: int) -> None:
    """Check until the subscription is confirmed and its catch-up read is done: then no read is due."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not reads(signals, number, 0.3):
            return
    raise AssertionError("reads still due 5 s after subscribing")


def test_a_quiet_trial_is_read_until_its_subscription_is_confirmed_then_only_at_the_fallback(store: Store) -> None:
    # Given a running trial and its worker's signals, with a 2 s fallback
    running(store, 1)
    signals = store.control_signals(fallback=2.0)
    # When it is checked as the runner checks it
    due = reads(signals, 1, 4.5)
    # Then a read is due at once (nothing is confirmed yet), then at each fallback only: not every check
    assert due[0] < CHECK
    later = [t for t in due if t > 0.5]
    assert 1 <= len(later) <= 3, due
    assert len(due) <= 6, due  # against 90 checks
    signals.close()


def test_a_stop_of_the_trial_and_a_change_of_the_sweep_are_told_at_once_and_other_trials_stops_are_not(store: Store) -> None:
    # Given trials 1 and 2 running, and trial 1's worker listening with a fallback far away
    running(store, 1), running(store, 2)
    signals = store.control_signals(fallback=60.0)
    settled(signals, 1)
    # When trial 2 is asked to stop / Then trial 1's worker is not woken
    assert store.request_stop(SID, 2, 1, REQUEST) is Outcome.OK
    assert reads(signals, 1, 0.5) == []
    # When trial 1 is asked to stop / Then its worker reads its control at the next check, and finds the request
    assert store.request_stop(SID, 1, 1, REQUEST) is Outcome.OK
    assert reads(signals, 1, 0.5)[:1] and reads(signals, 1, 0.3) == []
    assert store.trial_control(SID, 1) == (SweepState.RUNNING, REQUEST)
    # When the sweep is cancelled / Then it is told too
    assert store.transition_sweep(SID, SweepState.CANCELLED, [SweepState.RUNNING])
    assert reads(signals, 1, 0.5)[:1]
    assert store.trial_control(SID, 1)[0] is SweepState.CANCELLED
    signals.close()


def test_a_fold_that_fails_tells_the_workers_of_the_other_folds(store: Store) -> None:
    # Given a 3-fold trial whose folds all run, fold 0's worker listening
    running(store, 1, folds=3)
    signals = store.control_signals(fallback=60.0)
    settled(signals, 1)
    # When fold 2 fails (its worker's finish: the trial's other folds are to stop)
    assert store.finish_trial(SID, 1, 1, TrialState.FAILED, None, fold=2, ended_at=time.time(), error="exit 3") is Outcome.OK
    # Then fold 0's worker is told, and reads the request
    assert reads(signals, 1, 0.5)[:1]
    assert store.trial_control(SID, 1)[1] is not None
    signals.close()


def test_a_worker_switching_trials_leaves_the_old_trials_channel(store: Store) -> None:
    # Given a worker that ran trial 1, then runs trial 2
    running(store, 1), running(store, 2)
    signals = store.control_signals(fallback=60.0)
    settled(signals, 1)
    settled(signals, 2)
    # When trial 1 is asked to stop (a late decision) / Then trial 2's worker is not woken
    assert store.request_stop(SID, 1, 1, REQUEST) is Outcome.OK
    assert reads(signals, 2, 0.5) == []
    assert store.redis.pubsub_numsub(keys.trial_control_channel(SID, 1)) == [(keys.trial_control_channel(SID, 1), 0)]
    signals.close()


def test_a_dropped_subscription_makes_a_read_due_and_is_made_again(store: Store) -> None:
    # Given a listening worker (fallback 0.5 s)
    running(store, 1)
    signals = store.control_signals(fallback=0.5)
    settled_reads = reads(signals, 1, 1.2)
    assert len(settled_reads) <= 4
    # When Redis drops its subscription's connection
    assert store.redis.client_kill_filter(_type="pubsub") == 1
    # Then the next check reads (a stop could have been missed), and the subscription is back within the fallback
    assert reads(signals, 1, CHECK * 2)[:1]
    time.sleep(0.6)
    reads(signals, 1, 0.5)
    assert store.redis.pubsub_numsub(keys.trial_control_channel(SID, 1))[0][1] == 1
    # And a stop is told through it
    settled(signals, 1)
    assert store.request_stop(SID, 1, 1, REQUEST) is Outcome.OK
    assert reads(signals, 1, 0.5)[:1]
    signals.close()


def test_a_user_not_allowed_the_channels_is_read_at_every_fallback_and_told_why_once(
    redis_server: EmbeddedRedis, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an ACL user with every command and key but no pub/sub channel (an ACL file from before the channels)
    store.redis.execute_command("ACL", "SETUSER", "older", "on", ">older-pw", "~*", "resetchannels", "+@all")
    older = Store.connect(RedisSettings.from_url(f"redis://older:older-pw@127.0.0.1:{redis_server.port}/0"))
    running(store, 1)
    signals = older.control_signals(fallback=0.5)
    # When its worker checks for 2 s
    with caplog.at_level(logging.WARNING, logger="sweepctl.store.control"):
        due = reads(signals, 1, 2.0)
    # Then a read is due at least every fallback (stops still arrive, within a second), and the log says why, once
    gaps = [b - a for a, b in zip([0.0, *due], due)]
    assert due and max(gaps) < 0.5 + 4 * CHECK, due
    warnings = [r.getMessage() for r in caplog.records if "listening for trial stops failed" in r.getMessage()]
    assert len(warnings) == 1 and "&sweepctl:control:*" in warnings[0], warnings
    print(warnings[0])
    signals.close()


def test_a_real_worker_stops_its_trial_when_told_long_before_its_fallback_read(tmp_path: Path, store: Store) -> None:
    # Given a worker slot (the real runner and trial process) whose fallback read is a minute away
    (tmp_path / "train.py").write_text(
        "import time\nfor i in range(600):\n    print(f'loss={1 / (i + 1)}', flush=True)\n    time.sleep(0.1)\n"
    )
    spec = parse_sweep(yaml.safe_load("method: random\nmetric: {name: loss}\nprogram: train.py\nparameters:\n  x: {value: 1}\n"))
    store.create_sweep(
        Sweep(id=SID, raw_spec=dict(spec.raw), state=SweepState.RUNNING, seed=1, created_at=time.time(), workdir=str(tmp_path))
    )
    store.create_trial(Trial(sweep_id=SID, number=1, state=TrialState.QUEUED, params={"x": 1}, seed=1))
    runner = TrialRunner(store, WorkerIdentity(worker_id="host/cpu0/1", host="host", slot="cpu0"), RunnerSettings(control_fallback=60.0))
    ended: list[TrialState | None] = []
    thread = threading.Thread(target=lambda: ended.append(runner.run(SID, 1, 1)))
    thread.start()
    try:
        wait_for(lambda: store.metric_history(SID, 1), 30, "the trial's first metric points")
        channel = keys.trial_control_channel(SID, 1)
        wait_for(lambda: store.redis.pubsub_numsub(channel)[0][1] == 1, 10, "the worker to listen on the trial's channel")
        time.sleep(0.5)  # past the read that follows the subscription's confirmation
        # When the controller asks it to stop
        asked = time.monotonic()
        assert store.request_stop(SID, 1, 1, REQUEST) is Outcome.OK
        thread.join(30)
        # Then the trial ended stopped, told through its channel: within seconds, not at the fallback a minute away
        assert ended == [TrialState.STOPPED]
        assert time.monotonic() - asked < 20
    finally:
        runner.close()
        thread.join(30)
    trial = store.get_trial(SID, 1)
    assert trial.state is TrialState.STOPPED and trial.stop_requested == dataclasses.asdict(REQUEST)
