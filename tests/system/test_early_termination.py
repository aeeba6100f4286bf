"""Hyperband from a W&B early_terminate block stops losing trials; their processes are gone within a second.

Which trials a rule stops, given the curves, is shown exactly by the pure tests in
tests/unit/controller/test_early_stopping.py; here the whole loop runs for real.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sweepctl.records import SweepState, TrialState
from sweepctl.store import Store
from tests.support.processes import Processes, pids_in_group, wait_for
from tests.system.helpers import read_run_log, submit, wait_until_done, write_sweep

pytestmark = pytest.mark.system


def test_hyperband_stops_the_worst_trials_and_their_processes_die_within_a_second(
    tmp_path: Path, procs: Processes, store: Store
) -> None:
    # Given six trials with curves a + 1/step (a = 1..6) running at once under hyperband (min_iter 2, eta 3)
    run_log = tmp_path / "runs.jsonl"
    sweep_id = submit(
        procs,
        write_sweep(
            tmp_path,
            """
            method: grid
            metric: {name: loss, goal: minimize}
            program: curve_program.py
            command: ["${interpreter}", "${program}", "${args}"]
            parameters:
              a: {values: [1, 2, 3, 4, 5, 6]}
            early_terminate: {type: hyperband, min_iter: 2, eta: 3}
            parallelism: 6
            """,
        ),
    )
    procs.start("controller")
    procs.start("worker", "--gpus", "none", "--concurrency", "6", env={"RUN_LOG": str(run_log)})

    # When the sweep runs
    wait_until_done(store, sweep_id, timeout=90)

    # Then the best trial completed, some of the worst were stopped early with their last value,
    # and each stopped trial's process group was gone within a second of the decision
    assert store.get_sweep(sweep_id).state is SweepState.FINISHED
    trials = {t.params["a"]: t for t in store.get_trials(sweep_id)}
    assert trials[1].state is TrialState.COMPLETED
    stopped = [t for t in trials.values() if t.state is TrialState.STOPPED]
    assert stopped and all(t.params["a"] >= 3 for t in stopped), [(t.params["a"], t.state) for t in trials.values()]
    groups = {r["number"]: r["pgid"] for r in read_run_log(run_log)}
    for t in stopped:
        assert t.stop_requested is not None and t.error and t.error.startswith("stopped early")
        assert "loss" in t.last_metrics and t.last_step is not None and t.last_step < 30
        assert t.ended_at is not None and t.ended_at - t.stop_requested["at"] < 1.0
        assert not pids_in_group(groups[t.number])
    # The stopped trials are known to the sweep's counts as stopped, not failed
    counts = store.counts(sweep_id)
    assert counts[TrialState.STOPPED] == len(stopped) and counts[TrialState.FAILED] == 0
