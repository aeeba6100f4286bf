"""A sweep archive: one versioned JSON document holding all `restore` needs of a sweep (pure: no store, no files).

Layout, version 1 (the file is UTF-8 JSON, gzip-compressed when its name ends in `.gz`):

    {
      "format": "sweepctl-archive",
      "version": 1,
      "archived_at": 1733300000.0,              # unix time it was written
      "sweepctl_version": "0.1.0",              # the sweepctl that wrote it
      "sweep": {"id": ..., "raw_spec": {...}, "state": "finished", "seed": ..., "created_at": ...,
                "source": ..., "workdir": ..., "reason": ..., "ended_at": ..., "run_cap": ..., "restored_at": ...},
      "columns": ["number", "state", "objective", ...],   # the columns of `sweepctl export`, in order
      "trials": [                               # one per trial, by ascending number
        {"row": {...},                          # its row of `sweepctl export --format json`
         "record": {...},                       # its record as the store keeps it, earlier (lost) attempts included
         "history": [{"t": 1733.5, "step": 0, "v": {"loss": 0.9}}, ...],  # every metric point, oldest first
         "folds": [{"record": {...}, "history": [...]}, ...],   # a k-fold trial only: each fold's record and history
         "attempt_histories": {"1": [...], ...}}  # a retried trial only: what each earlier attempt left (non-empty)
      ],
      "finished": [2, 1, 3],                    # trial numbers in the order they finished (what warm_start reads)
      "objective": [[1, 0.25], [3, 0.5]],       # (number, objective) of its completed trials
      "rejections": {"stale": 1},               # writes the store refused, by reason
      "stats": {"duration_count": 3, ...}       # telemetry counters: durations, GPU-seconds, suggestion latencies
    }

The sweep record, the trial records and the points hold exactly what the store keeps (`sweepctl.codec`):
non-finite numbers are the strings "nan", "inf" and "-inf", so the file is strict JSON. The rows alone,
`jq '[.trials[].row]'`, are the sweep's `sweepctl export --format json`. A reader of version N reads every
version up to N and refuses a newer one, naming both.

`folds` and `attempt_histories` came after the first archives: an entry without them is a trial without
folds or earlier histories. A fold's record is a trial record with `fold` set (0 .. the trial's `folds`-1);
`attempt_histories` are keyed by attempt number (1 .. the trial's `attempt`-1), each list oldest first.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sweepctl import codec
from sweepctl.errors import ArchiveError
from sweepctl.records import MetricPoint, Sweep, SweepState, Trial, TrialState

FORMAT = "sweepctl-archive"
VERSION = 1
# A sweep id given to `restore --as`: what a generated id is made of, and what keys and queue names carry safely.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True)
class ArchivedFold:
    """One fold of a k-fold trial: its record (a Trial with `fold` set) and its metric history."""

    trial: Trial
    history: tuple[MetricPoint, ...]


@dataclass(frozen=True)
class ArchivedTrial:
    """One trial of an archive: its record and its metric history; a k-fold trial's folds, and the histories its
    earlier attempts left when `retry` ran it again (by attempt number)."""

    trial: Trial
    history: tuple[MetricPoint, ...]
    folds: tuple[ArchivedFold, ...] = ()
    attempt_histories: Mapping[int, tuple[MetricPoint, ...]] = field(default_factory=dict)

    @property
    def points(self) -> int:
        """Its metric points: its own, its folds' and its earlier attempts'."""
        return len(self.history) + sum(len(f.history) for f in self.folds) + sum(len(h) for h in self.attempt_histories.values())


@dataclass(frozen=True)
class ArchivedSweep:
    """Everything an archive holds of a sweep (see the module docstring for the file)."""

    sweep: Sweep
    trials: tuple[ArchivedTrial, ...]
    finished: tuple[int, ...]
    objective: tuple[tuple[int, float], ...]
    rejections: Mapping[str, int]
    stats: Mapping[str, float]
    archived_at: float

    @property
    def points(self) -> int:
        """Metric points over all trials (their folds' and earlier attempts' included)."""
        return sum(t.points for t in self.trials)


def document(archived: ArchivedSweep, columns: Sequence[str], rows: Sequence[Mapping[str, Any]], sweepctl_version: str) -> dict[str, Any]:
    """The archive document of `archived`; `columns` and `rows` are its export table's (one row per trial, in order)."""
    if len(rows) != len(archived.trials):
        raise ValueError(f"{len(rows)} export rows for {len(archived.trials)} trials")
    return {
        "format": FORMAT,
        "version": VERSION,
        "archived_at": archived.archived_at,
        "sweepctl_version": sweepctl_version,
        "sweep": {k: codec.loads(v) for k, v in codec.encode_sweep(archived.sweep).items()},
        "columns": list(columns),
        "trials": [_entry(t, row) for t, row in zip(archived.trials, rows)],
        "finished": list(archived.finished),
        "objective": [[n, value] for n, value in archived.objective],
        "rejections": dict(archived.rejections),
        "stats": dict(archived.stats),
    }


