"""How a finished trial process is judged (pure): the final state, objective and error."""

from __future__ import annotations

import math
import signal
from dataclasses import dataclass

from sweepctl.records import TrialState


@dataclass(frozen=True)
class Outcome:
    state: TrialState
    objective: float | None
    error: str | None


def judge(
    returncode: int,
    *,
    metric: str,
    last_value: float | None,
    timed_out: bool = False,
    cancelled: bool = False,
    timeout: float | None = None,
    stderr_last_line: str = "",
    stopped: dict[str, object] | None = None,
) -> Outcome:
    """The outcome of a trial whose process ended with `returncode`.

    What sweepctl did to the process (cancel, timeout) wins over how it ended;
    then signals (KILLED), non-zero exits (FAILED), and only a clean exit is
    judged by its objective: the last value reported for `metric`.
    """
    finite = last_value if last_value is not None and math.isfinite(last_value) else None
    if cancelled:
        return Outcome(TrialState.CANCELLED, None, "the sweep was cancelled")
    if stopped is not None:
        return Outcome(TrialState.STOPPED, None, f"stopped early: {stopped.get('reason', 'early_terminate')}")
    if timed_out:
        limit = "" if timeout is None else f" ({timeout:g}s)"
        return Outcome(TrialState.TIMED_OUT, None, f"ran past trial_timeout{limit} and was stopped")
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return Outcome(TrialState.KILLED, None, f"killed by {name}")
    if returncode > 0:
        detail = f": {stderr_last_line}" if stderr_last_line else ""
        return Outcome(TrialState.FAILED, None, f"exited with status {returncode}{detail}")
    if last_value is None:
        return Outcome(TrialState.FAILED, None, f"exited 0 but reported no value for metric {metric!r}")
    if finite is None:
        return Outcome(TrialState.NAN, None, f"metric {metric!r} is {last_value}")
    return Outcome(TrialState.COMPLETED, finite, None)
