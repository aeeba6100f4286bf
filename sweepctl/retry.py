"""Which trials `retry` runs again, and what becomes of their sweep: pure decisions.

A retried trial keeps its number, parameters and seed, and runs again as its next attempt: its
earlier attempt's result moves into its history (`Trial.retried`), and the new result is the one
recorded, counted and ranked. A retry adds no trial, so the run_cap (which counts trials, not
attempts) is not touched.

Trial states (`--state`, comma-separated or repeated):
- By default the failures: failed, timed_out and nan (the parameters' fault, or so it looked: a missing
  data mount or a bug fixed since fails a trial the same way), killed and lost (the machine's).
- cancelled only when asked: a cancel, a stop while paused or a `sweepctl run` that died dropped or killed
  those trials, never their parameters; running them is a choice, not a repair.
- completed is refused: its result stands; running it again would replace a result the suggester learnt
  and the ranking shows. `sweepctl reproduce SWEEP N` runs it again without recording anything.
- stopped is refused: early termination stopped it for being worse than its peers at a step, and under
  the same rule it would be stopped there again (its last value is what the suggester learnt).
- queued and running are refused: they have not ended.

Sweep states (`SWEEP_MOVES`: the state a sweep takes when one of its trials is retried):
- RUNNING, PAUSED and STOPPING keep theirs: the controller sends the retried trials (a paused sweep's once
  it is resumed; a stopping sweep runs them before it stops).
- FINISHED runs again (RUNNING) and finishes again once they end: what ended it (budget, target, an
  exhausted space) still holds, as a retry adds no trial and no completed trial is retried.
- FAILED runs again (RUNNING): the failures retried no longer count against its max_failures. If too
  many still do, it fails again once they end; if not, it goes on to its run_cap as it would have
  without them (what resuming errored trials does in Ray Tune).
- STOPPED runs its retried trials and stops again (STOPPING): someone stopped it, and a retry is no
  reason to create more trials (`extend` is).
- CANCELLED is refused: its search was given up (queued trials dropped, running ones killed); `clone`
  starts a new sweep warm-started from its trials.
- DELETING is refused: its keys are going. A sweep restored from an archive is refused whatever its
  state (`restored_refusal`): it is kept to read, never run again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sweepctl.errors import ConfigError
from sweepctl.records import SweepState, Trial, TrialState

DEFAULT_STATES = (TrialState.FAILED, TrialState.TIMED_OUT, TrialState.NAN, TrialState.KILLED, TrialState.LOST)
ASKABLE_STATES = (*DEFAULT_STATES, TrialState.CANCELLED)

_NOT_RETRIED = {
    TrialState.COMPLETED: (
        "a completed trial's result stands (the suggester learnt it, the ranking shows it); "
        "`sweepctl reproduce SWEEP N` runs one again without recording anything"
    ),
    TrialState.STOPPED: "early termination stopped it for being worse than its peers, and would stop it there again",
    TrialState.QUEUED: "a queued trial has not run yet",
    TrialState.RUNNING: "a running trial has not ended",
}

SWEEP_MOVES: dict[SweepState, SweepState] = {
    SweepState.RUNNING: SweepState.RUNNING,
    SweepState.PAUSED: SweepState.PAUSED,
    SweepState.STOPPING: SweepState.STOPPING,
    SweepState.FINISHED: SweepState.RUNNING,
    SweepState.FAILED: SweepState.RUNNING,
    SweepState.STOPPED: SweepState.STOPPING,
}


def parse_states(given: Sequence[str]) -> tuple[TrialState, ...]:
    """The trial states asked for by `--state` values (each may list several, comma-separated), in
    TrialState order; the failure states when none is given. ConfigError names a value not taken."""
    names = [name.strip() for value in given for name in value.split(",") if name.strip()]
    if not names:
        return DEFAULT_STATES
    known = {state.value: state for state in TrialState}
    asked = set()
    for name in names:
        state = known.get(name)
        if state is None:
            expected = ", ".join(s.value for s in ASKABLE_STATES)
            raise ConfigError(f"--state: {name!r} is not a trial state; expected some of {expected} (comma-separated)")
        if state not in ASKABLE_STATES:
            raise ConfigError(f"--state {name}: not retried: {_NOT_RETRIED[state]}")
        asked.add(state)
    return tuple(state for state in TrialState if state in asked)


def chosen(trials: Iterable[Trial], states: Iterable[TrialState]) -> list[Trial]:
    """The trials to run again: those in one of `states`, by number."""
    wanted = set(states)
    return sorted((t for t in trials if t.state in wanted), key=lambda t: t.number)


def sweep_refusal(sweep_id: str, state: SweepState) -> str:
    """Why no trial of a sweep in `state` (one SWEEP_MOVES lacks) is retried."""
    if state is SweepState.DELETING:
        return f"sweep {sweep_id} is being deleted: nothing of it runs again"
    why = "its search was given up (queued trials dropped, running ones killed)" if state is SweepState.CANCELLED else "it takes no retry"
    return f"sweep {sweep_id} is {state.value}: {why}; `sweepctl clone {sweep_id}` starts a new sweep warm-started from its trials"


def restored_refusal(sweep_id: str) -> str:
    """Why no trial of a sweep restored from an archive is retried."""
    return (
        f"sweep {sweep_id} was restored from an archive: it is kept to read, never run again; "
        f"`sweepctl clone {sweep_id}` starts a new sweep warm-started from its trials"
    )


def reopened_reason(count: int) -> str:
    """The reason an ended sweep records when a retry re-opens it."""
    return f"retrying {count} trial(s)"


def nothing_to_retry(sweep_id: str, states: Sequence[TrialState]) -> str:
    """What `retry` says when no trial of the sweep is in one of `states`."""
    return f"sweep {sweep_id}: no trial is {' or '.join(s.value for s in states)}: nothing to retry"
