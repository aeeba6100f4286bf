"""What a worker process runs with: built once from flags and environment, handed to child processes explicitly.

The CLI (`sweepctl worker`, `sweepctl run`) builds a `WorkerSettings` from its
flags over the environment's defaults and gives it to the supervisor, which
puts `to_environment()` into each worker process's environment; the worker
process (and the launcher it starts) parses it back once, at its entry point,
with `from_environment`, and passes the object down. Nothing else reads these
variables, and nobody edits its own `os.environ` to pass them on.

Which slot (and GPU) a worker process is pinned to differs between the
processes of one machine, so it travels beside the shared settings as a
`SlotPin`, read and written here too.

Variables (each mirrors a flag or a default; README documents them):
  SWEEPCTL_HOSTNAME            the machine's name in records and metrics (containers get random hostnames)
  SWEEPCTL_QUEUES              comma-separated Celery queues to consume
  SWEEPCTL_LOG_LEVEL           Celery's log level in each worker process
  SWEEPCTL_GPU_SAMPLE_SECONDS  how often a GPU worker publishes its GPU's samples
  SWEEPCTL_PRELOAD             comma-separated libraries the launcher imports before forking trials (--preload)
  SWEEPCTL_LEASE_SECONDS       a trial attempt's lease, renewed while it runs
  SWEEPCTL_SHUTDOWN_GRACE      on SIGTERM, how long a running trial may take before it is handed back (--grace)
  SWEEPCTL_KILL_GRACE          SIGTERM -> SIGKILL when a trial is stopped
  SWEEPCTL_DATA_HASH_SECONDS   the time budget for all of one trial's `data:` fingerprints
  SWEEPCTL_SLOT, SWEEPCTL_GPU_INDEX, SWEEPCTL_GPU_UUID, SWEEPCTL_GPU_NAME   the slot pin
  SWEEPCTL_AGENT_ID, SWEEPCTL_AGENT_SWEEP, SWEEPCTL_AGENT_COUNT    `sweepctl agent --count`: the trials counted
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from sweepctl.agent_count import TrialCount
from sweepctl.errors import ConfigError
from sweepctl.records import GpuRef
from sweepctl.settings import DEFAULT_LEASE_SECONDS
from sweepctl.spec import DEFAULT_QUEUE

HOSTNAME_ENV = "SWEEPCTL_HOSTNAME"
QUEUES_ENV = "SWEEPCTL_QUEUES"
LOG_LEVEL_ENV = "SWEEPCTL_LOG_LEVEL"
GPU_SAMPLE_SECONDS_ENV = "SWEEPCTL_GPU_SAMPLE_SECONDS"
PRELOAD_ENV = "SWEEPCTL_PRELOAD"
LEASE_SECONDS_ENV = "SWEEPCTL_LEASE_SECONDS"
SHUTDOWN_GRACE_ENV = "SWEEPCTL_SHUTDOWN_GRACE"
KILL_GRACE_ENV = "SWEEPCTL_KILL_GRACE"
DATA_HASH_SECONDS_ENV = "SWEEPCTL_DATA_HASH_SECONDS"
SLOT_ENV = "SWEEPCTL_SLOT"
GPU_INDEX_ENV = "SWEEPCTL_GPU_INDEX"
GPU_UUID_ENV = "SWEEPCTL_GPU_UUID"
GPU_NAME_ENV = "SWEEPCTL_GPU_NAME"
AGENT_ID_ENV = "SWEEPCTL_AGENT_ID"
AGENT_SWEEP_ENV = "SWEEPCTL_AGENT_SWEEP"
AGENT_COUNT_ENV = "SWEEPCTL_AGENT_COUNT"

DEFAULT_SHUTDOWN_GRACE = 60.0
DEFAULT_KILL_GRACE = 5.0
DEFAULT_DATA_HASH_SECONDS = 60.0
DEFAULT_GPU_SAMPLE_SECONDS = 5.0  # how often a GPU worker publishes its GPU's sample
DEFAULT_LOG_LEVEL = "WARNING"
DEFAULT_SLOT = "cpu0"


@dataclass(frozen=True)
class WorkerSettings:
    """The settings every worker process of one `sweepctl worker` (or `sweepctl run`) shares.

    Immutable; `to_environment()` and `from_environment()` are inverses for every field.
    """

    hostname: str | None = None  # None: the machine's own hostname
    queues: tuple[str, ...] = (DEFAULT_QUEUE,)
    log_level: str = DEFAULT_LOG_LEVEL
    gpu_sample_seconds: float = DEFAULT_GPU_SAMPLE_SECONDS
    preload: tuple[str, ...] = ()
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE
    kill_grace: float = DEFAULT_KILL_GRACE
    data_hash_seconds: float = DEFAULT_DATA_HASH_SECONDS
    count: TrialCount | None = None  # `sweepctl agent --count N`: at most N trials of its sweep

    @classmethod
    def from_environment(cls, env: Mapping[str, str], *, shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE) -> WorkerSettings:
        """The settings `env` gives; an unset variable takes its default (`shutdown_grace`: the caller's).

        Raises ConfigError naming the variable when a number does not parse.
        """
        return cls(
            hostname=env.get(HOSTNAME_ENV) or None,
            queues=_names(env.get(QUEUES_ENV, DEFAULT_QUEUE)),
            log_level=env.get(LOG_LEVEL_ENV, DEFAULT_LOG_LEVEL),
            gpu_sample_seconds=_seconds(env, GPU_SAMPLE_SECONDS_ENV, DEFAULT_GPU_SAMPLE_SECONDS),
            preload=_names(env.get(PRELOAD_ENV, "")),
            lease_seconds=_seconds(env, LEASE_SECONDS_ENV, DEFAULT_LEASE_SECONDS),
            shutdown_grace=_seconds(env, SHUTDOWN_GRACE_ENV, shutdown_grace),
            kill_grace=_seconds(env, KILL_GRACE_ENV, DEFAULT_KILL_GRACE),
            data_hash_seconds=_seconds(env, DATA_HASH_SECONDS_ENV, DEFAULT_DATA_HASH_SECONDS),
            count=_count(env),
        )

    def with_flags(
        self,
        *,
        queues: str | None = None,
        preload: str | None = None,
        shutdown_grace: float | None = None,
        count: TrialCount | None = None,
    ) -> WorkerSettings:
        """These settings with the command line's flags on top (None: not given); lists as the flags take them, comma-separated."""
        return replace(
            self,
            queues=self.queues if queues is None else _names(queues),
            preload=self.preload if preload is None else _names(preload),
            shutdown_grace=self.shutdown_grace if shutdown_grace is None else shutdown_grace,
            count=self.count if count is None else count,
        )

    def to_environment(self) -> dict[str, str]:
        """The variables a child process needs to rebuild these settings with `from_environment`."""
        env = {
            QUEUES_ENV: ",".join(self.queues),
            LOG_LEVEL_ENV: self.log_level,
            GPU_SAMPLE_SECONDS_ENV: repr(self.gpu_sample_seconds),
            PRELOAD_ENV: ",".join(self.preload),
            LEASE_SECONDS_ENV: repr(self.lease_seconds),
            SHUTDOWN_GRACE_ENV: repr(self.shutdown_grace),
            KILL_GRACE_ENV: repr(self.kill_grace),
            DATA_HASH_SECONDS_ENV: repr(self.data_hash_seconds),
        }
        if self.hostname is not None:
            env[HOSTNAME_ENV] = self.hostname
        if self.count is not None:
            env |= {AGENT_ID_ENV: self.count.agent_id, AGENT_SWEEP_ENV: self.count.sweep_id, AGENT_COUNT_ENV: str(self.count.count)}
        return env


@dataclass(frozen=True)
class SlotPin:
    """Which slot of its machine a worker process serves, and the GPU it is pinned to (None: CPU only)."""

    slot: str = DEFAULT_SLOT
    gpu: GpuRef | None = None

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> SlotPin:
        gpu = None
        if env.get(GPU_UUID_ENV):
            gpu = GpuRef(index=int(env[GPU_INDEX_ENV]), uuid=env[GPU_UUID_ENV], name=env.get(GPU_NAME_ENV, ""))
        return cls(slot=env.get(SLOT_ENV, DEFAULT_SLOT), gpu=gpu)

    def to_environment(self) -> dict[str, str]:
        if self.gpu is None:
            return {SLOT_ENV: self.slot}
        return {SLOT_ENV: self.slot, GPU_INDEX_ENV: str(self.gpu.index), GPU_UUID_ENV: self.gpu.uuid, GPU_NAME_ENV: self.gpu.name}


def _names(text: str) -> tuple[str, ...]:
    """A comma-separated list, blanks dropped."""
    return tuple(name for name in (part.strip() for part in text.split(",")) if name)


def _count(env: Mapping[str, str]) -> TrialCount | None:
    if not env.get(AGENT_ID_ENV):
        return None
    try:
        return TrialCount(agent_id=env[AGENT_ID_ENV], sweep_id=env[AGENT_SWEEP_ENV], count=int(env[AGENT_COUNT_ENV]))
    except (KeyError, ValueError):
        raise ConfigError(f"{AGENT_ID_ENV} needs {AGENT_SWEEP_ENV} and a whole number in {AGENT_COUNT_ENV}") from None


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
