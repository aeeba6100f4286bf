"""The Optuna engine with several objectives: Optuna's multi-objective TPE learns the trade-off, deterministically.

What the controller tells it (a loss per objective, each goal applied) comes from
`controller.context.observation`; the engine must move its suggestions onto the
Pareto front, steer away from failures, tell pending trials per objective, and
suggest the same parameters for the same seed and observations whatever their order.
"""

from __future__ import annotations

import math
import statistics

import pytest

from controller.context import observation
from controller.suggester import Observation
from controller.suggester_factory import make_suggester
from controller.suggesters.optuna_tpe import OptunaTpeSuggester
from sweepctl.errors import SpecError
from sweepctl.records import Trial, TrialState
from sweepctl.space import Distribution, FlatAssignment, Parameter, SearchSpace
from sweepctl.spec import Method, TpeEngine, TpeOptions
from sweepctl.sweepfile import parse_sweep

SQUARE = SearchSpace((Parameter(("x",), Distribution.UNIFORM, min=0.0, max=1.0), Parameter(("y",), Distribution.UNIFORM, min=0.0, max=1.0)))


def trade_off(params: FlatAssignment) -> tuple[float, float]:
    """Two losses whose Pareto front is the edge y = 0: x trades one against the other, y only costs."""
    x, y = float(params["x"]), float(params["y"])
    return x + y, 1.0 - x + y


def run(suggester: OptunaTpeSuggester, trials: int, *, first: int = 1) -> list[Observation]:
    history = []
    for number in range(first, first + trials):
        params = suggester.suggest(number)
        assert params is not None
        losses = trade_off(params)
        history.append(Observation(number, params, losses[0], losses))
        suggester.observe(history[-1:])
    return history


def test_suggestions_move_onto_the_pareto_front_once_tpe_models_the_trials() -> None:
    # Given the engine on two objectives whose front is y = 0, over 60 trials per seed
    late = []
    for seed in range(4):
        history = run(OptunaTpeSuggester(SQUARE, seed, objectives=2), 60)
        late += [float(o.params["y"]) for o in history[30:]]
    # Then the later suggestions sit near the front (random draws have y 0.5 on average)
    assert statistics.mean(late) < 0.3, statistics.mean(late)


def test_the_same_seed_and_observations_give_the_same_suggestion_in_any_order() -> None:
    history = run(OptunaTpeSuggester(SQUARE, 5, objectives=2), 20)
    forward, backward = OptunaTpeSuggester(SQUARE, 5, objectives=2), OptunaTpeSuggester(SQUARE, 5, objectives=2)
    forward.observe(history)
    backward.observe(list(reversed(history)))
    pending = [{"x": 0.5, "y": 0.5}]
    assert forward.suggest(21, pending) == backward.suggest(21, pending)
    assert forward.suggest(21) == backward.suggest(21)


def test_failed_trials_are_told_as_dominated_by_every_success() -> None:
    # Given trials where every one with x above 0.5 fails (no losses)
    suggester = OptunaTpeSuggester(SQUARE, 3, objectives=2)
    failing = 0
    for number in range(1, 61):
        params = suggester.suggest(number)
        assert params is not None
        fails = float(params["x"]) > 0.5
        failing += number > 20 and fails
        losses = None if fails else trade_off(params)
        suggester.observe([Observation(number, params, None if losses is None else losses[0], losses)])
    # Then the study holds them as infinite on every objective, and TPE mostly keeps away from them
    study = suggester._observed_study()
    assert sum(1 for t in study.trials if t.values == [math.inf, math.inf]) >= 10
    assert failing / 40 < 0.35, failing


@pytest.mark.parametrize(("lie", "told"), [("worst", (1.5, 1.0)), ("best", (0.2, 0.1)), ("mean", (0.85, 0.55))])
def test_a_lie_is_told_objective_by_objective(lie: str, told: tuple[float, float]) -> None:
    # Given three observed trials whose losses disagree on which is worst
    suggester = OptunaTpeSuggester(SQUARE, 1, objectives=2, constant_liar=True, lie=lie, n_startup_jobs=1)
    seen = [(0.2, 1.0), (1.5, 0.1), (0.85, 0.55)]
    suggester.observe([Observation(n, {"x": 0.1 * n, "y": 0.0}, a, (a, b)) for n, (a, b) in enumerate(seen, 1)])
    # When a suggestion is made with a trial pending
    study = suggester._draws([{"x": 0.9, "y": 0.9}])._study()
    # Then the pending trial is told the lie on each objective on its own
    assert study is not None
    assert tuple(study.trials[-1].values) == pytest.approx(told)
    assert suggester.suggest(4, [{"x": 0.9, "y": 0.9}]) is not None


def test_the_factory_gives_optuna_several_objectives_and_refuses_hyperopt_them() -> None:
    engine = make_suggester(Method.TPE, SQUARE, 0, TpeOptions(engine=TpeEngine.OPTUNA), objectives=3)
    assert isinstance(engine, OptunaTpeSuggester) and engine.objectives == 3
    with pytest.raises(SpecError, match="engine: optuna"):
        make_suggester(Method.TPE, SQUARE, 0, TpeOptions(), objectives=2)
    with pytest.raises(SpecError):
        make_suggester(Method.TPE, SQUARE, 0, TpeOptions(engine=TpeEngine.OPTUNA, local_search=0.5), objectives=2)
    assert make_suggester(Method.RANDOM, SQUARE, 0, objectives=2).suggest(1) is not None


def test_the_controller_tells_a_loss_per_objective_each_goal_applied() -> None:
    spec = parse_sweep(
        {
            "method": "bayes",
            "tpe": {"engine": "optuna"},
            "metric": [{"name": "accuracy", "goal": "maximize"}, {"name": "latency"}],
            "function": "m:f",
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
        }
    )
    done = Trial("s", 4, TrialState.COMPLETED, {"x": 0.5}, 1, objective=0.9, last_metrics={"accuracy": 0.9, "latency": 20.0})
    failed = Trial("s", 5, TrialState.FAILED, {"x": 0.6}, 1, last_metrics={"accuracy": 0.95})
    assert observation(done, spec) == Observation(4, {"x": 0.5}, -0.9, (-0.9, 20.0))
    assert observation(failed, spec).losses is None and observation(failed, spec).failed


def test_several_objectives_sample_each_parameter_on_its_own_as_optuna_does(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the engine's sampler, recorded as it is made for one objective and for two
    from controller.suggesters import optuna_tpe

    made: list[bool] = []

    class Recorded(optuna_tpe.KnownSpaceSampler):
        def __init__(self, distributions: dict, **options: object) -> None:
            super().__init__(distributions, **options)  # type: ignore[arg-type]
            made.append(bool(options["multivariate"]))

    monkeypatch.setattr(optuna_tpe, "KnownSpaceSampler", Recorded)
    for objectives in (1, 2):
        suggester = OptunaTpeSuggester(SQUARE, 0, objectives=objectives, n_startup_jobs=2)
        run(suggester, 3)
        # Then TPE is multivariate for one objective and independent for two (Optuna's defaults)
        assert made[-1] is (objectives == 1)
        study = suggester._observed_study()
        relative = Recorded(suggester._distributions, multivariate=made[-1]).infer_relative_search_space(study, study.trials[-1])
        assert bool(relative) is (objectives == 1)
