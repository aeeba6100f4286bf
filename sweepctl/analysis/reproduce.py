"""Reproducing a trial (pure): how the code and data differ from the record, and the re-run beside the recorded run.

`sweepctl reproduce` reads the current provenance with the worker's own functions
and runs the trial again; these functions only compare what it found.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from sweepctl.records import CodeVersion, Trial, TrialState

HASHED_PREFIX = "sha256:"


class Drift(str, Enum):
    """What changed between the recorded run and now."""

    COMMIT = "commit"  # the code's git commit is another one (or there is no commit on one side)
    DIRTY = "dirty"  # uncommitted changes, then or now: the commit does not name the code
    DATA = "data"  # a data path's fingerprint changed, is missing, or cannot be compared


@dataclass(frozen=True)
class Difference:
    """One way the code or data of a re-run differs from the trial's record; `message` says it in words."""

    drift: Drift
    message: str
    path: str | None = None  # the data path, for DATA


@dataclass(frozen=True)
class RerunResult:
    """How a re-run ended, judged as a worker judges a trial."""

    state: TrialState
    objective: float | None
    exit_code: int | None
    error: str | None
    last_metrics: dict[str, float] = field(default_factory=dict)
    last_step: int | None = None

    @property
    def completed(self) -> bool:
        return self.state is TrialState.COMPLETED


def code_differences(recorded: CodeVersion | None, current: CodeVersion | None) -> tuple[Difference, ...]:
    """How the code's git commit and dirty flag now differ from those recorded."""
    if recorded is None and current is None:
        return ()
    if recorded is None:
        assert current is not None
        return (Difference(Drift.COMMIT, f"the trial recorded no git commit; the code is now at {current.commit} in {current.repo}"),)
    if current is None:
        where = f"the trial ran commit {recorded.commit} of {recorded.repo}"
        return (Difference(Drift.COMMIT, f"{where}; the code is not in a git work tree now"),)
    found: list[Difference] = []
    if recorded.commit != current.commit:
        found.append(Difference(Drift.COMMIT, f"code commit changed: the trial ran {recorded.commit}, the code is now at {current.commit}"))
    if recorded.dirty:
        unsaved = f"its uncommitted changes are not in {recorded.commit}"
        found.append(Difference(Drift.DIRTY, f"the work tree was dirty when the trial ran: {unsaved}"))
    if current.dirty:
        found.append(Difference(Drift.DIRTY, "the work tree is dirty now: uncommitted changes will run"))
    return tuple(found)


def data_differences(recorded: Mapping[str, str], current: Mapping[str, str]) -> tuple[Difference, ...]:
    """How each data path's fingerprint now differs from the one recorded (paths as written in the sweep file)."""
    found: list[Difference] = []
    for path in sorted(set(recorded) | set(current)):
        then, now = recorded.get(path), current.get(path)
        message = _data_message(path, then, now)
        if message is not None:
            found.append(Difference(Drift.DATA, message, path))
    return tuple(found)


def _data_message(path: str, then: str | None, now: str | None) -> str | None:
    if then is None:
        return f"data {path!r} has no recorded fingerprint (now {now})"
    if now is None:
        return f"data {path!r} was recorded ({then}) but is not declared by the sweep now"
    if now == "missing":
        return f"data {path!r} is missing now (recorded {then})"
    if not then.startswith(HASHED_PREFIX):
        return f"data {path!r} cannot be compared: when the trial ran it was {then}"
    if not now.startswith(HASHED_PREFIX):
        return f"data {path!r} cannot be compared: now it is {now}"
    if then != now:
        return f"data {path!r} changed: recorded {then}, now {now}"
    return None


def provenance_differences(trial: Trial, current_code: CodeVersion | None, current_data: Mapping[str, str]) -> tuple[Difference, ...]:
    """Every way the current code and data differ from what `trial` recorded, commit first."""
    return code_differences(trial.code, current_code) + data_differences(trial.data, current_data)


def side_by_side(trial: Trial, rerun: RerunResult) -> list[dict[str, Any]]:
    """Rows `{"what", "recorded", "rerun", "change"}`: state, objective, exit code, step, then every last metric by name."""
    rows: list[dict[str, Any]] = [
        _row("state", trial.state.value, rerun.state.value),
        _row("objective", trial.objective, rerun.objective),
        _row("exit_code", trial.exit_code, rerun.exit_code),
        _row("last_step", trial.last_step, rerun.last_step),
    ]
    for name in sorted(set(trial.last_metrics) | set(rerun.last_metrics)):
        rows.append(_row(f"metric {name}", trial.last_metrics.get(name), rerun.last_metrics.get(name)))
    return rows


def _row(what: str, recorded: Any, rerun: Any) -> dict[str, Any]:
    return {"what": what, "recorded": recorded, "rerun": rerun, "change": _change(recorded, rerun)}


def _change(recorded: Any, rerun: Any) -> Any:
    """The re-run's value minus the recorded one for numbers, `same`/`differs` otherwise."""
    numbers = (int, float)
    if isinstance(recorded, numbers) and isinstance(rerun, numbers) and not isinstance(recorded, bool) and not isinstance(rerun, bool):
        if math.isfinite(recorded) and math.isfinite(rerun):
            return rerun - recorded
    return "same" if recorded == rerun else "differs"


def result_record(trial: Trial, rerun: RerunResult) -> dict[str, Any]:
    """The recorded run and the re-run as plain data (the `--format json` shape's two halves)."""
    recorded = {
        "state": trial.state.value,
        "objective": trial.objective,
        "exit_code": trial.exit_code,
        "last_step": trial.last_step,
        "last_metrics": dict(trial.last_metrics),
    }
    again = {
        "state": rerun.state.value,
        "objective": rerun.objective,
        "exit_code": rerun.exit_code,
        "last_step": rerun.last_step,
        "last_metrics": dict(rerun.last_metrics),
        "error": rerun.error,
    }
    return {"recorded": recorded, "rerun": again}
