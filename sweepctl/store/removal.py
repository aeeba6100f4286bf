"""Removing a sweep's keys in bounded batches, and writing an archived sweep back: the store side of delete/restore.

Deleting (`sweepctl.removal` decides when) goes: the sweep marked DELETING (`move_sweep`) and out of the
live set (`retire_sweep`), then `drop_trials` until none is left, then `drop_sweep`. Each step is one
atomic command (a MULTI or a script) over at most DROP_BATCH trials, so a sweep of any size never holds
Redis for more than one batch, and each step takes what it removed out of the sweep's trials zset, so a
delete interrupted anywhere is finished by running it again.

Restoring goes: `reserve_sweep` (the record, DELETING, not listed), `write_trials` and `write_indexes` in
batches, then `publish_sweep` (its own state, listed). Until then no command lists it, no controller or
worker acts on it, and `delete` clears what an interrupted restore left.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sweepctl import codec
from sweepctl.errors import StoreError, UnknownSweepError
from sweepctl.records import MetricPoint, Sweep, SweepState, Trial, TrialState
from sweepctl.store import keys
from sweepctl.store.base import StoreBase
from sweepctl.store.outcomes import params_hash

# Trials removed (their hash and metric history, their folds' and earlier attempts') or written back per step.
DROP_BATCH = 200
WRITE_BATCH = 200
POINTS_PER_PUSH = 1000  # metric points (and finished numbers) per RPUSH of a restore
_NO_HISTORIES: Mapping[tuple[int, int], Sequence[MetricPoint]] = {}


class SweepRemoval(StoreBase):
    """Deleting a sweep's keys in batches, the reads an archive needs, and writing an archived sweep back."""

    # ---- reads for an archive ----------------------------------------------
    def objective_scores(self, sweep_id: str) -> list[tuple[int, float]]:
        """(number, objective) of every trial in the sweep's objective index, lowest objective first."""
        return [(int(n), float(score)) for n, score in self.redis.zrange(keys.objective_key(sweep_id), 0, -1, withscores=True)]

    def sweep_stats(self, sweep_id: str) -> dict[str, float]:
        """The sweep's telemetry counters (durations, GPU-seconds, suggestion latencies) as stored."""
        return {k: float(v) for k, v in self.redis.hgetall(keys.stats_key(sweep_id)).items()}

    def trial_numbers(self, sweep_id: str) -> list[int]:
        """Every trial number of the sweep, ascending."""
        return [int(n) for n in self.redis.zrange(keys.trials_key(sweep_id), 0, -1)]

    def side_histories(
        self, sweep_id: str, trials: Sequence[Trial]
    ) -> tuple[dict[tuple[int, int], list[MetricPoint]], dict[tuple[int, int], list[MetricPoint]]]:
        """In one round trip, the histories kept beside `trials`' own: each fold's of a k-fold trial, by (number, fold),
        and each earlier attempt's of a retried one, by (number, attempt) (1 .. attempt-1; empty where none was kept)."""
        folds = [(t.number, f) for t in trials for f in range(t.folds or 0)]
        attempts = [(t.number, a) for t in trials for a in range(1, t.attempt)]
        pipe = self.redis.pipeline(transaction=False)
        for n, f in folds:
            pipe.lrange(keys.fold_metrics_key(sweep_id, n, f), 0, -1)
        for n, a in attempts:
            pipe.lrange(keys.attempt_metrics_key(sweep_id, n, a), 0, -1)
        found = [[codec.decode_point(raw) for raw in points] for points in pipe.execute()]
        return dict(zip(folds, found)), dict(zip(attempts, found[len(folds) :]))

    # ---- deleting ------------------------------------------------------------
    def drop_trials(self, sweep_id: str, batch: int = DROP_BATCH) -> int:
        """Remove up to `batch` of the sweep's trials (hash, metric history, lease) in one MULTI; how many (0: none left).

        Only for a sweep marked DELETING: the caller (`sweepctl.removal`) marks it first.
        """
        numbers = [int(n) for n in self.redis.zrange(keys.trials_key(sweep_id), 0, batch - 1)]
        if not numbers:
            return 0
        shapes = self._trial_shapes(sweep_id, numbers)
        pipe = self.redis.pipeline(transaction=True)
        pipe.unlink(*(key for n in numbers for key in _trial_keys(sweep_id, n, *shapes[n])))
        pipe.zrem(keys.LEASES, *(member for n in numbers for member in _lease_members(sweep_id, n, shapes[n][0])))
        pipe.zrem(keys.trials_key(sweep_id), *numbers)
        pipe.execute()
        return len(numbers)

    def _trial_shapes(self, sweep_id: str, numbers: list[int]) -> dict[int, tuple[int, int]]:
        """(folds, attempt) of each trial: which fold records and earlier attempts' histories it has (0 folds: none)."""
        pipe = self.redis.pipeline(transaction=False)
        for n in numbers:
            pipe.hmget(keys.trial_key(sweep_id, n), ["folds", "attempt"])
        shapes = {}
        for n, (folds, attempt) in zip(numbers, pipe.execute()):
            shapes[n] = (int(codec.loads(folds) or 0) if folds else 0, int(attempt) if attempt else 1)
        return shapes

    def drop_queue(self, queue: str) -> int:
        """Remove a Celery queue of the sweep's own (`sweepctl.agent.<id>`): its messages and bindings; keys removed."""
        return int(self.redis.unlink(*keys.celery_queue_keys(queue)))

    def drop_sweep(self, sweep_id: str) -> None:
        """The last step: the record and every index key of a DELETING sweep, and its id out of the global indexes.

        StoreError when its trials are not all dropped yet, or it is not DELETING (a restore took the id back).
        """
        named = keys.sweep_keys(sweep_id)
        result = self._scripts.drop_sweep(**named, sweeps=keys.SWEEPS, live=keys.LIVE_SWEEPS, events=keys.EVENTS, sweep_id=sweep_id)
        if result == "trials_left":
            raise StoreError(f"sweep {sweep_id}: trials are left to drop before its record")
        if result != "ok":
            raise StoreError(f"sweep {sweep_id} is {SweepState(codec.loads(result)).value}, not being deleted: its record is kept")

    def has_keys(self, sweep_id: str) -> bool:
        """Whether any key of the sweep's own is left (its record, or trials an interrupted restore wrote)."""
        return bool(self.redis.exists(keys.sweep_key(sweep_id), keys.trials_key(sweep_id)))

    # ---- restoring -----------------------------------------------------------
    def reserve_sweep(self, sweep: Sweep) -> SweepState | None:
        """Write `sweep`'s record as DELETING and unlisted, unless its id is taken: None, or the state of the sweep that has it."""
        fields = codec.encode_sweep(sweep) | codec.encode_fields({"state": SweepState.DELETING})
        result = self._scripts.reserve_sweep(sweep=keys.sweep_key(sweep.id), rest=[x for kv in fields.items() for x in kv])
        if result == "ok":
            return None
        return SweepState.DELETING if result == "exists" else SweepState(codec.loads(result))

    def write_trials(
        self,
        sweep_id: str,
        trials: Sequence[tuple[Trial, Sequence[MetricPoint]]],
        folds: Sequence[tuple[Trial, Sequence[MetricPoint]]] = (),
        attempt_histories: Mapping[tuple[int, int], Sequence[MetricPoint]] = _NO_HISTORIES,
    ) -> None:
        """Write trials and their metric histories back, with their folds' (records with `fold` set) and the histories
        of their earlier attempts, by (number, attempt) (one pipeline; give the trials of at most WRITE_BATCH at a time)."""
        pipe = self.redis.pipeline(transaction=False)
        written = [(trial, history, None) for trial, history in trials] + [(fold, history, fold.fold) for fold, history in folds]
        for trial, history, index in written:  # a fold's record is keyed by its index, a trial's never (whatever its `fold`)
            record, metrics = keys.record_keys(sweep_id, trial.number, index)
            pipe.hset(record, mapping=codec.encode_trial(trial))
            _push_history(pipe, metrics, history)
        for (number, attempt), history in attempt_histories.items():
            _push_history(pipe, keys.attempt_metrics_key(sweep_id, number, attempt), history)
        for trial, _ in trials:
            pipe.zadd(keys.trials_key(sweep_id), {str(trial.number): trial.number})
            pipe.sadd(keys.params_key(sweep_id), params_hash(trial.params))
        pipe.execute()

    def write_indexes(
        self,
        sweep_id: str,
        finished: Sequence[int],
        objective: Iterable[tuple[int, float]],
        counts: Mapping[TrialState, int],
        rejections: Mapping[str, int],
        stats: Mapping[str, float],
    ) -> None:
        """Write a restored sweep's indexes: finishing order, objectives, counts by state, refusals, telemetry counters."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.unlink(keys.finished_key(sweep_id), keys.objective_key(sweep_id), keys.counts_key(sweep_id))
        for i in range(0, len(finished), POINTS_PER_PUSH):
            pipe.rpush(keys.finished_key(sweep_id), *finished[i : i + POINTS_PER_PUSH])
        scores = {str(n): value for n, value in objective}
        if scores:
            pipe.zadd(keys.objective_key(sweep_id), scores)
        for name, values in (
            (keys.counts_key(sweep_id), {s.value: n for s, n in counts.items() if n}),
            (keys.rejections_key(sweep_id), dict(rejections)),
            (keys.stats_key(sweep_id), _stat_values(stats)),
        ):
            if values:
                pipe.hset(name, mapping=values)
        pipe.execute()

    def publish_sweep(self, sweep: Sweep) -> SweepState | None:
        """Give the reserved record `sweep`'s fields (its own state) and list it: None, or the state that refused it."""
        fields = codec.encode_sweep(sweep)
        result = self._scripts.publish_sweep(
            sweep=keys.sweep_key(sweep.id),
            sweeps=keys.SWEEPS,
            sweep_id=sweep.id,
            created_at=repr(sweep.created_at),
            rest=[x for kv in fields.items() for x in kv],
        )
        if result == "unknown":
            raise UnknownSweepError(f"no sweep {sweep.id!r} in this store (its reservation was deleted meanwhile)")
        return None if result == "ok" else SweepState(codec.loads(result))


