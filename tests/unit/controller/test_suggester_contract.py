"""The contract every Suggester keeps, run against random, grid and TPE search (both engines).

Given a space using every distribution (grid: every discrete one; the Optuna
engine: every one but the normal family, which it refuses), each test
drives a suggester through a short sweep and checks what the controller relies
on: complete, in-range, correctly typed suggestions, determinism in (seed,
number, observations) and idempotent replay of observations.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import pytest

from controller.suggester import Observation, Suggester
from controller.suggester_factory import make_suggester
from controller.suggesters.grid import GridSuggester
from controller.suggesters.local import LocalSearch
from controller.suggesters.optuna_tpe import OptunaTpeSuggester
from controller.suggesters.random import RandomSuggester
from controller.suggesters.tpe import TpeSuggester
from sweepctl.space import JSON, Distribution, FlatAssignment, Parameter, SearchSpace
from sweepctl.spec import Method, TpeEngine, TpeOptions

D = Distribution

DISCRETE = (
    Parameter(("constant",), D.CONSTANT, value={"layers": [64, 32]}),
    Parameter(("optimizer", "name"), D.CATEGORICAL, values=("adam", [1, 2], {"lr": 0.1, "b": [1]}, None, True)),
    Parameter(("optimizer", "batch"), D.CATEGORICAL, values=(16, 32, 64), probabilities=(0.2, 0.5, 0.3)),
    Parameter(("depth",), D.INT_UNIFORM, min=1, max=4),
    Parameter(("dropout",), D.Q_UNIFORM, min=0.0, max=0.5, q=0.1),
)
CONTINUOUS = (
    Parameter(("u",), D.UNIFORM, min=-1.0, max=2.0),
    Parameter(("lu",), D.LOG_UNIFORM, min=-3.0, max=0.0),
    Parameter(("luv",), D.LOG_UNIFORM_VALUES, min=1e-4, max=1e-1),
    Parameter(("qlu",), D.Q_LOG_UNIFORM, min=0.0, max=4.0, q=2.0),
    Parameter(("qluv",), D.Q_LOG_UNIFORM_VALUES, min=1.0, max=100.0, q=5.0),
    Parameter(("n",), D.NORMAL, mu=0.0, sigma=2.0),
    Parameter(("qn",), D.Q_NORMAL, mu=10.0, sigma=3.0, q=0.5),
    Parameter(("ln",), D.LOG_NORMAL, mu=0.0, sigma=1.0),
    Parameter(("qln",), D.Q_LOG_NORMAL, mu=2.0, sigma=0.5, q=1.0),
    Parameter(("n0",), D.NORMAL, mu=0.25, sigma=0.0),  # W&B allows sigma 0: always mu
    Parameter(("ilu",), D.INV_LOG_UNIFORM, min=0.0, max=3.0),
    Parameter(("model.iluv",), D.INV_LOG_UNIFORM_VALUES, min=1e-3, max=0.5),  # a dotted name is one name
    Parameter(("beta",), D.BETA, a=2.0, b=5.0),
    Parameter(("qbeta",), D.Q_BETA, a=0.5, b=0.5, q=0.25),
)
EVERY_DISTRIBUTION = SearchSpace(DISCRETE + CONTINUOUS)
DISCRETE_SPACE = SearchSpace(DISCRETE)
BOUNDED_SPACE = SearchSpace(tuple(p for p in EVERY_DISTRIBUTION.parameters if not p.distribution.is_normal))
assert {p.distribution for p in EVERY_DISTRIBUTION.parameters} == set(Distribution)
assert {p.distribution for p in BOUNDED_SPACE.parameters} == {d for d in Distribution if TpeEngine.OPTUNA.supports(d)}

Factory = Callable[[int | None], Suggester]
# n_startup_jobs=5 so that a 30-trial story exercises TPE proper, not only its random start.
IMPLEMENTATIONS: dict[str, tuple[SearchSpace, Factory]] = {
    "random": (EVERY_DISTRIBUTION, lambda seed: RandomSuggester(EVERY_DISTRIBUTION, seed)),
    "grid": (DISCRETE_SPACE, lambda seed: GridSuggester(DISCRETE_SPACE, seed)),
    "tpe": (EVERY_DISTRIBUTION, lambda seed: TpeSuggester(EVERY_DISTRIBUTION, seed, n_startup_jobs=5)),
    "tpe-optuna": (BOUNDED_SPACE, lambda seed: OptunaTpeSuggester(BOUNDED_SPACE, seed, n_startup_jobs=5)),
    # local_search from the 8th finished trial, so that the stories below include local draws
    "tpe-local": (EVERY_DISTRIBUTION, lambda seed: LocalSearch(TpeSuggester(EVERY_DISTRIBUTION, seed, n_startup_jobs=5), 0.5, after=8)),
    "tpe-optuna-local": (
        BOUNDED_SPACE, lambda seed: LocalSearch(OptunaTpeSuggester(BOUNDED_SPACE, seed, n_startup_jobs=5), 0.5, after=8)
    ),
}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def implementation(request: pytest.FixtureRequest) -> tuple[str, SearchSpace, Factory]:
    space, factory = IMPLEMENTATIONS[request.param]
    return request.param, space, factory


def _is_multiple(value: float, q: float) -> bool:
    return math.isclose(value / q, round(value / q), abs_tol=1e-9)


def assert_received_value(p: Parameter, v: JSON) -> None:
    """`v` is a value the program may receive for `p`: right type, in range."""
    d = p.distribution
    if d is D.CONSTANT:
        assert v == p.value
        return
    if d is D.CATEGORICAL:
        assert json.dumps(v) in {json.dumps(c) for c in p.values}, (p.name, v)
        return
    assert isinstance(v, (int, float)) and not isinstance(v, bool), (p.name, v)
    assert math.isfinite(v), (p.name, v)
    if d is D.INT_UNIFORM:
        assert isinstance(v, int), (p.name, v)
    elif d.is_quantized:
        assert _is_multiple(v, p.q), (p.name, v)
    else:
        assert isinstance(v, float), (p.name, v)
    if d.is_beta:
        assert 0 <= v <= 1, (p.name, v)
    elif d.is_bounded:
        assert p.min is not None and p.max is not None
        exponents = d in (D.LOG_UNIFORM, D.Q_LOG_UNIFORM)
        lo, hi = (math.exp(p.min), math.exp(p.max)) if exponents else (p.min, p.max)
        if d is D.INV_LOG_UNIFORM:
            lo, hi = math.exp(-p.max), math.exp(-p.min)
        assert lo <= v <= hi, (p.name, v, lo, hi)
    elif d.is_normal and p.sigma == 0:
        assert v == (math.exp(p.mu) if d.is_log else p.mu), (p.name, v)
    elif d.is_log:
        assert v >= 0 if d.is_quantized else v > 0, (p.name, v)


def toy_loss(params: FlatAssignment) -> float:
    """A deterministic loss over the numeric parameters of either space."""
    return float(sum(abs(v) for v in params.values() if isinstance(v, (int, float))))


def run_sweep(suggester: Suggester, trials: int) -> list[FlatAssignment]:
    """Suggest and observe `trials` trials in turn (every 7th fails); stop when exhausted."""
    suggested = []
    for number in range(1, trials + 1):
        params = suggester.suggest(number)
        if params is None:
            break
        suggested.append(params)
        loss = None if number % 7 == 0 else toy_loss(params)
        suggester.observe([Observation(number, params, loss)])
    return suggested


def test_every_suggestion_holds_every_parameter_in_range(implementation: tuple[str, SearchSpace, Factory]) -> None:
    # Given a suggester over a space using every distribution it supports
    _, space, factory = implementation
    # When a 30-trial sweep runs, observing each trial
    suggested = run_sweep(factory(1), 30)
    # Then every suggestion holds exactly the space's parameters, each a valid received value
    assert len(suggested) == 30  # the grid has 360 points
    for params in suggested:
        assert tuple(params) == space.names
        for p in space.parameters:
            assert_received_value(p, params[p.name])
        json.dumps(params)  # what the store keeps must be JSON


def test_same_seed_and_history_give_the_same_suggestion(implementation: tuple[str, SearchSpace, Factory]) -> None:
    # Given a history of 12 finished trials
    _, _, factory = implementation
    history = [Observation(n, p, toy_loss(p)) for n, p in enumerate(run_sweep(factory(3), 12), start=1)]
    # When one suggester observed them one by one and a "restarted" one observes them at once, reversed
    incremental, restarted = factory(7), factory(7)
    for obs in history:
        incremental.observe([obs])
    restarted.observe(list(reversed(history)))
    # Then both suggest the same for the next trials, and asking twice changes nothing
    for number in (13, 14, 20):
        first = incremental.suggest(number)
        assert first == restarted.suggest(number) == incremental.suggest(number)


def test_none_seed_means_seed_zero(implementation: tuple[str, SearchSpace, Factory]) -> None:
    _, _, factory = implementation
    assert factory(None).suggest(1) == factory(0).suggest(1)


def test_different_trial_numbers_get_different_suggestions(implementation: tuple[str, SearchSpace, Factory]) -> None:
    # Given a fresh suggester, when asked for ten trial numbers
    _, _, factory = implementation
    suggester = factory(11)
    suggestions = [json.dumps(suggester.suggest(n), sort_keys=True) for n in range(1, 11)]
    # Then (almost) every suggestion differs: parallel trials do not duplicate each other
    assert len(set(suggestions)) >= 9


def test_replayed_observation_is_ignored(implementation: tuple[str, SearchSpace, Factory]) -> None:
    # Given two suggesters that observed trial 1 to 6 once
    _, _, factory = implementation
    history = [Observation(n, p, toy_loss(p)) for n, p in enumerate(run_sweep(factory(5), 6), start=1)]
    once, replayed = factory(5), factory(5)
    once.observe(history)
    replayed.observe(history)
    # When one of them sees the same trial numbers again, with other losses
    replayed.observe([Observation(o.number, o.params, -1000.0) for o in history])
    # Then nothing changed
    assert replayed.observations == once.observations == tuple(history)
    assert replayed.suggest(7) == once.suggest(7)


def test_trial_numbers_start_at_one(implementation: tuple[str, SearchSpace, Factory]) -> None:
    _, _, factory = implementation
    with pytest.raises(ValueError, match="start at 1"):
        factory(0).suggest(0)


def test_suggestions_do_not_share_mutable_values_with_the_space(
    implementation: tuple[str, SearchSpace, Factory],
) -> None:
    # Given a suggestion holding the constant {"layers": [64, 32]}
    _, space, factory = implementation
    params = factory(0).suggest(1)
    assert params is not None
    # When the caller mutates it
    params["constant"]["layers"].append(0)
    # Then the space is untouched
    assert space.parameter("constant").value == {"layers": [64, 32]}


@pytest.mark.parametrize(
    ("method", "expected"),
    [(Method.RANDOM, RandomSuggester), (Method.GRID, GridSuggester), (Method.TPE, TpeSuggester)],
)
def test_make_suggester_picks_the_method(method: Method, expected: type[Suggester]) -> None:
    suggester = make_suggester(method, DISCRETE_SPACE, 4)
    assert type(suggester) is expected
    assert suggester.seed == 4


@pytest.mark.parametrize(
    ("engine", "expected"),
    [
        (TpeEngine.HYPEROPT, TpeSuggester),
        ("hyperopt", TpeSuggester),
        (TpeEngine.OPTUNA, OptunaTpeSuggester),
        ("optuna", OptunaTpeSuggester),
    ],
)
def test_make_suggester_picks_the_tpe_engine_and_passes_its_options(engine: object, expected: type[Suggester]) -> None:
    # Given a sweep file's tpe block, as the controller passes it
    suggester = make_suggester(Method.TPE, DISCRETE_SPACE, 4, TpeOptions(engine=engine, n_startup_jobs=3, lie="mean"))
    # Then the engine's suggester gets the other options
    assert type(suggester) is expected
    assert isinstance(suggester, (TpeSuggester, OptunaTpeSuggester))
    assert (suggester.seed, suggester.n_startup_jobs, suggester.lie) == (4, 3, "mean")
