"""The JSON Schema editors use agrees with the parser on what a sweep file is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from sweepctl._documents import read_document
from sweepctl.command import Macro
from sweepctl.errors import SpecError
from sweepctl.space import Distribution
from sweepctl.sweepfile import load_sweep_file, parse_sweep, schema_path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema)


VALID = {
    "wandb": {
        "program": "train.py",
        "method": "bayes",
        "project": "vision",
        "metric": {"name": "val/loss", "goal": "minimize", "target": 0.1},
        "command": ["${env}", "${interpreter}", "${program}", "--fast", "${args}"],
        "early_terminate": {"type": "hyperband", "min_iter": 3},
        "parameters": {
            "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 0.1},
            "bs": {"values": [32, 64], "probabilities": [0.5, 0.5]},
            "optimizer": {"parameters": {"momentum": {"min": 0.8, "max": 0.99}, "name": {"value": "sgd"}}},
        },
    },
    "function-grid": {
        "function": "mypkg.train:main",
        "method": "grid",
        "metric": {"name": "acc", "goal": "maximize"},
        "parameters": {
            "layers": {"min": 1, "max": 4},
            "width": {"distribution": "q_uniform", "min": 32, "max": 256, "q": 32},
        },
        "parallelism": 4,
        "reuse_process": True,
        "seed": 0,
        "data": "/data/cifar",
    },
    "at-the-limits": {
        "program": "train.py",
        "metric": {"name": "loss"},
        "parameters": {"lr": {"min": 0.1, "max": 1.0}},
        "parallelism": 10_000,
        "run_cap": 10**9,
        "max_failures": 10**9,
        "seed": 2**64 - 1,
        "early_terminate": {"type": "hyperband", "max_iter": 2**53, "s": 500, "eta": 1.1},
    },
    "wandb-server-keys-and-new-distributions": {
        "program": "train.py",
        "method": "random",
        "controller": {"type": "local"},
        "apiVersion": "v1",
        "kind": "sweep",
        "entity": "team",
        "metric": {"name": "acc", "goal": "maximize", "impute": "worst", "impute_while_running": "false"},
        "early_terminate": {"type": "hyperband", "max_iter": 27.0, "s": 2.0},
        "parameters": {
            "model.lr": {"distribution": "inv_log_uniform_values", "min": 0.001, "max": 0.1},
            "decay": {"distribution": "inv_log_uniform", "min": 0, "max": 5},
            "mix": {"distribution": "beta", "a": 2, "b": 5},
            "share": {"distribution": "q_beta", "q": 0.1},
            "noise": {"distribution": "normal", "mu": 0.5, "sigma": 0},
        },
    },
    "grid-without-metric": {"program": "train.py", "method": "grid", "parameters": {"a": {"values": [1, 2]}}},
    "sweepctl-extras": {
        "program": "fit.py",
        "metric": {"name": "loss"},
        "parameters": {"noise": {"distribution": "q_log_normal", "mu": 0, "sigma": 1, "q": 0.1}},
        "run_cap": 20,
        "max_failures": 3,
        "trial_timeout": 600,
        "queue": "gpu.a100",
        "data": ["/data/a", "/data/b"],
    },
}

VALID["notebook config, for sweepctl.agent(function=...)"] = {
    "method": "random",
    "metric": {"name": "l"},
    "parameters": {"a": {"values": [1, 2]}},
}
MINIMAL = {"program": "t.py", "metric": {"name": "l"}, "parameters": {"a": {"value": 1}}}
INVALID = {
    "unknown distribution": {
        "program": "t.py",
        "metric": {"name": "loss"},
        "parameters": {"lr": {"distribution": "unifrom", "min": 0, "max": 1}},
    },
    "missing metric": {"program": "t.py", "parameters": {"lr": {"min": 0.1, "max": 1.0}}},
    "int_uniform with float bounds": {
        "program": "t.py",
        "metric": {"name": "loss"},
        "parameters": {"n": {"distribution": "int_uniform", "min": 0.5, "max": 4}},
    },
    "unknown top-level key": {**MINIMAL, "paramters": {}},
    "function with command": {
        "function": "m:f",
        "command": ["python"],
        "metric": {"name": "l"},
        "parameters": {"a": {"value": 1}},
    },
    "half-embedded macro": {
        "program": "t.py",
        "command": ["python", "--lr=${args}"],
        "metric": {"name": "l"},
        "parameters": {"a": {"value": 1}},
    },
    "tpe without a metric": {"program": "t.py", "parameters": {"a": {"value": 1}}},
    "early_terminate without a metric": {
        "program": "t.py", "method": "random", "parameters": {"a": {"value": 1}}, "early_terminate": {"type": "hyperband", "min_iter": 1}
    },
    "beta with a = 0": {**MINIMAL, "parameters": {"a": {"distribution": "beta", "a": 0}}},
    "beta with min and max": {**MINIMAL, "parameters": {"a": {"distribution": "beta", "min": 0, "max": 1}}},
    "W&B Launch job": {**MINIMAL, "job": "team/project/job:v0"},
    "W&B Launch scheduler": {**MINIMAL, "scheduler": {"engine": "optuna"}},
    "W&B Launch method custom": {**MINIMAL, "method": "custom"},
    "W&B kind other than sweep": {**MINIMAL, "kind": "job"},
    "W&B controller without type": {**MINIMAL, "controller": {}},
    "W&B impute outside its values": {**MINIMAL, "metric": {"name": "l", "impute": "mean"}},
    "fractional hyperband s": {**MINIMAL, "early_terminate": {"type": "hyperband", "max_iter": 27, "s": 2.5}},
    "reuse_process with a program": {**MINIMAL, "reuse_process": True},
    "reuse_process with neither program nor function": {"metric": {"name": "l"}, "parameters": {"a": {"value": 1}}, "reuse_process": True},
    "unknown parameter key": {**MINIMAL, "parameters": {"a": {"value": 1, "values": [2]}}},
    # The limits of issue #12 that a schema can express
    "parallelism past its limit": {**MINIMAL, "parallelism": 10_001},
    "run_cap past its limit": {**MINIMAL, "run_cap": 10**9 + 1},
    "max_failures past its limit": {**MINIMAL, "max_failures": 10**9 + 1},
    "seed past 64 bits": {**MINIMAL, "seed": 2**64},
    "hyperband eta below 1.1": {**MINIMAL, "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 1.0000000001}},
    "hyperband s past 500": {**MINIMAL, "early_terminate": {"type": "hyperband", "max_iter": 81, "s": 501}},
    "hyperband min_iter past 2**53": {**MINIMAL, "early_terminate": {"type": "hyperband", "min_iter": 2**53 + 1}},
    "median min_trials past its limit": {**MINIMAL, "early_terminate": {"type": "median", "min_iter": 1, "min_trials": 10**9 + 1}},
    "more categorical values than allowed": {**MINIMAL, "parameters": {"a": {"values": list(range(10_001))}}},
}


def test_the_schema_is_a_valid_draft_2020_12_schema(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_the_schema_ships_inside_the_package() -> None:
    # Given pyproject's package-data glob sweepctl/schema/*.json
    assert schema_path().parent.parent.name == "sweepctl"
    assert schema_path().suffix == ".json"


@pytest.mark.parametrize("name", VALID)
def test_valid_documents_pass_both_schema_and_parser(validator: Draft202012Validator, name: str) -> None:
    # Given a valid sweep / Then the editor's schema and the parser both accept it
    assert [e.message for e in validator.iter_errors(VALID[name])] == []
    parse_sweep(VALID[name])


@pytest.mark.parametrize("name", INVALID)
def test_invalid_documents_fail_both_schema_and_parser(validator: Draft202012Validator, name: str) -> None:
    # Given an invalid sweep / Then the editor flags it and the parser refuses it
    assert list(validator.iter_errors(INVALID[name]))
    with pytest.raises(SpecError):
        parse_sweep(INVALID[name])


def test_the_schema_knows_every_distribution_and_macro(schema: dict[str, Any]) -> None:
    # Given the enums in code / Then completion offers exactly them (plus W&B's alias): every one of W&B's schema
    offered = schema["$defs"]["parameter"]["properties"]["distribution"]["enum"]
    assert set(offered) == {d.value for d in Distribution} | {"categorical_w_probabilities"}
    macros = schema["properties"]["command"]["items"]["anyOf"][0]["enum"]
    assert set(macros) == {m.token for m in Macro}


def _properties(node: Any, where: str = "#") -> list[tuple[str, Any]]:
    """Every (location, property schema) under any `properties` in the schema."""
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for key, sub in node.items():
            if key == "properties" and isinstance(sub, dict):
                found += [(f"{where}/{name}", prop) for name, prop in sub.items()]
            found += _properties(sub, f"{where}/{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            found += _properties(sub, f"{where}/{i}")
    return found


def test_every_property_has_a_description_for_editors(schema: dict[str, Any]) -> None:
    # Constraint-only properties inside if/then rules repeat a described property; they need none.
    described = [
        (where, prop)
        for where, prop in _properties(schema)
        if "/allOf/" not in where and "/if/" not in where
    ]
    assert len(described) > 30
    missing = [where for where, prop in described if "description" not in prop and "$ref" not in prop]
    assert missing == []
    for name in ("metric", "parameters", "parameter", "hyperband"):
        assert schema["$defs"][name]["description"]


@pytest.mark.parametrize("path", sorted(EXAMPLES.rglob("*.yaml")), ids=lambda p: p.name)
def test_every_example_is_valid_under_the_schema(validator: Draft202012Validator, path: Path) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert [e.message for e in validator.iter_errors(doc)] == []


WANDB_CORPUS = Path(__file__).resolve().parents[1] / "wandb_corpus"


def _parses(path: Path) -> bool:
    try:
        load_sweep_file(path)
    except SpecError:
        return False
    return True


# The W&B files of the corpus (tests/unit/test_wandb_corpus.py) that the parser accepts.
PARSED_WANDB_FILES = [path for path in sorted(WANDB_CORPUS.rglob("*.yaml")) if _parses(path)]


@pytest.mark.parametrize("path", PARSED_WANDB_FILES, ids=lambda p: str(p.relative_to(WANDB_CORPUS)))
def test_the_editor_schema_accepts_every_wandb_file_the_parser_accepts(validator: Draft202012Validator, path: Path) -> None:
    # Given a W&B sweep file sweepctl accepts / Then an editor using the schema flags nothing in it either
    assert [e.message for e in validator.iter_errors(read_document(str(path)))] == []
