"""The store package without a Redis: its scripts' named parameters, its key formats, its errors."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
import redis
from redis.exceptions import OutOfMemoryError  # type: ignore[attr-defined]

from sweepctl.errors import StoreError, StoreForbidden, StoreUnavailable
from sweepctl.store import Store, StoreTrouble, is_out_of_memory, keys
from sweepctl.store.failures import translated
from sweepctl.store.scripts import CONSTANTS, Script, load

SCRIPTS = sorted(
    p.name[: -len(".lua")]
    for p in resources.files("sweepctl.store").joinpath("lua").iterdir()
    if p.name.endswith(".lua") and p.name not in ("prelude.lua", "account_finish.lua", "folds.lua", "taking.lua")  # included by others
)


class Recorded:
    """A stand-in for redis-py's registered script: records what it was called with."""

    def __init__(self, reply: Any = "ok", error: Exception | None = None) -> None:
        self.calls: list[tuple[list[Any], list[Any]]] = []
        self.reply, self.error = reply, error

    def __call__(self, *, keys: list[Any], args: list[Any]) -> Any:
        self.calls.append((keys, args))
        if self.error is not None:
            raise self.error
        return self.reply


class Client:
    def __init__(self, script: Recorded) -> None:
        self.script = script
        self.sources: list[str] = []

    def register_script(self, source: str) -> Recorded:
        self.sources.append(source)
        return self.script


def test_every_script_loads_with_its_constants_filled_in_and_its_parameters_named() -> None:
    assert len(SCRIPTS) == 23
    for name in SCRIPTS:
        source = load(name)
        # Given a script file / Then no placeholder is left and KEYS and ARGV are bound to the declared names
        assert "${" not in source.text, name
        assert source.keys and all(f"{k} = KEYS[{i}]" in source.text for i, k in enumerate(source.keys, 1)), name
        assert f"local REST = {len(source.args) + 1}" in source.text
    assert f"-{CONSTANTS['EVENTS_MAX']}, -1" in load("finish_trial").text
    assert "local METRICS_MAX = 100000" in load("claim_trial").text  # the prelude is included


def test_a_script_is_called_with_keys_and_args_in_the_order_the_file_declares() -> None:
    recorded = Recorded()
    script = Script(Client(recorded), "renew_lease")
    # When called by name, in any order
    script(lease_member="s:1", worker='"w"', rejections="R", sweep="S", attempt="2", leases="L", trial="T", lease_seconds=30)
    # Then KEYS and ARGV follow the file's header
    assert recorded.calls == [(["T", "L", "R", "S"], ["2", '"w"', 30, "s:1"])]


def test_a_missing_or_unknown_name_is_refused_before_anything_is_sent() -> None:
    recorded = Recorded()
    script = Script(Client(recorded), "own_sweep")
    with pytest.raises(TypeError, match="takes"):
        script(owner="O", sweep="S", controller="c")  # no lease_ms
    with pytest.raises(TypeError, match="takes"):
        script(owner="O", sweep="S", controller="c", lease_ms=1, extra=2)
    with pytest.raises(TypeError, match="variable rest"):
        script(owner="O", sweep="S", controller="c", lease_ms=1, rest=["x"])
    assert recorded.calls == []


def test_a_full_redis_inside_a_script_is_out_of_memory_on_redis_6_too() -> None:
    # Given Redis 6's generic script error wrapping an OOM refusal
    wrapped = redis.ResponseError("Error running script: @user_script:7: -OOM command not allowed when used memory > 'maxmemory'.")
    script = Script(Client(Recorded(error=wrapped)), "disown_sweep")
    # Then it is raised as the out-of-memory error it is
    with pytest.raises(OutOfMemoryError):
        script(owner="O", controller="c")


@pytest.mark.parametrize(
    ("error", "expected", "out_of_memory"),
    [
        (redis.ConnectionError("gone"), StoreUnavailable, False),
        (redis.TimeoutError("frozen"), StoreUnavailable, False),
        (redis.BusyLoadingError("loading"), StoreUnavailable, False),
        (OutOfMemoryError("OOM command not allowed"), StoreUnavailable, True),
        (redis.exceptions.NoPermissionError("NOPERM"), StoreForbidden, False),
        (redis.ResponseError("WRONGTYPE"), StoreError, False),
    ],
)
def test_redis_errors_become_the_stores(error: Exception, expected: type[Exception], out_of_memory: bool) -> None:
    mine = translated(error)  # type: ignore[arg-type]
    assert type(mine) is expected
    assert is_out_of_memory(mine) is out_of_memory
    assert StoreTrouble.of(mine) is (StoreTrouble.OUT_OF_MEMORY if out_of_memory else StoreTrouble.UNAVAILABLE)


def test_every_public_store_method_raises_the_stores_errors() -> None:
    # Given a Store whose client fails every command as an unreachable Redis does
    recorded = Recorded(error=redis.ConnectionError("Connection refused"))
    store = Store(Client(recorded))
    store.redis = FailingClient()
    # Then plain reads, pipelines and scripts all raise StoreUnavailable, with Redis' error as the cause
    for call in (lambda: store.counts("s"), lambda: store.get_trials("s", [1]), lambda: store.own_sweep("s", "c", 1.0)):
        with pytest.raises(StoreUnavailable) as raised:
            call()
        assert isinstance(raised.value.__cause__, redis.ConnectionError)


class FailingClient:
    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            if name == "pipeline":
                return self
            raise redis.ConnectionError("Connection refused")

        return fail


@pytest.mark.parametrize(
    ("build", "parse", "parts"),
    [
        (keys.worker_id, keys.parse_worker_id, ("host-1", "gpu0", 4242)),
        (keys.gpu_member, keys.parse_gpu_member, ("host-1", "GPU-1234")),
        (keys.host_trials_field, keys.parse_host_trials_field, ("host-1", "completed")),
        (keys.lease_member, keys.parse_lease_member, ("abc123", 17, None)),
        (keys.lease_member, keys.parse_lease_member, ("abc123", 17, 3)),  # fold 3 of a k-fold trial
    ],
)
def test_every_member_format_parses_back_what_it_built(build: Any, parse: Any, parts: tuple[Any, ...]) -> None:
    parsed = parse(build(*parts))
    assert parsed == parts[: len(parsed)]


def test_a_worker_id_of_another_form_is_all_host() -> None:
    assert keys.parse_worker_id("lonely") == ("lonely", "")
