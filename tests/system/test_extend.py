"""`sweepctl extend SWEEP --run-cap N` (real Redis, controller and workers): a finished sweep re-opens and runs
exactly the trials the new budget adds, numbered on, none repeating a parameter set; a running sweep's new budget
outlives its controller; the embedded store works the same; and the sweeps extend cannot help are refused."""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path

import pytest

from controller.loop import Controller
from controller.scheduling import SweepMoment, plan
from sweepctl import lifecycle
from sweepctl.celery_app import make_celery
from sweepctl.errors import SweepStateError
from sweepctl.records import SweepState, Trial, TrialState
from sweepctl.settings import RedisSettings
from sweepctl.spec import Goal
from sweepctl.store import Outcome, Store
from tests.support.processes import Processes, child_env, kill_group, wait_for
from tests.system.helpers import read_run_log, submit, wait_until_done, write_sweep

pytestmark = pytest.mark.system

# TPE over 20 values, whose best is x=1: it keeps coming back to the same few, so only the store's
# refusal of a parameter set the sweep already has keeps 15 trials from repeating one.
SWEEP = """
method: bayes
metric: {name: loss, goal: minimize}
program: trial_program.py
parameters:
  x: {values: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]}
  sleep: {value: 0.3}
parallelism: 2
seed: 7
"""
# A killed controller's sweeps are free for another after this long (the default is 15 s).
CONTROLLER_ENV = {"SWEEPCTL_OWNER_LEASE_SECONDS": "3"}


def extend(procs: Processes, sweep_id: str, run_cap: int) -> dict:
    done = procs.run("extend", sweep_id, "--run-cap", str(run_cap), "--format", "json", check=True)
    return dict(json.loads(done.stdout))


def params_of(store: Store, sweep_id: str) -> list[str]:
    return [json.dumps(t.params, sort_keys=True) for t in store.get_trials(sweep_id)]


def test_a_running_sweeps_new_run_cap_outlives_its_controller_and_once_finished_extended_by_10_it_runs_exactly_10_more(
    tmp_path: Path, procs: Processes, store: Store
) -> None:
    # Given a TPE sweep of run_cap 3 that a controller has begun (no worker yet: it stays running, trials queued)
    sweep_id = submit(procs, write_sweep(tmp_path, SWEEP + "run_cap: 3\n"))
    run_log = tmp_path / "runs.jsonl"
    first = procs.start("controller", env=CONTROLLER_ENV)
    wait_for(lambda: store.trial_count(sweep_id) == 2, 60, "the controller to queue its first two trials")

    # When it is extended to 5 while it runs (it stays running)
    shown = extend(procs, sweep_id, 5)
    assert shown == {"sweep_id": sweep_id, "previous_run_cap": 3, "run_cap": 5, "created": 2, "state": "running", "reopened": False}
    # And its controller, which creates past the old cap, then dies outright, and another one takes the sweep over
    procs.start("worker", "--gpus", "none", "--concurrency", "2", env={"RUN_LOG": str(run_log)})
    wait_for(lambda: store.trial_count(sweep_id) >= 4, 60, "the controller to create past the old cap")
    kill_group(first.pid, signal.SIGKILL)
    first.wait(10)
    procs.start("controller", env=CONTROLLER_ENV)

    # Then the sweep runs to the new cap, exactly (the file's cap of 3 would have ended it with another reason)
    wait_until_done(store, sweep_id, timeout=120)
    assert store.get_sweep(sweep_id).reason == "run_cap=5 reached"
    wait_for(lambda: sweep_id not in store.live_sweep_ids() and store.sweep_owner(sweep_id) is None, 30, "the sweep let go")
    first_five = params_of(store, sweep_id)
    assert [t.number for t in store.get_trials(sweep_id)] == list(range(1, 6))

    # When the finished sweep is extended to run_cap 15
    shown = extend(procs, sweep_id, 15)

    # Then it says what it did: re-opened, from 5 trials and run_cap 5 to 15
    assert shown == {"sweep_id": sweep_id, "previous_run_cap": 5, "run_cap": 15, "created": 5, "state": "running", "reopened": True}
    # And the running controller takes it up again and runs it to its new cap
    wait_for(lambda: store.trial_count(sweep_id) > 5, 60, "a controller to create trials again")
    wait_until_done(store, sweep_id, timeout=180)
    sweep = store.get_sweep(sweep_id)
    assert sweep.state is SweepState.FINISHED and sweep.reason == "run_cap=15 reached" and sweep.ended_at is not None
    # And exactly 10 more trials ran, numbered 6..15, each once; the first 5 were not run again
    trials = store.get_trials(sweep_id)
    assert [t.number for t in trials] == list(range(1, 16))
    assert all(t.state is TrialState.COMPLETED and t.attempt == 1 for t in trials)
    assert Counter(r["number"] for r in read_run_log(run_log)) == Counter(range(1, 16))
    # And no trial repeated a parameter set: not one of the first 5, not one of each other
    params = params_of(store, sweep_id)
    assert params[:5] == first_five and len(set(params)) == 15

    # When it is asked for a run_cap not above the 15 trials it has
    done = procs.run("extend", sweep_id, "--run-cap", "15")
    # Then it is refused with exit status 2, naming the option and the count, and nothing changes
    assert done.returncode == 2 and "--run-cap 15: sweep" in done.stderr and "already has 15 trial(s)" in done.stderr
    assert store.sweep_state(sweep_id) is SweepState.FINISHED and sweep_id not in store.live_sweep_ids()


