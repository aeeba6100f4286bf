"""Deleting, archiving and restoring sweeps: what `sweepctl delete`, `archive` and `restore` do to the store.

Which sweeps may go, and why others are refused, is `sweepctl.retention`; the archive document is
`sweepctl.archive` and its file `sweepctl.archive_file`; removing keys in batches and writing an archived
sweep back is the store's (`sweepctl.store.removal`).

A delete goes: refuse a live sweep (or, with --force, cancel it), wait for its trials to end, write the
archive and read it back (when asked), mark the sweep DELETING (from then on no controller creates or
sends its trials, no worker starts one, and a worker still running one stops it and has its writes
refused), then remove its trials in batches and its record last. Run again after an interruption, it
goes on from where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sweepctl import __version__, archive, archive_file, lifecycle, retention
from sweepctl.analysis.table import trial_table
from sweepctl.archive import ArchivedFold, ArchivedSweep, ArchivedTrial
from sweepctl.errors import ConfigError, StoreError, SweepError, SweepStateError, UnknownSweepError
from sweepctl.export import json_rows, space_of
from sweepctl.records import MetricPoint, Sweep, SweepState
from sweepctl.store import WRITE_BATCH, Store

READ_BATCH = 500  # trials (and their histories) read per round trip while archiving


@dataclass(frozen=True)
class Written:
    """An archive written and read back."""

    path: str
    bytes: int
    trials: int
    points: int


@dataclass(frozen=True)
class Deletion:
    """What `delete_sweep` did."""

    sweep_id: str
    state: SweepState  # as found: DELETING when it finished an interrupted delete (or restore)
    forced: bool  # a live sweep cancelled for the delete
    trials: int  # trials whose keys were removed
    archive: Written | None
    memory_before: int | None  # Redis' used memory (INFO), None when the Redis user may not read it
    memory_after: int | None
    seconds: float


@dataclass(frozen=True)
class BulkEntry:
    """One sweep of `archive_old`: its archive, and whether it was deleted (or why not)."""

    sweep_id: str
    state: SweepState
    ended_at: float  # when it was last in use: its end, or its restore (`retention.ended_at`)
    archive: str
    deleted: bool
    bytes: int | None = None
    trials: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Restored:
    """What `restore_sweep` wrote back."""

    sweep_id: str
    archive: str
    state: SweepState
    trials: int
    points: int
    archived_at: float
    restored_at: float


def delete_sweep(
    store: Store,
    sweep_id: str,
    *,
    force: bool = False,
    archive_to: Path | None = None,
    wait_seconds: float = retention.DEFAULT_WAIT_SECONDS,
    on_batch: Callable[[int], None] | None = None,
) -> Deletion:
    """Remove every key of the sweep, after writing its archive to `archive_to` (when given) and reading it back.

    SweepStateError for a live sweep without `force`, one whose trials are still running after `wait_seconds`
    without `force`, or an archive asked of a sweep being deleted already; UnknownSweepError when nothing of it
    is in the store; ArchiveError when the archive cannot be written (nothing is deleted then).
    """
    started = time.monotonic()
    sweep = _found(store, sweep_id)
    before = _memory(store)
    state, forced, written = SweepState.DELETING, False, None
    if sweep is None or sweep.state is SweepState.DELETING:
        if archive_to is not None:
            raise SweepStateError(retention.deleting_archive_refusal(sweep_id))
    else:
        state = sweep.state
        forced = _end(store, sweep, force, wait_seconds)
        written = None if archive_to is None else archive_sweep(store, sweep_id, archive_to)
        moved = store.move_sweep(sweep_id, SweepState.DELETING, retention.ENDED_STATES, reason="being deleted")
        if moved is not None and moved is not SweepState.DELETING:
            raise SweepStateError(retention.moved_refusal(sweep_id, moved))
    store.retire_sweep(sweep_id)  # out of the live set: no controller takes it up again
    trials = _drop(store, sweep_id, on_batch)
    return Deletion(sweep_id, state, forced, trials, written, before, _memory(store), time.monotonic() - started)


def _found(store: Store, sweep_id: str) -> Sweep | None:
    """The sweep's record; None when only keys an interrupted restore wrote are left; UnknownSweepError when nothing is."""
    try:
        return store.get_sweep(sweep_id)
    except UnknownSweepError:
        if store.has_keys(sweep_id):
            return None
        raise


