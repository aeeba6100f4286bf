"""Deleting, archiving and restoring sweeps at the store (a real redis-server; the workers' and controllers' writes
made as they make them): no key of a deleted sweep is left, none comes back from a late write, an interrupted delete
is finished by running it again, and an archive restores every trial record and metric history."""

from __future__ import annotations

import gzip
import json
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from controller.creation import warm_observations
from controller.loop import Controller
from sweepctl import codec, lifecycle, removal
from sweepctl.celery_app import make_celery
from sweepctl.errors import ArchiveError, StoreError, SweepStateError, UnknownSweepError
from sweepctl.export import json_rows, load_trial_table
from sweepctl.records import MetricPoint, StopRequest, SweepState, Trial, TrialState
from sweepctl.settings import RedisSettings
from sweepctl.spec import Goal
from sweepctl.store import Outcome, Requeue, Store, keys
from tests.system.helpers import write_sweep

pytestmark = pytest.mark.system

SWEEP = """
method: random
metric: {name: loss, goal: minimize}
program: trial_program.py
parameters:
  x: {min: 0.0, max: 2.0}
"""


def keys_naming(store: Store, sweep_id: str) -> list[str]:
    """Every key whose name holds the sweep's id (SCAN over the whole keyspace)."""
    return sorted(store.redis.scan_iter(match=f"*{sweep_id}*", count=1000))


def indexes_listing(store: Store, sweep_id: str) -> dict[str, bool]:
    """Whether each global index still names the sweep."""
    return {
        "sweeps": store.redis.zscore(keys.SWEEPS, sweep_id) is not None,
        "live": bool(store.redis.sismember(keys.LIVE_SWEEPS, sweep_id)),
        "leases": any(m.startswith(f"{sweep_id}:") for m in store.redis.zrange(keys.LEASES, 0, -1)),
        "events": sweep_id in store.redis.lrange(keys.EVENTS, 0, -1),
    }


def points(n: int, *, nan_at: int | None = None) -> list[MetricPoint]:
    return [MetricPoint(1700000100.0 + i, i, {"loss": math.nan if i == nan_at else 1.0 / (i + 1), "acc": i / 10}) for i in range(n)]


def created(store: Store, sweep_id: str, number: int) -> None:
    trial = Trial(sweep_id=sweep_id, number=number, state=TrialState.QUEUED, params={"x": number / 4}, seed=number, created_at=1.0)
    assert store.create_trial(trial) is Outcome.OK


def a_sweep_with_every_kind_of_trial(store: Store, tmp_path: Path) -> str:
    """A running sweep: 1 completed, 2 completed on its second attempt (the first lost), 3 failed with a NaN in its
    history, 4 stopped early, 5 running (leased), 6 queued; refusals, suggestion latencies and an owner recorded."""
    sweep, _ = lifecycle.submit_sweep(store, write_sweep(tmp_path, SWEEP))
    sid = sweep.id
    for n in range(1, 7):
        created(store, sid, n)
    for n in (1, 2, 3, 4, 5):
        assert store.claim_trial(sid, n, 1, worker="h/0/1", host="h", lease_seconds=60) is Outcome.OK
    assert store.record_progress(sid, 1, 1, points(5), first_point=0) is Outcome.OK
    assert store.finish_trial(sid, 1, 1, TrialState.COMPLETED, 0.2, points=points(2)) is Outcome.OK
    assert store.requeue_trial(sid, 2, max_lost=3, reason="lease_expired", attempt=1) is Requeue.REQUEUED
    assert store.claim_trial(sid, 2, 2, worker="h/1/2", host="h") is Outcome.OK
    assert store.finish_trial(sid, 2, 2, TrialState.COMPLETED, 0.1, points=points(3)) is Outcome.OK
    assert store.finish_trial(sid, 3, 1, TrialState.FAILED, points=points(4, nan_at=2), error="boom", exit_code=3) is Outcome.OK
    stop = StopRequest(band=1, value=0.9, threshold=0.5, reason="worse than the median at step 1", at=1700000200.0)
    assert store.request_stop(sid, 4, 1, stop) is Outcome.OK
    assert store.finish_trial(sid, 4, 1, TrialState.STOPPED, points=points(2), error=stop.reason) is Outcome.OK
    assert store.record_progress(sid, 5, 1, points(3)) is Outcome.OK
    store.count_rejections(sid, {"non_numeric_metric": 2})
    store.record_suggestions(sid, [0.01, 0.2])
    assert store.own_sweep(sid, "host/1/ctl", 15.0)
    return sid


