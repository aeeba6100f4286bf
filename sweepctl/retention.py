"""Which sweeps `delete` and `archive` may remove, and why the others are refused: pure decisions.

- A live sweep (running, paused, stopping) is refused unless --force: then it is cancelled first
  (queued trials dropped, running ones stopped by their workers) and deleted once its trials have
  ended, or after the wait, whichever comes first.
- An ended sweep is deleted once its trials have all ended (a cancelled sweep's running trials take
  a moment to stop); still running after the wait, it is refused unless --force.
- A sweep already DELETING (a delete, or a restore, that was interrupted) is finished off; an archive
  of it is refused, since some of its keys are gone already.
- `archive --older-than AGE` takes the ended sweeps whose end (or, for a restored sweep, its restore)
  is at least AGE ago, oldest first, at most `max_sweeps` of them per run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from sweepctl.errors import ConfigError
from sweepctl.records import Sweep, SweepState

DEFAULT_WAIT_SECONDS = 30.0  # how long delete waits for the trials of a sweep to end
DEFAULT_MAX_SWEEPS = 100  # sweeps archived per `archive --older-than` run: the rest are left for the next
ARCHIVE_SUFFIX = ".json.gz"
ENDED_STATES = tuple(s for s in SweepState if s.is_terminal and s is not SweepState.DELETING)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_age(text: str, option: str = "--older-than") -> float:
    """Seconds in an age such as `30d`, `12h`, `90m`, `45s` or `2w`; ConfigError naming the option and the value."""
    found = _AGE.fullmatch(text.strip())
    if found is None:
        raise ConfigError(f"{option} {text!r}: expected a number and a unit, s, m, h, d or w (e.g. 30d, 12h, 90m)")
    return float(found.group(1)) * _UNITS[found.group(2)]


def ended_at(sweep: Sweep) -> float:
    """When the sweep was last in use: its end (its creation, when it has none), or its restore, whichever is later."""
    end = sweep.ended_at if sweep.ended_at is not None else sweep.created_at
    return max(end, sweep.restored_at or 0.0)


def due(sweeps: Iterable[Sweep], older_than: float, now: float) -> list[Sweep]:
    """The ended sweeps last in use `older_than` seconds before `now` or earlier, oldest first."""
    old = [s for s in sweeps if s.state in ENDED_STATES and ended_at(s) <= now - older_than]
    return sorted(old, key=lambda s: (ended_at(s), s.id))


def archive_path(folder: Path, sweep_id: str) -> Path:
    """Where `archive --to FOLDER` writes a sweep's archive."""
    return folder / f"{sweep_id}{ARCHIVE_SUFFIX}"


def live_refusal(sweep_id: str, state: SweepState) -> str:
    return (
        f"sweep {sweep_id} is {state.value}: delete refuses a live sweep; stop or cancel it first, "
        "or give --force (it is cancelled, its trials stopped, then deleted)"
    )


def draining_refusal(sweep_id: str, active: int, waited: float) -> str:
    return (
        f"sweep {sweep_id} still has {active} queued or running trial(s) after {waited:g}s: "
        "nothing deleted; try again once they have ended, wait longer (--wait), or give --force"
    )


def deleting_archive_refusal(sweep_id: str) -> str:
    return (
        f"sweep {sweep_id} is being deleted already (an earlier delete or restore was interrupted) and some of its keys are gone: "
        f"no archive can be written of it; `sweepctl delete {sweep_id}` without --archive finishes the delete"
    )


def moved_refusal(sweep_id: str, state: SweepState) -> str:
    return f"sweep {sweep_id} became {state.value} meanwhile (extended?): nothing deleted; run the delete again"


def taken_refusal(sweep_id: str, state: SweepState) -> str:
    """Why a restore under `sweep_id` is refused: a sweep (or the rest of an interrupted delete or restore) has the id."""
    if state is SweepState.DELETING:
        return (
            f"sweep {sweep_id} exists, being deleted (an earlier delete or restore of it was interrupted): "
            f"`sweepctl delete {sweep_id}` finishes removing it, then restore again"
        )
    return f"sweep {sweep_id} exists ({state.value}): nothing restored; give --as NEW_ID to restore it beside, or delete it first"
