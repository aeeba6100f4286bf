"""What `clone` makes of an old sweep: the new sweep's document, and what changed (pure).

A clone is a new sweep: the old one's file as it stands, or a new file, edited by `--set`/`--unset`
(`sweepctl.spec_edit`), that names the old sweep first in `warm_start.sweeps`. It is then checked
and recorded exactly as a submitted file is, and learns from the old trials inside its space
(`sweepctl.warm_trials`) as any warm-started sweep does.

Taken from the old sweep as it stands: its file as submitted, with the run_cap `extend` gave it
(the budget it runs with now; `--set run_cap=N` sets another). Left behind, being the old sweep's
alone: the queue made for it when its trials run in `sweepctl.agent` (the clone gets its own) and
its `warm_start.points` (they ran as its first trials: the clone learns from them, it does not run
them again). A `seed` in the file is kept (the same draws where the space allows); without one
the clone gets a new random seed, as any submitted sweep does. Its other `warm_start.sweeps` are
kept after the old sweep's id.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sweepctl.space_fit import same_value
from sweepctl.spec_edit import Edit, apply_edits, field_name


class ChangeKind(str, Enum):
    """How a field of the clone differs from the old sweep's."""

    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True)
class Change:
    """One field (a dotted path, spelled as `--set` takes it) that differs; lists differ as a whole."""

    field: str
    kind: ChangeKind
    old: Any = None
    new: Any = None


def as_it_stands(document: Mapping[str, Any], run_cap: int | None, own_queue: str) -> dict[str, Any]:
    """The old sweep's document as it runs now: its file (`document`), with the run_cap `extend` gave it (`run_cap`,
    None when none), and without the agent queue `own_queue` made for it alone (`lifecycle.agent_queue` of its id)."""
    doc = copy.deepcopy(dict(document))
    if run_cap is not None:
        doc["run_cap"] = run_cap
    if doc.get("queue") == own_queue:
        del doc["queue"]
    return doc


def clone_document(stands: Mapping[str, Any], sweep_id: str, file_doc: Any | None, edits: Sequence[Edit]) -> Any:
    """The clone's document: `file_doc` (a new file's, as read) or the old sweep's as it stands (`stands`) less its
    warm-start points, edited, warm-started from the old sweep `sweep_id`. A file that is no mapping is returned
    as is, for the parser to refuse as it refuses any such file."""
    base = _without_points(stands) if file_doc is None else file_doc
    if not isinstance(base, Mapping):
        return base
    # Named before the edits too, so that `--set warm_start.points=...` finds a warm_start to go in.
    return warm_from(apply_edits(warm_from(base, sweep_id), edits), sweep_id)


def warm_from(doc: Mapping[str, Any], sweep_id: str) -> dict[str, Any]:
    """`doc` with `sweep_id` first in its warm_start.sweeps (added where missing; a warm_start that is not a
    mapping, or sweeps that are not a list, are left for the parser to refuse)."""
    out = copy.deepcopy(dict(doc))
    warm = out.setdefault("warm_start", {})
    if isinstance(warm, dict):
        sweeps = warm.setdefault("sweeps", [])
        if isinstance(sweeps, list):
            warm["sweeps"] = [sweep_id, *(s for s in sweeps if s != sweep_id)]
    return out


def changes(before: Mapping[str, Any], after: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> tuple[Change, ...]:
    """Every field that differs between two documents, in the order of `before` then keys only `after` has."""
    found: list[Change] = []
    for key, old in before.items():
        path = field_name([*prefix, key])
        if key not in after:
            found.append(Change(path, ChangeKind.REMOVED, old=old))
        elif isinstance(old, Mapping) and isinstance(after[key], Mapping):
            found.extend(changes(old, after[key], (*prefix, key)))
        elif not same_value(old, after[key]):
            found.append(Change(path, ChangeKind.CHANGED, old=old, new=after[key]))
    found.extend(Change(field_name([*prefix, k]), ChangeKind.ADDED, new=v) for k, v in after.items() if k not in before)
    return tuple(found)


def _without_points(stands: Mapping[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(dict(stands))
    warm = doc.get("warm_start")
    if isinstance(warm, dict):
        warm.pop("points", None)
    return doc
