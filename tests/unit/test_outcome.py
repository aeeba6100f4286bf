"""Judging a finished trial process: what sweepctl did wins, then how the process ended, then its objective."""

from __future__ import annotations

import math
import signal
from typing import Any

import pytest

from sweepctl.records import StopRequest, TrialState
from workers.outcome import Verdict, judge_call, judge_exit


def judged(returncode: int = 0, last_value: float | None = 0.5, **kwargs: Any) -> Verdict:
    return judge_exit(returncode, metric="val_loss", last_value=last_value, **kwargs)


# --- what sweepctl did to the process ---------------------------------------------


@pytest.mark.parametrize("returncode", [0, 1, -signal.SIGKILL, -signal.SIGTERM])
def test_a_cancelled_trial_is_cancelled_however_it_ended(returncode: int) -> None:
    # Given a trial of a cancelled sweep that sweepctl also timed out / When judged
    outcome = judged(returncode, last_value=0.1, cancelled=True, timed_out=True, timeout=5)
    # Then cancellation wins and no objective is kept
    assert outcome == Verdict(TrialState.CANCELLED, None, "the sweep was cancelled")


@pytest.mark.parametrize("returncode", [0, 1, -signal.SIGKILL])
def test_a_timed_out_trial_is_timed_out_even_though_a_signal_killed_it(returncode: int) -> None:
    # Given a trial stopped for running past trial_timeout (usually by SIGKILL) / When judged
    outcome = judged(returncode, last_value=0.1, timed_out=True, timeout=90)
    # Then it is TIMED_OUT, the error names the limit, and its last value is not an objective
    assert outcome == Verdict(TrialState.TIMED_OUT, None, "ran past trial_timeout (90s) and was stopped")


# --- how the process ended ----------------------------------------------------------


@pytest.mark.parametrize(
    ("sig", "name"),
    [
        (signal.SIGSEGV, "SIGSEGV"),
        (signal.SIGABRT, "SIGABRT"),
        (signal.SIGBUS, "SIGBUS"),
        (signal.SIGFPE, "SIGFPE"),
        (signal.SIGILL, "SIGILL"),
    ],
)
@pytest.mark.parametrize("oom_killed", [None, True, False])
def test_a_process_that_crashed_itself_failed_whatever_else_happened(sig: int, name: str, oom_killed: bool | None) -> None:
    # Given a process its own code ended with a crash signal (a segfault, os.abort()) / When judged
    outcome = judged(-sig, last_value=0.1, oom_killed=oom_killed)
    # Then it is the trial's own failure, counted against its parameters, with the signal named
    assert outcome == Verdict(TrialState.FAILED, None, f"crashed: killed by {name}")
    assert outcome.state.is_trial_failure


def test_a_sigkill_while_the_oom_killer_struck_is_the_infrastructures_doing() -> None:
    # Given a SIGKILL sweepctl did not send, and the kernel's OOM count rose meanwhile / When judged
    outcome = judged(-signal.SIGKILL, last_value=0.1, oom_killed=True)
    # Then it is KILLED, not blamed on the parameters
    assert outcome == Verdict(TrialState.KILLED, None, "killed by SIGKILL (the kernel's OOM killer struck while it ran)")
    assert outcome.state.is_infrastructure_failure


def test_a_sigkill_is_given_the_benefit_of_the_doubt_where_oom_kills_cannot_be_counted() -> None:
    outcome = judged(-signal.SIGKILL, oom_killed=None)
    assert outcome == Verdict(TrialState.KILLED, None, "killed by SIGKILL (the kernel's OOM kill count cannot be read here)")


