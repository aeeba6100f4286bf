"""Comparing sweeps on synthetic trial records whose answers are known: best, trials to best, failure rate, top-10% ranges."""

from __future__ import annotations

from typing import Any

import pytest

from sweepctl.analysis.compare import SweepTrials, compare_sweeps, parameter_range, top_trials
from sweepctl.errors import ConfigError
from sweepctl.records import Sweep, SweepState, Trial, TrialState
from sweepctl.spec import Goal
from sweepctl.sweepfile import parse_sweep

PARAMETERS = {
    "x": {"min": 0.0, "max": 3.0},
    "opt": {"parameters": {"name": {"values": ["adam", "sgd"]}}},
    "momentum": {"min": 0.0, "max": 1.0},
    "epochs": {"value": 3},
}
FAILED = {3: TrialState.FAILED, 8: TrialState.LOST, 19: TrialState.STOPPED}


def sweep(sweep_id: str, trials: list[Trial], metric: str = "loss", goal: str = "minimize", **spec: Any) -> SweepTrials:
    raw = {"method": "random", "metric": {"name": metric, "goal": goal}, "function": "m:f", "parameters": PARAMETERS, **spec}
    record = Sweep(sweep_id, raw, SweepState.FINISHED, seed=5, created_at=0.0)
    return SweepTrials(record, parse_sweep(raw), trials)


def trial(number: int, objective: float | None, state: TrialState = TrialState.COMPLETED, ended: float | None = None) -> Trial:
    """x = number / 10; odd numbers use adam without momentum (a conditional parameter), even ones sgd with it."""
    params: dict[str, Any] = {"x": number / 10, "opt": {"name": "adam" if number % 2 else "sgd"}, "epochs": 3}
    if number % 2 == 0:
        params["momentum"] = number / 100
    return Trial("s", number, state, params, seed=number, ended_at=100.0 + number if ended is None else ended,
                 objective=objective if state is TrialState.COMPLETED else None)


def bowl(near_best: float) -> list[Trial]:
    """20 trials, loss (n - 13)² + 1: best 1.0 at trial 13; trial 17 scores `near_best` and ends sixth (after 1-5);
    trial 3 failed, 8 was lost, 19 was stopped early."""
    trials = []
    for n in range(1, 21):
        objective = near_best if n == 17 else (n - 13) ** 2 + 1.0
        trials.append(trial(n, objective, FAILED.get(n, TrialState.COMPLETED), ended=105.5 if n == 17 else None))
    return trials


def test_best_trials_to_best_failure_rate_and_top_ranges_of_a_known_sweep() -> None:
    # Given a sweep whose best (1.0, trial 13) is matched to within 1e-12 by trial 17, the sixth trial to end
    a = sweep("a", bowl(near_best=1.0 + 1e-13))
    b = sweep("b", bowl(near_best=50.0))

    # When the two are compared
    comparison = compare_sweeps([a, b])
    first, second = comparison.sweeps

    # Then the best is trial 13's; it was reached when 6 trials had ended (trial 17 ties it to within 1e-12)
    assert (first.best, first.best_trial, first.trials_to_best) == (1.0, 13, 6)
    # And without the tie it was reached when trial 13 ended: 1-12, 17 and 13 itself
    assert (second.best, second.best_trial, second.trials_to_best) == (1.0, 13, 14)
    # And two of 20 finished trials failed (failed and lost; stopped is no failure); 17 completed
    assert (first.trials, first.finished, first.failed, first.failure_rate, first.completed) == (20, 20, 2, 0.1, 17)
    assert first.by_state == {"completed": 17, "failed": 1, "lost": 1, "stopped": 1}
    # And the top 10% of 17 completed trials is 2: trials 13 and 17 (x 1.3 and 1.7, adam, no momentum); epochs is constant
    assert first.top_trials == 2
    ranges = {r.name: r for r in first.top_ranges}
    assert set(ranges) == {"x", "opt.name", "momentum"}
    assert (ranges["x"].low, ranges["x"].high) == (1.3, 1.7) and ranges["x"].numeric
    assert ranges["opt.name"].values == ("adam",) and not ranges["opt.name"].numeric
    assert ranges["momentum"].absent == 2 and ranges["momentum"].values == ()
    # And for b (trial 17 far off) the top two are 13 and one of its neighbours at loss 2.0, the lower number: 12
    assert {r.name: (r.low, r.high) for r in second.top_ranges}["x"] == (1.2, 1.3)
    # And the best-so-far curve has one point per finished trial, monotone, ending at the best
    assert len(first.best_so_far) == 20 and first.best_so_far[-1] == 1.0
    assert first.best_so_far[5] == 1.0 + 1e-13 and first.best_so_far[4] == 65.0  # trials 1-5: best is trial 5's (5-13)²+1
    # And the same metric and goal gives no warning
    assert comparison.warnings == ()


