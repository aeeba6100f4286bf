"""The `command` of a sweep file: what W&B's agent accepts is accepted, what it would silently mangle is refused, sizes are bounded.

The argv itself is compared with W&B's agent in test_wandb_argv.py; here the parser's side: element types,
field paths and reasons, and the argv size bound measured against real expansions of worst-case values.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from sweepctl._parameters import largest_set_bytes
from sweepctl.command import PARAMETER_MACROS, Macro, build_argv, largest_expansion_bytes, python_spelling_extra
from sweepctl.errors import SpecError
from sweepctl.space import Distribution, Parameter, SearchSpace
from sweepctl.sweepfile import MAX_ARGV_BYTES, parse_sweep


def sweep(command: list[Any], parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "program": "train.py",
        "metric": {"name": "loss"},
        "parameters": parameters or {"lr": {"min": 0.1, "max": 1.0}},
        "command": command,
    }


def problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        parse_sweep(doc)
    return caught.value.problems


def test_numbers_booleans_and_null_are_written_by_str_and_kept_as_written_in_raw() -> None:
    # Given an unquoted year, a float, a boolean and a null, as YAML decodes them
    doc = sweep(["${env}", "${interpreter}", "${program}", "--year", 2018, 0.5, True, None, "${args}"])
    # When parsed / Then the trial gets str() of each, as W&B's agent writes them, and the file is kept as it was
    spec = parse_sweep(doc)
    assert spec.command[3:8] == ("--year", "2018", "0.5", "True", "None")
    assert spec.raw["command"][4] == 2018 and spec.raw["command"][6] is True


@pytest.mark.parametrize("element", [["a", "b"], {"k": 1}])
def test_lists_and_mappings_are_refused_naming_the_element(element: Any) -> None:
    assert [path for path, _ in problems(sweep(["python", "train.py", element]))] == ["command[2]"]


@pytest.mark.parametrize("macro", [m.token for m in Macro])
def test_every_macro_is_accepted_as_a_whole_element(macro: str) -> None:
    # ${fold} names the fold of a k-fold trial: it needs cross_validation (tests/unit/test_sweepfile_cross_validation.py)
    folds = {"cross_validation": {"folds": 3}} if macro == Macro.FOLD.token else {}
    assert macro in parse_sweep({**sweep(["${env}", "${interpreter}", "${program}", macro]), **folds}).command


@pytest.mark.parametrize(
    ("element", "why"),
    [
        ("${args_dict}", "W&B's agent replaces it with the parameter names only"),
        ("--out=${envvar:out_dir}", "upper-case letters, digits and _"),
        ("${envvar:}", "needs a variable name"),
        ("--lr=${args}", "must be a whole element of the command (W&B's agent would pass it on unexpanded)"),
        ("${foo}", "unknown macro '${foo}' (W&B's agent would drop it)"),
    ],
)
def test_what_wandb_would_silently_mangle_is_refused_with_the_reason(element: str, why: str) -> None:
    [(path, message)] = problems(sweep(["python", "train.py", element]))
    assert path == "command[2]" and why in message


def test_envvar_references_validate_and_stay_unexpanded_until_a_worker_builds_the_argv() -> None:
    # The submitter's environment is never read: the worker's is, when the trial starts
    spec = parse_sweep(sweep(["${envvar:PYTHON_BIN}", "${program}", "--data=${envvar:DATA_DIR}/train", "${args}"]))
    assert spec.command[:3] == ("${envvar:PYTHON_BIN}", "${program}", "--data=${envvar:DATA_DIR}/train")


def worst_case_leaves() -> tuple[Parameter, ...]:
    """Values whose Python spelling is longest next to their JSON: quotes inside lists and groups, unicode, None."""
    parameters = {
        "quotes": {"values": [["'" * 500 + '"', "x"], "it's \"top\"", "''''"]},
        "group": {
            "parameters": {
                "s": {"values": ["'''\"", "ünï ✓ 日本 \U0001f600", "tab\t"]},
                "n": {"min": 0.0, "max": 1.0},
                "deeper": {"parameters": {"flag": {"values": [True, False, None]}}},
            }
        },
        "k": {"distribution": "int_uniform", "min": -(10**12), "max": 10**12},
        "mixed": {"value": {"a": "'\"", "b": [None, 1e-300]}},
    }
    return parse_sweep(sweep(["${args}"], parameters)).space.parameters


def candidates(leaf: Parameter) -> tuple[Any, ...]:
    """The values to try for a leaf: every written one, or the longest numbers it could draw."""
    if leaf.distribution is Distribution.CONSTANT:
        return (leaf.value,)
    if leaf.distribution is Distribution.CATEGORICAL:
        return leaf.values
    if leaf.distribution is Distribution.INT_UNIFORM:
        return (-(10**12), 10**12)
    return (-2.2250738585072014e-308, 0.5)


def test_the_argv_bound_holds_for_every_macro_on_worst_case_values() -> None:
    # Given leaves whose every combination of values can be expanded
    leaves = worst_case_leaves()
    json_bytes, python_extra = largest_set_bytes(leaves), python_spelling_extra(leaves)
    names = [leaf.name for leaf in leaves]
    space = SearchSpace(leaves)
    longest = dict.fromkeys(PARAMETER_MACROS, 0)
    for values in itertools.product(*(candidates(leaf) for leaf in leaves)):
        params = space.assemble(dict(zip(names, values)))
        for macro in PARAMETER_MACROS:
            argv = build_argv([macro.token], program=None, params=params, interpreter="python", environ={})
            longest[macro] = max(longest[macro], sum(len(e.encode("utf-8", "surrogatepass")) for e in argv))
    # Then no expansion is longer than its bound, and the Python spelling needed its extra: a JSON-only bound would be wrong
    assert {m: n for m, n in longest.items() if n > largest_expansion_bytes(m, json_bytes, python_extra)} == {}
    assert longest[Macro.ARGS] > json_bytes and python_extra > 0
    print(f"\njson bound {json_bytes}, python extra {python_extra}; longest: " + ", ".join(f"{m.value}={n}" for m, n in longest.items()))


def test_a_command_whose_python_spelling_would_not_fit_is_refused() -> None:
    # Given a list of apostrophe strings (28 KiB as JSON, 55 KiB in Python's spelling) and ${args} five times
    value = ["'" * 4000 + '"'] * 7
    doc = sweep(["${program}", *["${args}"] * 5], {"big": {"value": value}})
    # Then it is refused: as JSON it would fit, but the argv the trial gets would not
    [(path, message)] = problems(doc)
    assert path == "command" and message.startswith(f"expected at most {MAX_ARGV_BYTES // 1024} KiB of arguments")
    argv = build_argv(["${args}"] * 5, program=None, params={"big": value}, interpreter="python", environ={})
    assert sum(len(e.encode()) for e in argv) > MAX_ARGV_BYTES
    # and the same set with ${args_json} five times fits
    parse_sweep(sweep(["${program}", *["${args_json}"] * 5], {"big": {"value": value}}))


@pytest.mark.parametrize(
    ("element", "valid"),
    [
        (2018, True),
        (True, True),
        ("--data=${envvar:DATA_DIR}/x-${envvar:N}", True),
        ("${args_no_equals}", True),
        ("${args_flat}", True),
        ("price: $5", True),
        ("--lr=${args}", False),
        ("${envvar:lower}", False),
        ("${args_dict}", False),
        (["a"], False),
    ],
)
def test_the_editor_schema_agrees_with_the_parser_on_command_elements(element: Any, valid: bool) -> None:
    # Given the JSON Schema editors use / Then it accepts and refuses the elements the parser does
    from jsonschema import Draft202012Validator

    from sweepctl.sweepfile import schema_path

    doc = sweep(["${env}", "${program}", element])
    schema_errors = list(Draft202012Validator(json.loads(schema_path().read_text())).iter_errors(doc))
    assert (schema_errors == []) is valid
    if valid:
        parse_sweep(doc)
    else:
        assert problems(doc)
