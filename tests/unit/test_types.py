"""The house rule 'typed code, mypy clean' as a test: a type error in the code fails the build."""

from __future__ import annotations

import subprocess
import sys

from tests.support.processes import REPO


def test_mypy_is_clean_on_every_package() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "sweepctl", "controller", "workers", "metrics"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