def test_delete_leaves_no_key_of_the_sweep_and_the_late_writes_of_its_worker_and_controller_bring_none_back(
    tmp_path: Path, store: Store
) -> None:
    # Given a running sweep with a running and a queued trial (and every other kind), owned by a controller
    sid = a_sweep_with_every_kind_of_trial(store, tmp_path)
    other = lifecycle.submit_sweep(store, write_sweep(tmp_path, SWEEP, "other.yaml"))[0].id  # a neighbour that must stay
    created(store, other, 1)
    assert len(keys_naming(store, sid)) > 10
    # When it is deleted without --force / Then it is refused as live, and nothing is gone
    with pytest.raises(SweepStateError, match=f"sweep {sid} is running: delete refuses a live sweep"):
        removal.delete_sweep(store, sid)
    assert store.trial_count(sid) == 6 and store.sweep_state(sid) is SweepState.RUNNING

    # When it is deleted with --force, without waiting for its running trial, after writing its archive
    done = removal.delete_sweep(store, sid, force=True, wait_seconds=0, archive_to=tmp_path / "forced.json.gz")
    # Then it was cancelled first, and every key of it, and its id in every index, is gone
    assert (done.state, done.forced, done.trials) == (SweepState.RUNNING, True, 6)
    assert keys_naming(store, sid) == []
    assert indexes_listing(store, sid) == {"sweeps": False, "live": False, "leases": False, "events": False}

    # When the worker still running trial 5 and the controller write late, as they do
    late = [
        store.renew_lease(sid, 5, 1, "h/0/1", 60),
        store.record_progress(sid, 5, 1, points(2), first_point=3),
        store.finish_trial(sid, 5, 1, TrialState.CANCELLED, points=points(1), error="the sweep was cancelled"),
        store.claim_trial(sid, 6, 1, worker="h/1/2"),
        store.create_trial(Trial(sweep_id=sid, number=7, state=TrialState.QUEUED, params={"x": 1.75}, seed=7)),
        store.request_stop(sid, 5, 1, StopRequest(band=2, value=1.0, threshold=0.5, reason="late", at=0.0)),
    ]
    assert store.requeue_trial(sid, 5, max_lost=3, reason="handed_back", attempt=1) is Requeue.UNKNOWN
    store.count_rejections(sid, {"non_numeric_metric": 1})
    store.mark_sent(sid, [5, 6], time.time())
    store.update_trial(sid, 6, sent_at=time.time())
    store.record_suggestions(sid, [0.05])
    assert store.own_sweep(sid, "host/2/ctl", 15.0) is False
    assert store.retire_sweep(sid) is True
    with pytest.raises(UnknownSweepError):
        store.transition_sweep(sid, SweepState.RUNNING, [SweepState.CANCELLED])
    # Then each is refused without counting, the running trial reads the sweep as being deleted (its worker stops it)
    assert [o.value for o in late] == ["unknown", "unknown", "unknown", "unknown", "sweep_not_running", "unknown"]
    assert store.trial_control(sid, 5)[0] is SweepState.DELETING
    # And still no key of the sweep exists; its neighbour is whole
    assert keys_naming(store, sid) == []
    assert store.trial_count(other) == 1 and other in store.live_sweep_ids()

    # And the archive written before the delete restores it as the cancelled sweep it became: the trial that was
    # running and the one queued then are recorded cancelled (a restored sweep runs nothing), the others as they were
    restored = removal.restore_sweep(store, tmp_path / "forced.json.gz")
    assert (restored.sweep_id, restored.state, restored.trials) == (sid, SweepState.CANCELLED, 6)
    states = {t.number: (t.state, t.error) for t in store.get_trials(sid)}
    assert states[5] == (TrialState.CANCELLED, "running when its sweep was archived; a restored sweep runs nothing")
    assert states[6] == (TrialState.CANCELLED, "the sweep was cancelled")
    assert [states[n][0] for n in (1, 2, 3, 4)] == [TrialState.COMPLETED, TrialState.COMPLETED, TrialState.FAILED, TrialState.STOPPED]
    assert store.active_numbers(sid) == [] and sid not in store.live_sweep_ids()