def _end(store: Store, sweep: Sweep, force: bool, wait_seconds: float) -> bool:
    """Refuse a live sweep unless `force` (then cancel it); wait for its trials to end. Whether it was cancelled here."""
    forced = sweep.state in lifecycle.LIVE_STATES
    if forced:
        if not force:
            raise SweepStateError(retention.live_refusal(sweep.id, sweep.state))
        lifecycle.cancel_sweep(store, sweep.id)
    deadline = time.monotonic() + wait_seconds
    active = store.active_numbers(sweep.id)
    while active and time.monotonic() < deadline:
        time.sleep(0.2)
        active = store.active_numbers(sweep.id)
    if active and not force:
        raise SweepStateError(retention.draining_refusal(sweep.id, len(active), wait_seconds))
    return forced


def _drop(store: Store, sweep_id: str, on_batch: Callable[[int], None] | None) -> int:
    """Remove the trials batch by batch, the sweep's own queue, then its record: trials removed."""
    removed = 0
    while dropped := store.drop_trials(sweep_id):
        removed += dropped
        if on_batch is not None:
            on_batch(dropped)
    store.drop_queue(lifecycle.agent_queue(sweep_id))
    store.drop_sweep(sweep_id)
    return removed


def _memory(store: Store) -> int | None:
    try:
        return store.redis_memory().used_bytes
    except StoreError:
        return None  # the Redis user may not run INFO


def read_archived(store: Store, sweep: Sweep) -> ArchivedSweep:
    """Everything of the sweep an archive holds, read in batches of READ_BATCH trials."""
    numbers = store.trial_numbers(sweep.id)
    trials: list[ArchivedTrial] = []
    for i in range(0, len(numbers), READ_BATCH):
        trials += _read_page(store, sweep.id, numbers[i : i + READ_BATCH])
    return ArchivedSweep(
        sweep=sweep,
        trials=tuple(trials),
        finished=tuple(store.finished_numbers(sweep.id)),
        objective=tuple(store.objective_scores(sweep.id)),
        rejections=store.rejections(sweep.id),
        stats=store.sweep_stats(sweep.id),
        archived_at=time.time(),
    )


def _read_page(store: Store, sweep_id: str, numbers: list[int]) -> list[ArchivedTrial]:
    """The trials, their histories, a k-fold trial's folds and a retried trial's earlier histories: four round trips."""
    records = store.get_trials(sweep_id, numbers)
    histories = store.metric_points_since(sweep_id, dict.fromkeys(numbers, 0))
    folds = store.get_folds(sweep_id, records)
    fold_histories, attempt_histories = store.side_histories(sweep_id, records)
    earlier: dict[int, dict[int, tuple[MetricPoint, ...]]] = {}
    for (number, attempt), history in attempt_histories.items():
        if history:  # an attempt taken back from a lost worker kept none aside
            earlier.setdefault(number, {})[attempt] = tuple(history)
    return [
        ArchivedTrial(
            t,
            tuple(histories[t.number]),
            tuple(ArchivedFold(f, tuple(fold_histories[t.number, f.fold or 0])) for f in folds.get(t.number, [])),
            earlier.get(t.number, {}),
        )
        for t in records
    ]


