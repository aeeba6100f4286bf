"""Parameter importance on objectives whose first-order variance shares are known analytically."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from sweepctl.analysis.importance import ImportanceReport, InsufficientTrialsError, importance_by_objective, parameter_importance
from sweepctl.records import Trial, TrialState
from sweepctl.space import Distribution, Parameter, SearchSpace
from sweepctl.spec import Goal, MetricSpec

Objective = Callable[[np.ndarray], float]


def uniform_space(dims: int, low: float, high: float) -> SearchSpace:
    return SearchSpace(tuple(Parameter(path=(f"x{i + 1}",), distribution=Distribution.UNIFORM, min=low, max=high) for i in range(dims)))


def random_trials(objective: Objective, dims: int, n: int, *, low: float = 0.0, high: float = 1.0, seed: int = 7) -> list[Trial]:
    """Trials of a random sweep: uniform draws and the objective as each trial's result."""
    x = np.random.default_rng(seed).uniform(low, high, (n, dims))
    return [
        Trial("s", i + 1, TrialState.COMPLETED, {f"x{j + 1}": float(x[i, j]) for j in range(dims)}, 0, objective=objective(x[i]))
        for i in range(n)
    ]


def ishigami(x: np.ndarray) -> float:
    return math.sin(x[0]) + 7 * math.sin(x[1]) ** 2 + 0.1 * x[2] ** 4 * math.sin(x[0])


def shares(trials: list[Trial], space: SearchSpace, seed: int = 0) -> dict[str, tuple[float, tuple[float, float]]]:
    report = parameter_importance(trials, space, "loss", Goal.MINIMIZE, seed=seed, objective_metric="loss")
    return {p.name: (p.importance, p.importance_ci) for p in report.parameters}


def test_ishigami_shares_are_ranked_and_their_intervals_contain_the_true_ones() -> None:
    # Given a random sweep of the Ishigami function (S1 = 0.314, S2 = 0.442, S3 = 0: x3 acts only with x1)
    trials = random_trials(ishigami, 3, 1000, low=-math.pi, high=math.pi)
    # When importance is estimated
    report = parameter_importance(trials, uniform_space(3, -math.pi, math.pi), "loss", Goal.MINIMIZE, objective_metric="loss")
    # Then x2 ranks first, x1 second, x3 last, and every interval holds the analytic share
    assert [p.name for p in report.parameters] == ["x2", "x1", "x3"]
    truth = {"x1": 0.314, "x2": 0.442, "x3": 0.0}
    for p in report.parameters:
        assert p.importance_ci[0] <= truth[p.name] <= p.importance_ci[1], p
        assert p.importance_ci[0] <= p.importance <= p.importance_ci[1]
    # x2 has no rank correlation at all (sin² is symmetric) yet the largest share
    x2 = report.parameters[0]
    assert x2.correlation_ci[0] < 0 < x2.correlation_ci[1]
    assert report.trials == 1000 and report.r2 > 0.8 and report.trustworthy


def test_additive_linear_shares_and_a_parameter_without_effect() -> None:
    # Given y = x1 + 2 x2 + 3 x3 over uniform inputs and an x4 it ignores: shares 1/14, 4/14, 9/14, 0
    trials = random_trials(lambda x: x[0] + 2 * x[1] + 3 * x[2], 4, 600)
    found = shares(trials, uniform_space(4, 0, 1))
    # Then the intervals contain the shares, and x4's includes zero
    assert list(found) == ["x3", "x2", "x1", "x4"]
    for name, truth in {"x1": 1 / 14, "x2": 4 / 14, "x3": 9 / 14, "x4": 0.0}.items():
        low, high = found[name][1]
        assert low <= truth <= high, (name, found[name])
    assert found["x4"][1][0] == 0.0


def test_a_non_monotonic_parameter_with_near_zero_correlation_ranks_first() -> None:
    # Given y = 10 (x1 - 0.5)^2 + x2: x1 matters most, but its rank correlation is about zero
    trials = random_trials(lambda x: 10 * (x[0] - 0.5) ** 2 + x[1], 2, 500)
    report = parameter_importance(trials, uniform_space(2, 0, 1), "loss", Goal.MINIMIZE, objective_metric="loss")
    first, second = report.parameters
    # Then importance ranks x1 first while correlation would have ranked x2 first
    assert first.name == "x1" and first.importance > 0.7
    assert abs(first.correlation) < 0.15 < abs(second.correlation)


def test_same_seed_same_report_and_the_json_shape() -> None:
    trials = random_trials(lambda x: x[0] + x[1] ** 2, 2, 200)
    space = uniform_space(2, 0, 1)
    one = parameter_importance(trials, space, "loss", Goal.MAXIMIZE, seed=3, objective_metric="loss")
    assert parameter_importance(trials, space, "loss", Goal.MAXIMIZE, seed=3, objective_metric="loss") == one
    data = one.to_json()
    assert set(data) == {"metric", "trials", "r2", "trustworthy", "parameters"}
    assert [set(p) for p in data["parameters"]] == [{"name", "importance", "importance_ci", "correlation", "correlation_ci"}] * 2
    assert [p["importance"] for p in data["parameters"]] == sorted((p["importance"] for p in data["parameters"]), reverse=True)
    assert all(isinstance(p["importance_ci"], list) and len(p["importance_ci"]) == 2 for p in data["parameters"])


