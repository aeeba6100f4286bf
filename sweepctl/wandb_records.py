"""What a W&B run's records say about its metrics: history rows and summary changes, as plain values.

Each logical record of a run log (`sweepctl.wandb_log`) is a `wandb_internal.Record`
protobuf message. Only two kinds matter here, read with a small wire-format
decoder of our own (the field numbers are those of wandb's `wandb_internal.proto`;
the `wandb` package is not imported, so a worker needs it neither installed nor
loaded, and the tests check this decoder against wandb's own messages):

- `history` (Record field 2): one `wandb.log` row: items (a name, or a path of
  nested names, and a JSON value) and a step;
- `summary` (Record field 3): updates and removals of the run's summary.

Names: a nested value (`wandb.log({"val": {"loss": x}})`) is named by its path
joined with dots, W&B's own way (`val.loss`). What is not a metric is left out:
W&B's internals (`_step`, `_runtime`, `_timestamp`, `_wandb`), values that are no
number (strings, booleans, null, lists) and W&B objects (images, tables, histograms:
any group that holds a `_type`). Numbers are floats (NaN and infinities included).
The step of a row is its `_step` (what `wandb.log(..., step=)` sets, else W&B's count).
Malformed bytes never raise: a record that cannot be decoded gives nothing.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

INTERNAL_NAMES = frozenset({"_step", "_runtime", "_timestamp", "_wandb"})
OBJECT_TYPE_KEY = "_type"  # a W&B object (image, table, histogram, ...) is a group holding this key
MAX_DEPTH = 16  # nested names deeper than this are left out
STEP_NAME = "_step"

# Field numbers in wandb_internal.proto.
_RECORD_HISTORY, _RECORD_SUMMARY = 2, 3
_HISTORY_ITEM, _HISTORY_STEP = 1, 2
_STEP_NUM = 1
_SUMMARY_UPDATE, _SUMMARY_REMOVE = 1, 2
_ITEM_KEY, _ITEM_NESTED_KEY, _ITEM_INTEGER, _ITEM_NUMBER, _ITEM_JSON, _ITEM_VALUE_JSON = 1, 2, 5, 6, 8, 16

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


@dataclass(frozen=True)
class HistoryRow:
    """One `wandb.log` row: its step and its numeric values by flat name."""

    step: int | None
    values: dict[str, float]


@dataclass(frozen=True)
class SummaryChange:
    """One summary record: names set (a path set to a value replaces what was under it) and names removed."""

    updates: tuple[tuple[tuple[str, ...], Any], ...]  # (path of names, the decoded value: a number, a dict, anything)
    removals: tuple[tuple[str, ...], ...]


class _Malformed(Exception):
    """Raised inside the decoder when bytes are not the protobuf they should be."""


def decode_record(data: bytes) -> HistoryRow | SummaryChange | None:
    """The history row or summary change a record holds; None for any other record and for malformed bytes."""
    try:
        for number, wire, value in _fields(data):
            if wire == _BYTES and number == _RECORD_HISTORY:
                assert isinstance(value, bytes)
                return _history(value)
            if wire == _BYTES and number == _RECORD_SUMMARY:
                assert isinstance(value, bytes)
                return _summary(value)
    except (_Malformed, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return None


def _history(data: bytes) -> HistoryRow:
    items: list[tuple[tuple[str, ...], Any]] = []
    step: int | None = None
    for number, wire, value in _fields(data):
        if wire == _BYTES and number == _HISTORY_ITEM:
            assert isinstance(value, bytes)
            items.append(_item(value))
        elif wire == _BYTES and number == _HISTORY_STEP:
            assert isinstance(value, bytes)
            step = _step_num(value)
    values: dict[str, float] = {}
    objects = _objects(items)
    for path, value in items:
        if path == (STEP_NAME,):
            logged = _number(value)
            step = int(logged) if logged is not None and math.isfinite(logged) else step
        elif not _left_out(path, objects):
            flatten(path, value, values)
    return HistoryRow(step=step, values=values)


def _summary(data: bytes) -> SummaryChange:
    updates: list[tuple[tuple[str, ...], Any]] = []
    removals: list[tuple[str, ...]] = []
    for number, wire, value in _fields(data):
        if wire == _BYTES and number == _SUMMARY_UPDATE:
            assert isinstance(value, bytes)
            updates.append(_item(value))
        elif wire == _BYTES and number == _SUMMARY_REMOVE:
            assert isinstance(value, bytes)
            removals.append(_item(value)[0])
    objects = _objects(updates)
    return SummaryChange(
        updates=tuple((path, value) for path, value in updates if not _left_out(path, objects)),
        removals=tuple(path for path in removals if path and path[0] not in INTERNAL_NAMES),
    )


def _objects(items: list[tuple[tuple[str, ...], Any]]) -> set[tuple[str, ...]]:
    """The paths of the W&B objects among one record's items (their `_type` is an item of its own)."""
    return {path[:-1] for path, _ in items if len(path) > 1 and path[-1] == OBJECT_TYPE_KEY}


