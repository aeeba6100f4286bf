"""k-fold trials as people see them: the trials table, a sweep's best line, and the report page's best trial."""

from __future__ import annotations

from sweepctl.analysis.table import ColumnType, trial_table
from sweepctl.cli.listing import readable_sweep, render
from sweepctl.cli.output import best_summary
from sweepctl.pages.sweep_page import best_trial, summary
from sweepctl.records import TrialState
from tests.unit.pages.synthetic import trial
from tests.unit.pages.test_page import view_of

FOLDS = {"folds": 3, "fold_objectives": (0.5, 0.75, 1.0), "objective_std": 0.2041241452319315, "worker": None, "host": None}


def test_the_trials_table_has_the_std_and_each_folds_value_after_the_objective() -> None:
    # Given a 3-fold trial that completed and one that failed at fold 1
    table = trial_table([trial(1, objective=0.75, **FOLDS), trial(2, TrialState.FAILED, folds=3, fold_objectives=(0.5, None, None))])
    # Then its columns follow the objective, at full precision, and the table shows them readably
    assert table.names[:5] == ("number", "state", "objective", "objective_std", "folds")
    assert table.columns[4].type is ColumnType.SERIES
    assert table.column("folds") == [[0.5, 0.75, 1.0], [0.5, None, None]]
    lines = render(table.select(["number", "objective", "objective_std", "folds"])).splitlines()
    assert lines[1].split() == ["1", "0.75", "0.2041", "0.5", "0.75", "1"] and lines[2].split() == ["2", "-", "-", "0.5", "-", "-"]


def test_a_table_of_trials_of_one_task_has_no_fold_columns() -> None:
    assert "folds" not in trial_table([trial(1, objective=1.0)]).names


def test_a_sweeps_best_k_fold_trial_reads_as_mean_plus_minus_std_with_its_folds() -> None:
    record = {"best": best_summary(trial(1, objective=0.75, **FOLDS))}
    assert readable_sweep(record, None)["best"] == "trial 1: 0.75 ± 0.2041 (folds 0.5 0.75 1)"
    assert readable_sweep({"best": best_summary(trial(2, objective=0.5))}, None)["best"] == "trial 2: 0.5"


def test_the_report_shows_the_best_trials_std_and_folds_and_the_sweeps_cross_validation() -> None:
    view = view_of([trial(1, objective=0.75, **FOLDS)], cross_validation={"folds": 3})
    section = best_trial(view)
    assert "std over folds" in section.body and "<code>0.2041241452319315</code>" in section.body
    assert "3 folds" in section.body and "<code>0.5 0.75 1.0</code>" in section.body
    assert "random, 3-fold cross-validation (objective: folds&#x27; mean)" in summary(view).body
