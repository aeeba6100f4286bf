"""Every Redis key sweepctl uses, and every string format stored in one, built and parsed here and nowhere else.

| key                                   | type   | holds                                              | TTL  |
|---------------------------------------|--------|----------------------------------------------------|------|
| sweepctl:sweeps                       | zset   | sweep id -> creation time                          | none |
| sweepctl:sweeps:live                  | set    | sweeps a controller still has to look after        | none |
| sweepctl:events                       | list   | sweep ids whose trials changed (wakes controllers) | none, trimmed to 10k |
| sweepctl:leases                       | zset   | "{sid}:{n}" of running trials, "{sid}:{n}.{f}" of folds -> lease expiry | none |
| sweepctl:sweep:{sid}                  | hash   | sweep record (JSON-encoded fields)                 | none |
| sweepctl:sweep:{sid}:trials           | zset   | trial number -> number (every trial)               | none |
| sweepctl:sweep:{sid}:active           | set    | numbers of queued or running trials                | none |
| sweepctl:sweep:{sid}:held             | set    | queued trials a worker held back while the sweep was paused | deleted when retired |
| sweepctl:sweep:{sid}:retried          | set    | trials `retry` queued again, for the controller to send | deleted when retired |
| sweepctl:sweep:{sid}:finished         | list   | numbers in the order they finished (a retried trial once per finished attempt) | none |
| sweepctl:sweep:{sid}:counts           | hash   | trial state -> count                               | none |
| sweepctl:sweep:{sid}:objective        | zset   | number -> objective, completed trials only         | none |
| sweepctl:sweep:{sid}:params           | set    | canonical hashes of every parameter set created    | none |
| sweepctl:sweep:{sid}:rejections       | hash   | refused writes by reason (stale, unknown, ...)     | none |
| sweepctl:sweep:{sid}:stats            | hash   | last_finish, gpu_seconds, duration_* and suggest_* histogram counts | none |
| sweepctl:host_trials                  | hash   | "host<TAB>state" -> finished trials               | none |
| sweepctl:gpus                         | zset   | "host|uuid" -> expiry of its latest sample         | none |
| sweepctl:gpu:{host}:{uuid}            | hash   | latest GPU sample (JSON fields)                    | 3 sample intervals |
| sweepctl:sweep:{sid}:owner            | string | id of the controller that owns the sweep           | lease, renewed |
| sweepctl:sweep:{sid}:trial:{n}        | hash   | trial record (JSON-encoded fields)                 | none |
| sweepctl:sweep:{sid}:trial:{n}:metrics| list   | metric history, JSON points, capped                | none |
| sweepctl:sweep:{sid}:trial:{n}:attempt:{a}:metrics | list | the history attempt `a` left when `retry` ran the trial again | none |
| sweepctl:sweep:{sid}:trial:{n}:fold:{f}| hash  | fold f's record, of a k-fold trial (a trial record's fields) | none |
| sweepctl:sweep:{sid}:trial:{n}:fold:{f}:metrics | list | fold f's metric history, capped          | none |
| sweepctl:workers                      | zset   | worker id -> last heartbeat (unix time)            | none |
| sweepctl:controllers                  | zset   | controller id -> last heartbeat (unix time)        | none |
| sweepctl:worker:{wid}                 | hash   | worker identity (host, slot, GPU, pid)             | 60 s, renewed |
| sweepctl:agent:{aid}:trials           | set    | numbers of the trials `sweepctl agent --count N` runs (N at most) | 7 days, renewed |
| sweepctl.agent.{sid} (kombu's)        | list   | the Celery queue of a sweep run by `sweepctl agent` / `sweepctl.agent` | none |
| _kombu.binding.sweepctl.agent.{sid}, _kombu.binding_permanent.sweepctl.agent.{sid} | set | kombu's bindings of that queue | none |

Pub/sub channels (not keys: nothing is stored), on which the scripts that stop running trials publish
and each running trial's worker listens (`sweepctl.store.control.ControlSignals`):

| channel                               | published when                                     |
|---------------------------------------|----------------------------------------------------|
| sweepctl:control:{sid}                | the sweep changes state (cancelled, being deleted, ...) |
| sweepctl:control:{sid}:{n}            | trial n is asked to stop (an early stop; a k-fold trial stopped) |

`{sid}` is written with braces so every key of one sweep shares a Redis Cluster hash slot.
Every key naming a sweep is one of `sweep_keys` (the record and its indexes), `trial_key` and
`metrics_key` of each of its trials, or (a sweep run in the caller) `celery_queue_keys` of its own
queue: `sweepctl delete` removes exactly these, and the sweep's id from SWEEPS, LIVE_SWEEPS, EVENTS
and LEASES. (GPU samples name the trial they saw in their value, and expire by themselves.)

Members and fields with a format of their own, each built and parsed side by side below:
worker ids `host/slot/pid`, lease members `{sid}:{n}` (`{sid}:{n}.{f}` for fold f), GPU members
`host|uuid`, and host-trials fields `host<TAB>state`. Nothing outside `sweepctl.store` imports
this module. Two formats are built by the Lua scripts too, each said where it is: host-trials
fields (lua/account_finish.lua) and fold keys (lua/folds.lua: a trial's key + `:fold:{f}`).
"""

