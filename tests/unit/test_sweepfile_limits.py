"""Sweep-file limits: ordinary abuse is refused quickly, naming the field, and never reaches a trial.

Each story is one numbered item of issue #12: a YAML bomb (6), deep nesting (7),
huge counts (9) and oversized parameter values (16). Before the limits, each of
these validated and then hung or failed every trial, or raised a traceback.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from sweepctl._documents import MAX_FILE_BYTES
from sweepctl._parameters import MAX_PARAMETER_DEPTH, MAX_SET_BYTES
from sweepctl._validate import MAX_DOCUMENT_DEPTH, MAX_VALUE_BYTES, MAX_VALUE_DEPTH
from sweepctl.errors import SpecError
from sweepctl.sweepfile import (
    MAX_ARGV_BYTES,
    MAX_PARALLELISM,
    load_sweep_file,
    parse_sweep,
)

HEAD = "program: train.py\nmetric: {name: loss}\n"


def sweep(**overrides: Any) -> dict[str, Any]:
    """A minimal valid sweep document, with top-level keys replaced (None removes one)."""
    doc = {"program": "train.py", "metric": {"name": "loss"}, "parameters": {"lr": {"min": 0.1, "max": 1.0}}} | overrides
    return {key: value for key, value in doc.items() if value is not None}


def problems(doc: Any) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        parse_sweep(doc)
    return caught.value.problems


def refusal(path: Path) -> SpecError:
    """Load `path`, which must be refused; the error, after checking it took little CPU."""
    began = time.process_time()
    with pytest.raises(SpecError) as caught:
        load_sweep_file(path)
    spent = time.process_time() - began
    print(f"\n{path.name}: refused in {spent:.3f} s of CPU: {caught.value}"[:300])
    assert spent < 2.0  # measured: under 0.01 s for the bombs, 0.3 s for 100,000 '['
    return caught.value


def nested_groups(levels: int) -> dict[str, Any]:
    """`parameters` with one leaf `levels` groups deep: {a: {parameters: {a: ... {a: {value: 1}}}}}."""
    spec: dict[str, Any] = {"value": 1}
    for _ in range(levels - 1):
        spec = {"parameters": {"a": spec}}
    return {"a": spec}


# 6. YAML bombs -----------------------------------------------------------------------------------

# Nine levels of nine aliases each: 9**9 (387 million) strings once expanded, from about 300 bytes.
LAUGHS = "".join(
    f"      - &l{level} [{', '.join([f'*l{level - 1}' if level else 'lol'] * 9)}]\n" for level in range(9)
)
BOMBS = {
    "in a parameter value": HEAD + "parameters:\n  p:\n    value:\n" + LAUGHS,
    # metric.impute is accepted and ignored, so nothing walks it while validating: storing it would expand it.
    "in an ignored key": HEAD.replace("{name: loss}", "\n  name: loss\n  impute:\n") + LAUGHS.replace("      ", "    ")
    + "parameters: {p: {value: 1}}\n",
    # `<<:` merges copy the keys of each merged mapping: nine merges of nine merges of ... nine keys.
    "in merge keys": HEAD
    + "parameters:\n  p:\n    value:\n"
    + "      - &m0 {"
    + ", ".join(f"k{i}: {i}" for i in range(9))
    + "}\n"
    + "".join(f"      - &m{n} {{<<: [{', '.join([f'*m{n - 1}'] * 9)}], own{n}: 1}}\n" for n in range(1, 9)),
}


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", BOMBS)
def test_a_yaml_bomb_is_refused_at_once_naming_the_line(tmp_path: Path, name: str) -> None:
    # Given a few hundred bytes of anchors and aliases that expand to hundreds of millions of values
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMBS[name], encoding="utf-8")
    assert path.stat().st_size < 1000
    # When it is loaded / Then it is refused quickly, at the node that expands too far
    error = refusal(path)
    ((field, message),) = error.problems
    assert field == "<yaml>"
    assert "at line " in message and "expands (aliases copied out) past 512 KiB" in message


@pytest.mark.timeout(20)
def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    # Given a list that holds itself (PyYAML builds it; every walk over it would recurse without end)
    path = tmp_path / "loop.yaml"
    path.write_text(HEAD + "parameters: {p: {value: &me [1, *me]}}\n", encoding="utf-8")
    # Then the file is refused at the alias
    assert refusal(path).problems == [
        ("<yaml>", "at line 3, column 33: found an alias inside the node it names (a recursive alias)")
    ]


def test_a_recursive_value_from_python_is_refused_with_its_path() -> None:
    # Given the same loop built in Python and handed to parse_sweep
    loop: list[Any] = [1]
    loop.append(loop)
    # Then the walk names where it loops back
    assert problems(sweep(parameters={"p": {"value": loop}})) == [
        ("parameters.p.value[1]", "refers to a list or mapping that contains it (a recursive YAML alias)")
    ]


def test_anchors_reused_honestly_still_load(tmp_path: Path) -> None:
    # Given a W&B-style file that shares a block through an anchor, as people do
    path = tmp_path / "anchors.yaml"
    path.write_text(
        HEAD
        + textwrap.dedent(
            """\
            parameters:
              lr: &bounds {min: 0.001, max: 0.1}
              wd: *bounds
              layers: {value: &shape [[64, 64], [128, 128]]}
              head: {value: *shape}
            """
        ),
        encoding="utf-8",
    )
    # Then it loads as before
    assert load_sweep_file(path).space.names == ("lr", "wd", "layers", "head")


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_file_over_the_size_limit_is_refused_before_parsing(tmp_path: Path, suffix: str) -> None:
    # Given a valid sweep padded past MAX_FILE_BYTES (a long description)
    doc = sweep(description="x" * MAX_FILE_BYTES)
    path = tmp_path / f"sweep{suffix}"
    path.write_text(json.dumps(doc), encoding="utf-8")  # JSON is YAML too
    # Then the file is refused as a file, without being parsed
    assert refusal(path).problems == [("<file>", "expected a sweep file of at most 256 KiB")]
    # And one just under the limit still loads
    path.write_text(json.dumps(sweep(description="x" * (MAX_FILE_BYTES - 200))), encoding="utf-8")
    assert load_sweep_file(path).description


# 7. Deep nesting ---------------------------------------------------------------------------------


def test_parameter_groups_nested_past_the_limit_are_refused_with_the_field_path() -> None:
    # Given a leaf MAX_PARAMETER_DEPTH groups deep, and one a level deeper
    assert parse_sweep(sweep(parameters=nested_groups(MAX_PARAMETER_DEPTH))).space.names == (
        ".".join(["a"] * MAX_PARAMETER_DEPTH),
    )
    # Then the deeper one is refused at the group that goes too deep
    deepest_group = "parameters" + ".a.parameters" * MAX_PARAMETER_DEPTH
    assert problems(sweep(parameters=nested_groups(MAX_PARAMETER_DEPTH + 1))) == [
        (deepest_group, "expected parameter groups nested at most 10 levels deep")
    ]


@pytest.mark.parametrize("levels", [240, 400])
def test_the_issues_deeply_nested_parameters_are_refused_not_a_recursion_error(levels: int) -> None:
    # Given the issue's parameters, nested 240 (validated, then every worker task raised
    # RecursionError) and 400 levels (a traceback from validate)
    found = problems(sweep(parameters=nested_groups(levels)))
    # Then one problem names where the document passes MAX_DOCUMENT_DEPTH
    ((field, message),) = found
    assert field.startswith("parameters.a.parameters.a.parameters")
    assert message == f"expected lists and mappings nested at most {MAX_DOCUMENT_DEPTH} levels deep"


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("suffix", "text", "expected"),
    [
        (".yaml", "[" * 100_000, ("<yaml>", "at line 1, column 65: expected lists and mappings nested at most 64 levels deep")),
        (".json", "[" * 100_000, ("<json>", "expected lists and mappings nested at most 64 levels deep")),
        (".yaml", HEAD + "parameters: {p: {value: 1}}\ndescription: " + "[" * 2000 + "]" * 2000 + "\n", None),
        (".json", '{"a": ' * 500 + "1" + "}" * 500, None),
    ],
    ids=["yaml-100k", "json-100k", "yaml-2000", "json-500"],
)
def test_very_deep_documents_are_a_spec_error_not_a_recursion_error(
    tmp_path: Path, suffix: str, text: str, expected: tuple[str, str] | None
) -> None:
    # Given a file nested far past any sweep (100,000 levels break PyYAML's and json's recursion)
    path = tmp_path / f"deep{suffix}"
    path.write_text(text, encoding="utf-8")
    # When it is loaded / Then one SpecError says how deep documents may nest
    ((field, message),) = refusal(path).problems
    if expected is not None:
        assert (field, message) == expected
    else:
        assert message.endswith(f"nested at most {MAX_DOCUMENT_DEPTH} levels deep")


def test_values_nested_past_the_limit_are_refused_with_the_field_path() -> None:
    deep: Any = 1
    for _ in range(MAX_VALUE_DEPTH):
        deep = [deep]
    # Given a constant MAX_VALUE_DEPTH lists deep, and a categorical value one deeper
    parse_sweep(sweep(parameters={"ok": {"value": deep}}))
    found = problems(sweep(parameters={"p": {"values": [1, {"k": deep}]}}))
    # Then the value is named
    assert found == [("parameters.p.values[1]", "expected lists and mappings nested at most 16 levels deep inside a value")]


# 9. Huge counts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("1e20", "expected an integer >= 1 and <= 10,000, got 1e+20 (a float: numbers written with '.' or an exponent are floats)"),
        ("4.0", "expected an integer >= 1 and <= 10,000, got 4.0 (a float: numbers written with '.' or an exponent are floats)"),
        ("100000000000000000000", "expected an integer >= 1 and <= 10,000, got 100000000000000000000"),
        ("10001", "expected an integer >= 1 and <= 10,000, got 10001"),
    ],
)
def test_parallelism_past_the_limit_or_written_as_a_float_names_the_field(
    tmp_path: Path, written: str, message: str
) -> None:
    # Given the issue's parallelism: 1e20 (and its neighbours), which made one controller pass run for minutes
    path = tmp_path / "sweep.yaml"
    path.write_text(HEAD + "parameters: {p: {value: 1}}\nparallelism: " + written + "\n", encoding="utf-8")
    # Then the file is refused, saying what the number was read as
    assert refusal(path).problems == [("parallelism", message)]


def test_parallelism_at_the_limit_is_fine() -> None:
    assert parse_sweep(sweep(parallelism=MAX_PARALLELISM)).parallelism == MAX_PARALLELISM


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("run_cap", 10**400, "expected an integer >= 1 and <= 1,000,000,000, got an integer of about 401 digits"),
        ("max_failures", 2**64, "expected an integer >= 0 and <= 1,000,000,000, got 18446744073709551616"),
        ("seed", 2**64, "expected an integer >= 0 and <= 18,446,744,073,709,551,615, got 18446744073709551616"),
    ],
)
def test_counts_past_their_limits_are_refused(key: str, value: int, message: str) -> None:
    # Given a count no sweep reaches (run_cap 10**400 broke the exporter's float of the remaining budget)
    assert problems(sweep(**{key: value})) == [(key, message)]


@pytest.mark.timeout(20)
def test_integers_python_cannot_print_are_refused_where_they_are_written(tmp_path: Path) -> None:
    # Given a 5,000-digit run_cap (int() refuses it with a ValueError) and a hexadecimal one past it
    path = tmp_path / "sweep.yaml"
    path.write_text(HEAD + "parameters: {p: {value: 1}}\nrun_cap: " + "9" * 5000 + "\n", encoding="utf-8")
    assert refusal(path).problems == [
        ("<yaml>", "invalid YAML at line 4, column 10: expected an integer of at most 4300 digits")
    ]
    path.write_text(HEAD + "parameters: {p: {value: 0x" + "f" * 4000 + "}}\n", encoding="utf-8")
    assert refusal(path).problems == [
        ("parameters.p.value", "expected an integer of at most 4300 digits, got an integer of about 4817 digits")
    ]
    json_path = tmp_path / "sweep.json"
    json_path.write_text('{"run_cap": ' + "9" * 5000 + "}", encoding="utf-8")
    assert refusal(json_path).problems == [("<json>", "expected integers of at most 4300 digits")]


# 16. Oversized parameter values ------------------------------------------------------------------


def test_a_constant_too_large_for_a_trial_is_refused_with_its_field() -> None:
    # Given the issue's 1.2 MB constant (the worker failed with "Message too long", the trial ended lost),
    # built from small elements so that no string limit applies
    issue = list(range(170_000))
    assert len(json.dumps(issue)) > 1_200_000
    # Then it is refused at validation, naming the value (past the document limit, so that one speaks)
    too_large = (
        "expected a document of at most 512 KiB with its YAML aliases expanded"
        " (counting the characters of each value and one per value)"
    )
    assert problems(sweep(parameters={"p": {"value": issue}})) == [("parameters.p.value", too_large)]
    # And one of 100 KB, under the document limit, is refused by the value limit
    big = list(range(20_000))
    assert problems(sweep(parameters={"p": {"value": big}})) == [
        ("parameters.p.value", f"expected a value of at most 32,768 bytes as JSON (32 KiB), got {len(json.dumps(big)):,}")
    ]


def test_a_categorical_value_too_large_is_refused_at_its_index() -> None:
    # Given the issue's 200 KB value (the trial failed: "Argument list too long") among small ones
    found = problems(sweep(parameters={"p": {"values": [1, [7] * 70_000]}}))
    assert found == [("parameters.p.values[1]", "expected a value of at most 32,768 bytes as JSON (32 KiB), got 210,000")]


def test_a_value_at_the_limit_is_fine() -> None:
    # Given a value of exactly MAX_VALUE_BYTES as JSON ("[" + 10922 * "1, " ... padded)
    value = ["x" * 4000] * 8
    value.append("y" * (MAX_VALUE_BYTES - len(json.dumps(value)) - 4))
    assert len(json.dumps(value)) == MAX_VALUE_BYTES
    parse_sweep(sweep(parameters={"p": {"value": value}}))


def test_a_parameter_set_too_large_as_a_whole_is_refused() -> None:
    # Given three values each under the per-value limit, together over MAX_SET_BYTES
    small, large = ["x" * 1000] * 20, ["x" * 1000] * 30  # about 20 and 30 KiB as JSON
    doc = sweep(parameters={"a": {"value": small}, "b": {"values": [1, large]}, "c": {"value": small}})
    # Then the set is refused as a whole, naming its largest part: b, its largest value and its name
    ((field, message),) = problems(doc)
    assert field == "parameters"
    # (each part: its value as JSON, and its name as a JSON key with punctuation, `"b": ` and `, `)
    part = {name: len(json.dumps(value)) + len(f'"{name}": {{}}, ') for name, value in zip("abc", (small, large, small))}
    assert message == (
        f"expected a parameter set of at most {MAX_SET_BYTES:,} bytes as JSON (64 KiB), got up to {sum(part.values()):,}"
        f" (the largest part: b, {part['b']:,} bytes)"
    )
    # And two of them fit
    parse_sweep(sweep(parameters={"a": {"value": small}, "b": {"values": [1, large]}}))


def test_a_warm_start_point_too_large_is_refused() -> None:
    third = ["x" * 1000] * 25
    base = sweep(program=None, function="m:f", parameters={"a": {"values": [1, 2]}, "b": {"values": [1, 2]}, "c": {"values": [1, 2]}})
    # Given a warm point whose values are each fine, and one with a value over the limit
    found = problems(base | {"warm_start": {"points": [{"a": third, "b": third, "c": third}, {"a": "x" * 40_000, "b": 1, "c": 1}]}})
    # Then the first is refused as a set, the second at its value
    assert [field for field, _ in found] == ["warm_start.points[0]", "warm_start.points[1].a"]


def test_a_command_that_would_not_fit_the_launcher_is_refused() -> None:
    # Given a parameter set of 30 KiB and a command that repeats ${args} ten times (300 KiB of argv)
    params = {"a": {"value": ["x" * 1000] * 30}}
    doc = sweep(parameters=params, command=["${env}", "${interpreter}", "${program}", *["${args}"] * 10])
    ((field, message),) = problems(doc)
    assert field == "command"
    assert message.startswith(f"expected at most {MAX_ARGV_BYTES // 1024} KiB of arguments with the largest parameter set")
    # And a literal element over the per-value limit is refused where it is
    long_literal = sweep(command=["${env}", "${program}", "--config=" + "x" * MAX_VALUE_BYTES])
    assert problems(long_literal) == [("command[2]", "expected at most 32,768 bytes, got 32,777")]
