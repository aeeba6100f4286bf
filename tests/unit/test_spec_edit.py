"""`--set KEY.PATH=VALUE` / `--unset KEY.PATH` on a sweep document (pure): paths, W&B dotted names, YAML values,
and errors that name the option and the field."""

from __future__ import annotations

from typing import Any

import pytest

from sweepctl.errors import ConfigError, SpecError
from sweepctl.spec_edit import Part, apply_edits, field_name, parse_path, parse_set, parse_unset

DOC: dict[str, Any] = {
    "method": "bayes",
    "metric": {"name": "loss"},
    "program": "train.py",
    "command": ["python", "${program}", "${args}"],
    "parameters": {
        "lr": {"min": 0.0, "max": 1.0},
        "opt": {"parameters": {"name": {"values": ["adam", "sgd"]}}},
        "model": {"values": ["a", "b"]},
        "model.depth": {"min": 1, "max": 4},  # a W&B dotted name beside a parameter named model
    },
}


def edited(*sets: str, unsets: tuple[str, ...] = ()) -> dict[str, Any]:
    return apply_edits(DOC, [*(parse_set(s) for s in sets), *(parse_unset(u) for u in unsets)])


def test_a_dotted_path_sets_a_nested_field_and_the_value_is_read_as_yaml() -> None:
    doc = edited(
        "parameters.lr.max=0.5",
        "parameters.lr.min=1e-5",  # a number, as sweep files read it
        "run_cap=50",  # a new key at the end of the path
        "method=random",
        "parameters.opt.parameters.name.values=[adam, sgd, rmsprop]",
        "parameters.wd={min: 0, max: 0.1}",  # a new parameter
        "command.2=--flag",  # a list element by index
        "metric.target=",  # nothing: null
    )
    assert doc["parameters"]["lr"] == {"min": 1e-5, "max": 0.5}
    assert (doc["run_cap"], doc["method"], doc["command"][2], doc["metric"]["target"]) == (50, "random", "--flag", None)
    assert doc["parameters"]["opt"]["parameters"]["name"]["values"] == ["adam", "sgd", "rmsprop"]
    assert doc["parameters"]["wd"] == {"min": 0, "max": 0.1}
    # And the document given is left as it was
    assert DOC["parameters"]["lr"] == {"min": 0.0, "max": 1.0} and "run_cap" not in DOC


def test_a_dotted_w_and_b_name_is_found_whole_and_quotes_reach_either_key() -> None:
    # The longest run of parts that names a key wins: model.depth, not model
    assert edited("parameters.model.depth.max=8")["parameters"]["model.depth"] == {"min": 1, "max": 8}
    # A quoted part is one key as written
    assert edited('parameters."model.depth".min=2')["parameters"]["model.depth"]["min"] == 2
    # Quoting the shorter key reaches it where the longer one would have been taken
    assert edited('parameters."model".values=[c]')["parameters"]["model"] == {"values": ["c"]}
    # And a new dotted parameter is given in quotes
    assert edited('parameters."model.width"={values: [8, 16]}')["parameters"]["model.width"] == {"values": [8, 16]}


def test_unset_removes_a_field_after_the_sets() -> None:
    doc = edited("run_cap=5", unsets=("parameters.model", "run_cap", "command.2"))
    assert "model" not in doc["parameters"] and "model.depth" in doc["parameters"]
    assert "run_cap" not in doc and doc["command"] == ["python", "${program}"]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("parameters.lrr.max=0.5", "--set parameters.lrr.max=0.5: no key 'lrr' in parameters (its keys: lr, opt, model, \"model.depth\")"),
        (
            "parameters.opt.name.values=[a]",
            "no key 'name' in parameters.opt (its keys: parameters); did you mean parameters.opt.parameters.name?",
        ),
        ("parameters.lr.max.x=1", "parameters.lr.max is float 1.0, not a mapping or a list"),
        ("command.7=x", "command has 3 element(s): no index 7"),
        ("command.first=x", "command is a list: expected an index (0, 1, ...), got 'first'"),
        ("nosuch.key=1", "no key 'nosuch' in the top level"),
        ("run_cap", "--set run_cap: expected KEY.PATH=VALUE"),
        ("parameters..max=1", "expected a key between the dots"),
        ("parameters.=1", "expected a key after the last dot"),
        ('parameters."lr.max=1', "a quote opened at character 12 is not closed"),
        ('parameters."lr"x.max=1', "a quoted key must be a whole part of the path"),
    ],
)
def test_a_path_that_leads_nowhere_is_refused_naming_the_option_and_the_field(given: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        edited(given)
    assert message in str(refused.value)


def test_unset_of_a_missing_key_is_refused_and_a_bad_yaml_value_names_the_field() -> None:
    with pytest.raises(ConfigError, match="--unset run_cap: no key 'run_cap' in the top level"):
        edited(unsets=("run_cap",))
    with pytest.raises(SpecError, match=r"--set parameters.lr.max: value: invalid YAML"):
        parse_set("parameters.lr.max=[1, 2")


def test_paths_parse_into_parts_and_print_back_as_given() -> None:
    assert parse_path('a."b.c".d', "x") == (Part("a"), Part("b.c", quoted=True), Part("d"))
    assert parse_set('a."b=c"=1').path == (Part("a"), Part("b=c", quoted=True))  # '=' inside quotes is part of the key
    assert field_name(["parameters", "model.depth", "max"]) == 'parameters."model.depth".max'
    assert field_name(["command", 2]) == "command.2"