from __future__ import annotations

PREFIX = "sweepctl"

SWEEPS = f"{PREFIX}:sweeps"
LIVE_SWEEPS = f"{PREFIX}:sweeps:live"
EVENTS = f"{PREFIX}:events"
LEASES = f"{PREFIX}:leases"
HOST_TRIALS = f"{PREFIX}:host_trials"
GPUS = f"{PREFIX}:gpus"
WORKERS = f"{PREFIX}:workers"
CONTROLLERS = f"{PREFIX}:controllers"
EVENTS_MAX = 10_000
METRICS_MAX = 100_000
WORKER_TTL_SECONDS = 60
AGENT_TTL_SECONDS = 7 * 24 * 3600


def sweep_key(sweep_id: str) -> str:
    return f"{PREFIX}:sweep:{{{sweep_id}}}"


def trials_key(sweep_id: str) -> str:
    return f"{sweep_key(sweep_id)}:trials"


def active_key(sweep_id: str) -> str:
    return f"{sweep_key(sweep_id)}:active"


def held_key(sweep_id: str) -> str:
    """Queued trials whose message a worker took while the sweep was paused: the controller sends them again on resume."""
    return f"{sweep_key(sweep_id)}:held"


def retried_key(sweep_id: str) -> str:
    """Trials `retry` queued again as a new attempt: the controller sends them (and forgets their old curves)."""
    return f"{sweep_key(sweep_id)}:retried"


def finished_key(sweep_id: str) -> str:
    return f"{sweep_key(sweep_id)}:finished"


def counts_key(sweep_id: str) -> str:
    return f"{sweep_key(sweep_id)}:counts"


def objective_key(sweep_id: str) -> str:
    return f"{sweep_key(sweep_id)}:objective"


def rejections_key(sweep_id: str) -> str:
    return f"{sweep_key(sweep_id)}:rejections"


def params_key(sweep_id: str) -> str:
    return f"{sweep_key(sweep_id)}:params"


def stats_key(sweep_id: str) -> str:
    return f"{sweep_key(sweep_id)}:stats"


def gpu_key(host: str, uuid: str) -> str:
    return f"{PREFIX}:gpu:{host}:{uuid}"


def gpu_member(host: str, uuid: str) -> str:
    """The member of GPUS for one GPU."""
    return f"{host}|{uuid}"


def parse_gpu_member(member: str) -> tuple[str, str]:
    """(host, uuid) of a GPUS member."""
    host, _, uuid = member.partition("|")
    return host, uuid


def owner_key(sweep_id: str) -> str:
    return f"{sweep_key(sweep_id)}:owner"


def lease_member(sweep_id: str, number: int, fold: int | None = None) -> str:
    """The member of LEASES for one trial, or for fold `fold` of a k-fold trial."""
    return f"{sweep_id}:{number}" if fold is None else f"{sweep_id}:{number}.{fold}"


def parse_lease_member(member: str) -> tuple[str, int, int | None]:
    """(sweep id, number, fold or None) of a LEASES member."""
    sweep_id, _, rest = member.rpartition(":")
    number, _, fold = rest.partition(".")
    return sweep_id, int(number), int(fold) if fold else None


def trial_key(sweep_id: str, number: int) -> str:
    return f"{sweep_key(sweep_id)}:trial:{number}"


def sweep_control_channel(sweep_id: str) -> str:
    """Where a change of the sweep's state is announced to the workers running its trials."""
    return f"{PREFIX}:control:{{{sweep_id}}}"


def trial_control_channel(sweep_id: str, number: int) -> str:
    """Where a stop request of trial `number` (all its folds) is announced to the workers running it."""
    return f"{sweep_control_channel(sweep_id)}:{number}"


def metrics_key(sweep_id: str, number: int) -> str:
    return f"{trial_key(sweep_id, number)}:metrics"


