"""Every trial records what it ran: the program's git commit and dirty flag, and hashes of its data."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from sweepctl.store import Store
from tests.support.processes import Processes
from tests.system.helpers import submit, wait_until_done, write_sweep

pytestmark = pytest.mark.system


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def test_trials_record_code_version_and_data_fingerprints(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a program in a git repository, committed, and declared data files
    repo = tmp_path / "project"
    repo.mkdir()
    sweep_file = write_sweep(
        repo,
        """
        method: random
        metric: {name: loss}
        program: trial_program.py
        parameters:
          x: {min: 0.0, max: 1.0}
        data: [data/train.csv, data]
        run_cap: 2
        seed: 3
        """,
    )
    (repo / "data").mkdir()
    (repo / "data" / "train.csv").write_text("a,b\n1,2\n")
    git(repo, "init", "-q")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "v1")
    head = git(repo, "rev-parse", "HEAD")
    procs.start("controller")
    procs.start("worker", "--gpus", "none")

    # When a sweep runs on the clean tree, and another after a tracked file changed
    clean_id = submit(procs, sweep_file)
    wait_until_done(store, clean_id, timeout=60)
    with (repo / "trial_program.py").open("a") as f:
        f.write("\n# local edit\n")
    dirty_id = submit(procs, sweep_file)
    wait_until_done(store, dirty_id, timeout=60)

    # Then each trial names the commit, whether the tree was dirty, and the data's content hashes
    expected_file = "sha256:" + hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    for sweep_id, dirty in ((clean_id, False), (dirty_id, True)):
        for t in store.get_trials(sweep_id):
            assert t.code is not None
            assert (t.code.repo, t.code.commit, t.code.dirty) == (str(repo), head, dirty)
            assert t.data["data/train.csv"] == expected_file
            assert t.data["data"].startswith("sha256:") and t.data["data"] != expected_file
            assert t.seed > 0 and t.argv[2] == "trial_program.py"
    # the same seed gives the same parameters and trial seeds in both sweeps: the run can be replayed
    assert [(t.params, t.seed) for t in store.get_trials(clean_id)] == [(t.params, t.seed) for t in store.get_trials(dirty_id)]
