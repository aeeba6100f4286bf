"""Which sweeps `extend` may give a new run_cap, and why the others are refused: pure decisions.

W&B users read "extend" as "more trials of this search", so an ended sweep whose search can
simply go on is re-opened: its suggester is rebuilt from the same seed and the same finished
trials (suggestions depend only on those and the trial number), trial numbers continue, and
the store refuses a parameter set the sweep already has, so nothing finished runs again.

- RUNNING and PAUSED keep their state; only the budget changes (a paused sweep stays paused).
- FINISHED re-opens: the budget (or the space) ran out, and more budget is what is asked.
  Not when its metric's target is reached: it would finish again at once.
- STOPPED re-opens too: someone stopped it, and asking for more trials of it is as explicit.
- STOPPING is refused until it is STOPPED: its running trials are still finishing.
- CANCELLED is refused: its queued trials were dropped and running ones killed; the search
  was given up, not finished.
- FAILED is refused: more trials failed than its max_failures allows (or its run died), and
  that count stays, so it would fail again at once. A variant with a higher max_failures is
  a new sweep, warm-started from this one's trials (`sweepctl clone ID --set max_failures=N`).
- DELETING is refused: its keys are going. A sweep restored from an archive is refused too,
  whatever its state: it is kept to read, never run again (`sweepctl restore`).
"""

from __future__ import annotations

from sweepctl.records import SweepState

KEEP_STATES = (SweepState.RUNNING, SweepState.PAUSED)
REOPEN_STATES = (SweepState.FINISHED, SweepState.STOPPED)

_WHY_NOT = {
    SweepState.STOPPING: "it is stopping (its running trials are finishing); extend it once it is stopped",
    SweepState.CANCELLED: "a cancelled sweep was given up: its queued trials were dropped and running ones killed",
    SweepState.DELETING: "it is being deleted",
    SweepState.FAILED: (
        "it failed (more trials failed than its max_failures allows, or its run died) and would fail again at once; "
        "clone it with a higher max_failures, warm-started from its trials: sweepctl clone {sweep_id} --set max_failures=N"
    ),
}


def state_refusal(sweep_id: str, state: SweepState) -> str:
    """Why a sweep in `state` cannot be extended (a state neither kept nor re-opened)."""
    why = _WHY_NOT.get(state, "its state allows no extension").format(sweep_id=sweep_id)
    return f"sweep {sweep_id} is {state.value}: {why}"


def restored_refusal(sweep_id: str) -> str:
    """Why a sweep loaded back from an archive is not extended: a restored sweep is a record, never run again."""
    return (
        f"sweep {sweep_id} was restored from an archive: it is kept to read (status, report, warm_start), never run again; "
        f"start a new sweep with warm_start: {{sweeps: [{sweep_id}]}} to go on from it"
    )


def run_cap_refusal(sweep_id: str, run_cap: int, created: int) -> str | None:
    """Why `run_cap` cannot be the sweep's budget: it must be above the trials already created."""
    if run_cap > created:
        return None
    return f"--run-cap {run_cap}: sweep {sweep_id} already has {created} trial(s); give a run_cap above {created}"


def extended_reason(run_cap: int) -> str:
    """The reason a re-opened sweep records."""
    return f"extended to run_cap={run_cap}"
