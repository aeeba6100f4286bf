"""`cross_validation: {folds: k}` in a sweep file: k-fold trials, checked with the field named, in the parser and the editor's schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from sweepctl.errors import SpecError
from sweepctl.spec import MAX_FOLDS, MIN_FOLDS, CrossValidation, MedianStop
from sweepctl.sweepfile import parse_sweep, schema_path

BASE: dict[str, Any] = {
    "metric": {"name": "loss"},
    "parameters": {"lr": {"values": [0.001, 0.01]}, "layers": {"values": [1, 2]}},
    "program": "train.py",
}
CV_COMMAND = ["${env}", "${interpreter}", "${program}", "--fold", "${fold}", "${args}"]


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_path().read_text(encoding="utf-8")))


def problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        parse_sweep(doc)
    return caught.value.problems


@pytest.mark.parametrize("method", ["grid", "random", "bayes"])
def test_every_method_takes_cross_validation_and_the_fold_macro(method: str, validator: Draft202012Validator) -> None:
    # Given a sweep of any method with 5 folds and a command naming ${fold}
    doc = {**BASE, "method": method, "cross_validation": {"folds": 5}, "command": CV_COMMAND}
    # When parsed / Then each trial runs as 5 folds, and the editor's schema agrees
    spec = parse_sweep(doc)
    assert spec.cross_validation == CrossValidation(folds=5) and spec.folds == 5
    assert "${fold}" in spec.command
    assert list(validator.iter_errors(doc)) == []


def test_a_sweep_without_it_has_trials_of_one_task() -> None:
    assert parse_sweep(BASE).folds is None and parse_sweep(BASE).cross_validation is None


@pytest.mark.parametrize("folds", [MIN_FOLDS, MAX_FOLDS])
def test_the_limits_themselves_are_accepted(folds: int, validator: Draft202012Validator) -> None:
    doc = {**BASE, "cross_validation": {"folds": folds}}
    assert parse_sweep(doc).folds == folds and list(validator.iter_errors(doc)) == []


@pytest.mark.parametrize(
    ("block", "field", "message"),
    [
        ({"folds": 1}, "cross_validation.folds", "expected an integer >= 2 and <= 100, got 1"),
        ({"folds": MAX_FOLDS + 1}, "cross_validation.folds", "expected an integer >= 2 and <= 100, got 101"),
        ({"folds": 5.0}, "cross_validation.folds", "(a float: numbers written with '.' or an exponent are floats)"),
        ({"folds": "5"}, "cross_validation.folds", "got string '5'"),
        ({"folds": True}, "cross_validation.folds", "got boolean true"),
        ({}, "cross_validation.folds", "required: how many folds each trial runs as (2 to 100)"),
        ({"folds": 3, "shuffle": True}, "cross_validation.shuffle", "unknown key 'shuffle'"),
        (5, "cross_validation", "expected a mapping with folds (e.g. cross_validation: {folds: 5}), got 5"),
    ],
)
def test_a_bad_block_is_refused_naming_the_field(
    block: Any, field: str, message: str, validator: Draft202012Validator
) -> None:
    # Given a cross_validation block with one mistake
    doc = {**BASE, "cross_validation": block}
    # When parsed / Then the parser names the field and what it expected, and the schema refuses it too
    found = problems(doc)
    assert [path for path, _ in found] == [field]
    assert message in found[0][1]
    # (JSON Schema reads 5.0 as an integer; the parser wants a count written whole, as for parallelism)
    assert list(validator.iter_errors(doc)) or block == {"folds": 5.0}


def test_the_fold_macro_without_cross_validation_is_refused_at_its_element() -> None:
    # Given ${fold} in the command of a sweep whose trials are one task each
    found = problems({**BASE, "command": CV_COMMAND})
    # Then the element is named: a trial of one task has no fold
    assert found == [("command[4]", "${fold} needs cross_validation: {folds: k} (a trial of one task has no fold)")]


def test_early_termination_with_folds_is_the_median_rule_on_fold_means() -> None:
    # Given a 5-fold sweep whose early_terminate is median, judged after 2 completed folds
    doc = {**BASE, "cross_validation": {"folds": 5}, "early_terminate": {"type": "median", "min_iter": 2, "min_trials": 3}}
    # Then it parses into the median rule (controller.fold_stopping judges fold means with it)
    assert parse_sweep(doc).stopping == MedianStop(min_iter=2, min_trials=3)


def test_hyperband_with_folds_is_refused_naming_the_type() -> None:
    found = problems({**BASE, "cross_validation": {"folds": 5}, "early_terminate": {"type": "hyperband", "min_iter": 1}})
    assert [path for path, _ in found] == ["early_terminate.type"]
    assert "only type median" in found[0][1]


def test_a_median_rule_that_would_wait_for_every_fold_is_refused() -> None:
    # Given 3 folds and a rule judging after 3 completed folds: no fold would be left to stop
    found = problems({**BASE, "cross_validation": {"folds": 3}, "early_terminate": {"type": "median", "min_iter": 3}})
    assert found == [
        (
            "early_terminate.min_iter",
            "with cross_validation, the folds a trial completes before it is judged: expected at most 2 "
            "(folds - 1, leaving a fold to stop), got 3",
        )
    ]


def test_every_problem_is_reported_at_once() -> None:
    # Given a bad fold count and a bad run_cap
    found = problems({**BASE, "cross_validation": {"folds": 0}, "run_cap": 0})
    assert {path for path, _ in found} == {"cross_validation.folds", "run_cap"}
