"""The one error root of sweepctl and its few meaningful subclasses."""

from __future__ import annotations


class SweepError(Exception):
    """Root of every error sweepctl raises on purpose."""


class SpecError(SweepError):
    """Raised when a sweep file is invalid: names the file, the field path and what was expected."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = [f"{source}: {path or '<root>'}: {message}" for path, message in self.problems]
        super().__init__("\n".join(lines))


class ConfigError(SweepError):
    """Raised when settings (Redis URL, GPU selection, flags) cannot be used as given."""


class StoreError(SweepError):
    """Raised when the Redis store cannot be reached at connect, refuses a command, or holds something it should not."""


class StoreUnavailable(SweepError):
    """Raised when Redis cannot take a command just now (unreachable, frozen, loading, or full): wait and retry.

    Nothing about the command was wrong; `out_of_memory` tells a full Redis (reads still work,
    writes are refused until memory is freed) from one that is not answering at all.
    """

    def __init__(self, message: str, *, out_of_memory: bool = False) -> None:
        super().__init__(message)
        self.out_of_memory = out_of_memory


class StoreForbidden(StoreError):
    """Raised when the Redis user's ACL does not allow a command (e.g. an exporter user without +info)."""


class UnknownSweepError(StoreError):
    """Raised when a sweep id is not in the store."""


class ArchiveError(SweepError):
    """Raised when a sweep archive cannot be written or read back: names the file, the field and what was expected."""


class SweepStateError(SweepError):
    """Raised when a lifecycle command does not apply to the sweep's state (pausing a stopped sweep, resuming a finished one)."""


class EmbeddedRedisError(SweepError):
    """Raised when the private redis-server of the embedded default cannot be started."""


class TrialTooLargeError(SweepError):
    """Raised when a trial's command, parameters and environment are too large to start it: the parameters' fault."""


class RerunError(SweepError):
    """Raised when a recorded trial cannot be run again: unknown, recorded without an argv, or its folder unusable."""


class MissingExtraError(SweepError, ImportError):
    """Raised when a feature needs an optional extra that is not installed: names the extra and how to install it."""


class NoMetricError(SweepError):
    """Raised when something needs the sweep's metric (best trial, importance, ranking) and the sweep has none."""

    def __init__(self, sweep_name: str | None = None) -> None:
        self.sweep_name = sweep_name
        which = "this sweep" if not sweep_name else f"sweep {sweep_name!r}"
        super().__init__(
            f"{which} has no metric (a grid or random sweep may leave it out), so its trials have no objective: "
            "there is no best trial, importance or ranking; give metric: {name: ..., goal: ...} in the sweep file for them"
        )
