"""Sweep files: W&B-compatible parsing into SweepSpec, and errors that name file and field."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from sweepctl.errors import SpecError
from sweepctl.space import Distribution, Parameter
from sweepctl.spec import DEFAULT_COMMAND, DEFAULT_QUEUE, Goal, Method
from sweepctl.sweepfile import load_sweep_config, load_sweep_file, parse_sweep

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def sweep(**overrides: Any) -> dict[str, Any]:
    """A minimal valid sweep document, with top-level keys replaced (None removes one)."""
    doc: dict[str, Any] = {
        "metric": {"name": "val_loss"},
        "parameters": {"lr": {"min": 0.001, "max": 0.1}},
        "program": "train.py",
    }
    doc.update(overrides)
    return {key: value for key, value in doc.items() if value is not None}


def only_parameter(spec: dict[str, Any]) -> Parameter:
    (parameter,) = parse_sweep(sweep(parameters={"p": spec})).space.parameters
    return parameter


def problems(doc: Any) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        parse_sweep(doc)
    return caught.value.problems


def write(tmp_path: Path, text: str, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --- every distribution -----------------------------------------------------

C = Distribution
DISTRIBUTION_CASES = [
    ({"value": 3}, Parameter(("p",), C.CONSTANT, value=3)),
    ({"distribution": "constant", "value": "adam"}, Parameter(("p",), C.CONSTANT, value="adam")),
    ({"value": None}, Parameter(("p",), C.CONSTANT, value=None)),
    ({"values": ["adam", "sgd"]}, Parameter(("p",), C.CATEGORICAL, values=("adam", "sgd"))),
    (
        {"distribution": "categorical", "values": [1, 2], "probabilities": [0.25, 0.75]},
        Parameter(("p",), C.CATEGORICAL, values=(1, 2), probabilities=(0.25, 0.75)),
    ),
    ({"distribution": "uniform", "min": 0, "max": 1}, Parameter(("p",), C.UNIFORM, min=0, max=1)),
    ({"distribution": "int_uniform", "min": 2, "max": 8}, Parameter(("p",), C.INT_UNIFORM, min=2, max=8)),
    (
        {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.25},
        Parameter(("p",), C.Q_UNIFORM, min=0, max=1, q=0.25),
    ),
    ({"distribution": "log_uniform", "min": -9.2, "max": 0}, Parameter(("p",), C.LOG_UNIFORM, min=-9.2, max=0)),
    (
        {"distribution": "log_uniform_values", "min": 1e-5, "max": 0.1},
        Parameter(("p",), C.LOG_UNIFORM_VALUES, min=1e-5, max=0.1),
    ),
    (
        {"distribution": "q_log_uniform", "min": 0, "max": 5, "q": 2},
        Parameter(("p",), C.Q_LOG_UNIFORM, min=0, max=5, q=2.0),
    ),
    (
        {"distribution": "q_log_uniform_values", "min": 8, "max": 512},
        Parameter(("p",), C.Q_LOG_UNIFORM_VALUES, min=8, max=512, q=1.0),
    ),
    ({"distribution": "normal"}, Parameter(("p",), C.NORMAL, mu=0.0, sigma=1.0)),
    ({"distribution": "q_normal", "mu": 5, "sigma": 2, "q": 0.5}, Parameter(("p",), C.Q_NORMAL, mu=5, sigma=2, q=0.5)),
    ({"distribution": "log_normal", "mu": -2, "sigma": 0.5}, Parameter(("p",), C.LOG_NORMAL, mu=-2, sigma=0.5)),
    ({"distribution": "q_log_normal", "sigma": 3}, Parameter(("p",), C.Q_LOG_NORMAL, sigma=3, q=1.0)),
    ({"distribution": "normal", "mu": 2, "sigma": 0}, Parameter(("p",), C.NORMAL, mu=2, sigma=0)),  # W&B allows it: always mu
    ({"distribution": "inv_log_uniform", "min": 0, "max": 4.6}, Parameter(("p",), C.INV_LOG_UNIFORM, min=0, max=4.6)),
    (
        {"distribution": "inv_log_uniform_values", "min": 0.01, "max": 1},
        Parameter(("p",), C.INV_LOG_UNIFORM_VALUES, min=0.01, max=1),
    ),
    ({"distribution": "beta"}, Parameter(("p",), C.BETA, a=1.0, b=1.0)),  # W&B's defaults
    ({"distribution": "beta", "a": 2, "b": 0.5}, Parameter(("p",), C.BETA, a=2, b=0.5)),
    ({"distribution": "q_beta", "a": 3, "b": 3, "q": 0.1}, Parameter(("p",), C.Q_BETA, a=3, b=3, q=0.1)),
]


@pytest.mark.parametrize(("spec", "expected"), DISTRIBUTION_CASES, ids=lambda x: str(x)[:60])
def test_each_distribution_parses_to_its_parameter(spec: dict[str, Any], expected: Parameter) -> None:
    # Given a parameter spec / When the sweep is parsed / Then it becomes exactly this Parameter
    assert only_parameter(spec) == expected


def test_the_distribution_cases_cover_every_distribution() -> None:
    # Given a new Distribution member, this list must grow with it
    assert {expected.distribution for _, expected in DISTRIBUTION_CASES} == set(Distribution)


def test_wb_categorical_w_probabilities_is_a_categorical() -> None:
    # Given W&B's older spelling / Then it is an ordinary weighted categorical
    spec = {"distribution": "categorical_w_probabilities", "values": ["a", "b"], "probabilities": [0.5, 0.5]}
    assert only_parameter(spec) == Parameter(("p",), C.CATEGORICAL, values=("a", "b"), probabilities=(0.5, 0.5))


@pytest.mark.parametrize(
    ("spec", "distribution"),
    [
        ({"min": 1, "max": 10}, C.INT_UNIFORM),
        ({"min": 0, "max": 1}, C.INT_UNIFORM),  # W&B's rule, surprising as it is
        ({"min": 1, "max": 10.0}, C.UNIFORM),
        ({"min": 0.1, "max": 1}, C.UNIFORM),
        ({"values": [1]}, C.CATEGORICAL),
        ({"value": [1, 2]}, C.CONSTANT),
    ],
)
def test_distribution_is_inferred_the_wb_way(spec: dict[str, Any], distribution: Distribution) -> None:
    # Given a spec without `distribution` / Then the keys and number types decide it
    assert only_parameter(spec).distribution is distribution


def test_booleans_are_not_numbers() -> None:
    # Given YAML's true as a bound / Then it is refused, not read as 1
    assert problems(sweep(parameters={"p": {"min": True, "max": 3}})) == [
        ("parameters.p.min", "expected a finite number, got boolean true")
    ]


@pytest.mark.parametrize(
    ("written", "method"),
    [("bayes", Method.TPE), ("tpe", Method.TPE), ("random", Method.RANDOM), ("grid", Method.GRID), (None, Method.TPE)],
)
def test_method_bayes_means_tpe_and_tpe_is_the_default(written: str | None, method: Method) -> None:
    # Given a sweep over discrete values (so grid can run it too)
    doc = sweep(method=written, parameters={"bs": {"values": [16, 32]}})
    # Then the method is read, bayes as TPE and nothing as TPE
    assert parse_sweep(doc).method is method


def test_nested_groups_give_leaves_their_path() -> None:
    # Given W&B nested parameters two levels deep
    doc = sweep(
        parameters={
            "optimizer": {
                "parameters": {
                    "name": {"values": ["adam", "sgd"]},
                    "schedule": {"parameters": {"warmup": {"value": 100}}},
                }
            },
            "epochs": {"value": 3},
        }
    )
    # When parsed
    space = parse_sweep(doc).space
    # Then the leaves keep file order and carry the group names
    assert [p.path for p in space.parameters] == [
        ("optimizer", "name"),
        ("optimizer", "schedule", "warmup"),
        ("epochs",),
    ]
    assert space.names == ("optimizer.name", "optimizer.schedule.warmup", "epochs")


WANDB_FILE = """\
    program: train.py
    method: bayes
    name: resnet-sweep
    description: tune the optimizer
    project: vision
    entity: my-team
    run_cap: 50
    metric:
      name: val/loss
      goal: minimize
      target: 0.05
    command:
      - ${env}
      - ${interpreter}
      - ${program}
      - --data=/datasets/cifar
      - ${args}
    early_terminate:
      type: hyperband
      min_iter: 3
      eta: 2
    parameters:
      learning_rate:
        distribution: log_uniform_values
        min: 1e-5
        max: 1e-1
      batch_size:
        values: [32, 64, 128]
      optimizer:
        parameters:
          momentum:
            distribution: uniform
            min: 0.8
            max: 0.99
          nesterov:
            values: [true, false]
      epochs:
        value: 10