@pytest.mark.parametrize(("sig", "name"), [(signal.SIGKILL, "SIGKILL"), (signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT")])
def test_a_signal_no_oom_kill_explains_is_the_trials_own_failure(sig: int, name: str) -> None:
    # Given a signal sweepctl did not send, while the OOM killer did nothing / When judged
    outcome = judged(-sig, last_value=0.1, oom_killed=False)
    # Then it FAILED (so max_failures can stop a sweep whose program kills itself), with the signal named
    assert outcome == Verdict(TrialState.FAILED, None, f"killed by {name}, which sweepctl did not send and no out-of-memory kill explains")


def test_an_unknown_signal_number_is_still_reported() -> None:
    assert judged(-200) == Verdict(
        TrialState.FAILED, None, "killed by signal 200, which sweepctl did not send and no out-of-memory kill explains"
    )


def test_a_non_zero_exit_fails_with_the_last_stderr_line() -> None:
    # Given a script that raised after reporting a good value / When judged
    outcome = judged(1, last_value=0.1, stderr_last_line="ValueError: lr must be positive")
    # Then it FAILED, with the exit status and the last stderr line, and no objective
    assert outcome == Verdict(TrialState.FAILED, None, "exited with status 1: ValueError: lr must be positive")


def test_a_non_zero_exit_without_stderr_names_only_the_status() -> None:
    assert judged(2) == Verdict(TrialState.FAILED, None, "exited with status 2")


# --- a clean exit is judged by its objective ---------------------------------------


def test_a_clean_exit_without_the_metric_fails_and_names_the_metric() -> None:
    assert judged(0, last_value=None) == Verdict(
        TrialState.FAILED, None, "exited 0 but reported no value for metric 'val_loss'"
    )


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_objective_is_nan(value: float) -> None:
    # Given a run that diverged / When judged
    outcome = judged(0, last_value=value)
    # Then it is NAN, with no objective, and the error shows the value
    assert outcome.state is TrialState.NAN
    assert outcome.objective is None
    assert outcome.error == f"metric 'val_loss' is {value}"


@pytest.mark.parametrize("value", [0.25, 0.0, -3.5, 1e300])
def test_a_finite_objective_completes_the_trial(value: float) -> None:
    # Given a clean exit with a finite last value (zero included) / When judged / Then COMPLETED with that objective
    assert judged(0, last_value=value) == Verdict(TrialState.COMPLETED, value, None)


# --- a sweep without a metric (grid or random, as W&B allows) -------------------------


def test_without_a_metric_a_clean_exit_completes_with_no_objective() -> None:
    # Given a trial of a sweep that has no metric, which reported nothing
    outcome = judge_exit(0, metric=None, last_value=None)
    # Then it completed: there was nothing it had to report
    assert outcome == Verdict(TrialState.COMPLETED, None, None)
    # and a failure is still a failure
    assert judge_exit(3, metric=None, last_value=None, stderr_last_line="boom").state is TrialState.FAILED


# --- a trial function called in the agent's own process ------------------------------


def test_a_function_that_raised_fails_with_what_it_raised() -> None:
    # Given a function that reported a value, then raised / When judged
    outcome = judge_call("raised ValueError: boom", metric="val_loss", last_value=0.1)
    # Then the trial failed, saying what was raised, and its value is no objective
    assert outcome == Verdict(TrialState.FAILED, None, "raised ValueError: boom")


def test_what_sweepctl_stopped_wins_over_what_the_stopped_function_raised() -> None:
    # Given functions that raised on their way out of a stop, a cancel or a timeout / When judged
    request = StopRequest(band=1, value=10.0, threshold=1.0, reason="hyperband: worse", at=1.0)
    stopped = judge_call("raised TrialStopped", metric="val_loss", last_value=10.0, stopped=request)
    cancelled = judge_call("raised RuntimeError: x", metric="val_loss", last_value=None, cancelled=True)
    timed_out = judge_call("raised RuntimeError: x", metric="val_loss", last_value=None, timed_out=True, timeout=3)
    # Then each is what sweepctl did, as for a trial process
    assert stopped == Verdict(TrialState.STOPPED, None, "stopped early: hyperband: worse")
    assert cancelled.state is TrialState.CANCELLED and timed_out.state is TrialState.TIMED_OUT


@pytest.mark.parametrize(
    ("last_value", "expected"),
    [(0.25, Verdict(TrialState.COMPLETED, 0.25, None)), (math.nan, Verdict(TrialState.NAN, None, "metric 'val_loss' is nan"))],
)
def test_a_function_that_returned_is_judged_by_its_last_value(last_value: float, expected: Verdict) -> None:
    assert judge_call(None, metric="val_loss", last_value=last_value) == expected
    assert judge_call(None, metric="val_loss", last_value=None) == Verdict(
        TrialState.FAILED, None, "returned without reporting a value for metric 'val_loss'"
    )


# --- a sweep with several objectives ------------------------------------------------


def test_with_several_objectives_each_must_be_reported_and_finite_and_the_first_is_the_objective() -> None:
    def judge(latency: float | None) -> Verdict:
        return judge_exit(0, metric="accuracy", last_value=0.9, others={"latency": latency})

    # Given trials that reported accuracy, and latency or not / When judged
    # Then every objective reported and finite completes, with the first one's value as the objective
    assert judge(12.0) == Verdict(TrialState.COMPLETED, 0.9, None)
    # And one missing fails the trial naming it, one not finite is NAN naming it, as for one metric
    assert judge(None) == Verdict(TrialState.FAILED, None, "exited 0 but reported no value for metric 'latency'")
    assert judge(math.inf) == Verdict(TrialState.NAN, None, "metric 'latency' is inf")
    # And what sweepctl did and how the process ended still come first
    assert judge_exit(1, metric="accuracy", last_value=0.9, others={"latency": None}).error == "exited with status 1"


def test_a_function_that_returned_without_every_objective_fails_naming_the_missing_one() -> None:
    assert judge_call(None, metric="accuracy", last_value=0.9, others={"latency": None}) == Verdict(
        TrialState.FAILED, None, "returned without reporting a value for metric 'latency'"
    )
    assert judge_call(None, metric="accuracy", last_value=0.9, others={"latency": 3.0}) == Verdict(TrialState.COMPLETED, 0.9, None)
