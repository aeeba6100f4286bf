"""`sweepctl report` on a real sweep, opened in a real headless Chromium with no network.

A sweep of a committed program with learning curves, early termination and one failing trial runs on a real
controller and worker; its report must open offline with no console error, draw every plot, look like a page
(a non-blank screenshot), and carry the best trial's reproducibility record.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from sweepctl.records import TrialState
from sweepctl.store import Store
from tests.support.browser import open_page
from tests.support.processes import Processes
from tests.system.helpers import submit, wait_until_done, write_sweep

pytestmark = pytest.mark.system


def git(repo: Path, *args: str) -> str:
    author = ("-c", "user.name=t", "-c", "user.email=t@example.com")
    return subprocess.run(["git", "-C", str(repo), *author, *args], capture_output=True, text=True, check=True).stdout.strip()


def test_report_of_a_real_sweep_opens_offline_draws_every_plot_and_shows_the_best_trials_record(
    tmp_path: Path, procs: Processes, store: Store
) -> None:
    # Given a committed program whose trials report a curve, under hyperband, one of them failing
    repo = tmp_path / "project"
    repo.mkdir()
    sweep_file = write_sweep(
        repo,
        """
        name: report demo
        method: grid
        metric: {name: loss, goal: minimize}
        program: report_program.py
        command: ["${interpreter}", "${program}", "${args}"]
        parameters:
          a: {values: [1, 2, 0, 3, 4, 5, 6]}
        early_terminate: {type: hyperband, min_iter: 2, eta: 3}
        parallelism: 2
        max_failures: 3
        """,
    )
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "v1")
    commit = git(repo, "rev-parse", "HEAD")
    procs.start("worker", "--gpus", "none", "--concurrency", "2")
    procs.start("controller")
    sweep_id = submit(procs, sweep_file)
    wait_until_done(store, sweep_id, timeout=120)
    trials = {t.params["a"]: t for t in store.get_trials(sweep_id)}
    assert trials[0].state is TrialState.FAILED and trials[1].state is TrialState.COMPLETED
    assert any(t.state is TrialState.STOPPED for t in trials.values()), "hyperband stopped no trial: the curves section would show none"

    # When its report is written
    out = tmp_path / "report.html"
    procs.run("report", sweep_id, "-o", str(out), check=True, timeout=120)

    # Then it opens in headless Chromium with every network request blocked: no request, no error, every plot drawn
    check = open_page(out.as_uri(), tmp_path / "report.png")
    assert check.problems() == []
    assert check.plots >= 7  # history, parallel coordinates, a slice, curves, timeline, failures by reason and by host
    assert check.colours > 100
    # And it carries the best trial's reproducibility record: argv, seed and the code commit (clean)
    best = trials[1]
    for expected in (shlex.join(best.argv), str(best.seed), commit, "clean", "Best trial: " + str(best.number)):
        assert expected in check.text, expected
    page = out.read_text()
    assert '"name":"stopped early"' in page  # the curves section marks the early-stopped trials