def _left_out(path: tuple[str, ...], objects: set[tuple[str, ...]]) -> bool:
    """Whether an item is no metric: W&B's internals, or a part of a W&B object logged in the same row."""
    if not path or path[0] in INTERNAL_NAMES or len(path) > MAX_DEPTH:
        return True
    return any(path[:n] in objects for n in range(1, len(path)))


def flatten(path: tuple[str, ...], value: Any, into: dict[str, float]) -> None:
    """Add `value`'s numbers to `into` under dotted names; W&B objects, non-numbers and too-deep values are left out."""
    if isinstance(value, dict):
        if OBJECT_TYPE_KEY in value or len(path) >= MAX_DEPTH:
            return
        for key, inner in value.items():
            flatten((*path, str(key)), inner, into)
        return
    number = _number(value)
    if number is not None and path:
        into[".".join(path)] = number


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def _item(data: bytes) -> tuple[tuple[str, ...], Any]:
    """A HistoryItem or SummaryItem: its path (nested_key, else key) and its value, decoded."""
    key = ""
    nested: list[str] = []
    value: Any = None
    for number, wire, raw in _fields(data):
        if wire == _BYTES and number == _ITEM_KEY:
            assert isinstance(raw, bytes)
            key = raw.decode()
        elif wire == _BYTES and number == _ITEM_NESTED_KEY:
            assert isinstance(raw, bytes)
            nested.append(raw.decode())
        elif wire == _BYTES and number in (_ITEM_VALUE_JSON, _ITEM_JSON):
            assert isinstance(raw, bytes)
            value = json.loads(raw)
        elif wire == _VARINT and number == _ITEM_INTEGER:
            assert isinstance(raw, int)
            value = (raw >> 1) ^ -(raw & 1)  # sint64: zigzag
        elif wire == _FIXED64 and number == _ITEM_NUMBER:
            assert isinstance(raw, bytes)
            value = struct.unpack("<d", raw)[0]
    path = tuple(nested) if nested else ((key,) if key else ())
    return path, value


def _step_num(data: bytes) -> int | None:
    for number, wire, value in _fields(data):
        if wire == _VARINT and number == _STEP_NUM:
            assert isinstance(value, int)
            return value - (1 << 64) if value >= 1 << 63 else value  # int64, two's complement
    return 0  # proto3: an absent number is 0


def _fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of each field of one protobuf message; raises _Malformed on bad bytes."""
    pos, size = 0, len(data)
    while pos < size:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(data, pos)
            yield number, wire, value
            continue
        if wire == _BYTES:
            length, pos = _varint(data, pos)
        elif wire in (_FIXED64, _FIXED32):
            length = 8 if wire == _FIXED64 else 4
        else:
            raise _Malformed(f"wire type {wire}")
        if pos + length > size:
            raise _Malformed("field runs past its message")
        yield number, wire, data[pos : pos + length]
        pos += length


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    for shift in range(0, 70, 7):
        if pos >= len(data):
            raise _Malformed("varint runs past its message")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
    raise _Malformed("varint longer than 10 bytes")
