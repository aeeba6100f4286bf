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
    # Given six trials with curves a + 1/step (a = 1..6) running at once under hyperband (min_iter 2, eta 3),
    # on six worker slots that are all up before the sweep starts
    run_log = tmp_path / "runs.jsonl"
    procs.start("worker", "--gpus", "none", "--concurrency", "6", env={"RUN_LOG": str(run_log)})
    wait_for(lambda: len(store.workers()) >= 6, 60, "six worker slots")
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

    # When the sweep runs
    wait_until_done(store, sweep_id, timeout=90)

    # Then the best trial completed and the worst was stopped early; every stop is what the rule
    # says for the curves (which peers had reached a band when it was judged is timing, so the
    # exact set is shown by the pure tests); each stopped trial's process group was gone within
    # a second of the decision and it kept its last value
    assert store.get_sweep(sweep_id).state is SweepState.FINISHED
    trials = {t.params["a"]: t for t in store.get_trials(sweep_id)}
    assert trials[1].state is TrialState.COMPLETED
    assert trials[6].state is TrialState.STOPPED
    stopped = [t for t in trials.values() if t.state is TrialState.STOPPED]
    for t in stopped:
        decision = t.stop_requested
        assert decision is not None
        band, a = int(decision["band"]), t.params["a"]
        assert decision["value"] == pytest.approx(a + 1 / band)  # its curve at the band
        peers_better = [b for b in range(1, a) if decision["threshold"] == pytest.approx(b + 1 / band)]
        assert peers_better, f"the cut {decision['threshold']} at step {band} is a better trial's value"
    groups = {r["number"]: r["pgid"] for r in read_run_log(run_log)}
    for t in stopped:
        assert t.stop_requested is not None and t.error and t.error.startswith("stopped early")
        assert "loss" in t.last_metrics and t.last_step is not None and t.last_step < 30
        assert t.ended_at is not None and t.ended_at - t.stop_requested["at"] < 1.0
        assert not pids_in_group(groups[t.number])
    # The stopped trials are known to the sweep's counts as stopped, not failed
    counts = store.counts(sweep_id)
    assert counts[TrialState.STOPPED] == len(stopped) and counts[TrialState.FAILED] == 0
