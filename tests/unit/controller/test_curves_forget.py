"""A retried trial's learning curve starts again: its new attempt's points are read from the start of a new history."""

from __future__ import annotations

from controller.curves import Curves
from sweepctl.records import MetricPoint


def points(*values: tuple[int, float]) -> list[MetricPoint]:
    return [MetricPoint(time=float(step), step=step, values={"loss": value}) for step, value in values]


def test_a_forgotten_curve_takes_its_new_attempts_points_from_step_zero() -> None:
    # Given a trial whose first attempt reported steps 0..2 and passed band 1
    curves = Curves("loss")
    curves.add(2, points((0, 3.0), (1, 2.0), (2, 1.5)))
    curves.judged[2] = frozenset({1})
    curves.add(5, points((0, 9.0)))
    # When it is retried / Then its curve, offset and judged bands are gone; other trials keep theirs
    curves.forget(2)
    assert 2 not in curves.points and 2 not in curves.offsets and 2 not in curves.judged
    assert curves.points[5] == [(0, 9.0)] and curves.offsets[5] == 1
    # And its new attempt's points, from step 0 of a new history, make its curve (not dropped as going backwards)
    curves.add(2, points((0, 2.5), (1, 0.5)))
    assert curves.points[2] == [(0, 2.5), (1, 0.5)] and curves.offsets[2] == 2