def test_log_categorical_nested_and_missing_parameters() -> None:
    # Given nested parameters: a log-scale learning rate that matters, a categorical optimizer that matters,
    # a constant, and a conditional momentum that half the trials lack (and that does nothing)
    space = SearchSpace(
        (
            Parameter(path=("opt", "lr"), distribution=Distribution.LOG_UNIFORM_VALUES, min=1e-5, max=1e-1),
            Parameter(path=("opt", "name"), distribution=Distribution.CATEGORICAL, values=("sgd", "adam", "rmsprop")),
            Parameter(path=("opt", "momentum"), distribution=Distribution.UNIFORM, min=0, max=1),
            Parameter(path=("epochs",), distribution=Distribution.CONSTANT, value=3),
        )
    )
    rng = np.random.default_rng(1)
    trials = []
    for i in range(400):
        lr, name = float(10 ** rng.uniform(-5, -1)), str(rng.choice(["sgd", "adam", "rmsprop"]))
        params = {"opt": {"lr": lr, "name": name}, "epochs": 3}
        if name == "sgd":
            params["opt"]["momentum"] = float(rng.uniform())
        loss = -math.log10(lr) + (2.0 if name == "sgd" else 0.0)
        trials.append(Trial("s", i + 1, TrialState.COMPLETED, params, 0, last_metrics={"val_loss": loss}))
    # When importance is asked of a metric other than the objective
    report = parameter_importance(trials, space, "val_loss", Goal.MINIMIZE, objective_metric="loss")
    found = {p.name: p for p in report.parameters}
    # Then names are dotted, the constant is left out and the log-scale effect leads
    assert sorted(found) == ["opt.lr", "opt.momentum", "opt.name"] and report.parameters[0].name == "opt.lr"
    assert found["opt.lr"].correlation_ci[1] < -0.6  # larger lr, smaller loss, by rank on the log scale
    # momentum's values do nothing (its correlation over the trials that have it includes zero), but whether it is
    # there at all tells sgd from the others: "missing" is a value of its own, so it carries the optimizer's share
    assert found["opt.momentum"].correlation_ci[0] < 0 < found["opt.momentum"].correlation_ci[1]
    assert abs(found["opt.momentum"].importance - found["opt.name"].importance) < 0.05 and found["opt.name"].importance > 0.1


def test_too_few_trials_raise_and_a_noisy_metric_is_not_trustworthy() -> None:
    space = uniform_space(2, 0, 1)
    with pytest.raises(InsufficientTrialsError, match="at least 10 finished trials"):
        parameter_importance(random_trials(lambda x: x[0], 2, 9), space, "loss", Goal.MINIMIZE, objective_metric="loss")
    # unfinished trials, trials without the metric and NaN values do not count
    counted = random_trials(lambda x: x[0], 2, 12)
    others = [
        Trial("s", 100, TrialState.RUNNING, {"x1": 0.1, "x2": 0.1}, 0),
        Trial("s", 101, TrialState.FAILED, {"x1": 0.1, "x2": 0.1}, 0),
        Trial("s", 102, TrialState.COMPLETED, {"x1": 0.1, "x2": 0.1}, 0, objective=math.nan),
    ]
    small = parameter_importance(counted + others, space, "loss", Goal.MINIMIZE, objective_metric="loss")
    assert small.trials == 12 and not small.trustworthy
    # Given a metric that is pure noise over 300 trials: the surrogate explains nothing out of sample
    rng = np.random.default_rng(5)
    noise = random_trials(lambda x: float(rng.normal()), 2, 300)
    report = parameter_importance(noise, space, "loss", Goal.MINIMIZE, objective_metric="loss")
    assert report.r2 < 0.5 and not report.trustworthy
    with pytest.raises(InsufficientTrialsError, match="same value"):
        parameter_importance(random_trials(lambda x: 1.0, 2, 20), space, "loss", Goal.MINIMIZE, objective_metric="loss")


def test_each_objective_of_a_sweep_with_several_gets_its_own_report_from_completed_trials() -> None:
    # Given a sweep with objectives accuracy (x1 drives it) and latency (x2 drives it), and failed trials that reported latency
    x = np.random.default_rng(3).uniform(0, 1, (80, 2))
    trials = [
        Trial("s", i + 1, TrialState.COMPLETED, {"x1": a, "x2": b}, 0, objective=a, last_metrics={"accuracy": a, "latency": 10 * b})
        for i, (a, b) in enumerate(x.tolist())
    ]
    trials += [Trial("s", 100 + i, TrialState.FAILED, {"x1": 0.5, "x2": 0.5}, 0, last_metrics={"latency": 99.0}) for i in range(5)]
    objectives = (MetricSpec("accuracy", Goal.MAXIMIZE), MetricSpec("latency", Goal.MINIMIZE), MetricSpec("flat"))
    # When importance is asked per objective (flat: reported by no trial)
    found = dict(importance_by_objective(trials, uniform_space(2, 0, 1), objectives, seed=1))
    # Then each objective is explained by its own parameter, from the 80 completed trials only
    accuracy, latency = found["accuracy"], found["latency"]
    assert isinstance(accuracy, ImportanceReport) and isinstance(latency, ImportanceReport)
    assert accuracy.parameters[0].name == "x1" and latency.parameters[0].name == "x2"
    assert (accuracy.trials, latency.trials) == (80, 80)
    # And one that cannot be explained says why, in its place
    assert isinstance(found["flat"], InsufficientTrialsError)
