"""Worker settings: built once from flags and environment, carried to child processes in their environment."""

from __future__ import annotations

import pytest

from sweepctl.agent_count import TrialCount
from sweepctl.errors import ConfigError
from sweepctl.records import GpuRef
from sweepctl.store import DEFAULT_LEASE_SECONDS
from sweepctl.worker_settings import SlotPin, WorkerSettings
from workers import gpu_telemetry, provenance


def test_an_empty_environment_gives_the_documented_defaults() -> None:
    settings = WorkerSettings.from_environment({})
    assert settings == WorkerSettings()
    assert settings.queues == ("sweepctl",) and settings.preload == () and settings.hostname is None
    assert (settings.shutdown_grace, settings.kill_grace, settings.log_level) == (60.0, 5.0, "WARNING")
    # The defaults spelled here are the ones their owners use
    assert settings.lease_seconds == DEFAULT_LEASE_SECONDS
    assert settings.gpu_sample_seconds == gpu_telemetry.DEFAULT_INTERVAL
    assert settings.data_hash_seconds == provenance.HASH_SECONDS


def test_the_variables_are_read_by_their_documented_names() -> None:
    env = {
        "SWEEPCTL_HOSTNAME": "box-7",
        "SWEEPCTL_QUEUES": "a,b",
        "SWEEPCTL_LOG_LEVEL": "INFO",
        "SWEEPCTL_GPU_SAMPLE_SECONDS": "0.5",
        "SWEEPCTL_PRELOAD": "torch, numpy",
        "SWEEPCTL_LEASE_SECONDS": "2",
        "SWEEPCTL_SHUTDOWN_GRACE": "7",
        "SWEEPCTL_KILL_GRACE": "1",
        "SWEEPCTL_DATA_HASH_SECONDS": "3",
    }
    assert WorkerSettings.from_environment(env) == WorkerSettings(
        hostname="box-7",
        queues=("a", "b"),
        log_level="INFO",
        gpu_sample_seconds=0.5,
        preload=("torch", "numpy"),
        lease_seconds=2.0,
        shutdown_grace=7.0,
        kill_grace=1.0,
        data_hash_seconds=3.0,
    )


def test_settings_survive_the_trip_through_a_child_environment() -> None:
    settings = WorkerSettings(hostname="h", queues=("q1", "q2"), preload=("torch",), lease_seconds=0.1, shutdown_grace=1e-3)
    assert WorkerSettings.from_environment(settings.to_environment()) == settings
    assert WorkerSettings.from_environment(WorkerSettings().to_environment()) == WorkerSettings()


def test_a_counted_agents_count_survives_the_trip_and_a_broken_one_names_its_variables() -> None:
    # Given the settings of `sweepctl agent ID --count 3`'s workers
    settings = WorkerSettings().with_flags(queues="sweepctl", count=TrialCount(agent_id="a1", sweep_id="s1", count=3))
    # Then each worker process reads the same count back
    assert WorkerSettings.from_environment(settings.to_environment()) == settings
    # And a count that is not a whole number is refused, naming the variables
    broken = {**settings.to_environment(), "SWEEPCTL_AGENT_COUNT": "three"}
    with pytest.raises(ConfigError, match="SWEEPCTL_AGENT_ID needs SWEEPCTL_AGENT_SWEEP and a whole number in SWEEPCTL_AGENT_COUNT"):
        WorkerSettings.from_environment(broken)


def test_flags_win_over_the_environment_and_the_callers_default_grace_only_over_nothing() -> None:
    env = {"SWEEPCTL_PRELOAD": "numpy", "SWEEPCTL_QUEUES": "a"}
    settings = WorkerSettings.from_environment(env).with_flags(queues="b,c", preload="torch", shutdown_grace=9.0)
    assert (settings.queues, settings.preload, settings.shutdown_grace) == (("b", "c"), ("torch",), 9.0)
    assert WorkerSettings.from_environment(env).with_flags() == WorkerSettings.from_environment(env)
    assert WorkerSettings.from_environment({}, shutdown_grace=5.0).shutdown_grace == 5.0
    assert WorkerSettings.from_environment({"SWEEPCTL_SHUTDOWN_GRACE": "30"}, shutdown_grace=5.0).shutdown_grace == 30.0


def test_a_number_that_does_not_parse_names_its_variable() -> None:
    with pytest.raises(ConfigError, match="SWEEPCTL_KILL_GRACE must be a number of seconds, got 'soon'"):
        WorkerSettings.from_environment({"SWEEPCTL_KILL_GRACE": "soon"})


def test_a_slot_pin_survives_the_trip_with_and_without_a_gpu() -> None:
    for pin in (SlotPin("cpu3"), SlotPin("gpu1", GpuRef(index=1, uuid="GPU-x", name="H100"))):
        assert SlotPin.from_environment(pin.to_environment()) == pin
    assert SlotPin.from_environment({}) == SlotPin("cpu0", None)
