"""Metric points and results: the fenced writes of a running attempt, in atomic chunks, and their reads."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from sweepctl import codec
from sweepctl.errors import StoreError, StoreUnavailable
from sweepctl.records import MetricPoint, TrialState
from sweepctl.store import keys
from sweepctl.store.base import StoreBase, pairs
from sweepctl.store.outcomes import (
    MAX_POINT_BYTES,
    WRITE_CHUNK_BYTES,
    WRITE_CHUNK_POINTS,
    Outcome,
    valid_point,
)


def _chunks(encoded: Sequence[str]) -> list[list[str]]:
    """`encoded` points in order, cut into chunks of at most WRITE_CHUNK_POINTS points and WRITE_CHUNK_BYTES."""
    chunks: list[list[str]] = []
    size = 0
    for point in encoded:
        if not chunks or len(chunks[-1]) >= WRITE_CHUNK_POINTS or size + len(point) > WRITE_CHUNK_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(point)
        size += len(point)
    return chunks


def _numbered(first_point: int | None) -> int | str:
    return "" if first_point is None else first_point


class MetricWrites(StoreBase):
    """Metric histories, results, and the refusals counted around them."""

    def count_rejections(self, sweep_id: str, reasons: Mapping[str, int]) -> None:
        """Count refusals decided outside the scripts (bad metric payloads, rejected report lines), while the sweep exists."""
        if reasons:
            increments = [x for reason, count in reasons.items() for x in (reason, str(int(count)))]
            self._scripts.add_to_counters(sweep=keys.sweep_key(sweep_id), counters=keys.rejections_key(sweep_id), rest=increments)

    def rejections(self, sweep_id: str) -> dict[str, int]:
        """Writes refused by the fences, by reason (stale attempt, unknown trial, ...)."""
        return {k: int(v) for k, v in self.redis.hgetall(keys.rejections_key(sweep_id)).items()}

    def record_progress(
        self,
        sweep_id: str,
        number: int,
        attempt: int,
        points: Sequence[MetricPoint] = (),
        *,
        first_point: int | None = None,
        fold: int | None = None,
        **fields: Any,
    ) -> Outcome:
        """Append metric points and update fields of a RUNNING trial (or of its fold `fold`), fenced by attempt.

        Points are checked first (metric names, float values, integer steps, at
        most MAX_POINT_BYTES each): one bad point refuses the whole write, counted.
        Any number of points may be given: they are written in chunks of at most
        WRITE_CHUNK_POINTS points (WRITE_CHUNK_BYTES), each one atomic step, the
        fields with the last. With `first_point`, the attempt's number of the first
        point (0, 1, ... as the trial reported them), a write retried after a lost
        reply skips the points already written: nothing is appended twice.
        """
        encoded = self._encode_points(sweep_id, points)
        if encoded is None:
            return Outcome.INVALID
        return self._append_progress(sweep_id, number, attempt, encoded, first_point, pairs(fields), keep_last=False, fold=fold)[0]

    def _append_progress(
        self,
        sweep_id: str,
        number: int,
        attempt: int,
        encoded: list[str],
        first_point: int | None,
        fields: list[str],
        *,
        keep_last: bool,
        fold: int | None = None,
    ) -> tuple[Outcome, list[str], int | None]:
        """Write the points chunk by chunk (fields with the last); with `keep_last`, the last chunk is
        returned unwritten for the caller's own atomic step. (outcome, points left, number of the first left)."""
        chunks = _chunks(encoded)
        if keep_last:
            chunks, left = chunks[:-1], (chunks[-1] if chunks else [])
        else:
            chunks, left = chunks or [[]], []
        record, metrics = keys.record_keys(sweep_id, number, fold)
        for i, chunk in enumerate(chunks):
            written = fields if not keep_last and i == len(chunks) - 1 else []
            result = self._scripts.progress(
                trial=record,
                metrics=metrics,
                rejections=keys.rejections_key(sweep_id),
                sweep=keys.sweep_key(sweep_id),
                attempt=codec.dumps(attempt),
                numbered_from=_numbered(first_point),
                field_pairs=len(written) // 2,
                rest=[*written, *chunk],
            )
            if result != Outcome.OK.value:
                return Outcome(result), [], first_point
            if first_point is not None:
                first_point += len(chunk)
        return Outcome.OK, left, first_point

    def _encode_points(self, sweep_id: str, points: Sequence[MetricPoint]) -> list[str] | None:
        """The points as stored; None (and the refusal counted) when any is invalid: one bad point refuses all."""
        encoded = [codec.encode_point(p) for p in points if valid_point(p)]
        if len(encoded) != len(points) or any(len(e) > MAX_POINT_BYTES for e in encoded):
            self.count_rejections(sweep_id, {"invalid_metrics": 1})
            return None
        return encoded

    def finish_trial(
        self,
        sweep_id: str,
        number: int,
        attempt: int,
        state: TrialState,
        objective: float | None = None,
        *,
        points: Sequence[MetricPoint] = (),
        first_point: int | None = None,
        fold: int | None = None,
        **fields: Any,
    ) -> Outcome:
        """QUEUED/RUNNING -> a final state, fenced by attempt; wakes the controllers.

        With `fold`, of that fold of a k-fold trial: its trial then follows (`sweepctl.kfold`),
        concluded in the same atomic step when this was its last fold to end.

        `points` (the trial's last metric points) are appended in the same atomic
        step as the result; invalid ones are dropped and counted, as
        `record_progress` would refuse them. More than one chunk of points (see
        `record_progress`) goes first as progress of the running trial, the last
        chunk with the result. With `first_point` (as in `record_progress`) a
        retry after a lost reply appends none of them twice.
        """
        assert state.is_finished, state
        if objective is not None and not math.isfinite(objective):
            raise StoreError(
                f"trial {number} of sweep {sweep_id!r}: objective must be finite, got {objective} (record it as {TrialState.NAN.value})"
            )
        outcome, last, first_point = self._append_progress(
            sweep_id, number, attempt, self._encode_points(sweep_id, points) or [], first_point, [], keep_last=True, fold=fold
        )
        if outcome is not Outcome.OK:
            return outcome
        written = pairs({"state": state, "objective": objective, **fields})
        return self._finish(sweep_id, number, fold, attempt, state, objective, last, first_point, written)

    def _finish(
        self, sweep_id: str, number: int, fold: int | None, attempt: int, state: TrialState, objective: float | None,
        points: list[str], first_point: int | None, fields: list[str],
    ) -> Outcome:
        """The finishing step itself: the result, its fields and the last `points`, in one script call (of a fold:
        also its trial's turn)."""
        record, metrics = keys.record_keys(sweep_id, number, fold)
        # A fold's finish also names the fold's record and its index; the rest is the trial's finish.
        own: dict[str, Any] = {}
        if fold is not None:
            own = {"fold": record, "index": fold, "channel": keys.trial_control_channel(sweep_id, number)}
        script = self._scripts.finish if fold is None else self._scripts.finish_fold
        named = dict(
            **own,
            **keys.end_keys(sweep_id, lease=True),
            trial=keys.trial_key(sweep_id, number),
            objective=keys.objective_key(sweep_id),
            metrics=metrics,
            number=number,
            attempt=codec.dumps(attempt),
            state=state.value,
            objective_value="" if objective is None else repr(objective),
            sweep_id=sweep_id,
            lease_member=keys.lease_member(sweep_id, number, fold),
            numbered_from=_numbered(first_point),
            field_pairs=len(fields) // 2,
        )
        wait = self.replica_wait
        if not wait.replicas:
            return Outcome(script(rest=[*fields, *points], **named))
        result, confirmed = script.call_then_wait(wait.replicas, wait.timeout_ms, rest=[*fields, *points], **named)
        if result == Outcome.OK.value and confirmed < wait.replicas:
            # Not acknowledged: a failover now could lose it. The caller writes it again (the script answers
            # 'ok' to the same result of the same attempt), on the new master if there was a failover.
            raise StoreUnavailable(
                f"the result of trial {sweep_id}/{number} reached {confirmed} of the {wait.replicas} replicas asked for"
                f" within {wait.timeout_ms} ms"
            )
        return Outcome(result)

    def metric_points_since(self, sweep_id: str, offsets: Mapping[int, int]) -> dict[int, list[MetricPoint]]:
        """For each trial number, the metric points after position `offset` of its history, in one round trip."""
        numbers = list(offsets)
        pipe = self.redis.pipeline(transaction=False)
        for n in numbers:
            pipe.lrange(keys.metrics_key(sweep_id, n), offsets[n], -1)
        return {n: [codec.decode_point(raw) for raw in found] for n, found in zip(numbers, pipe.execute())}

    def metric_history(self, sweep_id: str, number: int, *, fold: int | None = None, attempt: int | None = None) -> list[MetricPoint]:
        """A trial's metric history now, or with `fold` that fold's (a k-fold trial's own history is empty); with
        `attempt`, the one that earlier attempt of the trial left when `retry` ran it again."""
        key = keys.record_keys(sweep_id, number, fold)[1] if attempt is None else keys.attempt_metrics_key(sweep_id, number, attempt)
        return [codec.decode_point(raw) for raw in self.redis.lrange(key, 0, -1)]