def _push_history(pipe: Any, key: str, history: Sequence[MetricPoint]) -> None:
    """Replace the list at `key` by `history` (none left when it is empty), POINTS_PER_PUSH points per RPUSH."""
    pipe.unlink(key)
    encoded = [codec.encode_point(p) for p in history]
    for i in range(0, len(encoded), POINTS_PER_PUSH):
        pipe.rpush(key, *encoded[i : i + POINTS_PER_PUSH])


def _stat_values(stats: Mapping[str, float]) -> dict[str, Any]:
    """Counters as Redis wrote them: whole numbers without a fraction (HINCRBY reads them back), others as floats."""
    return {k: int(v) if float(v).is_integer() else repr(float(v)) for k, v in stats.items()}


def _trial_keys(sweep_id: str, number: int, folds: int, attempt: int) -> list[str]:
    """Every key of one trial: its record and history, each fold's record and history (a k-fold trial), and the
    histories its earlier attempts left when `retry` ran it again (attempts 1 .. attempt-1; UNLINK skips absent ones)."""
    found = [keys.trial_key(sweep_id, number), keys.metrics_key(sweep_id, number)]
    found += [key for f in range(folds) for key in keys.record_keys(sweep_id, number, f)]
    found += [keys.attempt_metrics_key(sweep_id, number, a) for a in range(1, attempt)]
    return found


def _lease_members(sweep_id: str, number: int, folds: int) -> list[str]:
    return [keys.lease_member(sweep_id, number)] + [keys.lease_member(sweep_id, number, f) for f in range(folds)]
