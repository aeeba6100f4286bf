"""The `cross_validation` block of a sweep file (a sweepctl extension): k-fold trials.

`cross_validation: {folds: k}` with MIN_FOLDS <= k <= MAX_FOLDS makes every trial k fold tasks
(`sweepctl.kfold`). What the rest of the file must agree with is checked here too:

- `${fold}` in `command` needs the block (a trial of one task has no fold to name);
- `early_terminate` with it judges fold means (`controller.fold_stopping`), which only the median
  rule does: `type: median`, whose `min_iter` counts the folds a trial must have completed before
  it is judged, so it must leave a fold to stop (at most k - 1).
"""

from __future__ import annotations

from typing import Any

from sweepctl import _validate as v
from sweepctl.command import Macro
from sweepctl.spec import MAX_FOLDS, MIN_FOLDS, CrossValidation, MedianStop, StoppingRule

_KEYS = ("folds",)


def parse_cross_validation(
    problems: v.Problems, raw: Any, stopping: StoppingRule | None, command: tuple[str, ...]
) -> CrossValidation | None:
    """The block checked into `problems` (with what it asks of `early_terminate` and `command`); None if absent or invalid."""
    cross_validation = _block(problems, raw)
    if cross_validation is None:
        if raw is v.MISSING and Macro.FOLD.token in command:
            problems.add(
                v.item("command", command.index(Macro.FOLD.token)),
                f"{Macro.FOLD.token} needs cross_validation: {{folds: k}} (a trial of one task has no fold)",
            )
        return None
    if stopping is not None and not isinstance(stopping, MedianStop):
        problems.add(
            "early_terminate.type",
            "with cross_validation, early termination judges the means of a trial's finished folds: only type median does",
        )
    elif stopping is not None and stopping.min_iter >= cross_validation.folds:
        problems.add(
            "early_terminate.min_iter",
            f"with cross_validation, the folds a trial completes before it is judged: expected at most "
            f"{cross_validation.folds - 1} (folds - 1, leaving a fold to stop), got {stopping.min_iter}",
        )
    return cross_validation


def _block(problems: v.Problems, raw: Any) -> CrossValidation | None:
    if raw is v.MISSING:
        return None
    doc = v.mapping(problems, "cross_validation", raw, "a mapping with folds (e.g. cross_validation: {folds: 5})")
    if doc is None:
        return None
    v.check_keys(problems, "cross_validation", doc, _KEYS)
    if "folds" not in doc:
        problems.add("cross_validation.folds", f"required: how many folds each trial runs as ({MIN_FOLDS} to {MAX_FOLDS})")
        return None
    folds = v.integer(problems, "cross_validation.folds", doc["folds"], ge=MIN_FOLDS, le=MAX_FOLDS)
    return None if folds is None else CrossValidation(folds=folds)
