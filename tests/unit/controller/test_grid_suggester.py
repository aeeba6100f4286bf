"""Grid search visits every point once, in file order, then reports exhaustion."""

from __future__ import annotations

import itertools

import pytest

from controller.suggesters.grid import GridSuggester
from sweepctl.errors import SpecError
from sweepctl.space import Distribution, Parameter, SearchSpace

D = Distribution

SPACE = SearchSpace(
    (
        Parameter(("model", "kind"), D.CATEGORICAL, values=("mlp", {"conv": [3, 3]}, None)),
        Parameter(("epochs",), D.CONSTANT, value=10),
        Parameter(("depth",), D.INT_UNIFORM, min=2, max=3),
        Parameter(("dropout",), D.Q_UNIFORM, min=0.0, max=0.2, q=0.1),
    )
)


def test_grid_walks_the_product_with_the_last_parameter_fastest() -> None:
    # Given a 3 x 1 x 2 x 3 grid
    grid = GridSuggester(SPACE, None)
    assert grid.size == 18
    # When trials 1..18 are suggested
    walked = [grid.suggest(number) for number in range(1, 19)]
    # Then they are the cartesian product in file order, each point once
    expected = [
        dict(zip(SPACE.names, point, strict=True))
        for point in itertools.product(*(p.grid_values() or () for p in SPACE.parameters))
    ]
    assert walked == expected
    assert walked[:2] == [
        {"model.kind": "mlp", "epochs": 10, "depth": 2, "dropout": 0},
        {"model.kind": "mlp", "epochs": 10, "depth": 2, "dropout": 0.1},
    ]


def test_grid_is_exhausted_after_its_last_point() -> None:
    grid = GridSuggester(SPACE, 0)
    assert grid.suggest(18) is not None
    assert grid.suggest(19) is None
    assert grid.suggest(1000) is None


def test_grid_ignores_seed_and_order_of_calls() -> None:
    # Trial numbers map to points directly: a restarted controller resumes where it was
    assert GridSuggester(SPACE, 1).suggest(7) == GridSuggester(SPACE, 2).suggest(7)


def test_a_categorical_without_values_makes_an_empty_grid() -> None:
    grid = GridSuggester(SearchSpace((Parameter(("c",), D.CATEGORICAL, values=()),)), 0)
    assert grid.size == 0
    assert grid.suggest(1) is None


def test_grid_rejects_continuous_parameters_naming_them() -> None:
    space = SearchSpace(SPACE.parameters + (Parameter(("opt", "lr"), D.LOG_UNIFORM_VALUES, min=1e-4, max=1e-1),))
    with pytest.raises(SpecError, match=r"parameters\.opt\.lr: .*log_uniform_values"):
        GridSuggester(space, 0)
