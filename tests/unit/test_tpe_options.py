"""The `tpe` block of sweep files: engine choice, its options, and what each engine refuses up front."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from sweepctl.errors import SpecError
from sweepctl.spec import TpeEngine
from sweepctl.sweepfile import load_sweep_file, parse_sweep, schema_path


def sweep(tpe: dict[str, Any] | None = None, method: str = "tpe", parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "metric": {"name": "loss"},
        "function": "m:f",
        "method": method,
        "parameters": parameters or {"x": {"min": 0.0, "max": 1.0}},
    }
    if tpe is not None:
        doc["tpe"] = tpe
    return doc


def problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        parse_sweep(doc)
    return caught.value.problems


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_path().read_text(encoding="utf-8")))


def test_the_engine_is_left_to_the_default_unless_named() -> None:
    assert "engine" not in parse_sweep(sweep()).tpe
    assert parse_sweep(sweep({"engine": "hyperopt"})).tpe["engine"] is TpeEngine.HYPEROPT
    options = parse_sweep(sweep({"engine": "optuna", "constant_liar": True, "lie": "running", "n_startup_jobs": 4})).tpe
    assert dict(options) == {"engine": TpeEngine.OPTUNA, "constant_liar": True, "lie": "running", "n_startup_jobs": 4}
    assert parse_sweep(sweep({"engine": "optuna", "local_search": 0.5})).tpe["local_search"] == 0.5
    # 0 is kept, not dropped: it turns off the hyperopt engine's default local search (stock TPE)
    assert parse_sweep(sweep({"local_search": 0})).tpe["local_search"] == 0.0
    assert "local_search" not in parse_sweep(sweep()).tpe  # left out: the engine's default
    # model_trials 0 is kept too: every trial modelled (full history)
    assert parse_sweep(sweep({"model_trials": 0})).tpe.model_trials == 0
    assert parse_sweep(sweep({"model_trials": 2000})).tpe.model_trials == 2000


@pytest.mark.parametrize(
    ("tpe", "field"),
    [
        ({"engine": "optunaa"}, "tpe.engine"),
        ({"engine": True}, "tpe.engine"),
        ({"lie": "running"}, "tpe.lie"),  # only Optuna can leave a trial RUNNING
        ({"engine": "hyperopt", "lie": "running"}, "tpe.lie"),
        ({"constant_liar": "yes"}, "tpe.constant_liar"),
        ({"n_startup_jobs": 0}, "tpe.n_startup_jobs"),
        ({"engine": "optuna", "pending": "ignore"}, "tpe.pending"),
        ({"local_search": 1}, "tpe.local_search"),
        ({"local_search": -0.1}, "tpe.local_search"),
        ({"local_search": "half"}, "tpe.local_search"),
        ({"model_trials": 50}, "tpe.model_trials"),  # 0 (every trial) or at least MIN_MODEL_TRIALS
        ({"model_trials": -1}, "tpe.model_trials"),
        ({"model_trials": 1000.5}, "tpe.model_trials"),
    ],
)
def test_bad_options_name_their_field_in_parser_and_schema(
    validator: Draft202012Validator, tpe: dict[str, Any], field: str
) -> None:
    # Given a tpe block with one mistake / Then the parser names that field alone, and the schema refuses it too
    assert [path for path, _ in problems(sweep(tpe))] == [field]
    assert list(validator.iter_errors(sweep(tpe)))


@pytest.mark.parametrize(
    "tpe",
    [
        {"engine": "optuna"},
        {"engine": "optuna", "lie": "running"},
        {"engine": "hyperopt", "lie": "best"},
        {"engine": "optuna", "local_search": 0.5},
        {"local_search": 0},
        {"model_trials": 0},
        {"engine": "optuna", "model_trials": 100},
        {"model_trials": 5000},
    ],
    ids=repr,
)
def test_good_options_pass_parser_and_schema(validator: Draft202012Validator, tpe: dict[str, Any]) -> None:
    assert [e.message for e in validator.iter_errors(sweep(tpe))] == []
    parse_sweep(sweep(tpe))


def test_the_optuna_engine_refuses_the_normal_family_naming_each_parameter() -> None:
    # Given a space with normal distributions, one of them nested
    parameters = {
        "lr": {"distribution": "log_normal", "mu": -5, "sigma": 1},
        "opt": {"parameters": {"noise": {"distribution": "q_normal", "mu": 0, "sigma": 1, "q": 0.1}}},
        "width": {"distribution": "q_log_uniform_values", "min": 8, "max": 512, "q": 8},
    }
    # When it asks for the Optuna engine / Then validation names each distribution field
    found = problems(sweep({"engine": "optuna"}, parameters=parameters))
    assert [path for path, _ in found] == ["parameters.lr.distribution", "parameters.opt.parameters.noise.distribution"]
    assert "log_normal is not supported by tpe engine optuna" in found[0][1]
    # And hyperopt, or a method that does not run TPE, takes the same space
    parse_sweep(sweep({"engine": "hyperopt"}, parameters=parameters))
    parse_sweep(sweep({"engine": "optuna"}, method="random", parameters=parameters))


def test_a_file_asking_for_an_engine_not_installed_is_refused_where_it_is_validated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given optuna cannot be imported here
    monkeypatch.setitem(sys.modules, "optuna", None)
    assert not TpeEngine.OPTUNA.is_installed()
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(sweep({"engine": "optuna"})), encoding="utf-8")
    # When the file is validated or submitted, then the message says how to install it
    with pytest.raises(SpecError, match=r"tpe.engine: optuna is not installed here: pip install 'sweepctl\[optuna\]'"):
        load_sweep_file(path)
    # But a worker re-parsing the stored sweep does not need it
    assert parse_sweep(sweep({"engine": "optuna"})).tpe["engine"] is TpeEngine.OPTUNA


def test_hyperopt_is_always_installed_and_optuna_is_for_the_tests() -> None:
    assert TpeEngine.HYPEROPT.is_installed()
    assert TpeEngine.OPTUNA.is_installed()  # the test extra installs it; the contract suite runs it
