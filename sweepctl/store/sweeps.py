"""Sweep records: creating, reading, moving between states, owning; the parsed sweep file of each."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from sweepctl import codec
from sweepctl.errors import SpecError, UnknownSweepError
from sweepctl.records import Sweep, SweepState, TrialState
from sweepctl.spec import Goal, Method, SweepSpec
from sweepctl.store import keys
from sweepctl.store.base import StoreBase, pairs
from sweepctl.store.outcomes import ExtendOutcome, SweepProgress
from sweepctl.sweepfile import parse_sweep


@dataclass(frozen=True)
class SpecSummary:
    """What observers show of a sweep's file: its name, method, metric and trial budget."""

    name: str
    method: str  # "tpe", "random", "grid" (a file's `bayes` is tpe)
    metric: str  # "" for a sweep without a metric
    goal: Goal
    run_cap: int | None

    @classmethod
    def of(cls, spec: SweepSpec) -> SpecSummary:
        return cls(spec.name or "", spec.method.value, "" if spec.metric is None else spec.metric.name, spec.goal, spec.run_cap)

    @classmethod
    def unparsed(cls, raw: Any) -> SpecSummary:
        """Read leniently from a file that does not parse (written by hand or by another version),
        so that observers still show what it names."""
        raw = raw if isinstance(raw, dict) else {}
        metric = raw.get("metric", raw.get("metrics"))
        if isinstance(metric, list):  # several objectives: the first is the one shown
            metric = metric[0] if metric else {}
        metric = metric if isinstance(metric, dict) else {}
        method = str(raw.get("method", "tpe"))
        run_cap = raw.get("run_cap")
        return cls(
            name=str(raw.get("name") or ""),
            method=Method.by_name(method).value if method in Method.names() else method,
            metric=str(metric.get("name", "")),
            goal=Goal.MAXIMIZE if metric.get("goal") == "maximize" else Goal.MINIMIZE,
            run_cap=None if run_cap is None else int(run_cap),
        )


