"""The README's run command, verbatim, on a fresh copy of the project and a fresh virtual environment."""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
from pathlib import Path

import pytest

from controller.suggesters.random import RandomSuggester
from sweepctl.sweepfile import load_sweep_file
from tests.support.processes import REPO

pytestmark = pytest.mark.system


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def project_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    )
    return [f for f in listed.stdout.splitlines() if (REPO / f).is_file()]


def random_search_median_best(budget: int, seeds: int = 31) -> float:
    """Median over seeds of the best quickstart objective random search finds in `budget` trials."""
    import sys

    sys.path.insert(0, str(REPO / "examples"))
    try:
        from objectives import synthetic_training
    finally:
        sys.path.pop(0)
    spec = load_sweep_file(REPO / "examples" / "quickstart.yaml")
    bests = []
    for seed in range(seeds):
        suggester = RandomSuggester(spec.space, seed)
        values = [synthetic_training(spec.space.assemble(suggester.suggest(n))) for n in range(1, budget + 1)]
        bests.append(min(values))
    return statistics.median(bests)


@pytest.mark.timeout(900)
def test_readme_run_command_on_a_fresh_venv_finishes_a_tpe_sweep_that_beats_random_search(tmp_path: Path) -> None:
    # Given a fresh copy of the project (no .venv, no .sweepctl) and the README's run command
    (command,) = [c for c in readme_commands() if "sweepctl run" in c]
    copy = tmp_path / "project"
    for name in project_files():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, copy / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWEEPCTL_", "VIRTUAL_ENV", "PYTHONPATH"))}

    # When it runs, verbatim, in a shell as a user would
    done = subprocess.run(["bash", "-c", command], cwd=copy, env=env, capture_output=True, text=True, timeout=900, check=False)

    # Then it installed, ran the TPE sweep to its run_cap and printed the best trial
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "finished: run_cap=80 reached" in done.stderr
    fields = dict(line.split(None, 1) for line in done.stdout.splitlines() if line.strip())
    best = float(fields["objective"])
    # and TPE's best beats the median best of random search on the same 80-trial budget
    assert best < random_search_median_best(80)
    # and the results stay readable afterwards, with no server left running by hand
    trials = subprocess.run(
        [".venv/bin/sweepctl", "trials", fields["sweep_id"], "--format", "json"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert trials.returncode == 0, trials.stderr
    assert trials.stdout.count('"state": "completed"') == 80
