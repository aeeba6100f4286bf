"""Expanding command macros into one trial's argv: W&B's spellings, sweepctl's flat ones, no shell anywhere.

What W&B's agent itself builds is the oracle of tests/unit/test_wandb_argv.py; these tests pin the
spellings by hand, and the safety rules that have no counterpart in W&B.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sweepctl.command import (
    Macro,
    args_json_text,
    build_argv,
    expand_environment,
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
GROUP = "{'name': 'adam', 'beta': 0.9}"
TOP = ("lr=1e-05", "epochs=3", f"optimizer={GROUP}", "amp=True", "ema=False")
LEAVES = ("lr=1e-05", "epochs=3", "optimizer.name=adam", "optimizer.beta=0.9", "amp=True", "ema=False")


def argv(*command: str, params: dict[str, Any] | None = None, **kwargs: Any) -> tuple[str, ...]:
    options: dict[str, Any] = {"program": "train.py", "interpreter": "/venv/bin/python", "environ": {}, **kwargs}
    return build_argv(command, params=PARAMS if params is None else params, **options)


def test_the_default_command_runs_the_program_with_one_flag_per_top_level_key() -> None:
    # Given W&B's default command / When expanded / Then env, interpreter, program, then --key=str(value)
    assert build_argv(DEFAULT_COMMAND, program="train.py", params=PARAMS, interpreter="/venv/bin/python", environ={}) == (
        "/usr/bin/env",
        "/venv/bin/python",
        "train.py",
        "--lr=1e-05",
        "--epochs=3",
        f"--optimizer={GROUP}",
        "--amp=True",
        "--ema=False",
    )


@pytest.mark.parametrize(
    ("macro", "expected"),
    [
        ("${env}", ("/opt/env",)),
        ("${interpreter}", ("/venv/bin/python",)),
        ("${program}", ("train.py",)),
        ("${args}", tuple("--" + a for a in TOP)),
        ("${args_no_hyphens}", TOP),
        ("${args_no_equals}", ("--lr", "1e-05", "--epochs", "3", "--optimizer", GROUP, "--amp", "True", "--ema", "False")),
        # amp=True becomes a bare flag, ema=False disappears
        ("${args_no_boolean_flags}", (*("--" + a for a in TOP[:3]), "--amp")),
        ("${args_append_hydra}", tuple("+" + a for a in TOP)),
        ("${args_override_hydra}", tuple("++" + a for a in TOP)),
        (
            "${args_json}",
            ('{"lr": 1e-05, "epochs": 3, "optimizer": {"name": "adam", "beta": 0.9}, "amp": true, "ema": false}',),
        ),
        ("${args_json_file}", ("/tmp/trial-7/args.json",)),
        ("${args_flat}", tuple("--" + a for a in LEAVES)),
        ("${args_flat_no_hyphens}", LEAVES),
        ("${fold}", ("3",)),  # the fold of a task of a k-fold trial
    ],
)
def test_each_macro_expands_in_place(macro: str, expected: tuple[str, ...]) -> None:
    # Given a macro between two literals / When expanded / Then it is replaced where it stood
    result = argv("before", macro, "after", env="/opt/env", args_json_file="/tmp/trial-7/args.json", fold=3)
    assert result == ("before", *expected, "after")


def test_every_macro_is_covered_above() -> None:
    # Given a new Macro member, the table above and the parser must learn it
    assert {m.token for m in Macro} == {
        "${env}", "${interpreter}", "${program}", "${args}", "${args_no_equals}", "${args_no_hyphens}",
        "${args_no_boolean_flags}", "${args_append_hydra}", "${args_override_hydra}", "${args_json}",
        "${args_json_file}", "${args_flat}", "${args_flat_no_hyphens}", "${fold}",
    }


def test_fold_without_a_fold_is_refused_when_expanded() -> None:
    # Given a command naming ${fold} / When expanded for a trial that is no fold / Then a clear error, no argv
    with pytest.raises(ValueError, match=r"\$\{fold\}.*cross_validation"):
        argv("python", "${fold}")


@pytest.mark.parametrize(
    "evil",
    ["; touch /tmp/x", "$(id)", "`id`", "a b  c", "${program}", "${args}", "${envvar:HOME}", "--lr=1 --epochs=999", "'\"\\\n", ""],
)
def test_values_stay_one_literal_element(evil: str) -> None:
    # Given a string value that a shell, or a second expansion pass, would act on
    result = argv("${program}", "${args}", "${args_no_hyphens}", "${args_flat}", params={"name": evil}, environ={"HOME": "/root"})
    # Then each macro yields exactly one element holding the value byte for byte
    assert result == ("train.py", f"--name={evil}", f"name={evil}", f"--name={evil}")


def test_a_program_path_with_spaces_and_macros_is_not_split_or_reexpanded() -> None:
    assert argv("${program}", program="my dir/${args}; rm -rf ~.py") == ("my dir/${args}; rm -rf ~.py",)


def test_literal_elements_pass_through_including_lone_dollars() -> None:
    assert argv("python", "$HOME", "--x=$1", "100%", "{}") == ("python", "$HOME", "--x=$1", "100%", "{}")


def test_a_nested_group_is_one_flag_and_args_flat_offers_the_dotted_leaves() -> None:
    params = {"model": {"encoder": {"layers": 4}, "dropout": 0.1}, "seed": 1}
    assert argv("${args}", params=params) == ("--model={'encoder': {'layers': 4}, 'dropout': 0.1}", "--seed=1")
    assert flat_params(params) == (("model.encoder.layers", 4), ("model.dropout", 0.1), ("seed", 1))
    assert argv("${args_flat}", params=params) == ("--model.encoder.layers=4", "--model.dropout=0.1", "--seed=1")


def test_a_dotted_name_is_one_key() -> None:
    # Given Hydra-style dotted names beside a group of the same stem (a W&B example does this)
    params = {"optimizer": {"name": "adam"}, "optimizer.config.learning_rate": 0.01}
    assert argv("${args_override_hydra}", params=params) == ("++optimizer={'name': 'adam'}", "++optimizer.config.learning_rate=0.01")


def test_args_json_keeps_the_nesting_and_round_trips_with_json_dumps_spacing() -> None:
    # Given nested params / When put in one JSON element / Then decoding gives them back exactly
    (element,) = argv("${args_json}")
    assert json.loads(element) == PARAMS
    assert args_json_text(PARAMS) == element == json.dumps(PARAMS)
    # ASCII only, as json.dumps writes it by default
    assert args_json_text({"s": "ünï ✓"}) == '{"s": "\\u00fcn\\u00ef \\u2713"}'


@pytest.mark.parametrize(
    ("value", "flat", "wandb"),
    [
        ("adam", "adam", "adam"),
        (True, "True", "True"),
        (None, "None", "None"),
        (3, "3", "3"),
        (1e-05, "1e-05", "1e-05"),
        (2.0, "2.0", "2.0"),
        (1e300, "1e+300", "1e+300"),
        ([1, "a", True], '[1,"a",true]', "[1, 'a', True]"),
        ({}, "{}", "{}"),
        ({"k": [1.5, None]}, '{"k":[1.5,null]}', "{'k': [1.5, None]}"),
    ],
)
def test_values_are_written_the_python_way_by_args_and_compactly_by_args_flat(value: Any, flat: str, wandb: str) -> None:
    assert format_value(value) == flat
    params = {"v": value}
    if isinstance(value, dict) and value:
        assert argv("${args}", params=params) == (f"--v={wandb}",)
    else:
        assert argv("${args}", "${args_flat}", params=params) == (f"--v={wandb}", f"--v={flat}")


def test_floats_round_trip_exactly() -> None:
    # Given floats a program will parse back / Then float(text) is the same float, in both spellings
    for x in (1e-05, 0.1 + 0.2, 123456789.123456789, 5e-324):
        assert float(format_value(x)) == x
        assert float(argv("${args_no_equals}", params={"x": x})[1]) == x


def test_booleans_become_bare_flags_or_disappear_only_with_no_boolean_flags() -> None:
    params = {"amp": True, "ema": False, "n": 0, "none": None}
    assert argv("${args}", params=params) == ("--amp=True", "--ema=False", "--n=0", "--none=None")
    # 0 and None are not False here: only real booleans turn into flags
    assert argv("${args_no_boolean_flags}", params=params) == ("--amp", "--n=0", "--none=None")


def test_program_macro_without_a_program_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"\$\{program\}"):
        argv("${program}", program=None)


def test_args_json_file_macro_without_a_path_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"args_json_file"):
        argv("${args_json_file}")


def test_envvar_references_expand_from_the_given_environment_or_to_their_name() -> None:
    # Given one variable set and one unset / When expanded / Then the value, or the name itself (W&B's fallback)
    environ = {"DATA": "/data/set one", "RUN": "7"}
    assert argv("${envvar:DATA}", "--out=${envvar:DATA}/run-${envvar:RUN}", "${envvar:NOT_SET}", environ=environ) == (
        "/data/set one",
        "--out=/data/set one/run-7",
        "NOT_SET",
    )


def test_an_environment_value_is_never_expanded_again() -> None:
    # Given a variable whose value reads as a macro or a reference / Then it reaches the program literally
    environ = {"A": "${args}", "B": "${envvar:A}"}
    assert expand_environment("${envvar:A}|${envvar:B}", environ) == "${args}|${envvar:A}"
    assert argv("${envvar:A}", "${envvar:B}", environ=environ) == ("${args}", "${envvar:A}")


@pytest.mark.parametrize(
    ("element", "why"),
    [
        ("${porgram}", "unknown macro '${porgram}' (W&B's agent would drop it)"),
        ("--lr=${args}", "must be a whole element"),
        ("${args", "unknown macro '${args'"),
        ("${args_dict}", "replaces it with the parameter names only"),
        ("--cfg=${args_dict}", "replaces it with the parameter names only"),
        ("${envvar:home}", "upper-case letters, digits and _"),
        ("--x=${envvar:}", "needs a variable name"),
        ("${envvar:HOME}${args}", "must be a whole element"),
    ],
)
def test_elements_the_parser_refuses_are_refused_here_too(element: str, why: str) -> None:
    # Given an element that W&B's agent would silently drop or pass on unexpanded
    problem = macro_problem(element)
    assert problem is not None and why in problem
    with pytest.raises(ValueError):
        argv("python", element)


@pytest.mark.parametrize("element", ["${env}", "${args_flat}", "python", "--flag", "$HOME", "", "${envvar:HOME}", "a${envvar:X_1}b$"])
def test_whole_macros_plain_literals_and_envvar_references_are_fine(element: str) -> None:
    assert macro_problem(element) is None
