"""Helpers shared by the system tests: sweep files in tmp dirs and waiting for sweeps."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

from sweepctl.store import Store
from tests.support.processes import Processes, wait_for

PROGRAMS = Path(__file__).resolve().parent / "programs"


def write_sweep(folder: Path, text: str, name: str = "sweep.yaml") -> Path:
    """A sweep file in `folder`, next to copies of the test programs it may name."""
    for program in PROGRAMS.glob("*.py"):
        shutil.copy(program, folder / program.name)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def submit(procs: Processes, path: Path) -> str:
    done = procs.run("submit", str(path), check=True)
    return done.stdout.strip()


def wait_until_done(store: Store, sweep_id: str, timeout: float) -> None:
    wait_for(
        lambda: store.sweep_state(sweep_id).is_terminal and not store.active_numbers(sweep_id),
        timeout,
        f"sweep {sweep_id} to finish",
        interval=0.2,
    )


def read_run_log(path: Path, event: str = "start") -> list[dict]:
    """The events trial_program.py logged: 'start' (one per run) or 'end' (one per completed run)."""
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if r["event"] == event]
