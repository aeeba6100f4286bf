"""The hyperopt engine's default search (issue 16 item 7): local search on numeric spaces, stock TPE one key away.

Pure: sweep files parsed as the controller parses them, suggesters built by the
factory as the controller builds them. Why the default is what it is lives in
benchmarks/README.md (the before/after table of benchmarks/parallel_quality.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from controller.suggester import Observation, Suggester
from controller.suggester_factory import make_suggester
from controller.suggesters.local import LOCAL_SEARCH_AFTER, LocalSearch, is_local_number, is_numeric_space
from controller.suggesters.optuna_tpe import OptunaTpeSuggester
from controller.suggesters.tpe import TpeSuggester
from sweepctl.space import SearchSpace
from sweepctl.sweepfile import parse_sweep

NUMERIC = {
    "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
    "dropout": {"min": 0.0, "max": 0.5},
    "layers": {"values": [4]},  # one value: fixed, it does not make the space categorical
}


def built(parameters: dict[str, Any], tpe: dict[str, Any] | None = None, seed: int = 11) -> Suggester:
    """The suggester the controller builds for a tpe sweep over `parameters` with this `tpe` block."""
    doc: dict[str, Any] = {"metric": {"name": "loss"}, "function": "m:f", "method": "tpe", "parameters": parameters}
    if tpe is not None:
        doc["tpe"] = tpe
    spec = parse_sweep(doc)
    return make_suggester(spec.method, spec.space, seed, spec.tpe)


def space_of(parameters: dict[str, Any]) -> SearchSpace:
    return parse_sweep({"metric": {"name": "loss"}, "function": "m:f", "parameters": parameters}).space


def finished(count: int) -> list[Observation]:
    """`count` finished trials over NUMERIC, loss = distance to (lr 1e-3, dropout 0.1) in units of the range."""
    rng = np.random.default_rng(5)
    found = []
    for n in range(1, count + 1):
        lr, dropout = float(10 ** rng.uniform(-5, -1)), float(rng.uniform(0, 0.5))
        loss = abs(np.log10(lr) + 3) / 4 + abs(dropout - 0.1) / 0.5
        found.append(Observation(n, {"lr": lr, "dropout": dropout, "layers": 4}, float(loss)))
    return found


def test_a_numeric_space_gets_local_search_on_three_quarters_of_the_suggestions_by_default() -> None:
    suggester = built(NUMERIC)
    assert isinstance(suggester, LocalSearch) and isinstance(suggester.inner, TpeSuggester)
    assert suggester.share == TpeSuggester.DEFAULT_LOCAL_SEARCH == 0.75
    # And the other options given still reach the engine inside
    tuned = built(NUMERIC, {"n_startup_jobs": 7, "lie": "mean"})
    assert isinstance(tuned, LocalSearch) and isinstance(tuned.inner, TpeSuggester)
    assert (tuned.inner.n_startup_jobs, tuned.inner.lie) == (7, "mean")


def test_local_search_0_is_stock_hyperopt_tpe_one_key_away() -> None:
    # Given the same sweep with `tpe: {local_search: 0}`, and hyperopt's TPE built directly
    stock, bare = built(NUMERIC, {"local_search": 0}), TpeSuggester(space_of(NUMERIC), 11)
    default = built(NUMERIC)
    assert type(stock) is TpeSuggester
    observed = finished(LOCAL_SEARCH_AFTER + 10)
    for s in (stock, bare, default):
        s.observe(observed)
    # Then every suggestion is stock TPE's, while the default makes three in four locally
    numbers = range(LOCAL_SEARCH_AFTER + 11, LOCAL_SEARCH_AFTER + 19)
    assert [stock.suggest(n) for n in numbers] == [bare.suggest(n) for n in numbers]
    assert [default.suggest(n) != bare.suggest(n) for n in numbers] == [is_local_number(n, 0.75) for n in numbers]
    assert sum(is_local_number(n, 0.75) for n in numbers) == 6


def test_the_default_changes_nothing_before_the_local_search_starts() -> None:
    # A sweep of fewer than LOCAL_SEARCH_AFTER finished trials sees stock TPE's suggestions
    default, stock = built(NUMERIC), built(NUMERIC, {"local_search": 0})
    observed = finished(LOCAL_SEARCH_AFTER - 1)
    default.observe(observed)
    stock.observe(observed)
    assert [default.suggest(n) for n in range(LOCAL_SEARCH_AFTER, LOCAL_SEARCH_AFTER + 4)] == [
        stock.suggest(n) for n in range(LOCAL_SEARCH_AFTER, LOCAL_SEARCH_AFTER + 4)
    ]


@pytest.mark.parametrize(
    ("parameters", "numeric"),
    [
        (NUMERIC, True),
        ({"x": {"distribution": "normal", "mu": 0, "sigma": 1}, "p": {"distribution": "beta", "a": 2, "b": 3}}, True),
        ({"x": {"min": 0.0, "max": 1.0}, "depth": {"min": 1, "max": 8}}, True),  # integers beside a continuous one
        ({"x": {"min": 0.0, "max": 1.0}, "opt": {"values": ["adam", "sgd"]}}, False),  # a categorical varies
        ({"depth": {"min": 1, "max": 8}, "width": {"distribution": "q_uniform", "min": 8, "max": 64, "q": 8}}, False),
        ({"opt": {"values": ["adam", "sgd"]}}, False),
        ({"x": {"value": 3}, "y": {"min": 2.0, "max": 2.0}}, False),  # nothing varies
    ],
    ids=["continuous", "normal-beta", "with-integers", "categorical", "only-discrete", "only-categorical", "constants"],
)
def test_which_spaces_are_numeric(parameters: dict[str, Any], numeric: bool) -> None:
    # Given a space / Then it counts as numeric exactly when no categorical varies and a continuous parameter does
    assert is_numeric_space(space_of(parameters)) is numeric
    # And only a numeric one gets local search when the sweep file leaves it out
    assert isinstance(built(parameters), LocalSearch) is numeric


def test_other_spaces_and_the_optuna_engine_keep_their_defaults_and_opt_in_still_works() -> None:
    mixed = {"x": {"min": 0.0, "max": 1.0}, "opt": {"values": ["adam", "sgd"]}}
    assert type(built(mixed)) is TpeSuggester
    assert type(built(NUMERIC, {"engine": "optuna"})) is OptunaTpeSuggester
    opted = built(mixed, {"local_search": 0.25})
    assert isinstance(opted, LocalSearch) and opted.share == 0.25
    optuna_local = built(NUMERIC, {"engine": "optuna", "local_search": 0.5})
    assert isinstance(optuna_local, LocalSearch) and isinstance(optuna_local.inner, OptunaTpeSuggester)
