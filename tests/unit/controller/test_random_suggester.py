"""Random search draws from each distribution as the sweep file describes it."""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np
import pytest

from controller.suggesters.random import RandomSuggester
from controller.suggesters.sampling import (
    received_value,
    sample_parameter,
    value_range,
)
from sweepctl.space import Distribution, Parameter, SearchSpace

D = Distribution
DRAWS = 4000


def draws(p: Parameter, n: int = DRAWS) -> list[Any]:
    """`n` suggestions for `p` from a random suggester, one per trial number."""
    suggester = RandomSuggester(SearchSpace((p,)), 0)
    return [suggester.suggest(number)[p.name] for number in range(1, n + 1)]  # type: ignore[index]


def test_categorical_probabilities_are_respected() -> None:
    # Given a categorical with probabilities 0.7 / 0.2 / 0.1
    p = Parameter(("opt",), D.CATEGORICAL, values=("adam", "sgd", "rmsprop"), probabilities=(0.7, 0.2, 0.1))
    # When 4000 trials are suggested
    values = draws(p)
    # Then each value's share is within 0.03 of its probability (over 3 standard errors)
    for value, probability in zip(p.values, p.probabilities or (), strict=True):
        assert values.count(value) / DRAWS == pytest.approx(probability, abs=0.03)


def test_categorical_without_probabilities_is_uniform() -> None:
    p = Parameter(("opt",), D.CATEGORICAL, values=([1], {"a": None}, False, 0))
    values = draws(p)
    for value in p.values:
        # == alone would count False and 0 together
        share = sum(1 for v in values if v == value and type(v) is type(value)) / DRAWS
        assert share == pytest.approx(0.25, abs=0.03)


def test_int_uniform_bounds_are_inclusive_and_even() -> None:
    values = draws(Parameter(("k",), D.INT_UNIFORM, min=1, max=4))
    assert all(type(v) is int for v in values)
    for k in (1, 2, 3, 4):
        assert values.count(k) / DRAWS == pytest.approx(0.25, abs=0.03)


def test_log_uniform_bounds_are_exponents_and_values_variant_takes_values() -> None:
    # Both describe 1e-4 .. 1e-1: the median is the geometric mean, 10**-2.5
    exponents = draws(Parameter(("lr",), D.LOG_UNIFORM, min=math.log(1e-4), max=math.log(1e-1)))
    values = draws(Parameter(("lr",), D.LOG_UNIFORM_VALUES, min=1e-4, max=1e-1))
    for sample in (exponents, values):
        assert min(sample) >= 1e-4 and max(sample) <= 1e-1
        assert math.log10(statistics.median(sample)) == pytest.approx(-2.5, abs=0.1)


def test_normal_and_log_normal_use_mu_and_sigma() -> None:
    normal = draws(Parameter(("n",), D.NORMAL, mu=3.0, sigma=2.0))
    assert statistics.fmean(normal) == pytest.approx(3.0, abs=0.15)
    assert statistics.stdev(normal) == pytest.approx(2.0, abs=0.15)
    log_normal = draws(Parameter(("ln",), D.LOG_NORMAL, mu=1.0, sigma=0.5))
    logs = [math.log(v) for v in log_normal]
    assert statistics.fmean(logs) == pytest.approx(1.0, abs=0.05)
    assert statistics.stdev(logs) == pytest.approx(0.5, abs=0.05)


def test_quantized_values_are_clean_multiples_within_bounds() -> None:
    # Given bounds that are not multiples of q
    p = Parameter(("d",), D.Q_UNIFORM, min=0.05, max=0.95, q=0.1)
    values = draws(p, 1000)
    # Then values are exactly the printed multiples 0.1 .. 0.9, all of them reached
    assert set(values) == {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}


def test_received_value_clamps_rounding_and_float_noise_at_the_edges() -> None:
    q = Parameter(("d",), D.Q_UNIFORM, min=0.05, max=0.95, q=0.1)
    assert value_range(q) == (0.1, 0.9)
    assert received_value(q, 0.051) == 0.1  # rounds to 0.1, not 0.0
    assert received_value(q, 0.949) == 0.9
    log = Parameter(("lr",), D.LOG_UNIFORM_VALUES, min=1e-3, max=1e-1)
    assert received_value(log, math.exp(math.log(1e-1)) * (1 + 1e-15)) <= 1e-1
    ints = Parameter(("k",), D.INT_UNIFORM, min=1, max=3)
    assert received_value(ints, 0.5) == 1 and received_value(ints, 3.5) == 3


def test_unbounded_distributions_have_no_range() -> None:
    assert value_range(Parameter(("n",), D.NORMAL)) is None
    assert value_range(Parameter(("c",), D.CATEGORICAL, values=(1, 2))) is None


def test_sample_parameter_is_a_pure_function_of_the_generator() -> None:
    p = Parameter(("u",), D.UNIFORM, min=0.0, max=1.0)
    a = sample_parameter(p, np.random.default_rng([1, 2]))
    b = sample_parameter(p, np.random.default_rng([1, 2]))
    assert a == b


def test_observations_do_not_change_random_suggestions() -> None:
    from controller.suggester import Observation

    space = SearchSpace((Parameter(("u",), D.UNIFORM, min=0.0, max=1.0),))
    blind, informed = RandomSuggester(space, 9), RandomSuggester(space, 9)
    informed.observe([Observation(1, {"u": 0.5}, 0.0)])
    assert blind.suggest(2) == informed.suggest(2)