def test_an_archive_restores_every_trial_record_and_metric_history_and_the_restored_sweep_is_read_never_run(
    tmp_path: Path, store: Store
) -> None:
    # Given a sweep whose trials all ended (and it with them)
    sid = a_sweep_with_every_kind_of_trial(store, tmp_path)
    assert store.finish_trial(sid, 5, 1, TrialState.COMPLETED, 0.3, points=points(1)) is Outcome.OK
    assert store.claim_trial(sid, 6, 1, worker="h/0/1") is Outcome.OK
    assert store.finish_trial(sid, 6, 1, TrialState.COMPLETED, 0.4) is Outcome.OK
    store.transition_sweep(sid, SweepState.FINISHED, [SweepState.RUNNING], reason="run_cap=6 reached", ended_at=1700000900.0)
    assert store.retire_sweep(sid)
    before = {
        "sweep": store.get_sweep(sid),
        "trials": [codec.encode_trial(t) for t in store.get_trials(sid)],
        "histories": {n: store.redis.lrange(keys.metrics_key(sid, n), 0, -1) for n in range(1, 7)},
        "finished": store.finished_numbers(sid),
        "objective": store.objective_scores(sid),
        "counts": store.counts(sid),
        "rejections": store.rejections(sid),
        "stats": store.sweep_stats(sid),
        "rows": json_rows(load_trial_table(store, sid)),
    }
    assert store.get_trial(sid, 2).lost and math.isnan(store.metric_history(sid, 3)[2].values["loss"])

    # When it is deleted with an archive, then the archive restored
    path = tmp_path / "sweep.json.gz"
    done = removal.delete_sweep(store, sid, archive_to=path)
    total = sum(len(h) for h in before["histories"].values())
    assert done.archive is not None and (done.archive.trials, done.archive.points) == (6, total) and keys_naming(store, sid) == []
    restored = removal.restore_sweep(store, path, now=1700009999.0)

    # Then every trial record (earlier attempts included), every metric history and every index is as it was
    assert (restored.sweep_id, restored.trials, restored.points, restored.state) == (sid, 6, total, SweepState.FINISHED)
    assert [codec.encode_trial(t) for t in store.get_trials(sid)] == before["trials"]
    assert {n: store.redis.lrange(keys.metrics_key(sid, n), 0, -1) for n in range(1, 7)} == before["histories"]
    again = {"finished": store.finished_numbers(sid), "objective": store.objective_scores(sid), "counts": store.counts(sid)}
    assert again == {k: before[k] for k in ("finished", "objective", "counts")}
    assert (store.rejections(sid), store.sweep_stats(sid)) == (before["rejections"], before["stats"])
    assert store.get_sweep(sid) == replace(before["sweep"], restored_at=1700009999.0)
    assert store.best_trial(sid, Goal.MINIMIZE).number == 2  # type: ignore[union-attr]
    # And the archive is the export's rows plus the records: its rows are `export --format json`'s
    document = json.loads(gzip.decompress(path.read_bytes()))
    assert [t["row"] for t in document["trials"]] == before["rows"] == json_rows(load_trial_table(store, sid))
    assert (document["format"], document["version"]) == ("sweepctl-archive", 1)

    # And it is listed, but never live: no controller takes it, `extend` and `retry` refuse it
    assert sid in store.sweep_ids() and sid not in store.live_sweep_ids()
    with pytest.raises(SweepStateError, match="restored from an archive"):
        lifecycle.extend_sweep(store, sid, 20)
    with pytest.raises(SweepStateError, match="restored from an archive: it is kept to read, never run again"):
        lifecycle.retry_trials(store, sid, (TrialState.FAILED, TrialState.LOST, TrialState.CANCELLED))
    # And a new sweep warm-starts from it: its 6 finished trials are observations, the 4 completed with their result
    spec = replace(store.get_spec(sid), warm_sweeps=(sid,))
    observed = warm_observations(store, spec)
    assert len(observed) == 6 and sorted(o.loss for o in observed if o.loss is not None) == [0.1, 0.2, 0.3, 0.4]

    # When it is restored again / Then it is refused (the id exists), unchanged; under --as it goes beside
    with pytest.raises(SweepStateError, match=f"sweep {sid} exists \\(finished\\)"):
        removal.restore_sweep(store, path)
    beside = removal.restore_sweep(store, path, as_id="copy-1")
    assert beside.sweep_id == "copy-1" and store.get_trial("copy-1", 2).sweep_id == "copy-1"
    assert [codec.encode_trial(t)["params"] for t in store.get_trials("copy-1")] == [t["params"] for t in before["trials"]]
    with pytest.raises(Exception, match="--as 'no way': expected 1 to 64 letters"):
        removal.restore_sweep(store, path, as_id="no way")


