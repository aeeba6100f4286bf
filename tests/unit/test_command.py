"""Expanding W&B command macros into one trial's argv, with no shell anywhere."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sweepctl.command import (
    Macro,
    args_json_text,
    build_argv,
    flat_params,
    format_value,
    macro_problem,
)
from sweepctl.spec import DEFAULT_COMMAND

PARAMS: dict[str, Any] = {
    "lr": 1e-05,
    "epochs": 3,
    "optimizer": {"name": "adam", "beta": 0.9},
    "amp": True,
    "ema": False,
}
LEAVES = ("lr=1e-05", "epochs=3", "optimizer.name=adam", "optimizer.beta=0.9", "amp=True", "ema=False")


def argv(*command: str, params: dict[str, Any] | None = None, **kwargs: Any) -> tuple[str, ...]:
    options: dict[str, Any] = {"program": "train.py", "interpreter": "/venv/bin/python", **kwargs}
    return build_argv(command, params=PARAMS if params is None else params, **options)


def test_the_default_command_runs_the_program_with_args() -> None:
    # Given W&B's default command / When expanded / Then env, interpreter, program, then one --flag per leaf
    assert build_argv(DEFAULT_COMMAND, program="train.py", params=PARAMS, interpreter="/venv/bin/python") == (
        "/usr/bin/env",
        "/venv/bin/python",
        "train.py",
        "--lr=1e-05",
        "--epochs=3",
        "--optimizer.name=adam",
        "--optimizer.beta=0.9",
        "--amp=True",
        "--ema=False",
    )


@pytest.mark.parametrize(
    ("macro", "expected"),
    [
        ("${env}", ("/opt/env",)),
        ("${interpreter}", ("/venv/bin/python",)),
        ("${program}", ("train.py",)),
        ("${args}", tuple("--" + a for a in LEAVES)),
        ("${args_no_hyphens}", LEAVES),
        # amp=True becomes a bare flag, ema=False disappears
        ("${args_no_boolean_flags}", (*("--" + a for a in LEAVES[:4]), "--amp")),
        (
            "${args_json}",
            ('{"lr":1e-05,"epochs":3,"optimizer":{"name":"adam","beta":0.9},"amp":true,"ema":false}',),
        ),
        ("${args_json_file}", ("/tmp/trial-7/args.json",)),
    ],
)
def test_each_macro_expands_in_place(macro: str, expected: tuple[str, ...]) -> None:
    # Given a macro between two literals / When expanded / Then it is replaced where it stood
    result = argv("before", macro, "after", env="/opt/env", args_json_file="/tmp/trial-7/args.json")
    assert result == ("before", *expected, "after")


def test_every_macro_is_covered_above() -> None:
    # Given a new Macro member, the table above and the parser must learn it
    assert {m.token for m in Macro} == {
        "${env}", "${interpreter}", "${program}", "${args}", "${args_no_hyphens}",
        "${args_json}", "${args_json_file}", "${args_no_boolean_flags}",
    }


@pytest.mark.parametrize(
    "evil",
    ["; touch /tmp/x", "$(id)", "`id`", "a b  c", "${program}", "${args}", "--lr=1 --epochs=999", "'\"\\\n", ""],
)
def test_values_stay_one_literal_element(evil: str) -> None:
    # Given a string value that a shell, or a second expansion pass, would act on
    result = argv("${program}", "${args}", "${args_no_hyphens}", params={"name": evil})
    # Then each macro yields exactly one element holding the value byte for byte
    assert result == ("train.py", f"--name={evil}", f"name={evil}")


def test_a_program_path_with_spaces_and_macros_is_not_split_or_reexpanded() -> None:
    assert argv("${program}", program="my dir/${args}; rm -rf ~.py") == ("my dir/${args}; rm -rf ~.py",)


def test_literal_elements_pass_through_including_lone_dollars() -> None:
    assert argv("python", "$HOME", "--x=$1", "100%") == ("python", "$HOME", "--x=$1", "100%")


def test_nested_groups_flatten_with_dots() -> None:
    params = {"model": {"encoder": {"layers": 4}, "dropout": 0.1}, "seed": 1}
    assert flat_params(params) == (("model.encoder.layers", 4), ("model.dropout", 0.1), ("seed", 1))
    assert argv("${args}", params=params) == ("--model.encoder.layers=4", "--model.dropout=0.1", "--seed=1")


def test_args_json_keeps_the_nesting_and_round_trips() -> None:
    # Given nested params / When put in one JSON element / Then decoding gives them back exactly
    (element,) = argv("${args_json}")
    assert json.loads(element) == PARAMS
    assert args_json_text(PARAMS) == element
    assert " " not in element


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("adam", "adam"),
        (True, "True"),
        (False, "False"),
        (None, "None"),
        (3, "3"),
        (1e-05, "1e-05"),
        (0.1, "0.1"),
        (2.0, "2.0"),
        (1 / 3, "0.3333333333333333"),
        ([1, "a", True], '[1,"a",true]'),
        ({}, "{}"),
        ({"k": [1.5]}, '{"k":[1.5]}'),
    ],
)
def test_values_are_written_the_wandb_python_way(value: Any, written: str) -> None:
    assert format_value(value) == written


def test_floats_round_trip_exactly() -> None:
    # Given floats a program will parse back / Then float(text) is the same float
    for x in (1e-05, 0.1 + 0.2, 123456789.123456789, 5e-324):
        assert float(format_value(x)) == x


def test_an_empty_group_is_passed_as_an_empty_mapping() -> None:
    assert argv("${args}", params={"extra": {}}) == ("--extra={}",)


def test_booleans_become_bare_flags_or_disappear_only_with_no_boolean_flags() -> None:
    params = {"amp": True, "ema": False, "n": 0}
    assert argv("${args}", params=params) == ("--amp=True", "--ema=False", "--n=0")
    # 0 is not False here: only real booleans turn into flags
    assert argv("${args_no_boolean_flags}", params=params) == ("--amp", "--n=0")


def test_program_macro_without_a_program_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"\$\{program\}"):
        argv("${program}", program=None)


def test_args_json_file_macro_without_a_path_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"args_json_file"):
        argv("${args_json_file}")


@pytest.mark.parametrize("element", ["${porgram}", "--lr=${args}", "${envvar:HOME}", "${args"])
def test_elements_the_parser_refuses_are_refused_here_too(element: str) -> None:
    # Given an element that is not a whole known macro but contains "${"
    assert macro_problem(element) is not None
    with pytest.raises(ValueError):
        argv("python", element)


@pytest.mark.parametrize("element", ["${env}", "python", "--flag", "$HOME", ""])
def test_whole_macros_and_plain_literals_are_fine(element: str) -> None:
    assert macro_problem(element) is None