def test_importance_ranks_the_parameter_the_loss_depends_on_and_is_missing_with_too_few_trials() -> None:
    # Given a sweep of 20 trials whose loss depends on x alone, and one of 5 trials
    big = sweep("big", bowl(near_best=1.0 + 1e-13))
    small = sweep("small", [trial(n, float(n)) for n in range(1, 6)])
    # When compared
    first, second = compare_sweeps([big, small]).sweeps
    # Then x leads the first sweep's ranking (with its interval around its share), and the second has none, with the reason
    assert first.importance is not None and first.importance.parameters[0].name == "x"
    top = first.importance.parameters[0]
    assert top.importance_ci[0] <= top.importance <= top.importance_ci[1] and top.importance > 0.5
    assert second.importance is None and "needs at least 10 finished trials" in second.importance_note
    # And the JSON keeps full precision and the shape
    data = compare_sweeps([big, small]).to_json()
    assert data["sweeps"][0]["best"] == {"number": 13, "objective": 1.0}
    assert data["sweeps"][0]["top"]["ranges"][0] == {"name": "x", "min": 1.3, "max": 1.7, "absent": 0}
    assert data["sweeps"][1]["importance"] is None and data["sweeps"][1]["failure_rate"] == 0.0


def test_different_metrics_goals_and_parameters_are_compared_but_said_to_differ() -> None:
    # Given a loss-minimizing sweep and an accuracy-maximizing one over another parameter set
    a = sweep("a", bowl(near_best=50.0))
    other = {"lr": {"min": 0.0, "max": 1.0}}
    b_raw = sweep("b", [trial(n, float(n)) for n in range(1, 11)], metric="acc", goal="maximize", parameters=other)
    # When compared
    comparison = compare_sweeps([a, b_raw])
    # Then each is judged by its own goal (b's best is its highest accuracy), and the warnings say what differs
    assert comparison.sweeps[1].goal is Goal.MAXIMIZE and comparison.sweeps[1].best == 10.0
    assert comparison.sweeps[1].trials_to_best == 10
    text = "\n".join(comparison.warnings)
    assert "different metrics (a: loss, b: acc)" in text
    assert "different goals (a: minimize, b: maximize)" in text
    assert "only a: momentum, opt.name, x; only b: lr" in text


def test_a_sweep_with_no_completed_trial_has_no_best_and_a_full_failure_rate() -> None:
    failed = sweep("f", [trial(n, None, TrialState.FAILED) for n in range(1, 4)])
    empty = sweep("e", [])
    f, e = compare_sweeps([failed, empty]).sweeps
    assert (f.best, f.best_trial, f.trials_to_best, f.failure_rate, f.top_ranges) == (None, None, None, 1.0, ())
    assert (e.trials, e.failure_rate, e.best_so_far) == (0, None, ())


def test_fewer_than_two_sweeps_or_one_given_twice_is_refused() -> None:
    a = sweep("a", [])
    with pytest.raises(ConfigError, match="at least two sweeps, got 1: a"):
        compare_sweeps([a])
    with pytest.raises(ConfigError, match="sweep a given more than once"):
        compare_sweeps([a, sweep("b", []), a])


def test_top_ten_percent_is_rounded_up_and_ranges_read_numbers_or_values() -> None:
    ranked = [trial(n, float(n)) for n in range(1, 31)]
    assert len(top_trials(ranked)) == 3 and len(top_trials(ranked[:21])) == 3  # 10% of 30; of 21, rounded up
    assert len(top_trials(ranked[:11])) == 2 and len(top_trials(ranked[:1])) == 1 and top_trials([]) == []
    assert (parameter_range("n", [3, 1.5, 2]).low, parameter_range("n", [3, 1.5, 2]).high) == (1.5, 3.0)
    assert parameter_range("c", ["b", "a", "b"]).values == ("a", "b")
    assert parameter_range("mixed", [1, "a", True]).values == ("a", 1, True)  # sorted by their JSON; a bool is no number
    assert not parameter_range("flags", [True, False]).numeric