def test_an_interrupted_delete_is_finished_by_running_it_again(tmp_path: Path, store: Store) -> None:
    # Given an ended sweep of 5 trials whose delete stopped after its first batch of 2 trials
    sweep, _ = lifecycle.submit_sweep(store, write_sweep(tmp_path, SWEEP))
    sid = sweep.id
    for n in range(1, 6):
        created(store, sid, n)
        assert store.claim_trial(sid, n, 1, worker="w") is Outcome.OK
        assert store.finish_trial(sid, n, 1, TrialState.COMPLETED, n / 10, points=points(2)) is Outcome.OK
    store.transition_sweep(sid, SweepState.STOPPED, [SweepState.RUNNING], reason="stopped by request")
    assert store.move_sweep(sid, SweepState.DELETING, [SweepState.STOPPED]) is None
    assert store.drop_trials(sid, batch=2) == 2
    # Then it shows as deleting; it cannot be archived any more (some of it is gone), nor its record dropped early
    assert store.sweep_state(sid) is SweepState.DELETING and sid in store.sweep_ids()
    with pytest.raises(SweepStateError, match="is being deleted already"):
        removal.delete_sweep(store, sid, archive_to=tmp_path / "late.json")
    assert not (tmp_path / "late.json").exists()
    with pytest.raises(StoreError, match="trials are left"):
        store.drop_sweep(sid)
    # And `extend` and `cancel` leave it alone
    with pytest.raises(SweepStateError, match="is being deleted"):
        lifecycle.extend_sweep(store, sid, 10)
    assert lifecycle.cancel_sweep(store, sid) is False

    # When the delete is run again / Then it finishes: the 3 trials left, then the record
    done = removal.delete_sweep(store, sid)
    assert (done.state, done.trials) == (SweepState.DELETING, 3)
    assert keys_naming(store, sid) == [] and sid not in store.sweep_ids()
    # And a third run says there is no such sweep
    with pytest.raises(UnknownSweepError):
        removal.delete_sweep(store, sid)


def test_the_last_step_keeps_a_sweep_that_is_not_being_deleted_and_a_foreign_file_is_never_overwritten(
    tmp_path: Path, store: Store
) -> None:
    # Given a finished sweep without trials, and a file of the user's where its archive would go
    sweep, _ = lifecycle.submit_sweep(store, write_sweep(tmp_path, SWEEP))
    store.transition_sweep(sweep.id, SweepState.FINISHED, [SweepState.RUNNING], reason="done")
    notes = tmp_path / "notes.json"
    notes.write_text('{"mine": true}')
    # When its record is dropped without its delete / Then it is refused and kept
    with pytest.raises(StoreError, match="not being deleted"):
        store.drop_sweep(sweep.id)
    # When it is deleted to the user's file / Then refused: the file and the sweep are untouched
    with pytest.raises(ArchiveError, match="exists and is not an archive of sweep"):
        removal.delete_sweep(store, sweep.id, archive_to=notes)
    assert notes.read_text() == '{"mine": true}' and store.sweep_state(sweep.id) is SweepState.FINISHED


