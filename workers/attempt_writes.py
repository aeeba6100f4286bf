"""A trial attempt's writes to the store: claimed, progress, result, handed back; each fenced by its attempt number.

Every write waits out a Redis outage or a full Redis (`workers.backoff.until_done`)
rather than losing what it carries, until `give_up` says the worker has been
shutting down for too long (then the attempt's lease lapses and it runs again).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sweepctl.errors import StoreUnavailable
from sweepctl.records import Trial, TrialState
from sweepctl.spec import SweepSpec
from sweepctl.store import Outcome, Requeue, Store
from workers import provenance
from workers.backoff import until_done
from workers.identity import WorkerIdentity
from workers.metric_buffer import MetricBuffer
from workers.outcome import Verdict

log = logging.getLogger(__name__)

HANDED_BACK = "handed_back"
Resend = Callable[[str, int, int, str, int | None], None]  # (sweep id, number, attempt, queue, fold): send a run_trial task


class AttemptWrites:
    """The writes one worker slot makes for the attempts it runs."""

    def __init__(
        self, store: Store, identity: WorkerIdentity, *, lease_seconds: float, give_up: Callable[[], bool], resend: Resend | None
    ) -> None:
        self.store = store
        self.identity = identity
        self.lease_seconds = lease_seconds
        self._give_up = give_up
        self._resend = resend

    def claim(self, sweep_id: str, number: int, attempt: int, fold: int | None, **fields: object) -> Outcome | None:
        """QUEUED -> RUNNING for this attempt (of fold `fold` of a k-fold trial); waits out an outage or a full Redis
        rather than losing the message."""
        identity = self.identity
        return until_done(
            lambda: self.store.claim_trial(
                sweep_id,
                number,
                attempt,
                fold=fold,
                lease_seconds=self.lease_seconds,
                worker=identity.worker_id,
                host=identity.host,
                gpu=identity.gpu,
                **fields,
            ),
            "claiming the trial",
            give_up=self._give_up,
        )

    def finish_unstarted(
        self, sweep_id: str, number: int, attempt: int, fold: int | None, state: TrialState, error: str
    ) -> Outcome | None:
        """Record the end of an attempt that started no process."""
        ended_at = time.time()  # once: a retry writes the same result, which the store takes as already recorded
        return until_done(
            lambda: self.store.finish_trial(sweep_id, number, attempt, state, fold=fold, error=error, ended_at=ended_at),
            "recording the result",
            give_up=self._give_up,
        )

    def not_claimed(self, claimed: Outcome | None, sweep_id: str, number: int, attempt: int, fold: int | None) -> TrialState | None:
        """What an attempt whose claim did not succeed comes to: CANCELLED (recorded) in a cancelled sweep, else None (not ours)."""
        if claimed is Outcome.CANCELLED:
            self.finish_unstarted(sweep_id, number, attempt, fold, TrialState.CANCELLED, "the sweep was cancelled")
            return TrialState.CANCELLED
        log.info("trial %s/%s%s attempt %s not run: %s", sweep_id, number, _fold(fold), attempt, claimed and claimed.value)
        return None

    def fail_unstarted(self, sweep_id: str, number: int, attempt: int, fold: int | None, error: str) -> TrialState | None:
        """A trial that cannot even start fails (its own fault: it would fail the same way anywhere).

        It is claimed first, so that a trial another delivery of the same attempt
        is running is never touched; otherwise it would stay queued and be re-sent forever.
        """
        log.error("trial %s/%s%s attempt %s: %s", sweep_id, number, _fold(fold), attempt, error)
        if self.claim(sweep_id, number, attempt, fold) is not Outcome.OK:
            return None
        self.finish_unstarted(sweep_id, number, attempt, fold, TrialState.FAILED, error)
        return TrialState.FAILED

    def record(
        self,
        trial: Trial,
        verdict: Verdict,
        metrics: MetricBuffer,
        hasher: provenance.DataHasher | None,
        *,
        returncode: int | None,
        **fields: object,
    ) -> TrialState | None:
        """Write the result with the last metric points, in one atomic step, however long Redis takes to take it."""
        sid, n, attempt = trial.sweep_id, trial.number, trial.attempt
        if hasher is not None:
            fields["data"] = hasher.result()
        # Drained once: a retry after an outage writes these same points (numbered: never twice).
        first, last_points = metrics.drain()
        ended_at = time.time()
        result = until_done(
            lambda: self.store.finish_trial(
                sid,
                n,
                attempt,
                verdict.state,
                verdict.objective,
                points=last_points,
                first_point=first,
                fold=trial.fold,
                error=verdict.error,
                exit_code=returncode,
                ended_at=ended_at,
                dropped_points=metrics.dropped,
                **fields,
                **metrics.summary(),
            ),
            "recording the result",
            give_up=self._give_up,
        )
        if result is not Outcome.OK:
            log.warning("result of trial %s/%s%s attempt %s rejected: %s", sid, n, _fold(trial.fold), attempt, result and result.value)
            return None
        # The line a failover test reads: from here on the result is the store's (on its replicas too, when asked).
        log.info("result of trial %s/%s%s attempt %s recorded: %s", sid, n, _fold(trial.fold), attempt, verdict.state.value)
        if metrics.rejected:
            until_done(lambda: self.store.count_rejections(sid, metrics.rejected), "counting rejected reports", give_up=self._give_up)
        return verdict.state

    def flush(self, trial: Trial, metrics: MetricBuffer, data: dict[str, str] | None) -> Outcome:
        """Write the points reported since the last flush (and the data fingerprints once known), once: no retry.

        On an outage the points go back to `metrics` for the next flush, and the error is raised.
        """
        first, points = metrics.drain()
        fields: dict[str, object] = {} if data is None else {"data": data}
        if not points and not fields:
            return Outcome.OK
        try:
            return self.store.record_progress(
                trial.sweep_id, trial.number, trial.attempt, points, first_point=first, fold=trial.fold, **fields, **metrics.summary()
            )
        except StoreUnavailable:
            metrics.put_back(first, points)
            raise

    def hand_back(self, spec: SweepSpec, trial: Trial) -> None:
        """Worker shutting down: return the trial to the queue as a new attempt (not a loss)."""
        sid, n, attempt, fold = trial.sweep_id, trial.number, trial.attempt, trial.fold
        result = until_done(
            lambda: self.store.requeue_trial(sid, n, max_lost=spec.max_retries, reason=HANDED_BACK, attempt=attempt, fold=fold),
            "handing the trial back",
            give_up=self._give_up,
        )
        if result is Requeue.REQUEUED and self._resend is not None:
            self._resend(sid, n, attempt + 1, spec.queue, fold)
            self.store.update_trial(sid, n, fold=fold, sent_at=time.time())
        log.warning("trial %s/%s%s attempt %s handed back on shutdown: %s", sid, n, _fold(fold), attempt, result and result.value)


def _fold(fold: int | None) -> str:
    """How a log line names the fold of an attempt: ` fold 2`, or nothing for a trial of one task."""
    return "" if fold is None else f" fold {fold}"
