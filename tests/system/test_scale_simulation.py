"""The simulated workers of benchmarks/scale.py speak the real protocol: every trial runs and finishes exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from sweepctl.lifecycle import submit_sweep
from sweepctl.records import TrialState
from sweepctl.store import Store
from tests.support.processes import REPO, Processes, wait_for
from tests.system.helpers import wait_until_done

pytestmark = pytest.mark.system

WORKERS = 20
TRIALS = 40
POINTS = 2


def test_twenty_simulated_workers_finish_each_trial_once_through_the_real_scripts(
    tmp_path: Path, store: Store, procs: Processes
) -> None:
    # Given a random sweep of 40 one-second trials and 20 simulated workers in one process
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(
        "method: random\nmetric: {name: loss, goal: minimize}\nprogram: train.py\n"
        f"parameters:\n  x: {{min: 0.0, max: 1.0}}\nrun_cap: {TRIALS}\n"
    )
    report = tmp_path / "sim.json"
    argv = [sys.executable, "-m", "benchmarks._simulated_workers", "--workers", str(WORKERS), "--duration", "1",
            "--points", str(POINTS), "--tag", "t", "--output", str(report)]
    sim = subprocess.Popen(argv, env=procs.env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    procs.started.append(sim)  # type: ignore[arg-type]  # killed with its group by the fixture
    wait_for(lambda: report.with_suffix(".ready").exists(), 60, "the simulated workers' consumers")

    # When the sweep is submitted and the real controller serves it
    sweep, _ = submit_sweep(store, sweep_file)
    procs.start("controller", log=tmp_path / "controller.log")
    wait_until_done(store, sweep.id, timeout=90)
    os.killpg(sim.pid, signal.SIGTERM)
    sim.wait(30)

    # Then every trial completed once, with the points its simulated process reported, and each ran on one worker once
    trials = store.get_trials(sweep.id)
    assert len(trials) == TRIALS
    assert {t.state for t in trials} == {TrialState.COMPLETED}
    assert all(t.attempt == 1 and t.objective is not None for t in trials)
    finished = store.finished_numbers(sweep.id)
    assert sorted(finished) == list(range(1, TRIALS + 1))
    assert all(len(store.metric_history(sweep.id, t.number)) == POINTS + 1 for t in trials)
    done = json.loads(report.read_text())
    spans = [span for worker in done["workers"].values() for span in worker["spans"]]
    assert len(spans) == TRIALS and Counter(state for _, _, state in spans) == {"completed": TRIALS}
    assert all(end - start >= 1.0 for start, end, _ in spans)
    calls = {name: sum(by_second.values()) for name, by_second in done["calls"].items()}
    assert calls["claim_trial"] == calls["finish_trial"] == TRIALS
    assert {t.worker for t in trials} <= set(done["workers"])