def test_a_controller_lets_a_sweep_being_deleted_go_and_forgets_one_deleted_between_its_passes(
    tmp_path: Path, store: Store, redis_settings: RedisSettings
) -> None:
    # Given two running sweeps a controller serves: it owns both and created their trials
    path = write_sweep(tmp_path, SWEEP + "run_cap: 2\nparallelism: 2\n")
    first, second = (lifecycle.submit_sweep(store, path)[0].id for _ in range(2))
    controller = Controller(store, make_celery(redis_settings))
    controller._pass(store.live_sweep_ids())
    assert store.trial_count(first) == store.trial_count(second) == 2 and store.sweep_owner(first) == controller.id
    # When the first is marked DELETING (a delete under way) / Then its next step lets it go: no context, no owner
    assert store.move_sweep(first, SweepState.DELETING, [SweepState.RUNNING]) is None
    assert controller.step(first) is False
    assert first not in controller._contexts and store.sweep_owner(first) is None and store.trial_count(first) == 2
    # When the second is deleted outright between two passes / Then the controller forgets it and writes none of it back
    removal.delete_sweep(store, second, force=True, wait_seconds=0)
    controller._pass(store.live_sweep_ids())
    assert second not in controller._contexts and keys_naming(store, second) == []


def test_delete_also_removes_a_k_fold_trials_folds_and_a_retried_trials_earlier_history(tmp_path: Path, store: Store) -> None:
    # Given an ended 2-fold sweep whose trial has both fold records with histories, one fold still leased
    folded = lifecycle.submit_sweep(store, write_sweep(tmp_path, SWEEP + "cross_validation: {folds: 2}\n", "folds.yaml"))[0].id
    trial = Trial(sweep_id=folded, number=1, state=TrialState.QUEUED, params={"x": 0.5}, seed=1, created_at=1.0, folds=2)
    assert store.create_trial(trial) is Outcome.OK
    for fold in (0, 1):
        assert store.claim_trial(folded, 1, 1, fold=fold, lease_seconds=60, worker=f"h/cpu{fold}/1", host="h") is Outcome.OK
    assert store.finish_trial(folded, 1, 1, TrialState.COMPLETED, 0.5, fold=0, points=points(3), ended_at=2.0) is Outcome.OK
    assert store.transition_sweep(folded, SweepState.CANCELLED, [SweepState.RUNNING], reason="test", ended_at=3.0)
    # And an ended sweep whose failed trial was retried and failed again (attempt 1's history kept aside)
    retried = lifecycle.submit_sweep(store, write_sweep(tmp_path, SWEEP, "retried.yaml"))[0].id
    created(store, retried, 1)
    assert store.claim_trial(retried, 1, 1, worker="h/0/1", host="h") is Outcome.OK
    assert store.finish_trial(retried, 1, 1, TrialState.FAILED, None, points=points(2), exit_code=3) is Outcome.OK
    assert [t.number for t in lifecycle.retry_trials(store, retried, (TrialState.FAILED,)).retried] == [1]
    assert store.claim_trial(retried, 1, 2, worker="h/0/1", host="h") is Outcome.OK
    assert store.finish_trial(retried, 1, 2, TrialState.FAILED, None, points=points(2), exit_code=3) is Outcome.OK
    assert store.transition_sweep(retried, SweepState.FINISHED, [SweepState.RUNNING], reason="test", ended_at=3.0)
    assert store.redis.exists(keys.attempt_metrics_key(retried, 1, 1), keys.fold_metrics_key(folded, 1, 0)) == 2
    # When both are deleted / Then no key names either, and no index or lease does
    for sid in (folded, retried):
        removal.delete_sweep(store, sid, wait_seconds=0, force=True)
        assert keys_naming(store, sid) == []
        assert not any(indexes_listing(store, sid).values())


