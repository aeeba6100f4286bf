"""What `best` and `importance` print for a sweep with several objectives, from records (no store)."""

from __future__ import annotations

import numpy as np
import pytest

from sweepctl.analysis.importance import InsufficientTrialsError
from sweepctl.analysis.pareto import pareto_front
from sweepctl.cli.analysis import importance_table, objective_reports
from sweepctl.cli.front import front_records, front_table
from sweepctl.cli.listing import render
from sweepctl.records import Trial, TrialState
from sweepctl.sweepfile import parse_sweep

SPEC = parse_sweep(
    {
        "method": "random",
        "metric": [{"name": "accuracy", "goal": "maximize"}, {"name": "duration"}],  # a name the table already uses
        "function": "m:f",
        "parameters": {"opt": {"parameters": {"lr": {"min": 0.0, "max": 1.0}}}, "layers": {"values": [1, 2]}},
    }
)


def measured(number: int, lr: float, accuracy: float, seconds: float, state: TrialState = TrialState.COMPLETED) -> Trial:
    return Trial(
        "s",
        number,
        state,
        {"opt": {"lr": lr}, "layers": 1 + number % 2},
        number,
        started_at=0.0,
        ended_at=2.0,
        objective=accuracy if state is TrialState.COMPLETED else None,
        last_metrics={"accuracy": accuracy, "duration": seconds},
    )


def test_the_front_table_has_a_row_per_front_trial_and_a_column_per_objective_and_parameter() -> None:
    trials = [measured(1, 0.1, 0.9, 30.0), measured(2, 0.2, 0.8, 10.0), measured(3, 0.3, 0.7, 40.0)]
    table = front_table(pareto_front(trials, SPEC.objectives), SPEC.space)
    assert table.names == ("number", "accuracy", "metric:duration", "opt.lr", "layers", "duration")
    assert table.rows == ((1, 0.9, 30.0, 0.1, 2, 2.0), (2, 0.8, 10.0, 0.2, 1, 2.0))
    assert render(table).splitlines()[1].split() == ["1", "0.9", "30", "0.1", "2", "2.0s"]


def test_front_records_are_whole_trial_records_with_their_objectives() -> None:
    trials = [measured(1, 0.1, 0.9, 30.0), measured(2, 0.2, 0.8, 10.0)]
    records = front_records(pareto_front(trials, SPEC.objectives))
    assert [r["number"] for r in records] == [1, 2]
    assert records[1]["objectives"] == {"accuracy": 0.8, "duration": 10.0}
    assert records[1]["params"] == {"opt": {"lr": 0.2}, "layers": 1} and records[1]["seed"] == 2


def test_importance_prints_one_report_per_objective_and_warns_of_one_it_cannot_explain(capsys: pytest.CaptureFixture[str]) -> None:
    # Given 30 trials where lr drives accuracy and duration never changes
    lrs = np.random.default_rng(0).uniform(0, 1, 30)
    trials = [measured(n, float(lr), float(lr), 5.0) for n, lr in enumerate(lrs, 1)]
    # When importance is asked per objective
    reports = objective_reports(trials, SPEC, seed=0)
    # Then accuracy is explained by lr, and duration is left out with a warning saying why
    assert [r.metric for r in reports] == ["accuracy"] and reports[0].parameters[0].name == "opt.lr"
    assert "importance of 'duration': it has the same value in all 30 trials" in capsys.readouterr().err
    assert importance_table(reports[0]).splitlines()[0].split()[:2] == ["PARAMETER", "IMPORTANCE"]
    # And with no objective to explain, the first one's reason is the error
    with pytest.raises(InsufficientTrialsError, match="accuracy"):
        objective_reports(trials[:3], SPEC, seed=0)