def _entry(archived: ArchivedTrial, row: Mapping[str, Any]) -> dict[str, Any]:
    """One trial's entry; `folds` and `attempt_histories` only when it has them (an older reader's shape otherwise)."""
    entry: dict[str, Any] = {"row": dict(row), **_record_fields(archived.trial, archived.history)}
    if archived.folds:
        entry["folds"] = [_record_fields(f.trial, f.history) for f in archived.folds]
    if archived.attempt_histories:
        entry["attempt_histories"] = {str(a): [codec.point_fields(p) for p in h] for a, h in sorted(archived.attempt_histories.items())}
    return entry


def _record_fields(trial: Trial, history: Sequence[MetricPoint]) -> dict[str, Any]:
    return {
        "record": {k: codec.loads(v) for k, v in codec.encode_trial(trial).items()},
        "history": [codec.point_fields(p) for p in history],
    }


def parse(doc: Any, source: str) -> ArchivedSweep:
    """The sweep an archive document holds; ArchiveError naming `source`, the field and what was expected."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ArchiveError(f'{source}: not a sweepctl archive (expected a JSON object with "format": "{FORMAT}")')
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ArchiveError(f"{source}: version: expected a whole number from 1, got {version!r}")
    if version > VERSION:
        raise ArchiveError(f"{source}: version: archive version {version} was written by a newer sweepctl; this one reads up to {VERSION}")
    sweep = _sweep(_get(doc, "sweep", dict, source), source)
    entries = _get(doc, "trials", list, source)
    trials = tuple(_trial(entry, i, sweep.id, source) for i, entry in enumerate(entries))
    numbers = [t.trial.number for t in trials]
    if len(set(numbers)) != len(numbers):
        raise ArchiveError(f"{source}: trials: a trial number appears twice")
    return ArchivedSweep(
        sweep=sweep,
        trials=trials,
        finished=_numbers(_get(doc, "finished", list, source), set(numbers), "finished", source),
        objective=_objective(_get(doc, "objective", list, source), set(numbers), source),
        rejections=_counters(_get(doc, "rejections", dict, source), "rejections", source, int),
        stats=_counters(_get(doc, "stats", dict, source), "stats", source, float),
        archived_at=float(_get(doc, "archived_at", (int, float), source)),
    )


def restored(archived: ArchivedSweep, *, as_id: str | None, now: float) -> ArchivedSweep:
    """The sweep as `restore` writes it: under `as_id` (else its own id), marked restored at `now`.

    A trial that had not ended when it was archived (a sweep deleted with --force while a trial ran on)
    is recorded CANCELLED, saying so, and counted finished: a restored sweep runs nothing.
    """
    sweep_id = as_id or archived.sweep.id
    trials = []
    ended = []
    for entry in archived.trials:
        if not entry.trial.state.is_finished:
            ended.append(entry.trial.number)
        folds = tuple(ArchivedFold(_ended(f.trial, sweep_id, archived.archived_at), f.history) for f in entry.folds)
        trials.append(replace(entry, trial=_ended(entry.trial, sweep_id, archived.archived_at), folds=folds))
    return replace(
        archived,
        sweep=replace(archived.sweep, id=sweep_id, restored_at=now),
        trials=tuple(trials),
        finished=(*archived.finished, *(n for n in ended if n not in archived.finished)),
    )


def _ended(trial: Trial, sweep_id: str, archived_at: float) -> Trial:
    """A trial's (or a fold's) record under `sweep_id`, CANCELLED at `archived_at` when it had not ended."""
    trial = replace(trial, sweep_id=sweep_id)
    if trial.state.is_finished:
        return trial
    error = f"{trial.state.value} when its sweep was archived; a restored sweep runs nothing"
    return replace(trial, state=TrialState.CANCELLED, error=error, ended_at=archived_at)


def counts_of(trials: Sequence[ArchivedTrial]) -> dict[TrialState, int]:
    """Trials by state, as the store counts them."""
    found = Counter(t.trial.state for t in trials)
    return {state: found[state] for state in TrialState}


def id_problem(sweep_id: str) -> str | None:
    """Why `sweep_id` cannot name a restored sweep, or None."""
    if _ID.fullmatch(sweep_id):
        return None
    return "expected 1 to 64 letters, digits, '_' or '-', starting with a letter or digit"


def _get(doc: Mapping[str, Any], name: str, kind: type | tuple[type, ...], source: str) -> Any:
    value = doc.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        wanted = kind.__name__ if isinstance(kind, type) else "a number"
        raise ArchiveError(f"{source}: {name}: expected {_a(wanted)}, got {type(value).__name__}")
    return value


def _a(kind: str) -> str:
    names = {"dict": "an object", "list": "a list", "str": "a string", "int": "a whole number"}
    return names.get(kind, kind)


def _sweep(fields: Mapping[str, Any], source: str) -> Sweep:
    try:
        sweep = codec.decode_sweep({k: codec.dumps(v) for k, v in fields.items()})
    except (KeyError, TypeError, ValueError) as exc:
        raise ArchiveError(f"{source}: sweep: not a sweep record ({exc})") from exc
    if not isinstance(sweep.id, str) or id_problem(sweep.id) is not None:
        raise ArchiveError(f"{source}: sweep.id: {id_problem(str(sweep.id))}, got {sweep.id!r}")
    if not sweep.state.is_terminal or sweep.state is SweepState.DELETING:
        raise ArchiveError(
            f"{source}: sweep.state: expected an ended sweep (stopped, cancelled, finished or failed), got {sweep.state.value}"
        )
    return sweep


def _trial(entry: Any, i: int, sweep_id: str, source: str) -> ArchivedTrial:
    where = f"{source}: trials[{i}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("record"), dict) or not isinstance(entry.get("history"), list):
        raise ArchiveError(f"{where}: expected an object with a record (object) and a history (list)")
    trial = _record(entry["record"], f"{where}.record")
    if trial.sweep_id != sweep_id or not _whole(trial.number):
        raise ArchiveError(
            f"{where}.record: expected a trial of sweep {sweep_id} with a whole number, got {trial.sweep_id!r}/{trial.number!r}"
        )
    folds = _folds(entry.get("folds", []), trial, f"{where}.folds")
    earlier = _attempt_histories(entry.get("attempt_histories", {}), trial, f"{where}.attempt_histories")
    return ArchivedTrial(trial, _history(entry["history"], f"{where}.history"), folds, earlier)


def _record(fields: dict[str, Any], where: str) -> Trial:
    try:
        return codec.decode_trial({k: codec.dumps(v) for k, v in fields.items()})
    except (KeyError, TypeError, ValueError) as exc:
        raise ArchiveError(f"{where}: not a trial record ({exc})") from exc


def _history(points: list[Any], where: str) -> tuple[MetricPoint, ...]:
    try:
        return tuple(codec.point_of(point) for point in points)
    except (KeyError, TypeError, ValueError) as exc:
        raise ArchiveError(f'{where}: expected points {{"t": time, "step": step, "v": {{name: value}}}} ({exc})') from exc


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _folds(entries: Any, trial: Trial, where: str) -> tuple[ArchivedFold, ...]:
    """A k-fold trial's folds: each a record of this trial with its own fold index (0 .. folds-1), once."""
    if not isinstance(entries, list):
        raise ArchiveError(f"{where}: expected a list of folds, got {type(entries).__name__}")
    found: list[ArchivedFold] = []
    for i, entry in enumerate(entries):
        at = f"{where}[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("record"), dict) or not isinstance(entry.get("history"), list):
            raise ArchiveError(f"{at}: expected an object with a record (object) and a history (list)")
        fold = _record(entry["record"], f"{at}.record")
        index, k = fold.fold, trial.folds or 0
        if (fold.sweep_id, fold.number) != (trial.sweep_id, trial.number) or not isinstance(index, int) or isinstance(index, bool):
            raise ArchiveError(f"{at}.record: expected a fold of trial {trial.number} (a whole fold index), got {fold.number!r}/{index!r}")
        if not 0 <= index < k or index in {f.trial.fold for f in found}:
            raise ArchiveError(f"{at}.record.fold: expected a fold not given before, 0 to {k - 1} (the trial has {k} folds), got {index}")
        found.append(ArchivedFold(fold, _history(entry["history"], f"{at}.history")))
    return tuple(found)


