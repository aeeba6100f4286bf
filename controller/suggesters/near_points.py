"""Every finished trial's point, indexed for "which of them lie near these points": the part of a bounded model's
"bad" density that a sample estimates worst, so that it can be computed exactly
(`optuna_sampler.SampledGroupEstimator`).

A sampled "bad" group estimates full history's density without bias, but near the trials TPE proposes around,
where the trials crowd and each kernel is as narrow as Optuna lets it be, a sample of a few percent leaves holes
between its points that full history fills, and TPE proposes into them: next to trials already tried
(benchmarks/results/suggestion_bounded.md). Kernels reach a few of their widths, so the density at a proposal is
the sum over the trials within a box around it, exactly, plus a sample's estimate of the rest.

Pure numpy and scipy. Axes are numerical ones only, in the space the kernels live in (Optuna's: logarithmic axes as
their logarithm, quantized ones widened by half a step at either end); a categorical axis has no nearness and is
left out of the box.

Cost: adding points costs an O(n) copy per axis (a sorted insert: about a millisecond at 100,000 points and 6
axes); a query costs a k-d tree's search over the points indexed plus a scan of the few added since (the tree is
built again once they are `1/REBUILD_SHARE` of it), so it grows with the points found, not with n.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

# The tree is built again once the points added since outnumber 1/100 of those in it (at 100,000 points: 35 ms
# once every 1,000 trials), and not below MIN_SCAN of them: a scan of them costs about as much as a query then.
REBUILD_SHARE = 100
MIN_SCAN = 256


@dataclass(frozen=True)
class Axis:
    """One numerical axis in kernel space: its range, and whether values are taken as their logarithm first."""

    low: float
    high: float
    log: bool = False

    def kernel(self, values: np.ndarray) -> np.ndarray:
        return np.log(values) if self.log else np.asarray(values, dtype=float)

    @property
    def span(self) -> float:
        return self.high - self.low


class NearPoints:
    """The points of the trials added (their numbers and every column's raw value), searchable by nearness on
    the numerical `axes` (`columns[i]` for axis i, in the order of `axes`)."""

    def __init__(self, axes: Sequence[Axis], columns: Sequence[int], width: int) -> None:
        self.axes = tuple(axes)
        self.columns = tuple(columns)  # which raw column each axis is
        # Room for more points than added, a quarter more when full: adding a trial seldom copies the earlier ones.
        self._n = 0
        self._raw_room = np.empty((64, width))  # every column, as given
        self._numbers_room = np.empty(64, dtype=np.int64)
        self._sorted = [np.empty(0) for _ in self.axes]  # per axis, the kernel-space values sorted
        self._by_number = np.empty(0, dtype=np.int64)  # the numbers, sorted
        self._tree: cKDTree | None = None
        self._indexed = 0  # points [0, _indexed) are in the tree

    def __len__(self) -> int:
        return self._n

    @property
    def numbers(self) -> np.ndarray:
        return self._numbers_room[: self._n]

    @property
    def raw(self) -> np.ndarray:
        return self._raw_room[: self._n]

    def _kernel(self, raw: np.ndarray) -> np.ndarray:
        """Points' axes in kernel space, one column per axis."""
        return np.column_stack([a.kernel(raw[:, c]) for a, c in zip(self.axes, self.columns, strict=True)]) if self.axes else raw[:, :0]

    def _unit(self, raw: np.ndarray) -> np.ndarray:
        """Points' axes in kernel space, scaled to [0, 1] (the tree keeps its own; the rest are few)."""
        return self._scaled(self._kernel(raw))

    def add(self, numbers: Sequence[int], rows: np.ndarray) -> None:
        """Take in the trials `numbers` at `rows` (one per trial, every column's raw value)."""
        if not len(numbers):
            return
        rows = np.asarray(rows, dtype=float).reshape(len(numbers), self._raw_room.shape[1])
        kernel = self._kernel(rows)
        new = np.asarray(numbers, dtype=np.int64)
        start, self._n = self._n, self._n + len(new)
        if self._n > len(self._numbers_room):
            room = self._n + self._n // 4  # a quarter more: a replay of 100,000 leaves room for 25,000
            self._raw_room = np.resize(self._raw_room, (room, self._raw_room.shape[1]))
            self._numbers_room = np.resize(self._numbers_room, room)
        self._raw_room[start : self._n] = rows
        self._numbers_room[start : self._n] = new
        self._by_number = _insert_sorted(self._by_number, new)
        for i in range(len(self.axes)):
            self._sorted[i] = _insert_sorted(self._sorted[i], kernel[:, i])
        if len(self) - self._indexed > max(MIN_SCAN, self._indexed // REBUILD_SHARE):
            self._tree = cKDTree(self._unit(self.raw)) if self.axes else None
            self._indexed = len(self)

    def near(self, raw: np.ndarray, reach: float, most: int) -> list[np.ndarray]:
        """For each of the points `raw`, the indices (ascending) of the points near it: within `reach` of it on
        every axis (a share of each axis's kernel-space span), and where more than `most` are, those strictly
        nearer than the `most`-th nearest (the nearest several hundred hold the density there). Ties with that
        one all go, never some of them: the answer is a function of the points, never of the order they came
        in, and many trials at one point (integer parameters) cost nothing."""
        if not self.axes or not len(self):
            return [np.empty(0, dtype=np.int64) for _ in raw]
        unit = self._unit(raw)
        tail = _chebyshev(unit, self._unit(self.raw[self._indexed :]))
        k = min(most + 1, self._indexed)  # one beyond `most`: whether more than `most` lie within the reach
        distance, index = np.empty((len(unit), 0)), np.empty((len(unit), 0), dtype=np.int64)
        if self._tree is not None:
            # The tree's bound is strict, the scan's is not: one step beyond, a point at `reach` is found either way.
            found, where = self._tree.query(unit, k=k, p=np.inf, distance_upper_bound=np.nextafter(reach, np.inf))
            distance, index = np.reshape(found, (len(unit), k)), np.reshape(where, (len(unit), k))
        answers = []
        for i, row in enumerate(tail):
            d = np.concatenate([distance[i], row])
            at = np.concatenate([index[i], np.arange(self._indexed, len(self))])
            within = d <= reach
            if within.sum() > most:  # the tree's k nearest hold every point nearer than the most-th
                within = d < np.partition(d, most - 1)[most - 1]
            answers.append(np.sort(at[within]).astype(np.int64))
        return answers

    def gaps(self, raw: np.ndarray, consider_endpoints: bool = False) -> np.ndarray:
        """Per point of `raw` (rows of every column's raw value, added or not) and axis: `axis_gaps`."""
        return np.column_stack([self.axis_gaps(i, raw[:, c], consider_endpoints) for i, c in enumerate(self.columns)])

    def axis_gaps(self, axis: int, raw: np.ndarray, consider_endpoints: bool = False) -> np.ndarray:
        """For each raw value on `axis`, the wider of the gaps to its neighbours among every point added (Optuna's
        kernel width before its clip), in kernel space; a range end counts as a neighbour where
        `consider_endpoints`. Points sharing a value count as one, a little wider than Optuna makes all but the
        outer ones of them."""
        values, ordered, a = self.axes[axis].kernel(raw), self._sorted[axis], self.axes[axis]
        order = np.argsort(values)  # sorted queries search far faster: each starts near the last
        below, above = np.empty(len(values), dtype=np.int64), np.empty(len(values), dtype=np.int64)
        below[order] = np.searchsorted(ordered, values[order], side="left") - 1
        above[order] = np.searchsorted(ordered, values[order], side="right")
        lowest, highest = below < 0, above >= len(ordered)
        left = values - np.where(lowest, a.low, ordered[np.maximum(below, 0)])
        right = np.where(highest, a.high, ordered[np.minimum(above, len(ordered) - 1)]) - values
        if not consider_endpoints:
            left = np.where(lowest, 0.0, left)
            right = np.where(highest, 0.0, right)
        return np.maximum(left, right)

    def ranks(self, numbers: np.ndarray) -> np.ndarray:
        """Each trial number's place among the points' numbers (0: below all of them)."""
        return np.searchsorted(self._by_number, numbers)

    def _scaled(self, kernel: np.ndarray) -> np.ndarray:
        lows = np.array([a.low for a in self.axes])
        spans = np.array([a.span for a in self.axes])
        return (kernel - lows) / spans


def _chebyshev(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The distance on the widest axis between each of the points `a` and each of `b`, one axis at a time (a
    points x points x axes array costs several times more)."""
    out = np.zeros((len(a), len(b)))
    for axis in range(a.shape[1]):
        np.maximum(out, np.abs(a[:, axis, np.newaxis] - b[np.newaxis, :, axis]), out=out)
    return out


def _insert_sorted(ordered: np.ndarray, new: np.ndarray) -> np.ndarray:
    new = np.sort(new)
    return np.insert(ordered, np.searchsorted(ordered, new), new)
