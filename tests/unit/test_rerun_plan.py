"""Planning a re-run (`sweepctl reproduce`): the recorded argv unchanged, a worker's environment, links to what it names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sweepctl.errors import RerunError
from sweepctl.records import Trial, TrialState
from sweepctl.rerun import plan_rerun
from sweepctl.spec import SweepSpec
from sweepctl.sweepfile import load_sweep_file


def spec_in(folder: Path, entry: str) -> SweepSpec:
    """A sweep file in `folder` whose entry point is `entry` (YAML lines)."""
    path = folder / "sweep.yaml"
    base = "metric: {name: loss}\nparameters:\n  x: {min: 0.0, max: 1.0}\ndata: [data/train.csv, /abs/elsewhere, ../outside]\n"
    path.write_text(base + entry + "\n")
    return load_sweep_file(path)


def trial(argv: tuple[str, ...]) -> Trial:
    return Trial(sweep_id="s1", number=4, state=TrialState.COMPLETED, params={"x": 0.5}, seed=9, attempt=2, argv=argv)


def test_a_program_trial_is_planned_with_its_argv_environment_and_links(tmp_path: Path) -> None:
    # Given a sweep folder with its program and data, and a recorded trial
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("a\n")
    (tmp_path / "train.py").write_text("")
    spec = spec_in(tmp_path, "program: train.py")
    argv = ("/usr/bin/env", "/venv/bin/python", "train.py", "--x=0.5")

    # When its re-run is planned
    plan = plan_rerun(trial(argv), spec, str(tmp_path), tmp_path / "fresh")

    # Then the argv is the recorded one, the environment is a worker's, and only existing relative paths inside the folder are linked
    assert plan.argv == argv
    assert json.loads(plan.env["SWEEPCTL_PARAMS"]) == {"x": 0.5}
    assert (plan.env["SWEEPCTL_TRIAL_SEED"], plan.env["SWEEPCTL_TRIAL_NUMBER"], plan.env["SWEEPCTL_TRIAL_ATTEMPT"]) == ("9", "4", "2")
    assert plan.env["SWEEPCTL_SWEEP_ID"] == "s1"
    assert plan.links == (("train.py", tmp_path / "train.py"), ("data/train.csv", tmp_path / "data" / "train.csv"))
    assert plan.args_json_file is None


def test_a_trial_without_argv_is_refused_naming_sweep_and_number(tmp_path: Path) -> None:
    # Given a function trial, which records no argv
    spec = spec_in(tmp_path, "function: objectives:f")

    # When its re-run is planned, Then the error says which trial and why
    with pytest.raises(RerunError, match=r"trial 4 of sweep 's1' has no recorded argv \(a function: trial runs no command\)"):
        plan_rerun(trial(()), spec, str(tmp_path), tmp_path / "fresh")


def test_a_trial_of_the_python_agent_is_refused_saying_it_was_a_call(tmp_path: Path) -> None:
    # Given a sweep with neither program nor function: its trials were calls in sweepctl.agent's process
    spec = spec_in(tmp_path, "")
    # When its re-run is planned, Then the error says there is no command to run again
    with pytest.raises(RerunError, match=r"no recorded argv \(a call of the function given to sweepctl.agent runs no command\)"):
        plan_rerun(trial(()), spec, str(tmp_path), tmp_path / "fresh")


def test_the_args_json_file_is_written_again_at_its_recorded_path(tmp_path: Path) -> None:
    # Given a command that hands the parameters over as a file the worker wrote and removed
    spec = spec_in(tmp_path, 'program: train.py\ncommand: ["${interpreter}", "${program}", "${args_json_file}"]')
    recorded = ("/venv/bin/python", "train.py", "/tmp/sweepctl-s1-4-abc/params.json")

    # When its re-run is planned, Then the file's recorded path gets the trial's parameters
    plan = plan_rerun(trial(recorded), spec, str(tmp_path), tmp_path / "fresh")
    assert plan.args_json_file == (Path("/tmp/sweepctl-s1-4-abc/params.json"), '{"x": 0.5}')  # json.dumps, as W&B's agent writes it


def test_the_args_json_file_is_found_after_envvar_elements(tmp_path: Path) -> None:
    # Given a command whose ${envvar:NAME} elements the worker expanded from its own environment
    spec = spec_in(tmp_path, 'program: train.py\ncommand: ["${envvar:PY}", "${program}", "--data=${envvar:DATA}", "${args_json_file}"]')
    recorded = ("/worker/python", "train.py", "--data=/worker/data", "/tmp/sweepctl-s1-4-abc/params.json")

    # When its re-run is planned, Then the recorded argv is kept as it ran, and the file is found at its place
    plan = plan_rerun(trial(recorded), spec, str(tmp_path), tmp_path / "fresh")
    assert plan.argv == recorded
    assert plan.args_json_file == (Path("/tmp/sweepctl-s1-4-abc/params.json"), '{"x": 0.5}')