def _attempt_histories(entries: Any, trial: Trial, where: str) -> dict[int, tuple[MetricPoint, ...]]:
    """The histories of a retried trial's earlier attempts, by attempt number (1 .. attempt-1)."""
    if not isinstance(entries, dict):
        raise ArchiveError(f"{where}: expected an object of attempt number -> points, got {type(entries).__name__}")
    found = {}
    for name, points in entries.items():
        attempt = int(name) if isinstance(name, str) and name.isdigit() else 0
        if not 1 <= attempt < trial.attempt or not isinstance(points, list):
            raise ArchiveError(f"{where}.{name}: expected an earlier attempt (1 to {trial.attempt - 1}) with a list of points")
        found[attempt] = _history(points, f"{where}.{name}")
    return found


def _numbers(values: list[Any], known: set[int], name: str, source: str) -> tuple[int, ...]:
    if any(n not in known for n in values):
        raise ArchiveError(f"{source}: {name}: expected numbers of the archive's trials, got {[n for n in values if n not in known][:5]}")
    return tuple(values)


def _objective(values: list[Any], known: set[int], source: str) -> tuple[tuple[int, float], ...]:
    pairs = []
    for entry in values:
        if not (isinstance(entry, list) and len(entry) == 2 and entry[0] in known and isinstance(entry[1], (int, float))):
            raise ArchiveError(f"{source}: objective: expected [trial number, objective] pairs of the archive's trials, got {entry!r}")
        pairs.append((int(entry[0]), float(entry[1])))
    return tuple(pairs)


def _counters(values: Mapping[str, Any], name: str, source: str, kind: type) -> dict[str, Any]:
    bad = [k for k, v in values.items() if not isinstance(v, (int, float)) or isinstance(v, bool)]
    if bad:
        raise ArchiveError(f"{source}: {name}.{bad[0]}: expected a number, got {values[bad[0]]!r}")
    return {k: kind(v) for k, v in values.items()}
