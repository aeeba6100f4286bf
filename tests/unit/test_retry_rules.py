"""Which trials `retry` runs again, which `--state` values it takes, and what becomes of each sweep state (pure decisions)."""

from __future__ import annotations

import pytest

from sweepctl import retry
from sweepctl.errors import ConfigError
from sweepctl.records import SweepState, Trial, TrialState


def trial(number: int, state: TrialState) -> Trial:
    return Trial(sweep_id="ab12", number=number, state=state, params={"x": number}, seed=number)


def test_without_state_the_failures_are_retried_parameters_and_machines_alike() -> None:
    assert retry.parse_states(()) == retry.DEFAULT_STATES
    assert set(retry.DEFAULT_STATES) == {s for s in TrialState if s.is_trial_failure or s.is_infrastructure_failure}


@pytest.mark.parametrize(
    ("given", "asked"),
    [
        (("lost",), (TrialState.LOST,)),
        (("failed,lost",), (TrialState.FAILED, TrialState.LOST)),
        (("lost", " failed , nan"), (TrialState.FAILED, TrialState.NAN, TrialState.LOST)),  # repeated, spaced, any order
        (("cancelled",), (TrialState.CANCELLED,)),  # only when asked
        (("failed,failed",), (TrialState.FAILED,)),
    ],
)
def test_state_values_are_comma_separated_or_repeated(given: tuple[str, ...], asked: tuple[TrialState, ...]) -> None:
    assert retry.parse_states(given) == asked


def test_a_state_not_retried_is_refused_with_why_and_an_unknown_one_with_what_would_do() -> None:
    # Given a typo / Then the error names the value and every state that is taken
    with pytest.raises(ConfigError) as unknown:
        retry.parse_states(("failed,complete",))
    assert str(unknown.value) == (
        "--state: 'complete' is not a trial state; expected some of failed, timed_out, nan, killed, lost, cancelled (comma-separated)"
    )
    # Given the states that are never retried / Then each is refused naming it, with its own reason
    reasons = {}
    for state in (TrialState.COMPLETED, TrialState.STOPPED, TrialState.QUEUED, TrialState.RUNNING):
        with pytest.raises(ConfigError) as refused:
            retry.parse_states((state.value,))
        reasons[state] = str(refused.value)
        assert reasons[state].startswith(f"--state {state.value}: not retried: ")
    assert len(set(reasons.values())) == 4
    assert "sweepctl reproduce" in reasons[TrialState.COMPLETED] and "early termination" in reasons[TrialState.STOPPED]
    # And every trial state is either taken or refused
    assert set(retry.ASKABLE_STATES) | set(reasons) == set(TrialState)


def test_the_chosen_trials_are_those_in_the_states_asked_by_number() -> None:
    trials = [trial(3, TrialState.LOST), trial(1, TrialState.FAILED), trial(2, TrialState.COMPLETED), trial(4, TrialState.CANCELLED)]
    assert [t.number for t in retry.chosen(trials, retry.DEFAULT_STATES)] == [1, 3]
    assert [t.number for t in retry.chosen(trials, (TrialState.CANCELLED, TrialState.LOST))] == [3, 4]
    assert retry.chosen([trial(1, TrialState.COMPLETED)], retry.DEFAULT_STATES) == []


def test_every_sweep_state_is_kept_reopened_or_refused_and_a_retry_never_makes_a_sweep_end() -> None:
    moves = retry.SWEEP_MOVES
    # Live states keep theirs; ended ones run again, a stopped one only to stop again; a cancelled one is refused
    assert {s for s, to in moves.items() if s is to} == {SweepState.RUNNING, SweepState.PAUSED, SweepState.STOPPING}
    assert moves[SweepState.FINISHED] is SweepState.RUNNING and moves[SweepState.FAILED] is SweepState.RUNNING
    assert moves[SweepState.STOPPED] is SweepState.STOPPING
    assert set(SweepState) - set(moves) == {SweepState.CANCELLED, SweepState.DELETING}
    # And the state taken always starts queued trials, or holds them for a resume (paused)
    assert all(to.starts_queued_trials or to is SweepState.PAUSED for to in moves.values())
    refusal = retry.sweep_refusal("ab12", SweepState.CANCELLED)
    assert "is cancelled: its search was given up" in refusal and "sweepctl clone ab12" in refusal
    assert retry.sweep_refusal("ab12", SweepState.DELETING) == "sweep ab12 is being deleted: nothing of it runs again"
    assert "restored from an archive: it is kept to read, never run again" in retry.restored_refusal("ab12")


def test_what_retrying_nothing_and_a_reopened_sweep_say() -> None:
    said = retry.nothing_to_retry("ab12", (TrialState.FAILED, TrialState.LOST))
    assert said == "sweep ab12: no trial is failed or lost: nothing to retry"
    assert retry.reopened_reason(3) == "retrying 3 trial(s)"
