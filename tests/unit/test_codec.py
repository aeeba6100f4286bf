"""Records <-> Redis hash fields: every field survives the trip, and what is stored is strict JSON."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any

import pytest

from sweepctl import codec
from sweepctl.records import (
    CodeVersion,
    GpuRef,
    GpuUsage,
    MetricPoint,
    Sweep,
    SweepState,
    Trial,
    TrialState,
)

NON_FINITE = {"diverged": math.nan, "exploded": math.inf, "vanished": -math.inf}

FULL_TRIAL = Trial(
    sweep_id="ab12cd34",
    number=17,
    state=TrialState.COMPLETED,
    params={"lr": 0.001, "optimizer": {"name": "adam", "betas": [0.9, 0.999]}, "amp": True, "note": None},
    seed=1969073207,
    attempt=3,
    created_at=1700000000.25,
    sent_at=1700000001.5,
    started_at=1700000002.75,
    ended_at=1700000100.0,
    objective=0.125,
    worker="host-a/gpu1",
    host="host-a",
    gpu=GpuRef(index=1, uuid="GPU-2222bbbb", name="NVIDIA H100 80GB HBM3"),
    argv=("/usr/bin/env", "python", "train.py", "--lr=0.001", "--note=a b"),
    exit_code=0,
    error="none really",
    stdout_tail="step=10 loss=0.125\n",
    stderr_tail="warning: ünïcode\n",
    code=CodeVersion(repo="/src/project", commit="0123456789abcdef0123456789abcdef01234567", dirty=True),
    data={"train.csv": "sha256:abc"},
    last_metrics={"loss": 0.125, "acc": 0.97, **NON_FINITE},
    last_step=10,
    reports=11,
    dropped_points=2,
    rejected_reports={"non_numeric_metric": 3},
    lease_expires=1700000400.25,
    stop_requested={"band": 3, "reason": "worse than the top third at step 3"},
    lost_attempts=({"attempt": 1, "worker": "h/gpu0/7", "reason": "lease_expired", "at": 1700000300.5},),
    gpu_usage=GpuUsage(samples=9, mean_util_percent=87.25, max_util_percent=100.0, peak_memory_bytes=13207024435, energy_joules=41250.5),
    retried_attempts=({"attempt": 2, "state": "failed", "retried_at": 1700000350.5, "exit_code": 4, "last_metrics": {"loss": "nan"}},),
    folds=5,
    fold=2,
    fold_objectives=(0.125, None, 0.25, 0.0, 1e-300),
    objective_std=0.0625,
)

FULL_SWEEP = Sweep(
    id="ab12cd34",
    raw_spec={"metric": {"name": "loss", "goal": "minimize"}, "parameters": {"x": {"min": 0, "max": 1}}, "run_cap": 5},
    state=SweepState.CANCELLED,
    seed=11,
    created_at=1700000000.5,
    source="/work/sweep.yaml",
    workdir="/work",
    reason="cancelled by request",
    ended_at=1700000500.0,
    run_cap=12,
    cloned_from="k3j9x2ab",
    restored_at=1700000900.5,
)


def refuse_non_finite(token: str) -> Any:
    raise AssertionError(f"stored JSON contains {token}, which strict JSON parsers reject")


def assert_strict_json(fields: Mapping[str, str]) -> None:
    for name, raw in fields.items():
        json.loads(raw, parse_constant=refuse_non_finite)  # raises on NaN/Infinity tokens
        assert isinstance(raw, str), name


def without_non_finite(trial: Trial) -> Trial:
    return dataclasses.replace(trial, last_metrics={k: v for k, v in trial.last_metrics.items() if k not in NON_FINITE})


@pytest.mark.parametrize("record", [FULL_TRIAL, FULL_SWEEP], ids=["trial", "sweep"])
def test_the_examples_set_every_field(record: Trial | Sweep) -> None:
    # Guard: a field added to a record without a value here would escape the round trip tests.
    for f in dataclasses.fields(record):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        assert getattr(record, f.name) != default, f"set {type(record).__name__}.{f.name} in the example"


def test_a_trial_with_every_field_set_round_trips() -> None:
    # Given a trial with every field set, non-finite metric values included
    # When encoded to hash fields and decoded again
    decoded = codec.decode_trial(codec.encode_trial(FULL_TRIAL))
    # Then every field is equal (NaN compared below, since NaN != NaN)
    assert without_non_finite(decoded) == without_non_finite(FULL_TRIAL)
    # And nested values come back as their record types, not dicts and lists
    assert isinstance(decoded.state, TrialState)
    assert isinstance(decoded.gpu, GpuRef) and isinstance(decoded.code, CodeVersion)
    assert isinstance(decoded.argv, tuple)


def test_non_finite_metric_values_survive_as_floats() -> None:
    last = codec.decode_trial(codec.encode_trial(FULL_TRIAL)).last_metrics
    assert all(type(last[k]) is float for k in NON_FINITE)
    assert math.isnan(last["diverged"])
    assert last["exploded"] == math.inf and last["vanished"] == -math.inf


def test_an_encoded_trial_is_strict_json() -> None:
    # Given a trial with NaN and infinities / When encoded / Then every field parses as strict JSON
    fields = codec.encode_trial(FULL_TRIAL)
    assert set(fields) == {f.name for f in dataclasses.fields(Trial)}
    assert_strict_json(fields)


def test_a_trial_without_the_optional_records_round_trips() -> None:
    bare = Trial(sweep_id="s", number=0, state=TrialState.QUEUED, params={}, seed=0)
    assert codec.decode_trial(codec.encode_trial(bare)) == bare


def test_decoding_ignores_fields_records_do_not_have() -> None:
    # Given a hash with a field from another version of sweepctl / When decoded / Then it is ignored
    fields = {**codec.encode_trial(FULL_TRIAL), "legacy_field": '"x"'}
    assert without_non_finite(codec.decode_trial(fields)) == without_non_finite(FULL_TRIAL)


def test_a_sweep_with_every_field_set_round_trips_as_strict_json() -> None:
    fields = codec.encode_sweep(FULL_SWEEP)
    assert_strict_json(fields)
    decoded = codec.decode_sweep(fields)
    assert decoded == FULL_SWEEP
    assert isinstance(decoded.state, SweepState)


@pytest.mark.parametrize(
    "point",
    [
        MetricPoint(time=1700000000.125, step=3, values={"loss": 0.25, "val/acc": 0.5}),
        MetricPoint(time=0.0, step=None, values={"loss": 1e-300}),
    ],
)
def test_a_metric_point_round_trips(point: MetricPoint) -> None:
    raw = codec.encode_point(point)
    json.loads(raw, parse_constant=refuse_non_finite)
    assert codec.decode_point(raw) == point


def test_a_metric_point_with_non_finite_values_round_trips_as_strict_json() -> None:
    # Given a point of a run that diverged / When encoded
    raw = codec.encode_point(MetricPoint(time=5.0, step=7, values={"ok": 1.0, **NON_FINITE}))
    # Then the stored text is strict JSON and the values come back as floats
    json.loads(raw, parse_constant=refuse_non_finite)
    back = codec.decode_point(raw)
    assert (back.time, back.step, back.values["ok"]) == (5.0, 7, 1.0)
    assert math.isnan(back.values["diverged"])
    assert back.values["exploded"] == math.inf and back.values["vanished"] == -math.inf


def test_encoding_a_partial_update_encodes_only_the_given_fields() -> None:
    fields = codec.encode_fields({"state": TrialState.RUNNING, "gpu": FULL_TRIAL.gpu, "worker": "w"})
    assert fields == {
        "state": '"running"',
        "gpu": '{"index":1,"uuid":"GPU-2222bbbb","name":"NVIDIA H100 80GB HBM3"}',
        "worker": '"w"',
    }
