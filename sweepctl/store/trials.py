"""Trial records and their fenced transitions: create, claim, renew, stop, re-queue; and the reads around them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sweepctl import codec
from sweepctl.errors import StoreError, UnknownSweepError
from sweepctl.records import ATTEMPT_FIELDS, StopRequest, SweepState, Trial, TrialState
from sweepctl.spec import Goal
from sweepctl.store import keys
from sweepctl.store.base import StoreBase, pairs
from sweepctl.store.control import ControlSignals
from sweepctl.store.outcomes import DEFAULT_LEASE_SECONDS, Outcome, Requeue, Retried, params_hash


def _attempt_defaults() -> list[str]:
    """ATTEMPT_FIELDS with the values a trial starts with, as stored: field, value, field, value, ..."""
    defaults: dict[str, Any] = {}
    for f in dataclasses.fields(Trial):
        if f.name in ATTEMPT_FIELDS:
            defaults[f.name] = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
    return pairs(defaults)


_ATTEMPT_DEFAULTS = _attempt_defaults()
_RETRY_REFUSALS = {"sweep": Retried.SWEEP_REFUSED, "state": Retried.NOT_ASKED, "unknown_trial": Retried.UNKNOWN}


class TrialRecords(StoreBase):
    """Trials: their records, the transitions of their attempts, and the sweep's views of them."""

    def trial_count(self, sweep_id: str) -> int:
        return int(self.redis.zcard(keys.trials_key(sweep_id)))

    def create_trial(self, trial: Trial) -> Outcome:
        """Record a new QUEUED trial under its number, only while the sweep is RUNNING and only
        if no trial of the sweep has the same parameters (DUPLICATE otherwise). A k-fold trial
        (`trial.folds`) is recorded with its fold records, each QUEUED as attempt 1."""
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
            folds=trial.folds or 0,
            rest=[x for kv in codec.encode_trial(trial).items() for x in kv],
        )
        return Outcome(result)

    def update_trial(self, sweep_id: str, number: int, *, fold: int | None = None, **fields: Any) -> None:
        """Unfenced update of bookkeeping fields the controller alone writes (e.g. `sent_at`), of the trial or one fold
        of it; nothing for a trial that is gone (its sweep was deleted)."""
        self._scripts.set_trial_fields(trial=keys.record_keys(sweep_id, number, fold)[0], rest=pairs(fields))

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

    def get_trial(self, sweep_id: str, number: int, *, fold: int | None = None) -> Trial:
        """A trial's record, or with `fold` the record of that fold of a k-fold trial (a Trial with `fold` set)."""
        raw = self.redis.hgetall(keys.record_keys(sweep_id, number, fold)[0])
        if not raw:
            what = f"trial {number}" if fold is None else f"fold {fold} of trial {number}"
            raise StoreError(f"no {what} in sweep {sweep_id!r}")
        return codec.decode_trial(raw)

    def get_folds(self, sweep_id: str, trials: Sequence[Trial]) -> dict[int, list[Trial]]:
        """The fold records of each k-fold trial among `trials` (by number, in fold order), in one round trip."""
        wanted = [(t.number, f) for t in trials if t.folds for f in range(t.folds)]
        pipe = self.redis.pipeline(transaction=False)
        for number, f in wanted:
            pipe.hgetall(keys.fold_key(sweep_id, number, f))
        found: dict[int, list[Trial]] = {t.number: [] for t in trials if t.folds}
        for (number, _), raw in zip(wanted, pipe.execute()):
            if raw:
                found[number].append(codec.decode_trial(raw))
        return found

    def completed_objectives(self, sweep_id: str) -> list[float]:
        """The objectives of every completed trial (for a k-fold trial, its folds' mean), lowest first."""
        return [float(score) for _, score in self.redis.zrange(keys.objective_key(sweep_id), 0, -1, withscores=True)]

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
        self,
        sweep_id: str,
        number: int,
        attempt: int,
        *,
        fold: int | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        **fields: Any,
    ) -> Outcome:
        """QUEUED -> RUNNING for this attempt (of the trial, or of its fold `fold`), holding a lease of
        `lease_seconds`, unless the sweep was cancelled. A k-fold trial is RUNNING once a fold is.

        In a paused sweep the trial stays QUEUED and is recorded as held (PAUSED): this delivery
        of it is spent, and the controller sends it again when the sweep resumes (`take_held`).
        """
        # A fold's claim also names the fold's record; the rest is the trial's claim.
        own: dict[str, Any] = {} if fold is None else {"fold": keys.fold_key(sweep_id, number, fold)}
        result = (self._scripts.claim if fold is None else self._scripts.claim_fold)(
            **own,
            trial=keys.trial_key(sweep_id, number),
            counts=keys.counts_key(sweep_id),
            sweep=keys.sweep_key(sweep_id),
            leases=keys.LEASES,
            rejections=keys.rejections_key(sweep_id),
            held=keys.held_key(sweep_id),
            attempt=codec.dumps(attempt),
            lease_seconds=lease_seconds,
            lease_member=keys.lease_member(sweep_id, number, fold),
            number=number,
            rest=pairs(fields),
        )
        return Outcome(result)

    def renew_lease(
        self, sweep_id: str, number: int, attempt: int, worker: str, lease_seconds: float, *, fold: int | None = None
    ) -> Outcome:
        """Extend the lease of a running attempt (of the trial, or of its fold `fold`) held by `worker`;
        anything but OK means it is no longer ours."""
        result = self._scripts.renew(
            trial=keys.record_keys(sweep_id, number, fold)[0],
            leases=keys.LEASES,
            rejections=keys.rejections_key(sweep_id),
            sweep=keys.sweep_key(sweep_id),
            attempt=codec.dumps(attempt),
            worker=codec.dumps(worker),
            lease_seconds=lease_seconds,
            lease_member=keys.lease_member(sweep_id, number, fold),
        )
        return Outcome(result)

    def request_stop(self, sweep_id: str, number: int, attempt: int, request: StopRequest) -> Outcome:
        """Mark a running attempt to be stopped early; its worker is told on the trial's control channel."""
        result = self._scripts.request_stop(
            trial=keys.trial_key(sweep_id, number),
            rejections=keys.rejections_key(sweep_id),
            sweep=keys.sweep_key(sweep_id),
            attempt=codec.dumps(attempt),
            decision=codec.dumps(dataclasses.asdict(request)),
            channel=keys.trial_control_channel(sweep_id, number),
        )
        return Outcome(result)

    def stop_folds(self, sweep_id: str, number: int, request: StopRequest) -> Outcome:
        """Stop a running k-fold trial early: its queued folds end unrun, its running folds' workers see the request
        (`trial_control`), and it ends STOPPED with its last fold. NOT_RUNNING when it is not running or stopping already."""
        result = self._scripts.stop_folds(
            **keys.end_keys(sweep_id, lease=False),
            trial=keys.trial_key(sweep_id, number),
            objective=keys.objective_key(sweep_id),
            number=number,
            sweep_id=sweep_id,
            request=codec.dumps(dataclasses.asdict(request)),
            reason=request.reason,
            channel=keys.trial_control_channel(sweep_id, number),
        )
        return Outcome(result)

    def control_signals(self, fallback: float) -> ControlSignals:
        """A worker slot's listener for what makes its trial's control worth reading (`ControlSignals`): a stop of
        the trial, a change of the sweep's state; on a connection of its own, read at least every `fallback` s."""
        return ControlSignals(self.redis, fallback)

    def trial_control(self, sweep_id: str, number: int) -> tuple[SweepState, StopRequest | None]:
        """What a running trial's worker reads when told (`control_signals`): the sweep's state and any stop request,
        in one round trip.

        A fold's worker polls its trial's: a k-fold trial is stopped as a whole (`stop_folds`, or a fold that failed)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(keys.sweep_key(sweep_id), "state")
        pipe.hget(keys.trial_key(sweep_id, number), "stop_requested")
        state, stop = pipe.execute()
        request = codec.loads(stop) if stop else None  # a trial without a request holds JSON null
        # A sweep deleted meanwhile reads as DELETING: its running trials stop, as they would while it is deleted.
        sweep_state = SweepState.DELETING if state is None else SweepState(codec.loads(state))
        return sweep_state, (StopRequest(**request) if request else None)

    def expired_leases(self, limit: int = 1000) -> list[tuple[str, int, int | None]]:
        """(sweep id, number, fold) of running trials (fold None) and folds whose lease expired by Redis' clock."""
        seconds, micros = self.redis.time()
        members = self.redis.zrangebyscore(keys.LEASES, "-inf", seconds + micros / 1e6, start=0, num=limit)
        return [keys.parse_lease_member(m) for m in members]

    def requeue_trial(
        self, sweep_id: str, number: int, *, max_lost: int, reason: str, attempt: int | None = None, fold: int | None = None
    ) -> Requeue:
        """Take a running trial (or its fold `fold`) back: as attempt+1 in the queue, or LOST after `max_lost` lost attempts.

        Without `attempt` this is the reaper's move and happens only if the lease
        has expired; with it, the holder of that attempt hands the trial back.
        A fold LOST ends its trial; a fold of a trial being stopped ends STOPPED (not run again).
        """
        # A fold's requeue also names the fold's record, its index and the objectives its trial's end may write.
        own: dict[str, Any] = {}
        if fold is not None:
            own = {
                "fold": keys.fold_key(sweep_id, number, fold),
                "objective": keys.objective_key(sweep_id),
                "index": fold,
                "channel": keys.trial_control_channel(sweep_id, number),
            }
        result = (self._scripts.requeue if fold is None else self._scripts.requeue_fold)(
            **own,
            **keys.end_keys(sweep_id, lease=True),
            trial=keys.trial_key(sweep_id, number),
            number=number,
            lease_member=keys.lease_member(sweep_id, number, fold),
            attempt="" if attempt is None else codec.dumps(attempt),
            reason=reason,
            max_lost=max_lost,
            sweep_id=sweep_id,
        )
        return Requeue(result)

    def retry_trial(
        self,
        sweep_id: str,
        number: int,
        attempt: int,
        states: Iterable[TrialState],
        sweep_moves: Mapping[SweepState, SweepState],
        reason: str,
    ) -> Retried:
        """Run a finished trial again as attempt+1, atomically (lua/retry_trial.lua): only while it is at `attempt` in one
        of `states`, and its sweep in a state `sweep_moves` maps (to the state the sweep takes; an ended sweep re-opens,
        `reason` saying why). The attempt's result moves into `Trial.retried_attempts`, its metric history stays
        readable under its number, and the trial goes to QUEUED for the controller to send (`take_retried`)."""
        result = str(
            self._scripts.retry(
                sweep=keys.sweep_key(sweep_id), trial=keys.trial_key(sweep_id, number), metrics=keys.metrics_key(sweep_id, number),
                earlier_metrics=keys.attempt_metrics_key(sweep_id, number, attempt), counts=keys.counts_key(sweep_id),
                active=keys.active_key(sweep_id), objective=keys.objective_key(sweep_id), retried=keys.retried_key(sweep_id),
                live=keys.LIVE_SWEEPS, events=keys.EVENTS,
                number=number, attempt=codec.dumps(attempt), sweep_id=sweep_id, reason=codec.dumps(reason),
                trial_states=codec.dumps([s.value for s in states]),
                sweep_moves=codec.dumps({old.value: new.value for old, new in sweep_moves.items()}),
                rest=_ATTEMPT_DEFAULTS,
            )
        )
        if result == "unknown_sweep":
            raise UnknownSweepError(f"no sweep {sweep_id!r} in this store")
        kind = result.partition(":")[0]  # 'sweep:<state>' and 'state:<state>' name the state that refused
        return _RETRY_REFUSALS[kind] if kind in _RETRY_REFUSALS else Retried(result)

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