def side_records(store: Store, sweep_id: str) -> dict[str, Any]:
    """The trials' records and histories, their folds' (records, histories) and earlier attempts' histories (NaN-safe)."""
    trials = store.get_trials(sweep_id)

    def history(number: int, **which: int) -> list[str]:
        return [codec.encode_point(p) for p in store.metric_history(sweep_id, number, **which)]

    return {
        "trials": [codec.encode_trial(t) for t in trials],
        "histories": {t.number: history(t.number) for t in trials},
        "folds": {n: [codec.encode_trial(f) for f in found] for n, found in store.get_folds(sweep_id, trials).items()},
        "fold_histories": {(t.number, f): history(t.number, fold=f) for t in trials for f in range(t.folds or 0)},
        "attempt_histories": {(t.number, a): history(t.number, attempt=a) for t in trials for a in range(1, t.attempt)},
    }


def test_an_archive_restores_a_k_fold_trials_folds_and_a_retried_trials_earlier_history(tmp_path: Path, store: Store) -> None:
    # Given an ended 2-fold sweep whose trial completed both folds, each with a history of its own (a NaN in fold 0's)
    folded = lifecycle.submit_sweep(store, write_sweep(tmp_path, SWEEP + "cross_validation: {folds: 2}\n", "folds.yaml"))[0].id
    trial = Trial(sweep_id=folded, number=1, state=TrialState.QUEUED, params={"x": 0.5}, seed=1, created_at=1.0, folds=2)
    assert store.create_trial(trial) is Outcome.OK
    for fold in (0, 1):
        assert store.claim_trial(folded, 1, 1, fold=fold, lease_seconds=60, worker=f"h/cpu{fold}/1", host="h") is Outcome.OK
        done = store.finish_trial(folded, 1, 1, TrialState.COMPLETED, 0.5 + fold, fold=fold, points=points(3 - fold, nan_at=1 - fold))
        assert done is Outcome.OK
    assert store.transition_sweep(folded, SweepState.FINISHED, [SweepState.RUNNING], reason="test", ended_at=3.0)
    # And an ended sweep whose failed trial was retried and failed again (attempt 1's 3 points kept aside)
    retried = lifecycle.submit_sweep(store, write_sweep(tmp_path, SWEEP, "retried.yaml"))[0].id
    created(store, retried, 1)
    assert store.claim_trial(retried, 1, 1, worker="h/0/1", host="h") is Outcome.OK
    assert store.finish_trial(retried, 1, 1, TrialState.FAILED, None, points=points(3), exit_code=3) is Outcome.OK
    assert [t.number for t in lifecycle.retry_trials(store, retried, (TrialState.FAILED,)).retried] == [1]
    assert store.claim_trial(retried, 1, 2, worker="h/0/1", host="h") is Outcome.OK
    assert store.finish_trial(retried, 1, 2, TrialState.FAILED, None, points=points(2), exit_code=3) is Outcome.OK
    assert store.transition_sweep(retried, SweepState.FINISHED, [SweepState.RUNNING], reason="test", ended_at=3.0)
    before = {sid: side_records(store, sid) for sid in (folded, retried)}
    assert store.get_trial(folded, 1).state is TrialState.COMPLETED
    assert [len(h) for h in before[folded]["fold_histories"].values()] == [3, 2]
    assert [len(h) for h in before[retried]["attempt_histories"].values()] == [3]

    for sid, total in ((folded, 5), (retried, 5)):
        # When each is deleted with an archive, then restored
        done = removal.delete_sweep(store, sid, archive_to=tmp_path / f"{sid}.json")
        assert done.archive is not None and done.archive.points == total and keys_naming(store, sid) == []
        restored = removal.restore_sweep(store, tmp_path / f"{sid}.json")
        # Then its folds' records and histories and its earlier attempt's history are back, as are its records
        assert restored.points == total and side_records(store, sid) == before[sid]
        # When deleted again / Then no key names it, and no index does
        removal.delete_sweep(store, sid)
        assert keys_naming(store, sid) == [] and not any(indexes_listing(store, sid).values())
