"""How a finished trial process is judged (pure): the final state, objective and error.

Who is to blame decides the state. What sweepctl did (cancel, early stop,
timeout) comes first. A signal sweepctl did not send is the trial's own failure
(FAILED, shown to TPE, counted towards max_failures): a crash signal its own
code raised (SIGSEGV, SIGABRT from os.abort(), SIGBUS, SIGFPE, SIGILL, ...) or
any other signal, unless an out-of-memory kill explains it: only a SIGKILL while
the kernel's OOM killer struck, or while the OOM count could not be read, is
KILLED, the infrastructure's doing (never shown to TPE, never counted against
the parameters).
"""

from __future__ import annotations

import math
import signal
from collections.abc import Mapping
from dataclasses import dataclass

from sweepctl.records import StopRequest, TrialState


@dataclass(frozen=True)
class Verdict:
    """What a trial attempt's end comes to: its final state, its objective (COMPLETED only) and why."""

    state: TrialState
    objective: float | None
    error: str | None


def judge_exit(
    returncode: int,
    *,
    metric: str | None,
    last_value: float | None,
    timed_out: bool = False,
    cancelled: bool = False,
    timeout: float | None = None,
    stderr_last_line: str = "",
    stopped: StopRequest | None = None,
    oom_killed: bool | None = None,
    others: Mapping[str, float | None] | None = None,
) -> Verdict:
    """The outcome of a trial whose process ended with `returncode`.

    What sweepctl did to the process (cancel, timeout) wins over how it ended;
    then signals (KILLED), non-zero exits (FAILED), and only a clean exit is
    judged by its objective: the last value reported for `metric`. A sweep
    without a metric (`metric` None: grid or random) has no objective: a clean exit completes.
    `oom_killed` says whether the kernel's OOM killer struck while the trial ran
    (None: unknown), which is what can make a SIGKILL the machine's fault.
    `others` are the last values of a sweep's other objectives (several objectives), by
    name (None: never reported): each is judged as `metric` is, and the objective kept
    is `metric`'s (the others are in the trial's last_metrics).
    """
    finite = last_value if last_value is not None and math.isfinite(last_value) else None
    if cancelled:
        return Verdict(TrialState.CANCELLED, None, "the sweep was cancelled")
    if stopped is not None:
        return Verdict(TrialState.STOPPED, None, f"stopped early: {stopped.reason}")
    if timed_out:
        limit = "" if timeout is None else f" ({timeout:g}s)"
        return Verdict(TrialState.TIMED_OUT, None, f"ran past trial_timeout{limit} and was stopped")
    if returncode < 0:
        return _signalled(-returncode, oom_killed)
    if returncode > 0:
        detail = f": {stderr_last_line}" if stderr_last_line else ""
        return Verdict(TrialState.FAILED, None, f"exited with status {returncode}{detail}")
    if metric is None:
        return Verdict(TrialState.COMPLETED, None, None)
    for name, value in ((metric, last_value), *(others or {}).items()):
        if value is None:
            return Verdict(TrialState.FAILED, None, f"exited 0 but reported no value for metric {name!r}")
        if not math.isfinite(value):
            return Verdict(TrialState.NAN, None, f"metric {name!r} is {value}")
    return Verdict(TrialState.COMPLETED, finite, None)


def judge_call(
    raised: str | None,
    *,
    metric: str | None,
    last_value: float | None,
    timed_out: bool = False,
    cancelled: bool = False,
    timeout: float | None = None,
    stopped: StopRequest | None = None,
    others: Mapping[str, float | None] | None = None,
) -> Verdict:
    """The outcome of a trial function called in the agent's own process (`sweepctl.agent`).

    As `judge_exit` for a process that exited 0, except that `raised` (what the
    function raised, when it did) fails it, unless sweepctl stopped it first.
    """
    if not (cancelled or timed_out or stopped is not None):
        if raised is not None:
            return Verdict(TrialState.FAILED, None, raised)
        values = () if metric is None else ((metric, last_value), *(others or {}).items())
        if (missing := next((name for name, value in values if value is None), None)) is not None:
            return Verdict(TrialState.FAILED, None, f"returned without reporting a value for metric {missing!r}")
    return judge_exit(
        0, metric=metric, last_value=last_value, timed_out=timed_out, cancelled=cancelled, timeout=timeout, stopped=stopped, others=others
    )


# Signals a process gets from its own code: a fault, or abort() from a failed assertion or a C++ terminate.
CRASH_SIGNALS = frozenset({signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT, signal.SIGSYS, signal.SIGTRAP})


def _signalled(signum: int, oom_killed: bool | None) -> Verdict:
    """A trial ended by a signal sweepctl did not send: its own failure unless an OOM kill explains it."""
    try:
        sig = signal.Signals(signum)
    except ValueError:
        return Verdict(TrialState.FAILED, None, f"killed by signal {signum}, {_UNEXPLAINED}")
    if sig in CRASH_SIGNALS:
        return Verdict(TrialState.FAILED, None, f"crashed: killed by {sig.name}")
    if sig is signal.SIGKILL and oom_killed is not False:
        why = "the kernel's OOM killer struck while it ran" if oom_killed else "the kernel's OOM kill count cannot be read here"
        return Verdict(TrialState.KILLED, None, f"killed by {sig.name} ({why})")
    return Verdict(TrialState.FAILED, None, f"killed by {sig.name}, {_UNEXPLAINED}")


_UNEXPLAINED = "which sweepctl did not send and no out-of-memory kill explains"
