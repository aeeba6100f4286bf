"""TPE-specific behaviour: it learns from observations, and values survive the round trip."""

from __future__ import annotations

import json
import statistics
from typing import Any

import pytest

from controller.suggester import Observation, Suggester
from controller.suggesters.optuna_tpe import OptunaTpeSuggester
from controller.suggesters.random import RandomSuggester
from controller.suggesters.tpe import TpeSuggester
from sweepctl.space import Distribution, Parameter, SearchSpace
from tests.unit.controller.plane import PLANE, best_after, quadratic

D = Distribution

ENGINES = [TpeSuggester, OptunaTpeSuggester]  # hyperopt (the default) and `engine: optuna`


@pytest.mark.parametrize("engine", ENGINES)
def test_tpe_uses_observations_to_beat_random_search(engine: type[Suggester]) -> None:
    # Given 8 seeds and a 60-trial sequential sweep on a 2-D quadratic
    seeds = range(8)
    # When TPE and random search run with the same seeds
    tpe_best = statistics.median(best_after(engine(PLANE, s), 60) for s in seeds)
    random_best = statistics.median(best_after(RandomSuggester(PLANE, s), 60) for s in seeds)
    # Then TPE's median best is clearly better: it really learns from what it observes
    assert tpe_best < random_best / 2, (tpe_best, random_best)


@pytest.mark.parametrize("engine", ENGINES)
def test_tpe_draws_from_the_prior_until_startup_jobs_are_observed(engine: type[Any]) -> None:
    # Given the same history, suggesters that differ only in n_startup_jobs
    history = [Observation(n, {"x": n / 10, "y": -n / 10}, float(n)) for n in range(1, 11)]
    early, late = engine(PLANE, 1, n_startup_jobs=5), engine(PLANE, 1, n_startup_jobs=20)
    early.observe(history)
    late.observe(history)
    # Then the one still in its start-up phase draws like an empty one, the other does not
    assert late.suggest(11) == engine(PLANE, 1).suggest(11)
    assert early.suggest(11) != late.suggest(11)


def test_pending_trials_count_toward_the_startup_phase_with_the_liar() -> None:
    # Given 4 observed trials of a 5-trial start-up, and 3 trials still running
    history = [Observation(n, {"x": n / 10, "y": -n / 10}, float(n)) for n in range(1, 5)]
    pending = [{"x": 1.0, "y": 1.0}, {"x": -1.0, "y": 2.0}, {"x": 3.0, "y": -3.0}]
    liar = TpeSuggester(PLANE, 1, n_startup_jobs=5)
    honest = TpeSuggester(PLANE, 1, n_startup_jobs=5, constant_liar=False)
    liar.observe(history)
    honest.observe(history)
    startup_draw = TpeSuggester(PLANE, 1).suggest(8)
    # When the next trial is suggested with nothing pending, it is still a start-up draw
    assert liar.suggest(8) == startup_draw
    # But with the liar, the 3 running trials count as suggestions made: TPE models already
    # (as in hyperopt's own asynchronous mode; counting only results would add random draws)
    assert liar.suggest(8, pending=pending) != startup_draw
    # And without the liar, pending trials are not told, so they do not count
    assert honest.suggest(8, pending=pending) == startup_draw


def test_the_liar_moves_the_next_suggestion_off_a_pending_trial() -> None:
    # Given TPE past its start-up, and for several seeds the point it would suggest next
    moved, ignored = [], []
    for seed in range(6):
        liar = TpeSuggester(PLANE, seed, n_startup_jobs=10)
        honest = TpeSuggester(PLANE, seed, n_startup_jobs=10, constant_liar=False)
        history = []
        for number in range(1, 31):
            params = liar.suggest(number)
            assert params is not None
            history.append(Observation(number, params, quadratic(params)))
            liar.observe(history[-1:])
        honest.observe(history)
        first = liar.suggest(31)
        assert first is not None
        # When that very point is pending while the same draw is asked for again
        moved.append(liar.suggest(31, pending=[first]) != first)
        ignored.append(honest.suggest(31, pending=[first]) == first)
    # Then the liar steers away from it, and without the liar pending trials change nothing
    assert all(moved), moved
    assert all(ignored), ignored


def test_a_mean_lie_suggests_what_a_worst_lie_does() -> None:
    # Given 30 trials of a quadratic (losses not skewed) and 3 trials pending
    history = []
    explorer = TpeSuggester(PLANE, 5, n_startup_jobs=10)
    for number in range(1, 31):
        params = explorer.suggest(number)
        assert params is not None
        history.append(Observation(number, params, quadratic(params)))
        explorer.observe(history[-1:])
    pending = [p for p in map(explorer.suggest, (31, 32, 33)) if p is not None]
    suggestions = {}
    for lie in ("worst", "mean", "best"):
        tpe = TpeSuggester(PLANE, 5, n_startup_jobs=10, lie=lie)
        tpe.observe(history)
        suggestions[lie] = [tpe.suggest(number, pending=pending) for number in range(34, 44)]
    # Then "mean" and "worst" agree: TPE reads a lie only through its rank, and both rank
    # among the bad trials; "best" ranks among the good ones and so suggests otherwise
    assert suggestions["mean"] == suggestions["worst"]
    assert suggestions["best"] != suggestions["worst"]


