"""A trial attempt's W&B files and variables: what W&B's agent would give its run, offline, and nothing left when unused."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweepctl.records import Trial, TrialState
from sweepctl.trial_environment import trial_environment
from sweepctl.wandb_files import params_text, remove_if_unused, run_files, run_id, write_params

config_util = pytest.importorskip("wandb.sdk.lib.config_util")


def trial(params: dict[str, object] | None = None, *, number: int = 4, attempt: int = 2) -> Trial:
    return Trial(sweep_id="k3x9ab2q", number=number, state=TrialState.RUNNING, params=params or {}, seed=1, attempt=attempt)


@pytest.mark.parametrize(
    "params",
    [
        {"lr": 0.001, "epochs": 3, "name": "resnet", "use_bn": True},
        {"optimizer": {"name": "adam", "betas": [0.9, 0.999], "lr": 1e-5}, "batch": 64},
        {"model.lr": 0.1, "layers": [8, 16], "note": "a: b # c", "empty": None, "big": 10**20},
        {},
    ],
)
def test_wandbs_own_reader_gives_back_the_trials_parameters(tmp_path: Path, params: dict[str, object]) -> None:
    # Given a trial's parameter file, written where the attempt's W&B run will read it
    files = write_params(run_files(trial(params), tmp_path), params)
    # When wandb reads it as wandb.init() does with WANDB_SWEEP_PARAM_PATH
    read = config_util.dict_from_config_file(str(files.params_path), must_exist=True)
    # Then it holds exactly the parameters: top-level names, a nested group as one dict value
    assert (read or {}) == params


def test_the_file_is_in_the_agents_format() -> None:
    assert params_text({"lr": 0.5, "opt": {"beta": 0.9}}) == "wandb_version: 1\n\nlr:\n  value: 0.5\nopt:\n  value:\n    beta: 0.9\n"


def test_each_attempt_has_its_own_run_id_and_folder(tmp_path: Path) -> None:
    first, again, other = run_files(trial(attempt=1), tmp_path), run_files(trial(attempt=2), tmp_path), run_files(trial(number=5), tmp_path)
    assert first.run_id == "k3x9ab2q-4-1" == run_id(trial(attempt=1))
    assert len({first.directory, again.directory, other.directory}) == 3
    assert first.directory == tmp_path / "wandb" / "sweep-k3x9ab2q" / "k3x9ab2q-4-1"


def test_a_trial_runs_offline_in_its_attempts_folder_unless_the_worker_says_otherwise(tmp_path: Path) -> None:
    files = run_files(trial(), tmp_path)
    # Given a worker whose environment says nothing about W&B
    env = trial_environment(trial({"lr": 0.1}), files, {"PATH": "/bin"})
    # Then the trial runs offline, its run named for the attempt, its parameters in the agent's file
    assert env["WANDB_MODE"] == "offline"
    assert env["WANDB_DIR"] == str(files.directory)
    assert env["WANDB_SWEEP_PARAM_PATH"] == str(files.directory / "config-k3x9ab2q-4-2.yaml")
    assert (env["WANDB_RUN_ID"], env["WANDB_SWEEP_ID"]) == ("k3x9ab2q-4-2", "k3x9ab2q")
    assert env["WANDB_X_TRANSACTION_LOG_FLUSH_INTERVAL"] == "0.5"
    assert env["WANDB_ERROR_REPORTING"] == "false"
    assert env["SWEEPCTL_PARAMS"] == '{"lr": 0.1}'
    # Given a worker that chose W&B's mode and its flush interval itself / Then its choices stand (absent here, kept there)
    chosen = trial_environment(trial(), files, {"WANDB_MODE": "online", "WANDB__TRANSACTION_LOG_FLUSH_INTERVAL": "2"})
    assert "WANDB_MODE" not in chosen
    assert "WANDB_X_TRANSACTION_LOG_FLUSH_INTERVAL" not in chosen
    # And an online run is not said to belong to a W&B sweep (sweepctl's sweep is unknown to W&B's server)
    assert "WANDB_SWEEP_ID" not in chosen
    assert chosen["WANDB_SWEEP_PARAM_PATH"] == env["WANDB_SWEEP_PARAM_PATH"]
    assert trial_environment(trial(), files, {"WANDB_MODE": "offline"})["WANDB_SWEEP_ID"] == "k3x9ab2q"


def test_an_unused_folder_is_removed_with_its_empty_parents_and_a_used_one_is_kept(tmp_path: Path) -> None:
    # Given two attempts of one sweep, one of which wrote a W&B run
    unused = write_params(run_files(trial(number=1), tmp_path), {"a": 1})
    used = write_params(run_files(trial(number=2), tmp_path), {"a": 2})
    (used.runs_folder / f"offline-run-20260101_000000-{used.run_id}").mkdir(parents=True)
    # When both are closed
    assert remove_if_unused(unused)
    assert not remove_if_unused(used)
    # Then only the used one is left
    assert not unused.directory.exists()
    assert used.params_path.exists()
    remove_if_unused(used)
    # And a sweep none of whose trials used W&B leaves no wandb folder behind
    (tmp_path / "b").mkdir()
    lone = write_params(run_files(Trial(sweep_id="other", number=0, state=TrialState.RUNNING, params={}, seed=0), tmp_path / "b"), {})
    assert lone.params_path.is_relative_to(tmp_path / "b" / "wandb")
    remove_if_unused(lone)
    assert list((tmp_path / "b").iterdir()) == []


def test_a_sweep_folder_that_cannot_be_written_gets_the_files_in_the_temporary_directory(tmp_path: Path) -> None:
    # Given a sweep "folder" where no folder can be made (a file is in the way: as refusing for root as for anyone)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    # When the attempt's parameter file is written
    files = write_params(run_files(trial(), blocked), {"lr": 1})
    # Then it is written in the temporary directory instead, and read back by wandb all the same
    assert files.params_path.exists()
    assert not files.directory.is_relative_to(tmp_path)
    assert config_util.dict_from_config_file(str(files.params_path)) == {"lr": 1}
    # And removed like any unused attempt's
    remove_if_unused(files)
    assert not files.directory.exists()


def test_a_sweep_folder_that_is_gone_is_not_made_again(tmp_path: Path) -> None:
    # Given a sweep folder a trial deleted (its next trials must fail to enter it, not run in a new one)
    gone = tmp_path / "project"
    # When an attempt's parameter file is written
    files = write_params(run_files(trial(), gone), {"lr": 1})
    # Then the folder is still gone, and the file went to the temporary directory
    assert not gone.exists()
    assert files.params_path.exists() and not files.directory.is_relative_to(tmp_path)
    remove_if_unused(files)