"""


def test_an_existing_wandb_sweep_file_parses_unchanged(tmp_path: Path) -> None:
    # Given a W&B sweep file as people write them (1e-5 without a dot included)
    path = write(tmp_path, WANDB_FILE)
    # When it is loaded
    spec = load_sweep_file(path)
    # Then every W&B setting is understood
    assert spec.method is Method.TPE
    assert (spec.name, spec.description, spec.run_cap) == ("resnet-sweep", "tune the optimizer", 50)
    assert (spec.metric.name, spec.metric.goal, spec.metric.target) == ("val/loss", Goal.MINIMIZE, 0.05)
    assert spec.program == "train.py" and spec.function is None
    assert spec.command == ("${env}", "${interpreter}", "${program}", "--data=/datasets/cifar", "${args}")
    assert spec.early_terminate == {"type": "hyperband", "min_iter": 3, "eta": 2}
    assert spec.space.names == ("learning_rate", "batch_size", "optimizer.momentum", "optimizer.nesterov", "epochs")
    learning_rate = Parameter(("learning_rate",), C.LOG_UNIFORM_VALUES, min=1e-5, max=0.1)
    assert spec.space.parameter("learning_rate") == learning_rate
    assert spec.space.parameter("optimizer.nesterov").values == (True, False)
    # And our own settings keep their defaults
    assert (spec.parallelism, spec.queue, spec.data, spec.seed) == (None, DEFAULT_QUEUE, (), None)
    assert spec.raw["project"] == "vision"


def test_sweepctl_keys_parse() -> None:
    # Given every sweepctl addition
    doc = sweep(parallelism=4, max_failures=0, trial_timeout=90.5, seed=7, queue="gpu.a100:x-1", data="/data/mnist")
    # When parsed / Then each lands in its field, a single data path as a 1-tuple
    spec = parse_sweep(doc)
    assert (spec.parallelism, spec.max_failures, spec.trial_timeout, spec.seed) == (4, 0, 90.5, 7)
    assert (spec.queue, spec.data, spec.command) == ("gpu.a100:x-1", ("/data/mnist",), DEFAULT_COMMAND)


def test_a_function_sweep_has_no_program() -> None:
    spec = parse_sweep(sweep(program=None, function="mypkg.train:main", data=["a", "b"]))
    assert (spec.function, spec.program, spec.data) == ("mypkg.train:main", None, ("a", "b"))
    assert spec.reuse_process is False
    assert parse_sweep(sweep(program=None, function="m:f", reuse_process=True)).reuse_process is True
    assert parse_sweep(sweep(reuse_process=False)).reuse_process is False  # a program sweep may say no


def test_a_sweep_without_program_function_or_command_runs_in_the_caller() -> None:
    # Given a W&B notebook config: no program, the function is given to the agent
    spec = parse_sweep(sweep(program=None))
    # Then it is valid, for sweepctl.agent(sweep_id, function=...) only
    assert (spec.program, spec.function, spec.runs_in_caller) == (None, None, True)
    # And a sweep with a program or a function is not
    assert not parse_sweep(sweep()).runs_in_caller
    assert not parse_sweep(sweep(program=None, function="m:f")).runs_in_caller


def test_a_sweep_config_mapping_is_checked_as_a_file_is() -> None:
    # Given a mapping with two mistakes, as sweepctl.sweep(config) gets it
    with pytest.raises(SpecError) as caught:
        load_sweep_config(sweep(program=None, run_cap=0, parameters={"lr": {"min": 1}}))
    # Then both are reported at once, each with its field path, naming the call
    assert [path for path, _ in caught.value.problems] == ["parameters.lr.max", "run_cap"]
    assert str(caught.value).startswith("sweep config: ")


def test_raw_is_an_unshared_copy_of_the_document() -> None:
    # Given a document the caller goes on to change
    doc = sweep()
    spec = parse_sweep(doc)
    doc["parameters"]["lr"]["max"] = 99
    # Then the spec keeps what it was parsed from
    assert spec.raw["parameters"]["lr"]["max"] == 0.1
    assert parse_sweep(dict(spec.raw)) == spec


def test_json_sweep_files_are_read(tmp_path: Path) -> None:
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(sweep(method="random")), encoding="utf-8")
    assert load_sweep_file(path).method is Method.RANDOM


def test_yaml_dates_stay_strings(tmp_path: Path) -> None:
    # Given a date-looking value, which YAML 1.1 would turn into a date object
    path = write(tmp_path, textwrap.dedent(WANDB_FILE) + "  snapshot:\n    value: 2024-01-31\n")
    # Then the program receives it as written, and it can be stored as JSON
    assert load_sweep_file(path).space.parameter("snapshot").value == "2024-01-31"


# --- invalid files: the error names the file and the field ---------------------

VALID_REST = """\
    program: train.py
    metric: {name: loss}
