"""Records <-> Redis hash fields. Every field is JSON; non-finite metric values travel as strings.

Strict JSON has no NaN, and `trials --format json` must stay parseable, so NaN
and infinities are written as "nan", "inf", "-inf" and read back as floats.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

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


def encode_number(x: float) -> float | str:
    return x if math.isfinite(x) else str(x)


def decode_number(x: Any) -> float:
    return float(x)


def encode_values(values: Mapping[str, float]) -> dict[str, float | str]:
    return {k: encode_number(float(v)) for k, v in values.items()}


def decode_values(values: Mapping[str, Any]) -> dict[str, float]:
    return {k: decode_number(v) for k, v in values.items()}


# One encoder for every write: json.dumps with options builds a new encoder per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def dumps(value: Any) -> str:
    return _ENCODER.encode(value)


def loads(raw: str) -> Any:
    return json.loads(raw)


def encode_fields(fields: Mapping[str, Any]) -> dict[str, str]:
    """Encode a partial trial/sweep update (field name -> Python value) to hash fields."""
    out: dict[str, str] = {}
    for name, value in fields.items():
        if isinstance(value, (TrialState, SweepState)):
            value = value.value
        elif isinstance(value, GpuRef):
            value = {"index": value.index, "uuid": value.uuid, "name": value.name}
        elif isinstance(value, CodeVersion):
            value = {"repo": value.repo, "commit": value.commit, "dirty": value.dirty}
        elif isinstance(value, GpuUsage):
            value = encode_gpu_usage(value)
        elif name == "last_metrics":
            value = encode_values(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[name] = dumps(value)
    return out


def encode_gpu_usage(usage: GpuUsage) -> dict[str, Any]:
    """The summary's figures and, for readers of the JSON, its `mostly_idle` judgement (recomputed when read back)."""
    return {name: getattr(usage, name) for name in GpuUsage.__dataclass_fields__} | {"mostly_idle": usage.mostly_idle}


def encode_trial(trial: Trial) -> dict[str, str]:
    return encode_fields({name: getattr(trial, name) for name in Trial.__dataclass_fields__})


def decode_trial(raw: Mapping[str, str]) -> Trial:
    f = {k: json.loads(v) for k, v in raw.items() if k in Trial.__dataclass_fields__}
    f["state"] = TrialState(f["state"])
    if f.get("gpu") is not None:
        f["gpu"] = GpuRef(**f["gpu"])
    if f.get("code") is not None:
        f["code"] = CodeVersion(**f["code"])
    if f.get("gpu_usage") is not None:
        f["gpu_usage"] = GpuUsage.of(f["gpu_usage"])
    for name in ("argv", "lost_attempts", "retried_attempts", "fold_objectives"):
        if name in f:
            f[name] = tuple(f[name])
    if "last_metrics" in f:
        f["last_metrics"] = decode_values(f["last_metrics"])
    return Trial(**f)


def encode_sweep(sweep: Sweep) -> dict[str, str]:
    return encode_fields({name: getattr(sweep, name) for name in Sweep.__dataclass_fields__})


def decode_sweep(raw: Mapping[str, str]) -> Sweep:
    f = {k: json.loads(v) for k, v in raw.items() if k in Sweep.__dataclass_fields__}
    f["state"] = SweepState(f["state"])
    return Sweep(**f)


def point_fields(point: MetricPoint) -> dict[str, Any]:
    """A metric point as plain JSON data: `{"t": time, "step": step, "v": {name: value}}` (non-finite values as strings)."""
    return {"t": point.time, "step": point.step, "v": encode_values(point.values)}


def point_of(fields: Mapping[str, Any]) -> MetricPoint:
    """The point `point_fields` gave."""
    return MetricPoint(time=fields["t"], step=fields["step"], values=decode_values(fields["v"]))


def encode_point(point: MetricPoint) -> str:
    return dumps(point_fields(point))


def decode_point(raw: str) -> MetricPoint:
    return point_of(json.loads(raw))
