"""benchmarks/parallel_quality.py's A/A check (`--a-a`): full history judged against itself on the other half of its seeds.

Pure: scores are made up, nothing is simulated.
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.parallel_quality import Scores, a_a_lines

FULL = "sweepctl-optuna-full"


def args(seeds: int) -> argparse.Namespace:
    return argparse.Namespace(seeds=seeds, first_seed=0, engines=[FULL], problems=["branin"], budgets=[1000], workers=[1])


def scores(per_seed: list[float]) -> Scores:
    return Scores(baseline={}, best={}, score={("branin", FULL, 1, 1000): np.array(per_seed)}, ms_per_trial={})


def verdicts(lines: list[str]) -> list[str]:
    return [line.rsplit("|", 2)[-2].strip() for line in lines if line.startswith(f"| {FULL} (seeds 1st half)")]


def test_halves_that_score_alike_are_judged_level() -> None:
    same = [0.9, 0.95, 0.97, 0.99]
    lines = a_a_lines(args(8), scores(same + same[::-1]))
    assert verdicts(lines) == ["level", "level"]  # the cell and the pooled row
    assert "| 1.000 [" in lines[-1]


def test_halves_that_differ_are_called_out_and_the_rest_of_the_seeds_is_left_out() -> None:
    # Given a first half that closes half the gap, a second that closes all of it, and a 9th seed beyond both
    lines = a_a_lines(args(8), scores([0.5] * 4 + [1.0] * 4 + [0.0]))
    assert verdicts(lines) == ["WORSE", "WORSE"]
    assert "| 0.500 [0.50–0.50] |" in lines[-1]