CHOICES = SearchSpace(
    (
        Parameter(("layers",), D.CATEGORICAL, values=([64, 32], {"act": "relu", "n": 2}, None, True, False, 1, "wide")),
        Parameter(("fixed",), D.CATEGORICAL, values=({"only": "one"},)),
        Parameter(("lr",), D.LOG_UNIFORM_VALUES, min=1e-4, max=1e-1),
        Parameter(("epochs",), D.CONSTANT, value=3),
    )
)
def _key(value: object) -> str:
    return json.dumps(value, sort_keys=True)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("good", [{"n": 2, "act": "relu"}, True, 1, [64, 32], None], ids=repr)
def test_categorical_values_round_trip_through_json_and_steer_tpe(engine: type[Any], good: object) -> None:
    # Given a sweep whose best categorical value is `good`, params stored as JSON in between
    tpe = engine(CHOICES, 2, n_startup_jobs=10)
    picked = []
    for number in range(1, 41):
        params = tpe.suggest(number)
        assert params is not None
        stored = json.loads(json.dumps(params))
        picked.append(stored["layers"])
        is_good = _key(stored["layers"]) == _key(good)  # True must not count as 1
        tpe.observe([Observation(number, stored, 0.0 if is_good else 1.0)])
    # Then every observation was understood (lists, dicts, None, bools, ints)
    assert tpe.skipped == ()
    # And TPE picks the good value far more often than 1 in 7 once it models the history
    picks = [_key(v) for v in picked[10:]]
    assert picks.count(_key(good)) >= 10, picks


def test_dict_values_match_whatever_their_key_order() -> None:
    # Given an observation whose dict value lists its keys in another order than the sweep file
    params: dict[str, Any] = {"layers": {"n": 2, "act": "relu"}, "fixed": {"only": "one"}, "lr": 0.01, "epochs": 3}
    assert list(params["layers"]) != list(CHOICES.parameters[0].values[1])
    tpe = TpeSuggester(CHOICES, 0)
    # When it is observed, then it is understood
    tpe.observe([Observation(1, params, 0.0)])
    assert tpe.skipped == ()


@pytest.mark.parametrize("engine", ENGINES)
def test_observations_outside_the_space_are_skipped_without_effect(engine: type[Any]) -> None:
    # Given one valid observation, and others that do not fit the space
    valid = Observation(1, {"layers": None, "fixed": {"only": "one"}, "lr": 0.01, "epochs": 3}, 0.5)
    misfits = [
        Observation(2, {**valid.params, "layers": "not a choice"}, 0.1),
        Observation(3, {"layers": None}, 0.1),  # lr missing
        Observation(4, {**valid.params, "lr": 5.0}, 0.1),  # above max
        Observation(5, {**valid.params, "lr": "0.01"}, 0.1),  # not a number
        Observation(6, {**valid.params, "lr": True}, 0.1),  # bool is not a number here
    ]
    # When a TPE suggester (either engine) observes them all
    tpe = engine(CHOICES, 0, n_startup_jobs=1)
    tpe.observe([valid, *misfits])
    only_valid = engine(CHOICES, 0, n_startup_jobs=1)
    only_valid.observe([valid])
    # Then the misfits are listed and change nothing
    assert tpe.skipped == (2, 3, 4, 5, 6)
    assert tpe.suggest(7) == only_valid.suggest(7)


def test_failed_trials_are_kept_and_do_not_crash() -> None:
    # Given a history in which most trials failed (no loss, or NaN)
    tpe = TpeSuggester(PLANE, 3, n_startup_jobs=3)
    for number in range(1, 9):
        params = tpe.suggest(number)
        assert params is not None
        loss = quadratic(params) if number % 3 == 0 else (None if number % 2 else float("nan"))
        tpe.observe([Observation(number, params, loss)])
    # Then TPE still suggests, and failures are not mistaken for misfits
    assert tpe.skipped == ()
    assert tpe.suggest(9) is not None


def test_a_space_of_fixed_values_needs_no_hyperopt_space() -> None:
    space = SearchSpace(
        (
            Parameter(("a",), D.CONSTANT, value=[1]),
            Parameter(("b",), D.UNIFORM, min=2.0, max=2.0),
            Parameter(("c",), D.CATEGORICAL, values=("x",)),
        )
    )
    tpe = TpeSuggester(space, 0)
    tpe.observe([Observation(1, {"a": [1], "b": 2.0, "c": "x"}, 1.0)])
    assert tpe.suggest(2) == {"a": [1], "b": 2.0, "c": "x"}


@pytest.mark.parametrize("n_startup_jobs", [1, 20])
def test_int_uniform_reaches_both_ends(n_startup_jobs: int) -> None:
    # int_uniform maps to quniform(min - 0.5, max + 0.5): the ends must be reachable, not beyond
    space = SearchSpace((Parameter(("k",), D.INT_UNIFORM, min=1, max=3),))
    tpe = TpeSuggester(space, 0, n_startup_jobs=n_startup_jobs)
    seen = []
    for number in range(1, 61):
        params = tpe.suggest(number)
        assert params is not None
        seen.append(params["k"])
        tpe.observe([Observation(number, params, float(params["k"] == 2))])
    assert set(seen) == {1, 2, 3}
    assert all(type(k) is int for k in seen)
