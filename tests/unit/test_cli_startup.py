"""Every `sweepctl` command starts by importing the whole CLI: what only some commands need is imported by them.

Celery (the controller and the workers), numpy and Plotly (importance, reports, comparisons, the live view)
and scikit-learn each cost a short command like `status` or `pause` tenths of a second of CPU; the test
suite runs hundreds of such commands, a user's scripts as many.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.processes import REPO, child_env

LOADED_BY_THEIR_COMMANDS = ("celery", "kombu", "numpy", "sklearn", "scipy", "hyperopt", "optuna", "pandas", "pyarrow", "wandb")


def test_importing_the_cli_loads_no_library_that_only_some_commands_use() -> None:
    # Given a fresh interpreter / When it imports the CLI, as every `sweepctl ...` does before it parses anything
    probe = f"import json, sys; import sweepctl.cli; print(json.dumps([m for m in {list(LOADED_BY_THEIR_COMMANDS)!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=60, check=True)
    # Then none of the heavy libraries is loaded yet
    assert json.loads(done.stdout) == []
