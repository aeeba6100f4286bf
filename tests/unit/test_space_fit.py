"""Whether an old trial's values lie inside an edited space, edge by edge (pure): ranges narrowed, log ranges,
integers, q grids, categorical and constant values, fixed parameters, parameters added and removed."""

from __future__ import annotations

import math
from typing import Any

import pytest

from sweepctl.space import Distribution as D
from sweepctl.space import Parameter, SearchSpace
from sweepctl.space_fit import Misfit, Outside, number_in_range, same_value, space_misfit, value_misfit


def p(distribution: D, **fields: Any) -> Parameter:
    return Parameter(("x",), distribution, **fields)


NARROWED = p(D.UNIFORM, min=0.0, max=0.5)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (0.0, None),
        (0.5, None),  # the new max itself
        (0.5 + 1e-12, None),  # float noise from JSON: still the max
        (0.25, None),
        (0, None),  # ints are numbers
        (0.5001, Misfit.OUT_OF_RANGE),
        (-0.1, Misfit.OUT_OF_RANGE),
        ("0.3", Misfit.NOT_A_NUMBER),
        (True, Misfit.NOT_A_NUMBER),  # a bool is not a number here
        (math.nan, Misfit.NOT_A_NUMBER),
        (math.inf, Misfit.NOT_A_NUMBER),
        (None, Misfit.NOT_A_NUMBER),
    ],
)
def test_a_narrowed_uniform_range_keeps_exactly_the_values_within_it(value: Any, why: Misfit | None) -> None:
    assert value_misfit(NARROWED, value) is why


@pytest.mark.parametrize(
    ("param", "value", "why"),
    [
        # log_uniform_values: the bounds are values; zero and negatives are never in a log space
        (p(D.LOG_UNIFORM_VALUES, min=1e-4, max=1e-2), 1e-3, None),
        (p(D.LOG_UNIFORM_VALUES, min=1e-4, max=1e-2), 1e-2, None),
        (p(D.LOG_UNIFORM_VALUES, min=1e-4, max=1e-2), 0.05, Misfit.OUT_OF_RANGE),
        (p(D.LOG_UNIFORM_VALUES, min=1e-4, max=1e-2), 0, Misfit.NOT_POSITIVE),
        # log_uniform (W&B legacy): the bounds are natural-log exponents, the values exp of them
        (p(D.LOG_UNIFORM, min=math.log(1e-4), max=math.log(1e-2)), 1e-3, None),
        (p(D.LOG_UNIFORM, min=math.log(1e-4), max=math.log(1e-2)), math.log(1e-3), Misfit.NOT_POSITIVE),
        (p(D.LOG_UNIFORM, min=math.log(1e-4), max=math.log(1e-2)), 0.5, Misfit.OUT_OF_RANGE),
        # inv_log_uniform: values in [exp(-max), exp(-min)]
        (p(D.INV_LOG_UNIFORM, min=1.0, max=3.0), math.exp(-2.0), None),
        (p(D.INV_LOG_UNIFORM, min=1.0, max=3.0), 0.5, Misfit.OUT_OF_RANGE),
        # int_uniform: whole numbers within [min, max] (3.0 through JSON is still 3)
        (p(D.INT_UNIFORM, min=1, max=10), 3, None),
        (p(D.INT_UNIFORM, min=1, max=10), 3.0, None),
        (p(D.INT_UNIFORM, min=1, max=10), 3.5, Misfit.NOT_AN_INTEGER),
        (p(D.INT_UNIFORM, min=1, max=10), 11, Misfit.OUT_OF_RANGE),
        # q_uniform: multiples of q, float noise aside, within the range ending on a multiple
        (p(D.Q_UNIFORM, min=0.0, max=1.0, q=0.1), 0.3, None),
        (p(D.Q_UNIFORM, min=0.0, max=1.0, q=0.1), 0.30000000000000004, None),
        (p(D.Q_UNIFORM, min=0.0, max=1.0, q=0.1), 0.35, Misfit.NOT_A_MULTIPLE),
        (p(D.Q_UNIFORM, min=0.0, max=1.0, q=0.25), 1.25, Misfit.OUT_OF_RANGE),
        (p(D.Q_LOG_UNIFORM_VALUES, min=1.0, max=100.0, q=5.0), 15, None),
        (p(D.Q_LOG_UNIFORM_VALUES, min=1.0, max=100.0, q=5.0), 12, Misfit.NOT_A_MULTIPLE),
        # the normal family: any finite number (positive for log_normal), multiples of q for q_normal
        (p(D.NORMAL, mu=0.0, sigma=1.0), -40.0, None),
        (p(D.LOG_NORMAL, mu=0.0, sigma=1.0), -1.0, Misfit.NOT_POSITIVE),
        (p(D.Q_NORMAL, mu=0.0, sigma=1.0, q=0.5), 1.5, None),
        (p(D.Q_NORMAL, mu=0.0, sigma=1.0, q=0.5), 1.2, Misfit.NOT_A_MULTIPLE),
        # beta: within [0, 1]
        (p(D.BETA, a=2.0, b=2.0), 0.7, None),
        (p(D.BETA, a=2.0, b=2.0), 1.2, Misfit.OUT_OF_RANGE),
        (p(D.Q_BETA, a=2.0, b=2.0, q=0.1), 0.25, Misfit.NOT_A_MULTIPLE),
    ],
)
def test_log_ranges_integers_and_q_grids_hold_the_values_their_distribution_gives(param: Parameter, value: Any, why: Misfit | None) -> None:
    assert value_misfit(param, value) is why


