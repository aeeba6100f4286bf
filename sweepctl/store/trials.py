"""Trial records and their fenced transitions: create, claim, renew, stop, re-queue; and the reads around them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sweepctl import codec
from sweepctl.errors import StoreError
from sweepctl.records import StopRequest, SweepState, Trial, TrialState
from sweepctl.spec import Goal
from sweepctl.store import keys
from sweepctl.store.base import StoreBase, pairs
from sweepctl.store.outcomes import DEFAULT_LEASE_SECONDS, Outcome, Requeue, params_hash


class TrialRecords(StoreBase):
    """Trials: their records, the transitions of their attempts, and the sweep's views of them."""

    def trial_count(self, sweep_id: str) -> int:
        return int(self.redis.zcard(keys.trials_key(sweep_id)))

    def create_trial(self, trial: Trial) -> Outcome:
        """Record a new QUEUED trial under its number, only while the sweep is RUNNING and only
        if no trial of the sweep has the same parameters (DUPLICATE otherwise)."""
        sid, n = trial.sweep_id, trial.number
        result = self._scripts.create(
            sweep=keys.sweep_key(sid),
            trial=keys.trial_key(sid, n),
            trials=keys.trials_key(sid),
            active=keys.active_key(sid),
            counts=keys.counts_key(sid),
            params=keys.params_key(sid),
            number=n,
            params_hash=params_hash(trial.params),
            rest=[x for kv in codec.encode_trial(trial).items() for x in kv],
        )
        return Outcome(result)

    def update_trial(self, sweep_id: str, number: int, **fields: Any) -> None:
        """Unfenced update of bookkeeping fields the controller alone writes (e.g. `sent`); nothing for a trial that is gone."""
        self._scripts.set_trial_fields(trial=keys.trial_key(sweep_id, number), rest=pairs(fields))

    def mark_sent(self, sweep_id: str, numbers: Sequence[int], at: float) -> None:
        """Record that these trials were handed to Celery (controller bookkeeping), in one round trip.

        A trial deleted meanwhile (its sweep was) is left gone, not written back as a bare `sent_at`."""
        if not numbers:
            return
        pipe = self.redis.pipeline(transaction=False)
        sent = pairs({"sent_at": at})
        for n in numbers:
            self._scripts.set_trial_fields(trial=keys.trial_key(sweep_id, n), rest=sent, pipeline=pipe)
        pipe.execute()

    def trial_field(self, sweep_id: str, number: int, name: str) -> Any:
        raw = self.redis.hget(keys.trial_key(sweep_id, number), name)
        return None if raw is None else codec.loads(raw)

    def get_trial(self, sweep_id: str, number: int) -> Trial:
        raw = self.redis.hgetall(keys.trial_key(sweep_id, number))
        if not raw:
            raise StoreError(f"no trial {number} in sweep {sweep_id!r}")
        return codec.decode_trial(raw)

    def get_trials(self, sweep_id: str, numbers: Sequence[int] | None = None) -> list[Trial]:
        """The given trials (all of them by default) in one round trip, ordered as asked."""
        if numbers is None:
            numbers = [int(n) for n in self.redis.zrange(keys.trials_key(sweep_id), 0, -1)]
        pipe = self.redis.pipeline(transaction=False)
        for n in numbers:
            pipe.hgetall(keys.trial_key(sweep_id, n))
        return [codec.decode_trial(raw) for raw in pipe.execute() if raw]

    def waiting_messages(self, queue: str) -> int:
        """Celery messages waiting in `queue` (delivered ones, reserved by a worker, are not counted)."""
        return int(self.redis.llen(keys.celery_queue_key(queue)))

    def active_numbers(self, sweep_id: str) -> list[int]:
        return sorted(int(n) for n in self.redis.smembers(keys.active_key(sweep_id)))

    def finished_numbers(self, sweep_id: str, start: int = 0) -> list[int]:
        """Numbers of finished trials in finishing order, from position `start` (for incremental reads)."""
        return [int(n) for n in self.redis.lrange(keys.finished_key(sweep_id), start, -1)]

    def counts(self, sweep_id: str) -> dict[TrialState, int]:
        raw = self.redis.hgetall(keys.counts_key(sweep_id))
        return {state: int(raw.get(state.value, 0)) for state in TrialState}

    def best_objective(self, sweep_id: str, goal: Goal) -> float | None:
        zkey = keys.objective_key(sweep_id)
        found = self.redis.zrange(zkey, 0, 0, withscores=True, desc=goal is Goal.MAXIMIZE)
        return None if not found else float(found[0][1])

    def best_trial(self, sweep_id: str, goal: Goal) -> Trial | None:
        """The completed trial with the best objective (lowest number wins ties)."""
        score = self.best_objective(sweep_id, goal)
        if score is None:
            return None
        tied = self.redis.zrangebyscore(keys.objective_key(sweep_id), score, score)
        return self.get_trial(sweep_id, min(int(n) for n in tied))

    def claim_trial(
        self, sweep_id: str, number: int, attempt: int, *, lease_seconds: float = DEFAULT_LEASE_SECONDS, **fields: Any
    ) -> Outcome:
        """QUEUED -> RUNNING for this attempt, holding a lease of `lease_seconds`, unless the sweep was cancelled.

        In a paused sweep the trial stays QUEUED and is recorded as held (PAUSED): this delivery
        of it is spent, and the controller sends it again when the sweep resumes (`take_held`).
        """
        result = self._scripts.claim(
            trial=keys.trial_key(sweep_id, number),
            counts=keys.counts_key(sweep_id),
            sweep=keys.sweep_key(sweep_id),
            leases=keys.LEASES,
            rejections=keys.rejections_key(sweep_id),
            held=keys.held_key(sweep_id),
            attempt=codec.dumps(attempt),
            lease_seconds=lease_seconds,
            lease_member=keys.lease_member(sweep_id, number),
            number=number,
            rest=pairs(fields),
        )
        return Outcome(result)

    def renew_lease(self, sweep_id: str, number: int, attempt: int, worker: str, lease_seconds: float) -> Outcome:
        """Extend the lease of a running attempt held by `worker`; anything but OK means it is no longer ours."""
        result = self._scripts.renew(
            trial=keys.trial_key(sweep_id, number),
            leases=keys.LEASES,
            rejections=keys.rejections_key(sweep_id),
            sweep=keys.sweep_key(sweep_id),
            attempt=codec.dumps(attempt),
            worker=codec.dumps(worker),
            lease_seconds=lease_seconds,
            lease_member=keys.lease_member(sweep_id, number),
        )
        return Outcome(result)

    def request_stop(self, sweep_id: str, number: int, attempt: int, request: StopRequest) -> Outcome:
        """Mark a running attempt to be stopped early; its worker sees it within a control interval."""
        result = self._scripts.request_stop(
            trial=keys.trial_key(sweep_id, number),
            rejections=keys.rejections_key(sweep_id),
            sweep=keys.sweep_key(sweep_id),
            attempt=codec.dumps(attempt),
            decision=codec.dumps(dataclasses.asdict(request)),
        )
        return Outcome(result)

    def trial_control(self, sweep_id: str, number: int) -> tuple[SweepState, StopRequest | None]:
        """What a running trial's worker polls: the sweep's state and any stop request, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(keys.sweep_key(sweep_id), "state")
        pipe.hget(keys.trial_key(sweep_id, number), "stop_requested")
        state, stop = pipe.execute()
        request = codec.loads(stop) if stop else None  # a trial without a request holds JSON null
        # A sweep deleted meanwhile reads as DELETING: its running trials stop, as they would while it is deleted.
        sweep_state = SweepState.DELETING if state is None else SweepState(codec.loads(state))
        return sweep_state, (StopRequest(**request) if request else None)

    def expired_leases(self, limit: int = 1000) -> list[tuple[str, int]]:
        """(sweep id, number) of running trials whose lease expired by Redis' clock."""
        seconds, micros = self.redis.time()
        members = self.redis.zrangebyscore(keys.LEASES, "-inf", seconds + micros / 1e6, start=0, num=limit)
        return [keys.parse_lease_member(m) for m in members]

    def requeue_trial(
        self, sweep_id: str, number: int, *, max_lost: int, reason: str, attempt: int | None = None
    ) -> Requeue:
        """Take a running trial back: as attempt+1 in the queue, or LOST after `max_lost` lost attempts.

        Without `attempt` this is the reaper's move and happens only if the lease
        has expired; with it, the holder of that attempt hands the trial back.
        """
        result = self._scripts.requeue(
            trial=keys.trial_key(sweep_id, number),
            leases=keys.LEASES,
            counts=keys.counts_key(sweep_id),
            active=keys.active_key(sweep_id),
            finished=keys.finished_key(sweep_id),
            events=keys.EVENTS,
            rejections=keys.rejections_key(sweep_id),
            stats=keys.stats_key(sweep_id),
            host_trials=keys.HOST_TRIALS,
            sweep=keys.sweep_key(sweep_id),
            number=number,
            lease_member=keys.lease_member(sweep_id, number),
            attempt="" if attempt is None else codec.dumps(attempt),
            reason=reason,
            max_lost=max_lost,
            sweep_id=sweep_id,
        )
        return Requeue(result)

    def admit_trial(self, agent_id: str, number: int, cap: int) -> bool:
        """Count trial `number` among the at most `cap` of a counted agent; False when its count is full.

        A number counted already is admitted again (another attempt of the same trial).
        """
        return bool(self._scripts.admit(admitted=keys.agent_trials_key(agent_id), number=number, cap=cap, ttl=keys.AGENT_TTL_SECONDS))

    def admitted_trials(self, agent_id: str) -> list[int]:
        """The trials a counted agent counted so far."""
        return sorted(int(n) for n in self.redis.smembers(keys.agent_trials_key(agent_id)))

    def forget_count(self, agent_id: str) -> None:
        """Drop a counted agent's set of trials (its workers are gone)."""
        self.redis.delete(keys.agent_trials_key(agent_id))
