"""Which trials of earlier sweeps warm-start a sweep: a pure choice, and the one read of the store it needs.

A sweep learns from the trials of the sweeps its `warm_start.sweeps` names (a clone names the sweep
it was cloned from) as if they were its own: exactly the trials it would have learned from had they
been its own, and that lie inside its space.

- Learned from: completed trials (their objective), stopped-early ones (their last value) and ones
  the parameters made fail (failed, nan, timed_out: failures, as TPE sees its own). Not a trial still
  queued or running, nor a cancelled one, nor one a machine failed (killed, lost): those say nothing
  about their parameters, and a sweep's own such trials are not shown to its engine either.
- Inside the space: `sweepctl.space_fit.space_misfit` finds none (every parameter has a value within
  its range, of its values, on its q grid; no value for a parameter the space lacks).
- A whole sweep gives nothing when it is not in the store (deleted: once restored from its archive
  it warm-starts again, as its trials are read through the store), when its file no longer parses,
  or when it optimizes another metric (its objective is not this sweep's loss; with several objectives,
  other ones or in another order).

The controller reads this when it takes a sweep up, so a restarted or standby controller learns
from the same trials (and from trials of the earlier sweep finished since); `clone` reads the same
to say how many warm-start the clone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from sweepctl.errors import SpecError, UnknownSweepError
from sweepctl.records import Trial, TrialState
from sweepctl.space_fit import Outside, space_misfit
from sweepctl.spec import SweepSpec
from sweepctl.store import Store


class Ignored(str, Enum):
    """Why an earlier sweep gives no trial at all."""

    UNKNOWN = "no such sweep in this store (a deleted sweep warm-starts again once restored from its archive)"
    UNPARSED = "its sweep file no longer parses"
    OTHER_METRIC = "it optimizes another metric"


@dataclass(frozen=True)
class WarmSource:
    """What one earlier sweep gives a sweep's warm start: the trials taken, and why the others are not."""

    sweep_id: str
    taken: tuple[Trial, ...] = ()  # learned from, in trial-number order
    outside: tuple[tuple[int, Outside], ...] = ()  # learnable, but outside the space: (number, why)
    not_learned: tuple[int, ...] = ()  # unfinished, cancelled, or failed by a machine
    ignored: Ignored | None = None

    @property
    def numbers(self) -> tuple[int, ...]:
        """The numbers of the trials taken."""
        return tuple(t.number for t in self.taken)

    def outside_by_parameter(self) -> dict[str, int]:
        """How many trials each parameter put outside the space (the first misfit of each trial), most first."""
        return dict(Counter(why.parameter for _, why in self.outside).most_common())


def learnable(trial: Trial) -> bool:
    """Whether a sweep learns from this trial of its own: finished, and not cancelled or failed by a machine."""
    return trial.state.is_finished and trial.state is not TrialState.CANCELLED and not trial.state.is_infrastructure_failure


def same_objective(spec: SweepSpec, earlier: SweepSpec) -> bool:
    """Whether the earlier sweep's objective is this one's: both have a metric, of the same name (with several
    objectives, the same names in the same order: each trial is told a loss per objective)."""
    return bool(spec.objectives) and [m.name for m in spec.objectives] == [m.name for m in earlier.objectives]


def select_warm(spec: SweepSpec, sweep_id: str, earlier: SweepSpec, trials: Iterable[Trial]) -> WarmSource:
    """The trials of the earlier sweep `sweep_id` (parsed as `earlier`) that warm-start the sweep of `spec`."""
    if not same_objective(spec, earlier):
        return WarmSource(sweep_id, ignored=Ignored.OTHER_METRIC)
    taken: list[Trial] = []
    outside: list[tuple[int, Outside]] = []
    not_learned: list[int] = []
    for trial in sorted(trials, key=lambda t: t.number):
        if not learnable(trial):
            not_learned.append(trial.number)
        elif (why := space_misfit(spec.space, trial.params)) is not None:
            outside.append((trial.number, why))
        else:
            taken.append(trial)
    return WarmSource(sweep_id, tuple(taken), tuple(outside), tuple(not_learned))


def read_warm_start(store: Store, spec: SweepSpec) -> tuple[WarmSource, ...]:
    """What each sweep `spec` warm-starts from gives it (each named once, in order), read from the store now."""
    sources = []
    for sweep_id in dict.fromkeys(spec.warm_sweeps):
        try:
            earlier = store.get_spec(sweep_id)
        except UnknownSweepError:
            sources.append(WarmSource(sweep_id, ignored=Ignored.UNKNOWN))
            continue
        except SpecError:
            sources.append(WarmSource(sweep_id, ignored=Ignored.UNPARSED))
            continue
        sources.append(select_warm(spec, sweep_id, earlier, store.get_trials(sweep_id)))
    return tuple(sources)
