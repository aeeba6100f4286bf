"""`tpe: {local_search: share}`: local draws around the best trial, interleaved with the TPE engine's.

Pure: no Redis, no processes. The contract every suggester keeps is checked in
test_suggester_contract (with local search on); here, what local search adds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from controller.suggester import Observation
from controller.suggester_factory import make_suggester
from controller.suggesters.local import (
    LOCAL_SEARCH_AFTER,
    MAX_STEP,
    LocalSearch,
    is_local_number,
)
from controller.suggesters.tpe import TpeSuggester
from sweepctl.space import Distribution, FlatAssignment, Parameter, SearchSpace
from sweepctl.spec import Method, TpeOptions

D = Distribution
SPACE = SearchSpace(
    (
        Parameter(("x",), D.UNIFORM, min=-5.0, max=5.0),
        Parameter(("lr",), D.LOG_UNIFORM_VALUES, min=1e-5, max=1e-1),
        Parameter(("layers",), D.INT_UNIFORM, min=1, max=100),
        Parameter(("act",), D.CATEGORICAL, values=("relu", "tanh", "gelu")),
    )
)
BEST: FlatAssignment = {"x": 1.5, "lr": 1e-3, "layers": 40, "act": "tanh"}


def history(count: int, spread: float, failed_best: bool = False) -> list[Observation]:
    """`count` finished trials around BEST (x, log lr and layers jittered by `spread` of their range), loss = distance."""
    rng = np.random.default_rng(0)
    found = []
    for n in range(1, count + 1):
        u = rng.uniform(-spread, spread, size=3)
        params = {
            "x": float(np.clip(BEST["x"] + u[0] * 10, -5, 5)),
            "lr": float(np.exp(np.clip(math.log(BEST["lr"]) + u[1] * math.log(1e4), math.log(1e-5), math.log(1e-1)))),
            "layers": int(np.clip(round(BEST["layers"] + u[2] * 99), 1, 100)),
            "act": ("relu", "tanh", "gelu")[n % 3],
        }
        found.append(Observation(n, params, float(np.abs(u).sum())))
    if failed_best:
        found.append(Observation(count + 1, dict(BEST, x=-4.0), None))  # a failure is never the best
    return found


def suggester(share: float = 0.5) -> LocalSearch:
    return LocalSearch(TpeSuggester(SPACE, 7, n_startup_jobs=5), share)


def test_a_share_of_the_trial_numbers_is_local_spread_evenly() -> None:
    assert [n for n in range(1, 11) if is_local_number(n, 0.5)] == [2, 4, 6, 8, 10]
    assert [n for n in range(1, 11) if is_local_number(n, 0.25)] == [4, 8]
    assert sum(is_local_number(n, 0.3) for n in range(1, 1001)) == 300


def test_before_enough_trials_finished_every_suggestion_is_the_engines() -> None:
    # Given one trial fewer than the local search waits for, observed by a wrapped and a bare engine
    observed = history(LOCAL_SEARCH_AFTER - 1, 0.1)
    local, bare = suggester(), TpeSuggester(SPACE, 7, n_startup_jobs=5)
    local.observe(observed)
    bare.observe(observed)
    # Then both suggest the same for odd and even numbers alike
    for number in (LOCAL_SEARCH_AFTER, LOCAL_SEARCH_AFTER + 1, LOCAL_SEARCH_AFTER + 2):
        assert local.suggest(number) == bare.suggest(number)


def test_local_draws_stay_near_the_best_trial_and_the_others_are_the_engines() -> None:
    # Given 60 finished trials gathered around BEST (the best is the one closest to it) and a failure far off
    observed = history(60, 0.02, failed_best=True)
    best = min((o for o in observed if o.loss is not None), key=lambda o: o.loss or 0.0).params
    local, bare = suggester(), TpeSuggester(SPACE, 7, n_startup_jobs=5)
    local.observe(observed)
    bare.observe(observed)
    for number in range(62, 102):
        params = local.suggest(number)
        assert params is not None
        if number % 2:
            assert params == bare.suggest(number)  # odd numbers: the engine's own suggestion
            continue
        # even numbers: the best trial's category, numbers a small step away (the top-10 spread is ~2% of each range)
        assert params["act"] == best["act"]
        assert abs(params["x"] - best["x"]) <= 10 * 0.1
        assert abs(math.log(params["lr"] / best["lr"])) <= math.log(1e4) * 0.1
        assert isinstance(params["layers"], int) and abs(params["layers"] - best["layers"]) <= 10
        assert 1e-5 <= params["lr"] <= 1e-1 and -5 <= params["x"] <= 5


def test_the_step_follows_the_spread_of_the_best_trials() -> None:
    # Given histories whose best trials are spread over 1% and over 30% of x's range
    steps = {}
    for spread in (0.01, 0.3):
        local = suggester()
        observed = history(60, spread)
        local.observe(observed)
        best = min(observed, key=lambda o: o.loss or 0.0).params
        steps[spread] = np.std([local.suggest(n, retry=r)["x"] - best["x"] for n in range(62, 122, 2) for r in (0, 1)])  # type: ignore[index]
    # Then the steps are about 30 times as large for the wider spread, and never above MAX_STEP of the range
    assert steps[0.3] > 5 * steps[0.01]
    assert steps[0.3] <= 1.5 * MAX_STEP * 10


def _x_step(local: LocalSearch, best_x: float, first: int) -> float:
    """Spread of local draws' x around the best's, over 30 local numbers from `first` (two retries each)."""
    return float(np.std([local.suggest(n, retry=r)["x"] - best_x for n in range(first, first + 60, 2) for r in (0, 1)]))  # type: ignore[index]


def test_local_draws_that_fail_to_beat_the_best_shrink_the_step_and_a_new_best_resets_it() -> None:
    # Given 60 trials around BEST and then the best of all as trial 61
    observed = history(60, 0.05) + [Observation(61, dict(BEST), -1.0)]
    fresh = suggester()
    fresh.observe(observed)
    # And the same followed by 24 worse trials (62-85: 12 of them local draws, 4 per numeric dimension)
    failed = suggester()
    failed.observe(observed + [Observation(n, dict(BEST, x=-4.0), 10.0) for n in range(62, 86)])
    # Then the steps are a quarter as large (halved per 2 failed draws per dimension; same draws, scaled)
    assert _x_step(failed, BEST["x"], 86) / _x_step(fresh, BEST["x"], 86) == pytest.approx(0.25, rel=0.05)
    # And when trial 86 beats the best, the next steps are as large as before the failures
    better = dict(BEST, x=1.49)
    failed.observe([Observation(86, better, -2.0)])
    assert _x_step(failed, better["x"], 88) / _x_step(fresh, BEST["x"], 88) == pytest.approx(1.0, rel=0.1)


def test_draws_are_deterministic_in_seed_number_retry_and_observations() -> None:
    observed = history(60, 0.05)
    a, b = suggester(), suggester()
    a.observe(observed)
    b.observe(list(reversed(observed)))
    assert a.suggest(70) == b.suggest(70) == a.suggest(70)
    assert a.suggest(70, retry=1) != a.suggest(70)  # a duplicate's re-draw is another point


def test_a_space_without_numeric_parameters_gets_only_the_engines_suggestions() -> None:
    # local draws there would all repeat the best trial (and be refused as duplicates)
    space = SearchSpace((Parameter(("act",), D.CATEGORICAL, values=tuple(range(30))),))
    local, bare = LocalSearch(TpeSuggester(space, 2, n_startup_jobs=5), 0.5, after=5), TpeSuggester(space, 2, n_startup_jobs=5)
    observed = [Observation(n, {"act": n % 30}, float(n % 7)) for n in range(1, 21)]
    local.observe(observed)
    bare.observe(observed)
    assert [local.suggest(n) for n in range(21, 27)] == [bare.suggest(n) for n in range(21, 27)]


def test_the_sweep_file_option_wraps_either_engine() -> None:
    wrapped = make_suggester(Method.TPE, SPACE, 3, TpeOptions(engine="hyperopt", local_search=0.25))
    assert isinstance(wrapped, LocalSearch) and isinstance(wrapped.inner, TpeSuggester) and wrapped.share == 0.25
    with pytest.raises(ValueError, match="share"):
        LocalSearch(TpeSuggester(SPACE, 1), 1.0)
