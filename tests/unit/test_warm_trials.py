"""Which trials of an earlier sweep warm-start a sweep (pure): the learnable ones inside its space, of a sweep
with the same metric; and why each other one is left out."""

from __future__ import annotations

from typing import Any

from sweepctl.records import Trial, TrialState
from sweepctl.space_fit import Misfit, Outside
from sweepctl.sweepfile import parse_sweep
from sweepctl.warm_trials import Ignored, learnable, select_warm

OLD = {
    "metric": {"name": "loss"},
    "function": "m:f",
    "parameters": {"lr": {"min": 0.0, "max": 1.0}, "opt": {"values": ["adam", "sgd", "rmsprop"]}},
}


def spec(**changes: Any) -> Any:
    doc = {**OLD, **changes}
    return parse_sweep(doc)


def trial(number: int, lr: float, opt: str = "adam", state: TrialState = TrialState.COMPLETED) -> Trial:
    objective = float(number) if state is TrialState.COMPLETED else None
    return Trial(sweep_id="old", number=number, state=state, params={"lr": lr, "opt": opt}, seed=number, objective=objective)


def test_a_narrowed_range_takes_exactly_the_finished_trials_inside_it() -> None:
    # Given an earlier sweep's trials, over lr in [0, 1], in every state that matters
    trials = [
        trial(1, 0.1),
        trial(2, 0.9),  # outside the narrowed range
        trial(3, 0.5),  # on its new edge: inside
        trial(4, 0.2, state=TrialState.FAILED),  # failed by its parameters: learned from, as a failure
        trial(5, 0.3, state=TrialState.STOPPED),  # stopped early: learned from (its last value)
        trial(6, 0.4, state=TrialState.NAN),
        trial(7, 0.2, state=TrialState.CANCELLED),  # says nothing about its parameters
        trial(8, 0.2, state=TrialState.LOST),
        trial(9, 0.2, state=TrialState.KILLED),
        trial(10, 0.2, state=TrialState.RUNNING),  # not finished
        trial(11, 0.2, state=TrialState.QUEUED),
        trial(12, 0.3, opt="rmsprop"),  # a value the narrowed categorical dropped
        trial(13, 0.7, state=TrialState.FAILED),  # learnable but outside
    ]
    narrowed = spec(parameters={"lr": {"min": 0.0, "max": 0.5}, "opt": {"values": ["adam", "sgd"]}})

    # When the new sweep's warm start is chosen from them (in any order)
    source = select_warm(narrowed, "old", spec(), reversed(trials))

    # Then it takes exactly the learnable trials inside the new space, in number order
    assert source.numbers == (1, 3, 4, 5, 6) and source.ignored is None
    # And says why each other one is out: outside (which parameter, how), or not learned from
    assert source.outside == (
        (2, Outside("lr", Misfit.OUT_OF_RANGE)),
        (12, Outside("opt", Misfit.NOT_ITS_VALUE)),
        (13, Outside("lr", Misfit.OUT_OF_RANGE)),
    )
    assert source.outside_by_parameter() == {"lr": 2, "opt": 1}
    assert source.not_learned == (7, 8, 9, 10, 11)


def test_the_same_space_takes_every_learnable_trial() -> None:
    trials = [trial(n, n / 10) for n in range(1, 6)]
    assert select_warm(spec(), "old", spec(), trials).numbers == (1, 2, 3, 4, 5)


def test_a_parameter_added_or_removed_leaves_the_old_trials_outside() -> None:
    trials = [trial(1, 0.1), trial(2, 0.2)]
    added = spec(parameters={**OLD["parameters"], "wd": {"min": 0.0, "max": 0.1}})
    removed = spec(parameters={"lr": {"min": 0.0, "max": 1.0}})
    assert select_warm(added, "old", spec(), trials).outside == ((1, Outside("wd", Misfit.NO_VALUE)), (2, Outside("wd", Misfit.NO_VALUE)))
    assert select_warm(removed, "old", spec(), trials).outside_by_parameter() == {"opt": 2}
    # And a removed parameter made a constant at the value a trial ran with keeps that trial
    pinned = spec(parameters={"lr": {"min": 0.0, "max": 1.0}, "opt": {"value": "sgd"}})
    assert select_warm(pinned, "old", spec(), [trial(1, 0.1, "adam"), trial(2, 0.2, "sgd")]).numbers == (2,)


def test_a_sweep_of_another_metric_gives_nothing() -> None:
    other = spec(metric={"name": "accuracy", "goal": "maximize"})
    source = select_warm(other, "old", spec(), [trial(1, 0.1)])
    assert source.ignored is Ignored.OTHER_METRIC and source.taken == ()
    # Nor does one without a metric (a random sweep), to a sweep with one, or the other way round
    no_metric = parse_sweep({k: v for k, v in OLD.items() if k != "metric"} | {"method": "random"})
    assert select_warm(spec(), "old", no_metric, [trial(1, 0.1)]).ignored is Ignored.OTHER_METRIC
    assert select_warm(no_metric, "old", spec(), [trial(1, 0.1)]).ignored is Ignored.OTHER_METRIC


def test_learnable_means_what_a_sweep_learns_from_its_own_trials() -> None:
    learned = {s for s in TrialState if learnable(trial(1, 0.1, state=s))}
    assert learned == {TrialState.COMPLETED, TrialState.FAILED, TrialState.NAN, TrialState.TIMED_OUT, TrialState.STOPPED}
