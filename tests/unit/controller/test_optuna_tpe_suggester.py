"""The Optuna engine's own behaviour: it steers away from failures, spreads pending trials, keeps quiet.

The contract every suggester keeps (determinism, replay, every bounded
distribution) is in test_suggester_contract.py; learning and the start-up
phase, shared with the hyperopt engine, in test_tpe_suggester.py.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import warnings
from typing import Any

import pytest

from controller.suggester import Observation
from controller.suggester_factory import make_suggester
from controller.suggesters.optuna_tpe import OptunaTpeSuggester
from sweepctl.errors import SpecError
from sweepctl.space import Distribution, FlatAssignment, Parameter, SearchSpace
from sweepctl.spec import Method, TpeOptions
from tests.unit.controller.plane import PLANE, quadratic

D = Distribution

LIARS = [{}, *({"constant_liar": True, "lie": lie} for lie in ("running", "worst", "mean"))]  # {}: the defaults


def plane_history(trials: int) -> list[Observation]:
    """A sequential sweep of the quadratic by the Optuna engine, seed 100."""
    suggester = OptunaTpeSuggester(PLANE, 100)
    history = []
    for number in range(1, trials + 1):
        params = suggester.suggest(number)
        assert params is not None
        history.append(Observation(number, params, quadratic(params)))
        suggester.observe(history[-1:])
    return history


def test_a_region_where_trials_fail_is_avoided() -> None:
    # Given a line where every trial above 0.5 fails and the loss is best at 0.3
    line = SearchSpace((Parameter(("x",), D.UNIFORM, min=0.0, max=1.0),))
    shares = []
    for seed in range(6):
        suggester = OptunaTpeSuggester(line, seed)
        failing = 0
        for number in range(1, 61):
            params = suggester.suggest(number)
            assert params is not None
            fails = params["x"] > 0.5
            failing += number > 20 and fails
            suggester.observe([Observation(number, params, None if fails else abs(params["x"] - 0.3))])
        shares.append(failing / 40)
    # Then once TPE models the history, few suggestions land where trials fail
    # (told as FAIL, which Optuna ignores, nearly all would: no bad trial is seen there)
    assert statistics.mean(shares) < 0.25, shares
    assert suggester.skipped == ()


@pytest.mark.parametrize("options", LIARS, ids=lambda o: o.get("lie", "default"))
def test_a_liar_moves_the_next_suggestion_off_a_pending_trial(options: dict[str, Any]) -> None:
    # Given 30 finished trials, and the suggestion a free worker would get
    history = plane_history(30)
    moved = []
    for seed in range(10):
        suggester = OptunaTpeSuggester(PLANE, seed, **options)
        suggester.observe(history)
        first = suggester.suggest(31)
        assert first is not None
        # When that very point is pending as another trial number is asked for the same draw
        moved.append(suggester.suggest(31, pending=[first]) != first)
    # Then the liar makes it unattractive: concurrent trials do not pile up on one point
    assert all(moved)


def test_without_the_liar_pending_trials_are_ignored() -> None:
    history = plane_history(30)
    suggester = OptunaTpeSuggester(PLANE, 3, constant_liar=False)
    suggester.observe(history)
    first = suggester.suggest(31)
    assert first is not None
    assert suggester.suggest(31, pending=[first, {"x": 0.0, "y": 0.0}]) == first


GRID = SearchSpace(
    (
        Parameter(("a",), D.CATEGORICAL, values=(0, 1, 2, 3)),
        Parameter(("b",), D.INT_UNIFORM, min=0, max=5),
    )
)


def distinct_in_a_batch_of_8(seed: int, **options: Any) -> int:
    """Distinct parameter sets among 8 concurrent suggestions after 20 sequential trials on GRID."""
    suggester = OptunaTpeSuggester(GRID, seed, **options)
    for number in range(1, 21):
        params = suggester.suggest(number)
        assert params is not None
        loss = (params["a"] - 2) ** 2 + abs(params["b"] - 1) + 0.1 * params["a"] * params["b"]
        suggester.observe([Observation(number, params, loss)])
    batch: list[FlatAssignment] = []
    for number in range(21, 29):
        params = suggester.suggest(number, pending=list(batch))
        assert params is not None
        batch.append(params)
    return len({json.dumps(b, sort_keys=True) for b in batch})


def test_by_default_concurrent_suggestions_in_a_small_discrete_space_stay_apart() -> None:
    # Given 24 possible parameter sets and 8 workers asking at once
    seeds = range(10)
    # When the default (pending trials left RUNNING for Optuna's liar) and ignoring them are compared
    default = statistics.mean(distinct_in_a_batch_of_8(s) for s in seeds)
    ignoring = statistics.mean(distinct_in_a_batch_of_8(s, constant_liar=False) for s in seeds)
    # Then the default proposes mostly distinct sets, while ignoring them repeats the same few
    # (duplicates the controller would have to redraw, and finally replace with random ones)
    assert default >= 6, (default, ignoring)
    assert ignoring <= 3, (default, ignoring)


@pytest.mark.parametrize("options", [{"constant_liar": False}, *LIARS, {"constant_liar": True, "lie": "best"}], ids=repr)
def test_suggestions_with_pending_trials_do_not_depend_on_observation_order_or_history(options: dict[str, Any]) -> None:
    # Given the same finished trials, observed in number order with suggestions in between, or at once reversed
    history = plane_history(25)
    pending = [history[3].params, {"x": 4.0, "y": 4.0}]
    incremental, restarted = OptunaTpeSuggester(PLANE, 9, **options), OptunaTpeSuggester(PLANE, 9, **options)
    for obs in history:
        incremental.observe([obs])
        incremental.suggest(100 + obs.number, pending=pending)
    restarted.observe(list(reversed(history)))
    # Then both suggest the same with the same trials pending
    assert incremental.suggest(26, pending=pending) == restarted.suggest(26, pending=pending)


NUMBERS = SearchSpace(
    (
        Parameter(("k",), D.INT_UNIFORM, min=1, max=3),
        Parameter(("q",), D.Q_UNIFORM, min=0.0, max=0.5, q=0.1),
        Parameter(("width",), D.Q_LOG_UNIFORM_VALUES, min=8.0, max=512.0, q=8.0),
    )
)


@pytest.mark.parametrize(
    ("params", "fits"),
    [
        ({"k": 2, "q": 0.3, "width": 64}, True),
        ({"k": 2.0, "q": 0.30000000000000004, "width": 64.0}, True),  # whole floats and float noise fit
        ({"k": 2.5, "q": 0.3, "width": 64}, False),  # int_uniform takes whole numbers
        ({"k": 2, "q": 0.25, "width": 64}, False),  # not a multiple of q
        ({"k": 2, "q": 0.3, "width": 60}, False),
        ({"k": 4, "q": 0.3, "width": 64}, False),  # above max
    ],
)
def test_int_and_quantized_observations_must_be_whole_multiples(params: FlatAssignment, fits: bool) -> None:
    tpe = OptunaTpeSuggester(NUMBERS, 0)
    tpe.observe([Observation(1, params, 1.0)])
    assert tpe.skipped == (() if fits else (1,))


def test_int_and_quantized_values_reach_both_ends_and_keep_their_type() -> None:
    # Given a sweep that prefers the middle of each range
    tpe = OptunaTpeSuggester(NUMBERS, 0, n_startup_jobs=5)
    seen: dict[str, set[Any]] = {"k": set(), "q": set(), "width": set()}
    for number in range(1, 81):
        params = tpe.suggest(number)
        assert params is not None
        for name, values in seen.items():
            values.add(params[name])
        tpe.observe([Observation(number, params, float(params["k"] == 2))])
    # Then the ends are reached, never passed, and values are what W&B semantics give
    assert seen["k"] == {1, 2, 3} and all(type(k) is int for k in seen["k"])
    assert {0, 0.5} <= seen["q"] and seen["q"] <= {0, 0.1, 0.2, 0.3, 0.4, 0.5}
    assert all(w % 8 == 0 and 8 <= w <= 512 for w in seen["width"])


def test_the_search_space_the_sampler_is_told_is_the_one_optuna_would_infer() -> None:
    # Given a study the engine built; names out of alphabetical order and a range with no multiple of q
    import optuna

    from controller.suggesters.optuna_sampler import KnownSpaceSampler

    space = SearchSpace(
        (
            *NUMBERS.parameters,
            Parameter(("one",), D.Q_UNIFORM, min=0.1, max=0.2, q=1),
            Parameter(("c",), D.CATEGORICAL, values=("x", "y")),
        )
    )
    tpe = OptunaTpeSuggester(space, 0, n_startup_jobs=3)
    for number in range(1, 6):
        params = tpe.suggest(number)
        assert params is not None
        tpe.observe([Observation(number, params, float(number))])
    study = tpe._observed_study()
    trial = study.ask()
    # Then the space it is told equals what Optuna infers from the trials, order included
    told = KnownSpaceSampler(tpe._distributions).infer_relative_search_space(study, study.trials[-1])
    inferred = optuna.samplers.TPESampler(multivariate=True).infer_relative_search_space(study, study.trials[-1])
    assert list(told.items()) == list(inferred.items()) and "one" not in told
    study.tell(trial, state=optuna.trial.TrialState.FAIL)


def test_a_space_of_fixed_values_needs_no_study() -> None:
    space = SearchSpace(
        (
            Parameter(("a",), D.CONSTANT, value=[1]),
            Parameter(("b",), D.UNIFORM, min=2.0, max=2.0),
            Parameter(("c",), D.CATEGORICAL, values=("x",)),
            Parameter(("d",), D.Q_UNIFORM, min=1.0, max=1.0, q=0.5),
        )
    )
    tpe = OptunaTpeSuggester(space, 0, n_startup_jobs=1)
    tpe.observe([Observation(1, {"a": [1], "b": 2.0, "c": "x", "d": 1}, 1.0)])
    assert tpe.suggest(2) == {"a": [1], "b": 2.0, "c": "x", "d": 1}


@pytest.mark.parametrize("distribution", [D.NORMAL, D.Q_NORMAL, D.LOG_NORMAL, D.Q_LOG_NORMAL])
def test_the_normal_family_is_refused_naming_the_parameter(distribution: Distribution) -> None:
    space = SearchSpace((Parameter(("opt", "noise"), distribution, mu=0.0, sigma=1.0),))
    with pytest.raises(SpecError, match=f"opt.noise: distribution {distribution.value} is not supported by tpe engine optuna"):
        OptunaTpeSuggester(space, 0)


def test_a_lie_that_does_not_exist_is_refused() -> None:
    with pytest.raises(ValueError, match="lie must be one of"):
        OptunaTpeSuggester(PLANE, 0, lie="random")


@pytest.mark.parametrize("options", [{"constant_liar": False}, *LIARS], ids=repr)
def test_suggesting_prints_no_log_line_and_raises_no_warning(options: dict[str, Any], capfd: pytest.CaptureFixture[str]) -> None:
    # Given warnings as errors, and Optuna's own log handler (it writes to stderr, not to logging's root)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # When a sweep runs past its start-up phase, with a trial pending
        history = plane_history(12)
        suggester = OptunaTpeSuggester(PLANE, 0, **options)
        suggester.observe(history)
        suggester.suggest(13, pending=[history[0].params])
    # Then nothing was printed: no "A new study created in memory" per suggestion
    assert capfd.readouterr() == ("", "")


def test_make_suggester_says_how_to_install_optuna_when_it_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given optuna cannot be imported (None in sys.modules makes `import optuna` raise ImportError)
    monkeypatch.setitem(sys.modules, "optuna", None)
    monkeypatch.delitem(sys.modules, "controller.suggesters.optuna_tpe")
    # When the controller builds the suggester of a sweep with tpe: {engine: optuna}
    with pytest.raises(SpecError, match=r"tpe.engine: optuna cannot be imported here .*install sweepctl\[optuna\]"):
        make_suggester(Method.TPE, PLANE, 0, TpeOptions(engine="optuna"))


def test_optuna_is_imported_only_by_sweeps_that_ask_for_it() -> None:
    # Given a fresh interpreter that validates an optuna sweep and runs random, grid and hyperopt suggesters
    script = """
import sys
from controller.suggester_factory import make_suggester
from sweepctl.spec import Method, TpeOptions
from tests.unit.controller.plane import PLANE, quadratic
from sweepctl.sweepfile import parse_sweep
doc = {"metric": {"name": "l"}, "function": "m:f", "tpe": {"engine": "optuna"}, "parameters": {"k": {"min": 1, "max": 4}}}
space = parse_sweep(doc, check_installed=True).space
for method in (Method.RANDOM, Method.GRID, Method.TPE):
    make_suggester(method, space, 0).suggest(1)
assert "optuna" not in sys.modules, "imported too early"
make_suggester(Method.TPE, space, 0, TpeOptions(engine="optuna")).suggest(1)
assert "optuna" in sys.modules
"""
    # Then optuna is imported only when its engine is built
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def test_the_sweep_file_offers_exactly_the_lies_the_engines_tell() -> None:
    from controller.suggesters import optuna_tpe, tpe
    from sweepctl import _tpe_options

    assert set(_tpe_options.LIES) == set(optuna_tpe.LIES)
    assert set(_tpe_options.LIES) - set(tpe.LIES) == {"running"}  # the one lie only Optuna can tell
