"""Several objectives in a sweep file: `metric` as a list, or W&B's `metrics`; what needs one order of trials is refused.

Single-metric files parse exactly as before; the editor's schema agrees with the parser on every case here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from sweeps import schema_violations_from_proposed_config

from sweepctl.errors import SpecError
from sweepctl.spec import MAX_OBJECTIVES, Goal, MetricSpec
from sweepctl.store.sweeps import SpecSummary
from sweepctl.sweepfile import parse_sweep, schema_path
from sweepctl.warm_trials import same_objective

ACC_AND_LATENCY = [{"name": "accuracy", "goal": "maximize"}, {"name": "latency_ms"}]


def sweep(**fields: Any) -> dict[str, Any]:
    """A Bayesian sweep on Optuna's TPE with two objectives, `fields` replacing or adding keys (None removes one)."""
    doc: dict[str, Any] = {
        "method": "bayes",
        "tpe": {"engine": "optuna"},
        "metric": ACC_AND_LATENCY,
        "function": "m:f",
        "parameters": {"lr": {"min": 0.001, "max": 0.1}},
    }
    doc.update(fields)
    return {k: v for k, v in doc.items() if v is not None}


def refused(doc: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        parse_sweep(doc)
    return caught.value.problems


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_path().read_text(encoding="utf-8")))


# JSON Schema cannot say "distinct names" (uniqueItems compares whole items): only the parser refuses these.
SCHEMA_CANNOT_SAY = ("is already",)
EXPECTED = (MetricSpec("accuracy", Goal.MAXIMIZE), MetricSpec("latency_ms", Goal.MINIMIZE))


@pytest.mark.parametrize(
    "doc",
    [
        sweep(),
        sweep(metric=None, metrics=ACC_AND_LATENCY),  # W&B's spelling
        sweep(method="random", tpe=None),
        sweep(method="grid", tpe=None, parameters={"lr": {"values": [0.01, 0.1]}}),
    ],
    ids=["metric list, bayes on optuna", "W&B metrics", "random", "grid"],
)
def test_several_objectives_parse_in_order_with_the_first_as_the_metric(doc: dict[str, Any], validator: Draft202012Validator) -> None:
    spec = parse_sweep(doc)
    assert spec.objectives == EXPECTED
    assert spec.metric == EXPECTED[0] and spec.other_objectives == EXPECTED[1:]
    assert spec.is_multi_objective
    assert [e.message for e in validator.iter_errors(doc)] == []


def test_one_metric_is_as_before_a_single_objective() -> None:
    spec = parse_sweep(sweep(metric={"name": "loss", "target": 0.1}, tpe=None))
    assert spec.objectives == (MetricSpec("loss", Goal.MINIMIZE, 0.1),)
    assert spec.other_objectives == () and not spec.is_multi_objective
    assert parse_sweep(sweep(method="random", metric=None, tpe=None)).objectives == ()


