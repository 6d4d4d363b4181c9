"""Change points in a series of runs: E-divisive means with a Student's t-test (docs/history.md).

The method is the one Apache Otava (formerly DataStax's Hunter, after MongoDB's use of
E-divisive) runs on performance histories, written here on numpy and scipy because Otava's
release pins numpy and scipy below the versions this project uses (docs/history.md says which):

1. **Split.** The series is cut into overlapping windows (`WINDOW` runs, each starting half a
   window after the last). In each, the split that maximises the E-divisive statistic (the
   energy distance between the runs before it and after it, weighted by their numbers) is a
   candidate; it is kept when a two-sample t-test between the two sides gives p below ten
   times the final threshold, and the sides are split again the same way until no candidate
   passes. The candidates of every window together are the "weak" change points.
2. **Merge.** Each weak point is tested again between its neighbours (the segments it
   separates); the weakest (the highest p, or, when every p passes, the smallest change) is
   dropped and its neighbours retested, until every point left has p below `MAX_PVALUE` and a
   relative change of at least `MIN_MAGNITUDE` (and, where given, an absolute one).

Which of the changes are bad (a percentile that rose, a capacity that fell) is the caller's to
say: this module finds changes in either direction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from scipy.special import stdtr

MAX_PVALUE = 0.001
"""A change is reported only when the t-test between its two sides gives p below this."""
MIN_MAGNITUDE = 0.05
"""…and the mean after differs from the mean before by at least this share of it."""
WINDOW = 50
"""Runs per window of the split step: the E-divisive statistic is quadratic in them."""
MIN_SEGMENT = 3
"""A change needs at least this many runs on each side: one or two runs apart may be outliers,
which the gate judges on their own (`surge.history.gate`)."""
SPLIT_FACTOR = 10.0
"""The split step keeps candidates at this many times `MAX_PVALUE` (the merge step decides)."""


@dataclass(frozen=True, slots=True)
class ChangePoint:
    index: int
    """The first run after the change (its position in the series)."""
    before: float
    """The mean of the segment before it."""
    after: float
    """…and after it."""
    pvalue: float

    @property
    def relative(self) -> float:
        """The change as a share of the mean before (infinite from a mean of 0)."""
        if self.before == 0:
            return 0.0 if self.after == 0 else math.copysign(math.inf, self.after)
        return (self.after - self.before) / abs(self.before)

    @property
    def magnitude(self) -> float:
        """The larger of the change forward and backward, as Otava measures it."""
        if self.before == 0 or self.after == 0:
            return 0.0 if self.before == self.after else math.inf
        return max(abs(self.after / self.before - 1), abs(self.before / self.after - 1))


def change_points(
    values: Sequence[float],
    *,
    max_pvalue: float = MAX_PVALUE,
    min_magnitude: float = MIN_MAGNITUDE,
    min_absolute: float = 0.0,
    window: int = WINDOW,
) -> list[ChangePoint]:
    """The significant changes of mean in `values` (oldest first), in order."""
    series = np.asarray(values, dtype=float)
    if len(series) < 2 * MIN_SEGMENT:
        return []
    weak = _split(series, window, min(max_pvalue * SPLIT_FACTOR, 0.5))
    return _merge(series, weak, max_pvalue, min_magnitude, min_absolute)


def _split(series: np.ndarray, window: int, max_pvalue: float) -> list[int]:
    found: set[int] = set()
    step = max(1, window // 2)
    start = 0
    while True:
        end = min(start + window, len(series))
        found.update(start + i for i in _divide(series[start:end], max_pvalue))
        if end == len(series):
            return sorted(found)
        start += step


def _divide(part: np.ndarray, max_pvalue: float) -> list[int]:
    """E-divisive within one window: split while the best split is significant."""
    n = len(part)
    sums = np.zeros((n + 1, n + 1))
    sums[1:, 1:] = np.abs(part[:, None] - part[None, :]).cumsum(0).cumsum(1)
    cuts: list[int] = []
    while True:
        bounds = [0, *cuts, n]
        best: tuple[float, int, int, int] | None = None
        for low, high in pairwise(bounds):
            candidate = _candidate(sums, low, high)
            if candidate is not None and (best is None or candidate[0] > best[0]):
                best = (candidate[0], candidate[1], low, high)
        if best is None:
            return cuts
        _, tau, low, high = best
        if _pvalue(part[low:tau], part[tau:high]) >= max_pvalue:
            return cuts
        cuts = sorted([*cuts, tau])


def _candidate(sums: np.ndarray, low: int, high: int) -> tuple[float, int] | None:
    """The split of `[low, high)` maximising the E-divisive statistic, (statistic, index);
    `sums[i, j]` is the sum of the distances between the first i runs and the first j."""
    taus = np.arange(low + MIN_SEGMENT, high - MIN_SEGMENT + 1)
    if len(taus) == 0:
        return None
    n = (taus - low).astype(float)
    m = (high - taus).astype(float)
    between = sums[taus, high] - sums[low, high] - sums[taus, taus] + sums[low, taus]
    within_left = (sums[taus, taus] - 2 * sums[low, taus] + sums[low, low]) / 2
    within_right = (sums[high, high] - 2 * sums[taus, high] + sums[taus, taus]) / 2
    energy = (
        2 * between / (n * m) - within_left / (n * (n - 1) / 2) - within_right / (m * (m - 1) / 2)
    )
    q = energy * n * m / (n + m)
    best = int(np.argmax(q))
    return float(q[best]), int(taus[best])


def _pvalue(left: np.ndarray, right: np.ndarray) -> float:
    """Two-sided Student's t-test of equal means (pooled variance, as Otava tests), times the
    number of places the split could have been (Bonferroni): the split tested is the likeliest
    of them, so the plain test would find a change in runs that have none far more often than
    it says."""
    n, m = len(left), len(right)
    places = n + m - 2 * MIN_SEGMENT + 1
    if n < 1 or m < 1 or n + m < 3:
        return 1.0
    mean_l, mean_r = float(left.mean()), float(right.mean())
    pooled = (((left - mean_l) ** 2).sum() + ((right - mean_r) ** 2).sum()) / (n + m - 2)
    if pooled <= 0:
        return 1.0 if mean_l == mean_r else 0.0
    t = (mean_r - mean_l) / math.sqrt(pooled * (1 / n + 1 / m))
    return min(1.0, float(2 * stdtr(n + m - 2, -abs(t))) * places)


def _point(series: np.ndarray, low: int, index: int, high: int) -> ChangePoint:
    left, right = series[low:index], series[index:high]
    return ChangePoint(index, float(left.mean()), float(right.mean()), _pvalue(left, right))


def _merge(
    series: np.ndarray,
    weak: list[int],
    max_pvalue: float,
    min_magnitude: float,
    min_absolute: float,
) -> list[ChangePoint]:
    def tested(cuts: list[int]) -> list[ChangePoint]:
        bounds = [0, *cuts, len(series)]
        return [_point(series, bounds[i], cut, bounds[i + 2]) for i, cut in enumerate(cuts)]

    points = tested(weak)
    while points:
        if _kept(points, max_pvalue, min_magnitude, min_absolute):
            return _placed(series, points)
        weakest = max(range(len(points)), key=lambda i: points[i].pvalue)
        if points[weakest].pvalue < max_pvalue:
            weakest = min(range(len(points)), key=lambda i: _size(points[i], min_absolute))
        cuts = [p.index for i, p in enumerate(points) if i != weakest]
        points = tested(cuts)
    return points


def _kept(
    points: list[ChangePoint], max_pvalue: float, min_magnitude: float, min_absolute: float
) -> bool:
    return all(
        p.pvalue < max_pvalue
        and p.magnitude >= min_magnitude
        and abs(p.after - p.before) >= min_absolute
        for p in points
    )


def _placed(series: np.ndarray, points: list[ChangePoint]) -> list[ChangePoint]:
    """Each change moved to the split between its neighbours (within a window either side)
    that best separates two means (least squares: the likeliest place of a shift in a mean
    under normal noise). E-divisive finds that there is a change; near it, its statistic,
    which weighs every distance alike, may peak a run or two off."""
    cuts = [p.index for p in points]
    for i, cut in enumerate(cuts):
        low = max(cuts[i - 1] if i else 0, cut - WINDOW)
        high = min(cuts[i + 1] if i + 1 < len(cuts) else len(series), cut + WINDOW)
        running = np.concatenate([[0.0], np.cumsum(series[low:high])])
        taus = np.arange(MIN_SEGMENT, high - low - MIN_SEGMENT + 1)
        n, m = taus.astype(float), (high - low - taus).astype(float)
        left = running[taus] / n
        right = (running[-1] - running[taus]) / m
        cuts[i] = low + int(taus[np.argmax(n * m / (n + m) * (left - right) ** 2)])
    bounds = [0, *cuts, len(series)]
    return [_point(series, bounds[i], cut, bounds[i + 2]) for i, cut in enumerate(cuts)]


def _size(point: ChangePoint, min_absolute: float) -> float:
    """How far past its thresholds a change is, for choosing the smallest to drop first."""
    return (
        point.magnitude
        if not min_absolute
        else min(point.magnitude, abs(point.after - point.before) / min_absolute)
    )