"""

X = "parameters: {x: {value: 1}}\n"  # a valid parameters section, for mistakes elsewhere
INVALID_CASES = [
    ("parameters: {lr: {distribution: unifrom}}", "parameters.lr.distribution", "unknown distribution 'unifrom'"),
    ("parameters: {lr: {min: 5, max: 1}}", "parameters.lr.max", "expected min <= max, got min=5 max=1"),
    ("parameters: {o: {parameters: {lr: {min: 0.5, max: 0.1}}}}", "parameters.o.parameters.lr.max", "min <= max"),
    ("parameters: {opt: {values: []}}", "parameters.opt.values", "must not be empty"),
    ("parameters: {lr: {value: 1, colour: red}}", "parameters.lr.colour", "unknown key 'colour'"),
    ("parameters: {a: {values: [1, 2], probabilities: [0.5]}}", "parameters.a.probabilities", "2 probabilities"),
    ("parameters: {a: {values: [1, 2], probabilities: [0.5, 0.6]}}", "parameters.a.probabilities", "summing to 1"),
    ("parameters: {a: {values: [1, 2], probabilities: [-0.5, 1.5]}}", "parameters.a.probabilities[0]", ">= 0"),
    ("method: grid\nparameters: {lr: {distribution: log_uniform_values, min: 0.001, max: 1}}", "parameters.lr",
     "method grid needs values, int_uniform or q_uniform; got log_uniform_values"),
    ("parameters: {'': {value: 1}}", "parameters.", "expected a parameter name (a non-empty string)"),
    ("parameters: {a.b: {value: 1}, a: {parameters: {b: {value: 2}}}}", "parameters.a.parameters.b",
     "names the same parameter 'a.b' as parameters.a.b"),
    ("parameters: {p: {distribution: beta, a: 0}}", "parameters.p.a", "Beta(a, b) needs a > 0"),
    ("parameters: {p: {distribution: q_beta, b: -1}}", "parameters.p.b", "expected a finite number > 0, got -1"),
    ("parameters: {p: {distribution: beta, min: 0}}", "parameters.p.min", "unknown key 'min'; expected one of: distribution, a, b"),
    ("parameters: {p: {distribution: inv_log_uniform_values, min: 0, max: 1}}", "parameters.p.min", "> 0"),
    ("parameters: {lr: 0.1}", "parameters.lr", "expected a parameter spec"),
    ("parameters: {lr: {distribution: log_uniform_values, min: 0, max: 1}}", "parameters.lr.min", "> 0"),
    ("parameters: {n: {distribution: int_uniform, min: 1, max: 2.5}}", "parameters.n.max", "expected an integer"),
    ("parameters: {n: {distribution: q_uniform, min: 1, max: 2, q: 0}}", "parameters.n.q", "> 0"),
    ("parameters: {n: {distribution: normal, sigma: -1}}", "parameters.n.sigma", ">= 0"),
    ("parameters: {n: {distribution: uniform, max: 2}}", "parameters.n.min", "required"),
    ("parameters: {n: {mu: 1}}", "parameters.n", "cannot tell the distribution"),
    ("parameters: {g: {parameters: {}}}", "parameters.g.parameters", "must not be empty"),
    ("parameters: {}", "parameters", "must not be empty"),
    (X + "command: [python, '${porgram}']", "command[1]", "unknown macro '${porgram}'"),
    (X + "command: [python, '--lr=${args}']", "command[1]", "must be a whole element"),
    (X + "paramters: {}", "paramters", "unknown key 'paramters' (did you mean 'parameters'?)"),
    (X + "method: hyperopt", "method", "unknown method 'hyperopt'"),
    (X + "queue: 'gpu queue'", "queue", "expected a queue name"),
    (X + "run_cap: 0", "run_cap", "expected an integer >= 1 and <= 1,000,000,000, got 0"),
    (X + "trial_timeout: -1", "trial_timeout", "expected a finite number > 0, got -1"),
    (X + "early_terminate: {type: asha, min_iter: 2}", "early_terminate.type", "unknown early_terminate type"),
    (X + "early_terminate: {type: hyperband, eta: 1, min_iter: 1}", "early_terminate.eta", ">= 1.1, got 1"),
    (X + "early_terminate: {type: hyperband}", "early_terminate", "min_iter, or max_iter and s"),
    (X + "data: [a, 3]", "data[1]", "expected a string, got 3"),
]


@pytest.mark.parametrize(("body", "field", "message"), INVALID_CASES, ids=[case[1] for case in INVALID_CASES])
def test_invalid_file_names_file_field_and_expectation(tmp_path: Path, body: str, field: str, message: str) -> None:
    # Given a sweep file with one mistake
    path = write(tmp_path, VALID_REST + textwrap.indent(body, "    ") + "\n")
    # When it is loaded
    with pytest.raises(SpecError) as caught:
        load_sweep_file(path)
    # Then the one message line is "<file>: <field path>: <what was expected>"
    assert len(caught.value.problems) == 1, caught.value.problems
    assert f"{path}: {field}: " in str(caught.value)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"metric": {"goal": "maximize"}}, "metric.name", "required"),
        ({"metric": None}, "metric.name", "required"),
        ({"metric": {"name": ""}}, "metric.name", "must not be empty"),
        ({"metric": {"name": "acc", "goal": "max"}}, "metric.goal", "unknown goal 'max'"),
        ({"metric": {"name": "acc", "target": "0.9"}}, "metric.target", "expected a finite number, got string '0.9'"),
        ({"program": None, "reuse_process": True}, "reuse_process", "only with 'function'"),
        ({"function": "mypkg.train:main"}, "function", "not allowed together with 'program'"),
        ({"program": None, "function": "train.py"}, "function", "'module:callable'"),
        ({"program": None, "function": "m:f", "command": ["python", "x.py"]}, "command", "not allowed with 'function'"),
        ({"program": None, "command": ["${env}", "${program}"]}, "program", "required: command uses ${program}"),
        ({"command": []}, "command", "must not be empty"),
        ({"command": "python train.py"}, "command", "expected a list of strings"),
        ({"project": 5}, "project", "expected a string"),
        ({"seed": -1}, "seed", "expected an integer >= 0"),
        ({"reuse_process": True}, "reuse_process", "only with 'function'"),
        ({"program": None, "function": "m:f", "reuse_process": "yes"}, "reuse_process", "expected true or false"),
    ],
)
def test_invalid_top_level_settings_name_their_field(
    tmp_path: Path, overrides: dict[str, Any], field: str, message: str
) -> None:
    # Given a sweep with one bad top-level setting, written as YAML
    path = tmp_path / "bad-sweep.yaml"
    path.write_text(json.dumps(sweep(**overrides)), encoding="utf-8")  # JSON is YAML
    # When loaded / Then the error names the file and the field
    with pytest.raises(SpecError) as caught:
        load_sweep_file(path)
    assert caught.value.problems == [(field, caught.value.problems[0][1])]
    assert f"bad-sweep.yaml: {field}: " in str(caught.value)
    assert message in caught.value.problems[0][1]


def test_all_problems_are_reported_together() -> None:
    # Given a sweep with mistakes in four places
    doc = {
        "metric": {"goal": "maximize"},
        "parameters": {"lr": {"min": 1, "max": 0}, "opt": {"values": []}},
        "command": ["${foo}", "${program}"],
        "colour": "red",
    }
    # When parsed / Then one SpecError lists each of them
    found = {path for path, _ in problems(doc)}
    assert found == {"colour", "metric.name", "parameters.lr.max", "parameters.opt.values", "program", "command[0]"}


def test_bad_yaml_is_reported_with_line_and_column(tmp_path: Path) -> None:
    # Given YAML with a stray mapping on line 3
    path = write(tmp_path, "program: train.py\nmetric:\n  name: loss: x\n")
    with pytest.raises(SpecError) as caught:
        load_sweep_file(path)
    # Then the file, the <yaml> marker and the position are named
    assert f"{path}: <yaml>: invalid YAML at line 3, column 13" in str(caught.value)


def test_duplicate_keys_are_an_error_not_a_silent_override(tmp_path: Path) -> None:
    path = write(tmp_path, "parameters:\n  lr: {value: 1}\n  lr: {value: 2}\n")
    with pytest.raises(SpecError) as caught:
        load_sweep_file(path)
    assert "<yaml>: invalid YAML at line 3, column 3" in str(caught.value)
    assert "duplicate key 'lr' (first at line 2)" in str(caught.value)


def test_yaml_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    # Given a parameter built from an anchor with one key overridden (not a duplicate)
    path = write(
        tmp_path,
        """\
        program: train.py
        metric: {name: loss}
        parameters:
          lr: &bounds {min: 0.001, max: 0.1}
          wd:
            <<: *bounds
            max: 0.5
        """,
    )
    # Then the override wins
    assert load_sweep_file(path).space.parameter("wd") == Parameter(("wd",), C.UNIFORM, min=0.001, max=0.5)


def test_bad_json_is_reported_with_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '{"program": "t.py",\n "metric": }', name="sweep.json")
    with pytest.raises(SpecError) as caught:
        load_sweep_file(path)
    assert f"{path}: <json>: invalid JSON at line 2, column 12" in str(caught.value)


def test_a_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(SpecError) as caught:
        load_sweep_file(path)
    assert f"{path}: <file>: cannot read the sweep file" in str(caught.value)


@pytest.mark.parametrize("doc", [None, [1, 2], "program: x"])
def test_a_document_that_is_not_a_mapping_is_refused(doc: Any) -> None:
    ((path, message),) = problems(doc)
    assert path == "" and message.startswith("expected a mapping")


def test_non_json_values_are_refused() -> None:
    # Given a value that could not be stored (a set from Python, a date from a plain YAML loader)
    assert problems(sweep(parameters={"p": {"values": [1, {2, 3}]}})) == [
        ("parameters.p.values[1]", "expected a JSON value (null, boolean, number, string, list or mapping), got a set")
    ]


# --- grid and size limits ----------------------------------------------------------


@pytest.mark.parametrize(("spec", "expected"), DISTRIBUTION_CASES, ids=lambda x: str(x)[:60])
def test_grid_accepts_exactly_the_parameters_with_grid_values(spec: dict[str, Any], expected: Parameter) -> None:
    # Given a grid sweep over one parameter of each distribution
    doc = sweep(method="grid", parameters={"p": spec})
    # Then it parses exactly when Parameter.grid_values() can enumerate it
    if expected.grid_values() is None:
        assert problems(doc)[0][0] == "parameters.p"
    else:
        assert parse_sweep(doc).method is Method.GRID


def test_grid_over_a_q_uniform_without_multiples_is_refused() -> None:
    doc = sweep(method="grid", parameters={"p": {"distribution": "q_uniform", "min": 0.1, "max": 0.2, "q": 1}})
    assert problems(doc) == [("parameters.p", "no multiple of q=1 lies between min and max")]


def test_absurd_grids_are_refused_without_enumerating_them() -> None:
    # Given a grid of 10^18 points (enumerating it would never finish)
    big = {"min": 0, "max": 10**9 - 1}
    doc = sweep(method="grid", parameters={"a": big, "b": big})
    # Then the count alone refuses it
    assert problems(doc) == [
        ("parameters", "expected a grid of at most 1,000,000 points, got 1,000,000,000,000,000,000")
    ]


def test_a_grid_of_a_million_points_is_fine() -> None:
    doc = sweep(method="grid", parameters={"a": {"min": 1, "max": 1000}, "b": {"min": 1, "max": 1000}})
    assert len(parse_sweep(doc).space.parameters) == 2


def test_more_than_a_thousand_parameters_is_refused() -> None:
    doc = sweep(parameters={f"p{i}": {"value": i} for i in range(1001)})
    assert problems(doc) == [("parameters", "expected at most 1000 parameters, got 1001")]


def test_more_than_ten_thousand_values_is_refused() -> None:
    doc = sweep(parameters={"p": {"values": list(range(10_001))}})
    assert problems(doc) == [("parameters.p.values", "expected at most 10000 values, got 10001")]


# --- shipped examples -----------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(EXAMPLES.rglob("*.yaml")), ids=lambda p: p.name)
def test_every_example_sweep_file_parses(path: Path) -> None:
    assert load_sweep_file(path).space.parameters


def test_tpe_options_and_warm_start_parse_and_bad_ones_name_their_field() -> None:
    base = {"metric": {"name": "loss"}, "function": "m:f", "parameters": {"x": {"min": 0.0, "max": 1.0}, "k": {"value": 2}}}
    spec = parse_sweep(
        {**base, "tpe": {"constant_liar": False, "lie": "mean", "n_startup_jobs": 5}, "warm_start": {"points": [{"x": 0.5}]}}
    )
    assert dict(spec.tpe) == {"constant_liar": False, "lie": "mean", "n_startup_jobs": 5}
    assert spec.warm_points == ({"x": 0.5, "k": 2},)  # constants filled in
    with pytest.raises(SpecError) as bad:
        parse_sweep({**base, "tpe": {"lie": "huge", "n_startup_jobs": 0}, "warm_start": {"points": [{"y": 1}], "sweeps": "abc"}})
    paths = {path for path, _ in bad.value.problems}
    assert paths == {"tpe.lie", "tpe.n_startup_jobs", "warm_start.points[0]", "warm_start.sweeps"}
