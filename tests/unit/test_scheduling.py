"""Scheduling as a pure function of a snapshot: how many trials to create and when a sweep ends."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from controller.scheduling import Plan, SweepMoment, plan, trial_seed
from sweepctl.records import SweepState
from sweepctl.spec import SweepSpec
from sweepctl.sweepfile import parse_sweep


def spec(*, goal: str = "minimize", target: float | None = None, **top: Any) -> SweepSpec:
    """A valid sweep with the given top-level keys (run_cap, parallelism, max_failures, ...)."""
    metric: dict[str, Any] = {"name": "loss", "goal": goal}
    if target is not None:
        metric["target"] = target
    doc = {"metric": metric, "parameters": {"x": {"min": 0.0, "max": 1.0}}, "program": "train.py", **top}
    return parse_sweep(doc)


RUNNING = SweepMoment(state=SweepState.RUNNING, created=0, active=0, trial_failures=0, best_objective=None)


def snap(**changes: Any) -> SweepMoment:
    return replace(RUNNING, **changes)


# --- how many trials to create -------------------------------------------------------


def test_a_fresh_sweep_fills_its_parallelism() -> None:
    assert plan(spec(parallelism=4, run_cap=10), RUNNING) == Plan(create=4)


@pytest.mark.parametrize(("active", "expected"), [(0, 4), (1, 3), (3, 1), (4, 0)])
def test_only_free_parallel_slots_get_new_trials(active: int, expected: int) -> None:
    # Given a sweep with `active` trials queued or running out of parallelism 4
    # When planned / Then only the free room is filled and the sweep keeps running
    assert plan(spec(parallelism=4), snap(created=active, active=active)) == Plan(create=expected)


@pytest.mark.parametrize(
    ("method", "live_workers", "expected"),
    [("tpe", 3, 3), ("tpe", 0, 1), ("random", 3, 9), ("grid", 3, 9), ("random", 0, 3)],
)
def test_without_parallelism_tpe_gets_one_trial_per_live_worker_and_random_or_grid_queue_more(
    method: str, live_workers: int, expected: int
) -> None:
    # Given no `parallelism` key: TPE suggests as late as it can; non-learning methods keep
    # each worker's next trials waiting in the broker
    s = spec(method=method, run_cap=100, parameters={"x": {"values": list(range(50))}})
    assert plan(s, snap(live_workers=live_workers)) == Plan(create=expected)
    # and the explicit key always wins
    assert plan(replace(s, parallelism=1), snap(live_workers=live_workers)) == Plan(create=1)


@pytest.mark.parametrize(
    ("method", "live_workers", "folds", "expected"),
    [("tpe", 3, 5, 1), ("tpe", 10, 5, 2), ("tpe", 11, 5, 3), ("random", 3, 5, 2), ("random", 0, 2, 2), ("grid", 4, 2, 6)],
)
def test_a_k_fold_sweep_without_parallelism_gets_one_fold_task_per_worker_in_whole_trials(
    method: str, live_workers: int, folds: int, expected: int
) -> None:
    # Given a k-fold sweep (each trial k fold tasks) and no `parallelism`: ceil(workers / k) trials fill the workers
    # with folds (three times that for random and grid, queued behind); `parallelism` counts trials
    s = spec(method=method, run_cap=100, parameters={"x": {"values": list(range(50))}}, cross_validation={"folds": folds})
    assert plan(s, snap(live_workers=live_workers)) == Plan(create=expected)
    assert plan(replace(s, parallelism=2), snap(live_workers=live_workers)) == Plan(create=2)


@pytest.mark.parametrize(
    ("active", "created", "expected"),
    [
        (12, 12, 0),  # full: one running and two queued per worker
        (11, 13, 0),  # one place free: less than a worker's worth, the queue still holds work
        (8, 14, 4),  # a worker's worth free: refill it all in one pass
        (5, 15, 7),  # more than that: fill every place
        (11, 97, 1),  # the budget's last trial is created even though it is not a whole batch
        (8, 100, 0),  # budget used up (and trials active: the sweep ends later)
    ],
)
def test_random_search_refills_a_workers_worth_at_a_time(active: int, created: int, expected: int) -> None:
    # Given a random sweep on 4 live workers with the default parallelism (3 per worker)
    s = spec(method="random", run_cap=98)
    assert plan(s, snap(live_workers=4, active=active, created=created)) == Plan(create=expected)


def test_tpe_and_an_explicit_parallelism_fill_each_free_place_at_once() -> None:
    assert plan(spec(method="tpe"), snap(live_workers=4, active=3, created=3)) == Plan(create=1)
    assert plan(spec(method="random", parallelism=12), snap(live_workers=4, active=11, created=11)) == Plan(create=1)


def test_more_active_trials_than_parallelism_creates_none() -> None:
    # Given parallelism lowered below what is already running / Then nothing new, and no negative count
    assert plan(spec(parallelism=2), snap(created=5, active=5)) == Plan(create=0)


def test_run_cap_limits_the_last_batch() -> None:
    # Given 8 of 10 trials created and room for 4 / When planned / Then only the 2 the cap allows
    assert plan(spec(parallelism=4, run_cap=10), snap(created=8, active=0)) == Plan(create=2)


def test_an_uncapped_sweep_keeps_creating() -> None:
    assert plan(spec(parallelism=3), snap(created=10_000, active=1)) == Plan(create=2)


# --- when a sweep ends -------------------------------------------------------------------


def test_reaching_run_cap_finishes_the_sweep_once_nothing_is_active() -> None:
    # Given all 10 trials created
    s = spec(parallelism=4, run_cap=10)
    # When some still run / Then wait: create nothing and do not end yet
    assert plan(s, snap(created=10, active=2)) == Plan()
    # When none is active / Then FINISHED, saying why
    assert plan(s, snap(created=10, active=0)) == Plan(end=SweepState.FINISHED, reason="run_cap=10 reached")


@pytest.mark.parametrize(
    ("goal", "target", "best", "reached"),
    [
        ("minimize", 0.1, 0.05, True),
        ("minimize", 0.1, 0.1, True),
        ("minimize", 0.1, 0.2, False),
        ("maximize", 0.9, 0.95, True),
        ("maximize", 0.9, 0.9, True),
        ("maximize", 0.9, 0.5, False),
    ],
)
def test_reaching_the_target_finishes_the_sweep(goal: str, target: float, best: float, reached: bool) -> None:
    # Given a sweep with a target and a best objective so far / When planned
    result = plan(spec(goal=goal, target=target, parallelism=2), snap(created=3, best_objective=best))
    # Then it finishes when the best meets the target for its goal, else keeps filling slots
    if reached:
        assert result == Plan(end=SweepState.FINISHED, reason=f"target loss={target:g} reached")
    else:
        assert result == Plan(create=2)


def test_a_reached_target_waits_for_active_trials() -> None:
    assert plan(spec(target=0.1, parallelism=2), snap(created=3, active=1, best_objective=0.0)) == Plan()


def test_a_target_without_any_objective_yet_keeps_going() -> None:
    assert plan(spec(target=0.1, parallelism=2), snap(created=3, best_objective=None)) == Plan(create=2)


@pytest.mark.parametrize(("max_failures", "failures", "fails"), [(2, 2, False), (2, 3, True), (0, 0, False), (0, 1, True)])
def test_the_sweep_fails_only_when_failures_exceed_max_failures(max_failures: int, failures: int, fails: bool) -> None:
    # Given `failures` failed trials under max_failures / When planned
    result = plan(spec(max_failures=max_failures, parallelism=2), snap(created=10, trial_failures=failures))
    # Then max_failures failures are tolerated, one more fails the sweep
    if fails:
        assert result == Plan(
            end=SweepState.FAILED, reason=f"{failures} trials failed (max_failures={max_failures})"
        )
    else:
        assert result == Plan(create=2)


def test_without_max_failures_failures_never_end_the_sweep() -> None:
    assert plan(spec(parallelism=2), snap(created=500, trial_failures=500)) == Plan(create=2)


def test_too_many_failures_wait_for_active_trials() -> None:
    assert plan(spec(max_failures=0, parallelism=2), snap(created=3, active=1, trial_failures=1)) == Plan()


def test_an_exhausted_search_space_finishes_the_sweep_once_nothing_is_active() -> None:
    # Given a grid with every point handed out
    s = spec(parallelism=4)
    # Then nothing more is created while trials run, and the sweep finishes after
    assert plan(s, snap(created=6, active=2, exhausted=True)) == Plan()
    assert plan(s, snap(created=6, active=0, exhausted=True)) == Plan(end=SweepState.FINISHED, reason="search space exhausted")


# --- stopping and terminal states -------------------------------------------------------


def test_a_stopping_sweep_creates_nothing_and_stops_only_when_nothing_is_active() -> None:
    s = spec(parallelism=4, run_cap=100)
    assert plan(s, snap(state=SweepState.STOPPING, created=3, active=2)) == Plan()
    assert plan(s, snap(state=SweepState.STOPPING, created=3, active=0)) == Plan(
        end=SweepState.STOPPED, reason="stopped by request"
    )


# --- pausing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("active", [0, 2])
def test_a_paused_sweep_creates_nothing_whatever_its_room(active: int) -> None:
    # Given a paused sweep with free parallel slots and budget left
    s = spec(parallelism=4, run_cap=10)
    # When planned / Then no trial is created and the sweep does not move
    assert plan(s, snap(state=SweepState.PAUSED, created=3, active=active)) == Plan()
    # While the same moment running would fill its room
    assert plan(s, snap(created=3, active=active)) == Plan(create=4 - active)


@pytest.mark.parametrize(
    ("why", "moment"),
    [
        ("run_cap reached", {"created": 10}),
        ("target reached", {"created": 3, "best_objective": 0.0}),
        ("too many failures", {"created": 5, "trial_failures": 3}),
        ("space exhausted", {"created": 3, "exhausted": True}),
    ],
)
def test_a_paused_sweep_never_ends_by_itself_and_ends_once_resumed(why: str, moment: dict[str, Any]) -> None:
    # Given a paused sweep that would end (nothing active) if it were running
    s = spec(parallelism=4, run_cap=10, target=1.0, max_failures=2)
    # Then paused it waits for resume, stop or cancel
    assert plan(s, snap(state=SweepState.PAUSED, active=0, **moment)) == Plan(), why
    # And resumed, it ends as a running sweep does
    assert plan(s, snap(active=0, **moment)).end is not None, why


def test_pause_is_neither_terminal_nor_accepting_trials_nor_starting_queued_ones() -> None:
    # A paused sweep stays live (a `run` keeps waiting, the controller keeps its lost trials
    # re-queued), creates nothing, and its workers start none of its queued trials.
    paused = SweepState.PAUSED
    assert not paused.is_terminal and not paused.accepts_trials and not paused.starts_queued_trials
    # Queued trials start in a running or stopping sweep, never in a cancelled or ended one
    assert {s for s in SweepState if s.starts_queued_trials} == {SweepState.RUNNING, SweepState.STOPPING}


@pytest.mark.parametrize("state", [s for s in SweepState if s.is_terminal])
@pytest.mark.parametrize("active", [0, 2])
def test_a_terminal_sweep_creates_nothing_and_does_not_move(state: SweepState, active: int) -> None:
    # Given an ended sweep with room and budget left (and even a reached target) / Then no trials, no transition
    assert plan(spec(parallelism=4, target=1.0), snap(state=state, active=active, best_objective=0.0)) == Plan()


# --- trial seeds ----------------------------------------------------------------------------


def test_trial_seeds_are_stable_across_releases() -> None:
    # Pinned values: a replayed sweep must hand every trial the seed it had the first time.
    assert trial_seed(0, 0) == 745682570
    assert trial_seed(42, 7) == 1969073207


def test_trial_seeds_differ_across_numbers_and_sweeps_and_fit_31_bits() -> None:
    seeds = [trial_seed(42, n) for n in range(1000)]
    assert len(set(seeds)) == 1000
    assert all(0 <= s < 2**31 for s in seeds)
    assert trial_seed(42, 0) != trial_seed(43, 0)
    assert trial_seed(1, 23) != trial_seed(12, 3)  # "1:23" vs "12:3": the separator matters


def test_an_extended_budget_turns_a_finished_plan_into_more_trials() -> None:
    # Given a sweep whose 5 trials all ran: it finishes at its run_cap
    s = spec(parallelism=4, run_cap=5)
    assert plan(s, snap(created=5, active=0)) == Plan(end=SweepState.FINISHED, reason="run_cap=5 reached")
    # When `extend` gives it run_cap 15 (re-opened: RUNNING, the same 5 trials)
    extended = replace(s, run_cap=15)
    # Then it fills its parallelism again, and the last batch stops at the new cap
    assert plan(extended, snap(created=5, active=0)) == Plan(create=4)
    assert plan(extended, snap(created=13, active=1)) == Plan(create=2)
    assert plan(extended, snap(created=15, active=0)) == Plan(end=SweepState.FINISHED, reason="run_cap=15 reached")