def test_extend_refuses_what_it_cannot_help_and_reopens_a_stopped_sweep(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given sweeps in each state extend treats apart, put there in this process (no controller: only states change
    # here; only extend is the command under test)
    path = write_sweep(tmp_path, SWEEP + "run_cap: 3\n")
    cancelled, failed, stopping, stopped, paused = (lifecycle.submit_sweep(store, path)[0].id for _ in range(5))
    assert lifecycle.cancel_sweep(store, cancelled)
    store.transition_sweep(failed, SweepState.FAILED, [SweepState.RUNNING], reason="4 trials failed (max_failures=3)")
    assert lifecycle.stop_sweep(store, stopping)
    store.transition_sweep(stopped, SweepState.STOPPED, [SweepState.RUNNING], reason="stopped by request")
    store.retire_sweep(stopped)
    assert lifecycle.pause_sweep(store, paused)

    # When each is extended / Then the ended-for-good ones are refused with exit status 2 and why
    for sweep_id, why in ((cancelled, "is cancelled: "), (failed, "is failed: "), (stopping, "once it is stopped")):
        done = procs.run("extend", sweep_id, "--run-cap", "10")
        assert done.returncode == 2 and why in done.stderr, done.stderr
        assert store.get_sweep(sweep_id).run_cap is None
    assert "max_failures" in procs.run("extend", failed, "--run-cap", "10").stderr
    # And an unknown sweep is refused the same way
    unknown = procs.run("extend", "nosuchsweep", "--run-cap", "10")
    assert unknown.returncode == 2 and "no sweep 'nosuchsweep'" in unknown.stderr
    # And a stopped sweep runs again: RUNNING, live for a controller, its end time cleared
    assert extend(procs, stopped, 10)["reopened"] is True
    again = store.get_sweep(stopped)
    assert (again.state, again.run_cap, again.ended_at) == (SweepState.RUNNING, 10, None) and stopped in store.live_sweep_ids()
    assert again.reason == "extended to run_cap=10"
    # And a paused one stays paused, with its new budget shown in the table form
    done = procs.run("extend", paused, "--run-cap", "6", check=True)
    assert "run_cap" in done.stdout and "6" in done.stdout and store.sweep_state(paused) is SweepState.PAUSED
    yaml_form = procs.run("extend", paused, "--run-cap", "7", "--format", "yaml", check=True).stdout
    assert "run_cap: 7" in yaml_form and "previous_run_cap: 6" in yaml_form
    assert store.get_spec(paused).run_cap == 7


def test_extend_on_the_embedded_store_then_the_agent_runs_the_added_trials(tmp_path: Path) -> None:
    # Given a folder's embedded store (no Redis given) where an agent ran a sweep of 2 trials to its end
    local = Processes(child_env(), cwd=tmp_path)
    try:
        state = ["--state-dir", str(tmp_path / "state")]
        created = local.run("sweep", str(write_sweep(tmp_path, SWEEP + "run_cap: 2\n")), *state, timeout=60)
        assert created.returncode == 0, created.stderr
        sweep_id = created.stdout.strip()
        assert local.run("agent", sweep_id, *state, timeout=120).returncode == 0
        # When it is extended to 4, and an agent started again
        done = local.run("extend", sweep_id, "--run-cap", "4", "--format", "json", *state, timeout=60)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["reopened"] is True
        assert local.run("agent", sweep_id, *state, timeout=120).returncode == 0
        # Then the sweep ran 2 more trials, 3 and 4, and finished again
        shown = json.loads(local.run("trials", sweep_id, "--format", "json", *state, timeout=60).stdout)
        assert [(t["number"], t["state"]) for t in shown] == [(n, "completed") for n in range(1, 5)]
        status = json.loads(local.run("status", sweep_id, "--format", "json", *state, timeout=60).stdout)
        assert (status["state"], status["reason"], status["run_cap"]) == ("finished", "run_cap=4 reached", 4)
    finally:
        local.close()


def test_other_processes_see_the_new_run_cap_and_a_sweep_reopened_after_its_end_was_read_stays_live(
    tmp_path: Path, store: Store, redis_settings: RedisSettings
) -> None:
    # Given a sweep of run_cap 3 whose file another process (a controller, the exporter) already parsed, then ended
    sweep, _ = lifecycle.submit_sweep(store, write_sweep(tmp_path, SWEEP + "run_cap: 3\n"))
    observer = Store.connect(redis_settings)
    assert observer.get_spec(sweep.id).run_cap == 3 and observer.spec_summary(observer.get_sweep(sweep.id)).run_cap == 3
    store.transition_sweep(sweep.id, SweepState.FINISHED, [SweepState.RUNNING], reason="run_cap=3 reached")
    # When it is extended to 9
    done = lifecycle.extend_sweep(store, sweep.id, 9)
    assert (done.previous_run_cap, done.run_cap, done.state, done.reopened) == (3, 9, SweepState.RUNNING, True)
    # Then the process that cached its file plans and shows with 9 (the sweep record decides, not the cache)
    assert observer.get_spec(sweep.id).run_cap == 9 and observer.spec_summary(observer.get_sweep(sweep.id)).run_cap == 9
    assert observer.sweep_progress(sweep.id, Goal.MINIMIZE, 15.0).run_cap == 9
    # And a controller that read it ended before the re-open cannot drop it from the live sweeps
    assert observer.retire_sweep(sweep.id) is False and sweep.id in store.live_sweep_ids()


def test_a_finished_sweep_whose_target_is_reached_is_not_reopened(tmp_path: Path, store: Store) -> None:
    # Given a sweep with target loss 0.5 whose one trial reached it, finished for that
    with_target = SWEEP.replace("{name: loss, goal: minimize}", "{name: loss, target: 0.5}")
    sweep, _ = lifecycle.submit_sweep(store, write_sweep(tmp_path, with_target))
    trial = Trial(sweep_id=sweep.id, number=1, state=TrialState.QUEUED, params={"x": 1, "sleep": 0.3}, seed=1, created_at=0.0)
    assert store.create_trial(trial) is Outcome.OK and store.claim_trial(sweep.id, 1, 1, worker="w1") is Outcome.OK
    assert store.finish_trial(sweep.id, 1, 1, TrialState.COMPLETED, 0.0) is Outcome.OK
    store.transition_sweep(sweep.id, SweepState.FINISHED, [SweepState.RUNNING], reason="target loss=0.5 reached")
    # When it is extended / Then it is refused: it would finish again at once
    with pytest.raises(SweepStateError, match="target is reached"):
        lifecycle.extend_sweep(store, sweep.id, 10)
    assert store.get_sweep(sweep.id).run_cap is None and store.sweep_state(sweep.id) is SweepState.FINISHED


def test_a_run_cap_raised_while_the_controller_judged_the_old_one_reached_reopens_the_sweep(
    tmp_path: Path, store: Store, redis_settings: RedisSettings
) -> None:
    # Given a running sweep of run_cap 2 whose 2 trials completed, and a controller that read it so
    sweep, _ = lifecycle.submit_sweep(store, write_sweep(tmp_path, SWEEP + "run_cap: 2\n"))
    for n in (1, 2):
        trial = Trial(sweep_id=sweep.id, number=n, state=TrialState.QUEUED, params={"x": n, "sleep": 0.3}, seed=n, created_at=0.0)
        assert store.create_trial(trial) is Outcome.OK and store.claim_trial(sweep.id, n, 1, worker="w1") is Outcome.OK
        assert store.finish_trial(sweep.id, n, 1, TrialState.COMPLETED, float(n)) is Outcome.OK
    controller = Controller(store, make_celery(redis_settings))
    ctx = controller._context(sweep.id)
    moment = SweepMoment(state=SweepState.RUNNING, created=2, active=0, trial_failures=0, best_objective=1.0)
    decision = plan(ctx.spec, moment)
    assert decision.end is SweepState.FINISHED
    # When `extend` raises its run_cap to 5 before the controller acts on that judgement (the sweep still runs)
    assert lifecycle.extend_sweep(store, sweep.id, 5).reopened is False
    controller._apply(ctx, decision, moment)
    # Then the end it wrote on the old budget is undone: the sweep runs again, and the next step creates trials
    # again (3 and 4: its parallelism of 2)
    again = store.get_sweep(sweep.id)
    assert (again.state, again.reason, again.ended_at) == (SweepState.RUNNING, "extended to run_cap=5", None)
    controller.step(sweep.id)
    assert [t.number for t in store.get_trials(sweep.id)] == [1, 2, 3, 4]
