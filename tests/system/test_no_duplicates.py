"""No parameter set runs twice, even with a tiny discrete space and 8 workers; grid covers each point once."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from sweepctl.records import SweepState, TrialState
from sweepctl.store import Store
from tests.support.processes import Processes
from tests.system.helpers import submit, wait_until_done, write_sweep

pytestmark = pytest.mark.system


def params_of(store: Store, sweep_id: str) -> list[str]:
    return [json.dumps(t.params, sort_keys=True) for t in store.get_trials(sweep_id)]


@pytest.mark.parametrize("method", ["tpe", "random"])
def test_tiny_discrete_space_with_eight_workers_never_repeats_a_parameter_set(
    method: str, tmp_path: Path, procs: Processes, store: Store
) -> None:
    # Given 3 x 2 x 2 = 12 possible parameter sets, a run_cap of 30 and 8 workers
    sweep_id = submit(
        procs,
        write_sweep(
            tmp_path,
            f"""
            method: {method}
            metric: {{name: loss}}
            program: trial_program.py
            parameters:
              x: {{values: [0.0, 0.5, 1.0]}}
              sleep: {{values: [0.1, 0.2]}}
              mode: {{values: [ok, ok2]}}
            run_cap: 30
            parallelism: 8
            seed: 3
            """,
        ),
    )
    procs.start("controller")
    procs.start("worker", "--gpus", "none", "--concurrency", "8")

    # When the sweep runs
    wait_until_done(store, sweep_id, timeout=120)

    # Then it ran each of the 12 parameter sets exactly once and ended because the space was used up
    seen = params_of(store, sweep_id)
    assert len(seen) == 12 and max(Counter(seen).values()) == 1
    sweep = store.get_sweep(sweep_id)
    assert sweep.state is SweepState.FINISHED and sweep.reason == "search space exhausted"
    assert all(t.state is TrialState.COMPLETED for t in store.get_trials(sweep_id))


def test_grid_with_eight_workers_covers_each_point_exactly_once(tmp_path: Path, procs: Processes, store: Store) -> None:
    sweep_id = submit(
        procs,
        write_sweep(
            tmp_path,
            """
            method: grid
            metric: {name: loss}
            program: trial_program.py
            parameters:
              x: {distribution: int_uniform, min: 0, max: 4}
              sleep: {values: [0.05, 0.1, 0.15]}
            parallelism: 8
            """,
        ),
    )
    procs.start("controller")
    procs.start("worker", "--gpus", "none", "--concurrency", "8")
    wait_until_done(store, sweep_id, timeout=120)
    seen = params_of(store, sweep_id)
    expected = {json.dumps({"x": x, "sleep": s}, sort_keys=True) for x in range(5) for s in (0.05, 0.1, 0.15)}
    assert len(seen) == 15 and set(seen) == expected