def test_wandb_impute_keys_of_each_objective_are_noted_with_their_path() -> None:
    spec = parse_sweep(sweep(metrics=[{"name": "a", "impute": "worst"}, {"name": "b"}], metric=None))
    assert [field for field, _ in spec.notes] == ["metrics[0].impute"]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"metric": [{"name": "a"}]}, "metric", "expected a list of 2 to 4 objectives, got 1; give one metric as a mapping"),
        ({"metric": []}, "metric", "got 0"),
        ({"metric": [{"name": f"m{i}"} for i in range(MAX_OBJECTIVES + 1)]}, "metric", f"at most {MAX_OBJECTIVES}), got 5"),
        ({"metric": [{"name": "a"}, {"name": "a", "goal": "maximize"}]}, "metric[1].name", "'a' is already metric[0]"),
        ({"metric": [{"name": "a"}, {"name": "b", "goal": "max"}]}, "metric[1].goal", "unknown goal 'max'"),
        ({"metric": [{"name": "a"}, "b"]}, "metric[1]", "expected a mapping with name, goal and target"),
        ({"metric": [{"name": "a"}, {"goal": "maximize"}]}, "metric[1].name", "required"),
        ({"metric": [{"name": "a", "target": 0.9}, {"name": "b"}]}, "metric[0].target", "this sweep has several objectives"),
        ({"metric": [{"name": "a", "colour": 1}, {"name": "b"}]}, "metric[0].colour", "unknown key 'colour'"),
        ({"metrics": ACC_AND_LATENCY}, "metrics", "not together with 'metric'"),
        ({"metric": None, "metrics": {"name": "a"}}, "metrics", "expected a list of 2 to 4 objectives"),
        ({"tpe": None}, "metric", "several objectives need tpe: {engine: optuna}"),
        ({"tpe": {"engine": "hyperopt"}}, "tpe.engine", "several objectives need tpe: {engine: optuna}"),
        ({"tpe": {"engine": "optuna", "local_search": 0.5}}, "tpe.local_search", "Pareto front"),
        ({"early_terminate": {"type": "hyperband", "min_iter": 1}}, "early_terminate", "compares trials by one metric"),
        ({"method": "random", "tpe": None, "early_terminate": {"type": "median"}}, "early_terminate", "one metric"),
        ({"cross_validation": {"folds": 3}}, "cross_validation", "averages one metric over the folds"),
    ],
)
def test_what_several_objectives_cannot_have_is_refused_naming_the_field(
    fields: dict[str, Any], field: str, message: str, validator: Draft202012Validator
) -> None:
    # Given a sweep with several objectives and one mistake
    doc = sweep(**fields)
    # Then the parser names the field and says what was expected, and the editor's schema flags it too
    problems = refused(doc)
    assert [f for f, _ in problems] == [field], problems
    assert message in problems[0][1]
    if not any(words in message for words in SCHEMA_CANNOT_SAY):
        assert list(validator.iter_errors(doc))


def test_wandb_metrics_with_method_custom_stay_a_wandb_launch_feature() -> None:
    # Given W&B's own multi-objective form, which W&B allows with method custom only
    doc = {"method": "custom", "program": "t.py", "metrics": ACC_AND_LATENCY, "parameters": {"lr": {"min": 0.0, "max": 1.0}}}
    assert schema_violations_from_proposed_config(doc) == []
    # Then it is refused as W&B Launch's, saying how sweepctl runs several objectives instead
    found = dict(refused(doc))
    assert "is a W&B Launch feature, which sweepctl does not run" in found["metrics"]
    assert "method tpe (engine optuna), random or grid" in found["metrics"]


def test_observers_show_the_first_objective_of_a_stored_file_that_no_longer_parses() -> None:
    # Given a stored sweep file with several objectives that this version cannot parse (an unknown key)
    raw = {**sweep(), "future_key": 1}
    # Then status and the exporter still name its first objective and goal
    summary = SpecSummary.unparsed(raw)
    assert (summary.metric, summary.goal) == ("accuracy", Goal.MAXIMIZE)
    assert SpecSummary.unparsed({**sweep(metric=None), "metrics": ACC_AND_LATENCY}).metric == "accuracy"
    assert SpecSummary.of(parse_sweep(sweep())).metric == "accuracy"


def test_a_sweep_warm_starts_only_from_one_with_the_same_objectives_in_the_same_order() -> None:
    spec = parse_sweep(sweep())
    assert same_objective(spec, parse_sweep(sweep(metric=None, metrics=ACC_AND_LATENCY)))
    assert not same_objective(spec, parse_sweep(sweep(metric=list(reversed(ACC_AND_LATENCY)))))  # a loss per objective, in order
    assert not same_objective(spec, parse_sweep(sweep(metric={"name": "accuracy", "goal": "maximize"}, tpe=None)))
    assert not same_objective(parse_sweep(sweep(method="random", metric=None, tpe=None)), spec)
