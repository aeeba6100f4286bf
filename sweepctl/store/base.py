"""What every part of the Store shares: the client, its registered scripts, and field encoding."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sweepctl import codec
from sweepctl.settings import ReplicaWait
from sweepctl.spec import SweepSpec
from sweepctl.store.scripts import Script


class Scripts:
    """Every script of lua/, registered on one client."""

    def __init__(self, client: Any) -> None:
        self.create = Script(client, "create_trial")
        self.claim = Script(client, "claim_trial")
        self.progress = Script(client, "record_progress")
        self.finish = Script(client, "finish_trial")
        self.transition = Script(client, "transition_sweep")
        self.renew = Script(client, "renew_lease")
        self.request_stop = Script(client, "request_stop")
        self.requeue = Script(client, "requeue_trial")
        self.own = Script(client, "own_sweep")
        self.disown = Script(client, "disown_sweep")
        self.admit = Script(client, "admit_trial")
        self.extend = Script(client, "extend_sweep")
        self.retire = Script(client, "retire_sweep")
        self.retry = Script(client, "retry_trial")
        # One fold of a k-fold trial (sweepctl.kfold); renew_lease and record_progress serve a fold as they are.
        self.claim_fold = Script(client, "claim_fold")
        self.finish_fold = Script(client, "finish_fold")
        self.requeue_fold = Script(client, "requeue_fold")
        self.stop_folds = Script(client, "stop_folds")
        self.set_trial_fields = Script(client, "set_trial_fields")
        self.add_to_counters = Script(client, "add_to_counters")
        self.drop_sweep = Script(client, "drop_sweep")
        self.reserve_sweep = Script(client, "reserve_sweep")
        self.publish_sweep = Script(client, "publish_sweep")


class StoreBase:
    """The state the Store's parts (sweeps.py, trials.py, metric_writes.py, liveness.py, telemetry.py, removal.py) share.

    Thread safety: a Store wraps one redis-py client, whose connection pool is
    thread safe; a Store may be shared between threads of one process.
    """

    def __init__(self, client: Any, replica_wait: ReplicaWait = ReplicaWait()) -> None:
        self.redis = client  # the raw client: for tests and tools that inspect Redis itself
        self.replica_wait = replica_wait  # how many replicas must hold a result before it is acknowledged
        self._scripts = Scripts(client)
        self._specs: dict[str, SweepSpec] = {}  # files parsed once per Store: a submitted sweep file never changes
        self._summaries: dict[str, Any] = {}  # sweeps.SpecSummary by sweep id, likewise


def pairs(fields: Mapping[str, Any]) -> list[str]:
    """`fields` encoded as the store keeps them, flattened to field, value, field, value, ..."""
    flat: list[str] = []
    for name, value in codec.encode_fields(fields).items():
        flat += [name, value]
    return flat