class SweepRecords(StoreBase):
    """Sweeps: their records, states, progress and owners."""

    def create_sweep(self, sweep: Sweep) -> None:
        pipe = self.redis.pipeline()
        pipe.hset(keys.sweep_key(sweep.id), mapping=codec.encode_sweep(sweep))
        pipe.zadd(keys.SWEEPS, {sweep.id: sweep.created_at})
        pipe.sadd(keys.LIVE_SWEEPS, sweep.id)
        pipe.rpush(keys.EVENTS, sweep.id)
        pipe.execute()

    def get_sweep(self, sweep_id: str) -> Sweep:
        raw = self.redis.hgetall(keys.sweep_key(sweep_id))
        if not raw:
            raise UnknownSweepError(f"no sweep {sweep_id!r} in this store")
        return codec.decode_sweep(raw)

    def get_spec(self, sweep_id: str) -> SweepSpec:
        """The sweep's parsed sweep file with its run_cap now (`spec_of` of the sweep read afresh)."""
        return self.spec_of(self.get_sweep(sweep_id))

    def spec_of(self, sweep: Sweep) -> SweepSpec:
        """The parsed file of a sweep already read, with the run_cap `extend` gave it, if any; SpecError if it
        does not parse. The file is parsed once per Store (a submitted sweep file never changes: `extend`
        writes the sweep record's run_cap, so the record read decides the budget)."""
        spec = self._specs.get(sweep.id)
        if spec is None:
            spec = self._specs[sweep.id] = parse_sweep(sweep.raw_spec, source=sweep.source or sweep.id)
        return spec if sweep.run_cap is None else replace(spec, run_cap=sweep.run_cap)

    def spec_summary(self, sweep: Sweep) -> SpecSummary:
        """What observers show of a sweep's file, once per Store; read leniently when the file does not parse.
        The run_cap is the sweep record's when `extend` set one."""
        summary: SpecSummary | None = self._summaries.get(sweep.id)
        if summary is None:
            try:
                summary = SpecSummary.of(self.spec_of(sweep))
            except SpecError:
                summary = SpecSummary.unparsed(sweep.raw_spec)
            self._summaries[sweep.id] = summary
        return summary if sweep.run_cap is None else replace(summary, run_cap=sweep.run_cap)

    def sweep_state(self, sweep_id: str) -> SweepState:
        raw = self.redis.hget(keys.sweep_key(sweep_id), "state")
        if raw is None:
            raise UnknownSweepError(f"no sweep {sweep_id!r} in this store")
        return SweepState(codec.loads(raw))

    def sweep_progress(self, sweep_id: str, goal: Goal, live_worker_seconds: float, finished_from: int = 0) -> SweepProgress:
        """State, trial counts, best objective, live workers and the trials finished from
        position `finished_from` on (as `finished_numbers`) of a sweep, pipelined."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.lrange(keys.finished_key(sweep_id), finished_from, -1)
        pipe.hget(keys.sweep_key(sweep_id), "state")
        pipe.scard(keys.active_key(sweep_id))
        pipe.zcard(keys.trials_key(sweep_id))
        pipe.hgetall(keys.counts_key(sweep_id))
        pipe.zrange(keys.objective_key(sweep_id), 0, 0, withscores=True, desc=goal is Goal.MAXIMIZE)
        pipe.zcount(keys.WORKERS, time.time() - live_worker_seconds, "+inf")
        pipe.scard(keys.held_key(sweep_id))
        pipe.hget(keys.sweep_key(sweep_id), "run_cap")
        pipe.scard(keys.retried_key(sweep_id))
        finished, state, active, created, counts, best, workers, held, run_cap, retried = pipe.execute()
        if state is None:
            raise UnknownSweepError(f"no sweep {sweep_id!r} in this store")
        return SweepProgress(
            state=SweepState(codec.loads(state)),
            active=int(active),
            created=int(created),
            counts={s: int(counts.get(s.value, 0)) for s in TrialState},
            best_objective=float(best[0][1]) if best else None,
            live_workers=int(workers),
            finished=tuple(int(n) for n in finished),
            held=int(held),
            run_cap=None if run_cap is None else codec.loads(run_cap),
            retried=int(retried),
        )

    def sweep_ids(self) -> list[str]:
        """Every sweep, oldest first."""
        return list(self.redis.zrange(keys.SWEEPS, 0, -1))

    def live_sweep_ids(self) -> list[str]:
        """Sweeps a controller still has to look after."""
        return sorted(self.redis.smembers(keys.LIVE_SWEEPS))

    def retire_sweep(self, sweep_id: str) -> bool:
        """Drop a sweep whose state is terminal and whose trials have all finished from the live set.

        Atomic with a look at its state: False (still live) when `extend` or `retry` re-opened it meanwhile.
        """
        terminal = [codec.dumps(s.value) for s in SweepState if s.is_terminal]
        retired = self._scripts.retire(
            sweep=keys.sweep_key(sweep_id), live=keys.LIVE_SWEEPS, held=keys.held_key(sweep_id), retried=keys.retried_key(sweep_id),
            sweep_id=sweep_id, rest=terminal,
        )
        return bool(retired)

    def extend_sweep(
        self, sweep_id: str, run_cap: int, keep: Iterable[SweepState], reopen: Iterable[SweepState], reason: str
    ) -> ExtendOutcome:
        """Set the sweep's run_cap atomically: a sweep in a `keep` state keeps it, one in a `reopen` state runs again
        (RUNNING, live). Refused, unchanged, when its state is in neither or it has run_cap trials already."""
        result = str(
            self._scripts.extend(
                sweep=keys.sweep_key(sweep_id), trials=keys.trials_key(sweep_id), live=keys.LIVE_SWEEPS, events=keys.EVENTS,
                sweep_id=sweep_id, run_cap=codec.dumps(run_cap), reason=codec.dumps(reason),
                rest=[*(codec.dumps(s.value) for s in keep), "--", *(codec.dumps(s.value) for s in reopen)],
            )
        )
        if result == "unknown":
            raise UnknownSweepError(f"no sweep {sweep_id!r} in this store")
        kind, _, count = result.partition(":")
        if kind in ("ok", "reopened"):
            return ExtendOutcome(reopened=kind == "reopened", created=int(count))
        if result.startswith("created:"):
            return ExtendOutcome(refused_created=int(result.partition(":")[2]))
        return ExtendOutcome(refused_state=SweepState(codec.loads(result)))

    def held_numbers(self, sweep_id: str) -> set[int]:
        """Queued trials a worker held back while the sweep was paused (their message is spent)."""
        return {int(n) for n in self.redis.smembers(keys.held_key(sweep_id))}

    def take_held(self, sweep_id: str) -> list[int]:
        """Take every held trial number at once, for sending again: read and emptied in one transaction,
        so a trial held again after this (the sweep paused again) is taken by the next call."""
        return self._take_numbers(keys.held_key(sweep_id))

    def retried_numbers(self, sweep_id: str) -> set[int]:
        """Trials `retry` queued again that the controller has not taken up yet (no message was sent for them)."""
        return {int(n) for n in self.redis.smembers(keys.retried_key(sweep_id))}

    def take_retried(self, sweep_id: str) -> list[int]:
        """Take every trial `retry` queued again since the last call, for sending: read and emptied at once."""
        return self._take_numbers(keys.retried_key(sweep_id))

    def _take_numbers(self, key: str) -> list[int]:
        pipe = self.redis.pipeline()
        pipe.smembers(key)
        pipe.delete(key)
        numbers, _ = pipe.execute()
        return sorted(int(n) for n in numbers)

    def transition_sweep(
        self, sweep_id: str, to: SweepState, allowed_from: Iterable[SweepState], **fields: Any
    ) -> bool:
        """Move the sweep to `to` if its state is one of `allowed_from`; False (unchanged) otherwise."""
        return self.move_sweep(sweep_id, to, allowed_from, **fields) is None

    def move_sweep(self, sweep_id: str, to: SweepState, allowed_from: Iterable[SweepState], **fields: Any) -> SweepState | None:
        """As `transition_sweep`, atomically; None when moved, else the state that refused the move (unchanged)."""
        allowed = [codec.dumps(s.value) for s in allowed_from]
        result = self._scripts.transition(
            sweep=keys.sweep_key(sweep_id), events=keys.EVENTS, sweep_id=sweep_id, to=codec.dumps(to.value),
            channel=keys.sweep_control_channel(sweep_id),
            rest=[*allowed, "--", *pairs(fields)],
        )
        if result == "unknown":
            raise UnknownSweepError(f"no sweep {sweep_id!r} in this store")
        return None if result == "ok" else SweepState(codec.loads(result))

    def own_sweep(self, sweep_id: str, controller_id: str, lease_seconds: float) -> bool:
        """Take or keep ownership of a sweep for `lease_seconds`; False while another controller holds it."""
        owner, sweep = keys.owner_key(sweep_id), keys.sweep_key(sweep_id)
        return bool(self._scripts.own(owner=owner, sweep=sweep, controller=controller_id, lease_ms=int(lease_seconds * 1000)))

    def sweep_owner(self, sweep_id: str) -> str | None:
        """The controller whose lease on the sweep is current, or None: no live controller looks after it."""
        owner = self.redis.get(keys.owner_key(sweep_id))
        return None if owner is None else str(owner)

    def disown_sweep(self, sweep_id: str, controller_id: str) -> None:
        self._scripts.disown(owner=keys.owner_key(sweep_id), controller=controller_id)