@pytest.mark.parametrize(
    ("param", "value", "why"),
    [
        # a parameter fixed by narrowing: min == max, one categorical value, sigma 0 (its mu), a constant
        (p(D.UNIFORM, min=0.5, max=0.5), 0.5, None),
        (p(D.UNIFORM, min=0.5, max=0.5), 0.4, Misfit.OUT_OF_RANGE),
        (p(D.CATEGORICAL, values=("adam",)), "adam", None),
        (p(D.CATEGORICAL, values=("adam",)), "sgd", Misfit.NOT_ITS_VALUE),
        (p(D.NORMAL, mu=0.3, sigma=0.0), 0.3, None),
        (p(D.NORMAL, mu=0.3, sigma=0.0), 0.31, Misfit.NOT_ITS_VALUE),
        (p(D.LOG_NORMAL, mu=0.0, sigma=0.0), 1.0, None),  # exp(mu)
        (p(D.CONSTANT, value=10), 10, None),
        (p(D.CONSTANT, value=10), 10.0, None),  # the same number through JSON
        (p(D.CONSTANT, value=10), 11, Misfit.NOT_ITS_VALUE),
        (p(D.CONSTANT, value={"layers": [64, 64]}), {"layers": [64, 64]}, None),
        (p(D.CONSTANT, value={"layers": [64, 64]}), {"layers": [64]}, Misfit.NOT_ITS_VALUE),
        # categorical values: narrowed lists, numbers equal across int/float, bools never equal to numbers
        (p(D.CATEGORICAL, values=("adam", "sgd")), "rmsprop", Misfit.NOT_ITS_VALUE),
        (p(D.CATEGORICAL, values=(1, 2)), 2.0, None),
        (p(D.CATEGORICAL, values=(1, 2)), True, Misfit.NOT_ITS_VALUE),
        (p(D.CATEGORICAL, values=({"a": 1, "b": 2},)), {"b": 2, "a": 1}, None),
        (p(D.CATEGORICAL, values=([1, 2], [3])), [3], None),
    ],
)
def test_fixed_categorical_and_constant_parameters_hold_exactly_their_values(param: Parameter, value: Any, why: Misfit | None) -> None:
    assert value_misfit(param, value) is why


def test_same_value_is_json_equality_with_numbers_compared_as_numbers() -> None:
    assert same_value(1, 1.0) and same_value([1, {"a": 2}], [1, {"a": 2}])
    assert not same_value(True, 1) and not same_value("1", 1) and not same_value(None, 0)


def test_number_in_range_clamps_float_noise_and_refuses_what_is_outside() -> None:
    assert number_in_range(NARROWED, 0.5 + 1e-12) == 0.5
    assert number_in_range(NARROWED, 0.6) is None and number_in_range(NARROWED, "x") is None


SPACE = SearchSpace(
    (
        Parameter(("lr",), D.UNIFORM, min=0.0, max=0.5),
        Parameter(("opt", "name"), D.CATEGORICAL, values=("adam", "sgd")),
        Parameter(("model.depth",), D.INT_UNIFORM, min=1, max=4),  # a W&B dotted name: one key
        Parameter(("epochs",), D.CONSTANT, value=3),
    )
)
INSIDE: dict[str, Any] = {"lr": 0.1, "opt": {"name": "sgd"}, "model.depth": 2, "epochs": 3}


def test_a_parameter_set_with_every_value_inside_is_inside() -> None:
    assert space_misfit(SPACE, INSIDE) is None


@pytest.mark.parametrize(
    ("change", "outside"),
    [
        # a value outside its parameter: named by the parameter's dotted path
        (lambda s: s.update(lr=0.7), Outside("lr", Misfit.OUT_OF_RANGE)),
        (lambda s: s["opt"].update(name="rmsprop"), Outside("opt.name", Misfit.NOT_ITS_VALUE)),
        (lambda s: s.update({"model.depth": 5}), Outside("model.depth", Misfit.OUT_OF_RANGE)),
        # a parameter added since: the old trial has no value for it (a new constant too: it ran without it)
        (lambda s: s.pop("epochs"), Outside("epochs", Misfit.NO_VALUE)),
        (lambda s: s["opt"].pop("name"), Outside("opt.name", Misfit.NO_VALUE)),
        (lambda s: s.update(opt="adam"), Outside("opt.name", Misfit.NO_VALUE)),  # a leaf then, a group now
        # a parameter removed since: the trial ran with a value the new sweep never gives
        (lambda s: s.update(dropout=0.2), Outside("dropout", Misfit.NOT_IN_SPACE)),
        (lambda s: s["opt"].update(momentum=0.9), Outside("opt.momentum", Misfit.NOT_IN_SPACE)),
        (lambda s: s.update(model={"depth": 2}), Outside("model", Misfit.NOT_IN_SPACE)),  # not the dotted name
    ],
)
def test_one_value_outside_or_a_parameter_added_or_removed_puts_the_set_outside(change: Any, outside: Outside) -> None:
    params = {"lr": 0.1, "opt": {"name": "sgd"}, "model.depth": 2, "epochs": 3}
    change(params)
    assert space_misfit(SPACE, params) == outside


def test_the_first_misfit_in_file_order_is_the_one_named() -> None:
    params = {**INSIDE, "lr": 0.9, "opt": {"name": "rmsprop"}, "extra": 1}
    assert space_misfit(SPACE, params) == Outside("lr", Misfit.OUT_OF_RANGE)
    assert str(Outside("lr", Misfit.OUT_OF_RANGE)) == "lr: outside its range"