def attempt_metrics_key(sweep_id: str, number: int, attempt: int) -> str:
    """Where the metric history of an earlier attempt is kept once `retry` ran the trial again."""
    return f"{trial_key(sweep_id, number)}:attempt:{attempt}:metrics"
def fold_key(sweep_id: str, number: int, fold: int) -> str:
    """The record of fold `fold` of k-fold trial `number` (lua/folds.lua builds the same from the trial's key)."""
    return f"{trial_key(sweep_id, number)}:fold:{fold}"


def fold_metrics_key(sweep_id: str, number: int, fold: int) -> str:
    return f"{fold_key(sweep_id, number, fold)}:metrics"


def record_keys(sweep_id: str, number: int, fold: int | None) -> tuple[str, str]:
    """(record key, metric history key) of a trial (`fold` None) or of one fold of it: what an attempt writes."""
    if fold is None:
        return trial_key(sweep_id, number), metrics_key(sweep_id, number)
    return fold_key(sweep_id, number, fold), fold_metrics_key(sweep_id, number, fold)


def end_keys(sweep_id: str, *, lease: bool) -> dict[str, str]:
    """The sweep-wide keys that end a trial or a fold (finish, requeue, stop), by the names their scripts give them.

    With `lease`, also those of ending a leased attempt: the lease itself, the sweep's stats and the host's trial counts.
    """
    ending = {
        "sweep": sweep_key(sweep_id),
        "active": active_key(sweep_id),
        "finished": finished_key(sweep_id),
        "counts": counts_key(sweep_id),
        "events": EVENTS,
        "rejections": rejections_key(sweep_id),
    }
    if lease:
        ending |= {"leases": LEASES, "stats": stats_key(sweep_id), "host_trials": HOST_TRIALS}
    return ending


def celery_queue_key(queue: str) -> str:
    """The list kombu's Redis transport keeps a Celery queue's waiting messages in (no priorities)."""
    return queue


# kombu's Redis transport: a queue's priority lists are the queue's name, SEP and the step (step 0 has
# the bare name), and the exchange Celery names after the queue keeps its bindings in two sets.
_KOMBU_SEP = "\x06\x16"
_KOMBU_PRIORITY_STEPS = (3, 6, 9)


def celery_queue_keys(queue: str) -> tuple[str, ...]:
    """Every key kombu's Redis transport keeps for a Celery queue of its own (its messages and its bindings)."""
    lists = (celery_queue_key(queue), *(f"{queue}{_KOMBU_SEP}{step}" for step in _KOMBU_PRIORITY_STEPS))
    return (*lists, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")


def sweep_keys(sweep_id: str) -> dict[str, str]:
    """The sweep's record and every index key of its own, by name (its trials' keys are not among them)."""
    return {
        "sweep": sweep_key(sweep_id),
        "trials": trials_key(sweep_id),
        "active": active_key(sweep_id),
        "held": held_key(sweep_id),
        "retried": retried_key(sweep_id),
        "finished": finished_key(sweep_id),
        "counts": counts_key(sweep_id),
        "objective": objective_key(sweep_id),
        "params": params_key(sweep_id),
        "rejections": rejections_key(sweep_id),
        "stats": stats_key(sweep_id),
        "owner": owner_key(sweep_id),
    }


def agent_trials_key(agent_id: str) -> str:
    return f"{PREFIX}:agent:{agent_id}:trials"


def worker_key(worker_id: str) -> str:
    return f"{PREFIX}:worker:{worker_id}"


def worker_id(host: str, slot: str, pid: int) -> str:
    """A worker process's id, the member of WORKERS: the pid changes on restart, host and slot do not."""
    return f"{host}/{slot}/{pid}"


def controller_id(host: str, pid: int, token: str) -> str:
    """A controller process's id, the member of CONTROLLERS and the value of a sweep's owner key."""
    return f"{host}/{pid}/{token}"


def parse_worker_id(worker: str) -> tuple[str, str]:
    """(host, slot) of a worker id; an id of another form is all host, with no slot."""
    parts = worker.split("/")
    return (parts[0], parts[1]) if len(parts) >= 2 else (worker, "")


def host_trials_field(host: str, state: str) -> str:
    """The field of HOST_TRIALS counting a host's trials that ended in `state` (written by the Lua scripts
    too: lua/account_finish.lua joins them with the same tab)."""
    return f"{host}\t{state}"


def parse_host_trials_field(field: str) -> tuple[str, str]:
    """(host, state) of a HOST_TRIALS field."""
    host, _, state = field.partition("\t")
    return host, state