def archive_sweep(store: Store, sweep_id: str, path: Path) -> Written:
    """Write the sweep's archive to `path` (atomically) and read it back; ArchiveError when it cannot."""
    sweep = store.get_sweep(sweep_id)
    archived = read_archived(store, sweep)
    table = trial_table([t.trial for t in archived.trials], space_of(store, sweep))
    doc = archive.document(archived, table.names, json_rows(table), __version__)
    size = archive_file.write(doc, path, sweep_id)
    return Written(str(path), size, len(archived.trials), archived.points)


def archive_old(
    store: Store, older_than: float, folder: Path, *, max_sweeps: int, dry_run: bool, now: float, wait_seconds: float
) -> tuple[list[BulkEntry], int]:
    """Archive to `folder` and delete the ended sweeps last in use `older_than` seconds ago or earlier, oldest
    first, at most `max_sweeps`; with `dry_run` only list them. The entries, and how many more are due.

    One sweep that cannot be archived or deleted is reported in its entry; the others go on.
    """
    chosen = retention.due(_every_sweep(store), older_than, now)
    more = max(0, len(chosen) - max_sweeps)
    if chosen and not dry_run:
        folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for sweep in chosen[:max_sweeps]:
        path = retention.archive_path(folder, sweep.id)
        entry = BulkEntry(sweep.id, sweep.state, retention.ended_at(sweep), str(path), deleted=False)
        if not dry_run:
            entry = _archive_one(store, entry, path, wait_seconds)
        entries.append(entry)
    return entries, more


def _every_sweep(store: Store) -> list[Sweep]:
    found = []
    for sweep_id in store.sweep_ids():
        try:
            found.append(store.get_sweep(sweep_id))
        except UnknownSweepError:
            continue  # deleted meanwhile
    return found


def _archive_one(store: Store, entry: BulkEntry, path: Path, wait_seconds: float) -> BulkEntry:
    try:
        done = delete_sweep(store, entry.sweep_id, archive_to=path, wait_seconds=wait_seconds)
    except SweepError as exc:
        return BulkEntry(entry.sweep_id, entry.state, entry.ended_at, entry.archive, deleted=False, error=str(exc))
    assert done.archive is not None
    return BulkEntry(entry.sweep_id, entry.state, entry.ended_at, entry.archive, True, done.archive.bytes, done.trials)


def restore_sweep(store: Store, path: Path, *, as_id: str | None = None, now: float | None = None) -> Restored:
    """Load an archive back as an ended sweep under its id (or `as_id`), never runnable by a controller.

    ConfigError for a bad `as_id`; ArchiveError for a file that is not a readable archive; SweepStateError
    when a sweep has the id (nothing is written then).
    """
    if as_id is not None and (problem := archive.id_problem(as_id)) is not None:
        raise ConfigError(f"--as {as_id!r}: {problem}")
    archived = archive.parse(archive_file.read(path), str(path))
    plan = archive.restored(archived, as_id=as_id, now=time.time() if now is None else now)
    sweep_id = plan.sweep.id
    taken = store.reserve_sweep(plan.sweep)
    if taken is not None:
        raise SweepStateError(retention.taken_refusal(sweep_id, taken))
    for i in range(0, len(plan.trials), WRITE_BATCH):
        page = plan.trials[i : i + WRITE_BATCH]
        folds = [(f.trial, f.history) for t in page for f in t.folds]
        earlier = {(t.trial.number, a): h for t in page for a, h in t.attempt_histories.items()}
        store.write_trials(sweep_id, [(t.trial, t.history) for t in page], folds, earlier)
    store.write_indexes(sweep_id, plan.finished, plan.objective, archive.counts_of(plan.trials), plan.rejections, plan.stats)
    refused = store.publish_sweep(plan.sweep)
    if refused is not None:
        raise SweepStateError(f"sweep {sweep_id} became {refused.value} while it was restored: its restore was undone meanwhile")
    restored_at = plan.sweep.restored_at or 0.0
    return Restored(sweep_id, str(path), plan.sweep.state, len(plan.trials), plan.points, plan.archived_at, restored_at)
