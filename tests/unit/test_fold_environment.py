"""What a task of a k-fold trial is told, and how it travels: its environment, the report API, its W&B run, its message."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import sweepctl
from controller.sending import messages
from sweepctl.celery_app import RUN_TRIAL_TASK, _attempt_of, send_attempt, task_id
from sweepctl.records import Trial, TrialState
from sweepctl.trial_environment import trial_environment
from sweepctl.wandb_files import run_files

TRIAL = Trial(sweep_id="k3x9ab2q", number=4, state=TrialState.QUEUED, params={"lr": 0.1}, seed=77, folds=5)


def test_a_fold_is_told_its_fold_and_the_count_and_a_plain_trial_neither(tmp_path: Path) -> None:
    # Given fold 3 of a 5-fold trial, at its second attempt
    fold = replace(TRIAL, fold=3, attempt=2)
    env = trial_environment(fold, run_files(fold, tmp_path), {})
    # Then its environment names the fold and the count, beside the trial's own parameters and seed
    assert (env["SWEEPCTL_FOLD"], env["SWEEPCTL_FOLDS"]) == ("3", "5")
    assert (env["SWEEPCTL_TRIAL_NUMBER"], env["SWEEPCTL_TRIAL_ATTEMPT"], env["SWEEPCTL_TRIAL_SEED"]) == ("4", "2", "77")
    # And a trial of one task is told no fold
    plain = replace(TRIAL, folds=None)
    assert not {"SWEEPCTL_FOLD", "SWEEPCTL_FOLDS"} & trial_environment(plain, run_files(plain, tmp_path), {}).keys()


def test_the_report_api_reads_the_fold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWEEPCTL_FOLD", raising=False)
    monkeypatch.delenv("SWEEPCTL_FOLDS", raising=False)
    assert (sweepctl.fold(), sweepctl.folds()) == (None, None)  # outside a k-fold trial
    monkeypatch.setenv("SWEEPCTL_FOLD", "2")
    monkeypatch.setenv("SWEEPCTL_FOLDS", "5")
    assert (sweepctl.fold(), sweepctl.folds()) == (2, 5)


def test_folds_of_one_trial_have_w_and_b_runs_of_their_own(tmp_path: Path) -> None:
    # Folds of a trial run side by side, possibly in one folder: each attempt of each fold gets its own run
    ids = {run_files(replace(TRIAL, fold=f, attempt=a), tmp_path).run_id for f in range(3) for a in (1, 2)}
    assert len(ids) == 6 and "k3x9ab2q-4-f2-1" in ids
    assert run_files(replace(TRIAL, folds=None), tmp_path).run_id == "k3x9ab2q-4-1"  # unchanged for other trials


class App:
    """Records what a Celery app was asked to send."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_task(self, name: str, **options: Any) -> None:
        self.sent.append({"name": name, **options})


def test_each_fold_is_a_message_of_its_own_and_other_trials_messages_are_unchanged() -> None:
    app = App()
    send_attempt(app, "k3x9ab2q", 4, 2, "gpu", fold=3)  # type: ignore[arg-type]
    send_attempt(app, "k3x9ab2q", 4, 2, "gpu")  # type: ignore[arg-type]
    assert [m["args"] for m in app.sent] == [["k3x9ab2q", 4, 2, 3], ["k3x9ab2q", 4, 2]]
    assert [m["task_id"] for m in app.sent] == [task_id("k3x9ab2q", 4, 2, 3), "k3x9ab2q.4.2"]
    assert len({m["task_id"] for m in app.sent}) == 2
    # And an agent reading its queue gets the fold back, or None
    for message, fold in zip(app.sent, (3, None)):
        received = SimpleNamespace(headers={"task": RUN_TRIAL_TASK}, decode=lambda m=message: [m["args"], {}, {}])
        assert _attempt_of(received) == ("k3x9ab2q", 4, 2, fold)


def test_sending_a_k_fold_trial_sends_every_fold_and_a_folds_record_that_fold_alone() -> None:
    assert messages(TRIAL) == [0, 1, 2, 3, 4]
    assert messages(replace(TRIAL, fold=2, attempt=3)) == [2]
    assert messages(replace(TRIAL, folds=None)) == [None]
