"""What W&B's schema allows, sweepctl reads: dotted names, no metric for grid and random, W&B's server
keys noted and ignored, W&B Launch refused as such, and W&B's numbers (whole floats, sigma 0).

Where W&B's schema allows a value its own controller cannot use, the file is refused and the message says why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sweeps import schema_violations_from_proposed_config

from sweepctl.analysis.table import flat_parameters, trial_table
from sweepctl.cli.sweeps import validate
from sweepctl.errors import NoMetricError, SpecError
from sweepctl.records import Trial, TrialState
from sweepctl.spec import Hyperband, Method
from sweepctl.sweepfile import parse_sweep


def wandb(**fields: Any) -> dict[str, Any]:
    """A W&B sweep document (method random, one parameter, a program) with `fields` replacing or adding keys."""
    return {"method": "random", "program": "train.py", "parameters": {"lr": {"min": 0.001, "max": 0.1}}, **fields}


def refused(doc: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        parse_sweep(doc)
    return caught.value.problems


def test_a_dotted_name_is_one_parameter_and_one_key_beside_a_plain_one() -> None:
    # Given W&B's own example: `optimizer` and `optimizer.config.learning_rate` side by side, and a nested group
    doc = wandb(
        parameters={
            "optimizer": {"values": ["adam", "sgd"]},
            "optimizer.config.learning_rate": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2},
            "model": {"parameters": {"depth": {"values": [2, 4]}}},
        }
    )
    assert schema_violations_from_proposed_config(doc) == []
    space = parse_sweep(doc).space
    # Then the dotted name is one leaf, not a group
    assert [p.path for p in space.parameters] == [("optimizer",), ("optimizer.config.learning_rate",), ("model", "depth")]
    # and a trial's parameter set keeps it as one key, as W&B's agent passes --optimizer.config.learning_rate=...
    flat = {"optimizer": "adam", "optimizer.config.learning_rate": 0.001, "model.depth": 4}
    nested = space.assemble(flat)
    assert nested == {"optimizer": "adam", "optimizer.config.learning_rate": 0.001, "model": {"depth": 4}}
    assert space.flatten(nested) == flat
    # and tables name each column after it, once
    trial = Trial(sweep_id="s", number=1, params=nested, seed=0, state=TrialState.COMPLETED, objective=0.5)
    assert flat_parameters(nested, space) == flat
    assert [c.name for c in trial_table([trial], space).columns if c.name in flat] == list(flat)


def test_a_dotted_name_spelling_a_nested_group_is_refused_naming_both() -> None:
    # Given `model.lr` beside `model: {parameters: {lr}}`: two parameters one dotted name would stand for
    doc = wandb(parameters={"model.lr": {"value": 1}, "model": {"parameters": {"lr": {"value": 2}}}})
    ((field, message),) = refused(doc)
    assert field == "parameters.model.parameters.lr"
    assert "names the same parameter 'model.lr' as parameters.model.lr" in message


def test_warm_start_points_give_a_dotted_name_as_one_key() -> None:
    doc = wandb(
        method="bayes",
        metric={"name": "loss"},
        parameters={"model.lr": {"min": 0.0, "max": 1.0}, "model": {"parameters": {"depth": {"value": 3}}}},
        warm_start={"points": [{"model.lr": 0.5}]},
    )
    assert parse_sweep(doc).warm_points == ({"model.lr": 0.5, "model": {"depth": 3}},)
    with pytest.raises(SpecError) as caught:
        parse_sweep({**doc, "warm_start": {"points": [{"model": {"lr": 0.5}}]}})
    assert [field for field, _ in caught.value.problems] == ["warm_start.points[0]"]


@pytest.mark.parametrize("method", ["grid", "random"])
def test_grid_and_random_run_without_a_metric(method: str) -> None:
    # Given a W&B file without a metric, which W&B's schema accepts
    doc = wandb(method=method, parameters={"lr": {"values": [0.1, 0.01]}})
    assert schema_violations_from_proposed_config(doc) == []
    # Then it parses with no metric, and anything needing one says the sweep has none
    spec = parse_sweep(doc)
    assert spec.metric is None and spec.method is Method(method)
    with pytest.raises(NoMetricError, match="has no metric"):
        spec.objective_metric()


@pytest.mark.parametrize("method", [None, "bayes", "tpe"])
def test_tpe_needs_a_metric(method: str | None) -> None:
    doc = wandb(method=method) if method else {k: v for k, v in wandb().items() if k != "method"}
    assert refused(doc) == [("metric.name", "required by method tpe (bayes), which optimizes it (e.g. metric: {name: val_loss})")]


def test_early_terminate_without_a_metric_is_a_field_error() -> None:
    ((field, message),) = refused(wandb(early_terminate={"type": "hyperband", "min_iter": 3}))
    assert field == "early_terminate" and "needs the sweep's metric" in message


SERVER_KEYS = {
    "controller": {"type": "local"},
    "apiVersion": "v1",
    "kind": "sweep",
    "entity": "my-team",
    "project": "vision",
}


def test_wandb_server_keys_are_accepted_ignored_and_noted() -> None:
    # Given every top-level key only W&B's server reads, and the metric keys only its Bayesian search reads
    doc = wandb(**SERVER_KEYS, metric={"name": "loss", "impute": "worst", "impute_while_running": "best"})
    assert schema_violations_from_proposed_config(doc) == []
    spec = parse_sweep(doc)
    # Then each one is a note naming its field and why it is ignored
    noted = dict(spec.notes)
    assert list(noted) == [*SERVER_KEYS, "metric.impute", "metric.impute_while_running"]
    assert all(message.startswith("accepted and ignored: ") for message in noted.values())
    assert "sweepctl's own controller always does" in noted["controller"]
    # and the sweep is the one without them
    plain = parse_sweep(wandb(metric={"name": "loss"}))
    assert (spec.space, spec.metric, spec.command, spec.method) == (plain.space, plain.metric, plain.command, plain.method)


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("kind", "job", "kind"),
        ("controller", {"type": "remote"}, "controller.type"),
        ("controller", {}, "controller.type"),
        ("controller", "local", "controller"),
        ("apiVersion", 1, "apiVersion"),
        ("entity", ["a"], "entity"),
    ],
)
def test_wandb_server_keys_w_and_b_refuses_are_refused_here(key: str, value: Any, field: str) -> None:
    doc = wandb(**{key: value})
    assert schema_violations_from_proposed_config(doc) != []
    assert [path for path, _ in refused(doc)] == [field]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"job": "team/project/job-train:v0"}, "job"),
        ({"image_uri": "ghcr.io/team/train:latest"}, "image_uri"),
        ({"scheduler": {"engine": "wandb"}}, "scheduler"),
        ({"method": "custom", "scheduler": {"engine": "optuna"}}, "method"),
        ({"method": "custom", "metrics": [{"name": "a"}, {"name": "b", "goal": "maximize"}]}, "metrics"),
    ],
)
def test_wandb_launch_keys_are_refused_as_launch_features(fields: dict[str, Any], field: str) -> None:
    # Given a file W&B accepts for W&B Launch
    doc = wandb(**fields)
    assert schema_violations_from_proposed_config(doc) == []
    # Then the message says it is W&B Launch's, which sweepctl does not run
    found = dict(refused(doc))
    assert "is a W&B Launch feature, which sweepctl does not run" in found[field]


def test_deprecated_exponent_distributions_are_kept_with_a_note() -> None:
    doc = wandb(parameters={"lr": {"distribution": "log_uniform", "min": -9.2, "max": -2.3}})
    assert schema_violations_from_proposed_config(doc) != []  # W&B refuses it at the top level now
    ((field, message),) = parse_sweep(doc).notes
    assert field == "parameters.lr.distribution" and "use log_uniform_values" in message


def test_wandb_numbers_whole_floats_and_sigma_zero_are_read_as_wandb_reads_them() -> None:
    doc = wandb(
        metric={"name": "loss"},
        run_cap=10.0,
        early_terminate={"type": "hyperband", "max_iter": 27.0, "s": 2.0, "eta": 3},
        parameters={"noise": {"distribution": "normal", "mu": 0.1, "sigma": 0}},
    )
    assert schema_violations_from_proposed_config(doc) == []
    spec = parse_sweep(doc)
    assert spec.run_cap == 10 and type(spec.run_cap) is int
    assert spec.stopping == Hyperband(max_iter=27, s=2, eta=3.0)
    assert spec.space.parameter("noise").is_fixed


@pytest.mark.parametrize(
    ("block", "field", "why"),
    [
        ({"max_iter": 27, "s": 2.5}, "early_terminate.s", "its controller takes range(s)"),
        ({"max_iter": 27, "s": 0}, "early_terminate.s", "below 1 there is no band"),
        ({"max_iter": 0, "s": 2}, "early_terminate.max_iter", "there is no band and W&B's controller raises"),
        ({"min_iter": 1, "eta": 1.05}, "early_terminate.eta", "fewer than one trial in ten is ever stopped"),
    ],
)
def test_values_wandb_allows_but_cannot_use_are_refused_with_the_reason(block: dict[str, Any], field: str, why: str) -> None:
    # Given a hyperband block W&B's schema accepts
    doc = wandb(metric={"name": "loss"}, early_terminate={"type": "hyperband", **block})
    assert schema_violations_from_proposed_config(doc) == []
    # Then it is refused here, and the message says why
    ((path, message),) = refused(doc)
    assert path == field and "W&B's schema allows" in message and why in message


def test_beta_with_a_zero_shape_is_refused_with_the_reason() -> None:
    doc = wandb(parameters={"share": {"distribution": "beta", "a": 0, "b": 2}})
    assert schema_violations_from_proposed_config(doc) == []
    ((path, message),) = refused(doc)
    assert path == "parameters.share.a" and "W&B's sampler draws NaN" in message


def test_validate_prints_the_notes(tmp_path: Path) -> None:
    # Given a W&B file with server keys and no metric
    path = tmp_path / "sweep.yaml"
    path.write_text(json.dumps(wandb(controller={"type": "cloud"}, project="p")), encoding="utf-8")
    # When it is validated, as a table and as JSON
    table = CliRunner().invoke(validate, [str(path)])
    as_json = CliRunner().invoke(validate, [str(path), "--format", "json"])
    # Then each note is on stderr with the file and field, and in the JSON summary; the metric shows as none
    assert table.exit_code == 0 and as_json.exit_code == 0
    assert f"note: {path}: controller: accepted and ignored" in table.stderr
    assert f"note: {path}: project: accepted and ignored" in table.stderr
    summary = json.loads(as_json.stdout)
    assert [n["field"] for n in summary["notes"]] == ["controller", "project"]
    assert summary["metric"] is None and summary["valid"] is True


def test_a_command_that_does_not_run_a_program_needs_none() -> None:
    # Given W&B's allowance: no program, a command that names what it runs
    doc = {k: v for k, v in wandb(command=["${env}", "python3", "-m", "pkg.train", "${args}"]).items() if k != "program"}
    assert schema_violations_from_proposed_config(doc) == []
    spec = parse_sweep(doc)
    assert spec.program is None and spec.function is None and spec.command[2:4] == ("-m", "pkg.train")
    # while a command that runs ${program} still needs one
    ((field, message),) = refused({**doc, "command": ["${env}", "${interpreter}", "${program}"]})
    assert field == "program" and "command uses ${program}" in message
