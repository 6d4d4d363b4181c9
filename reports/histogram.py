"""Quantiles from a Prometheus histogram's cumulative buckets, as `histogram_quantile` has them.

The reports put the target's own view of its latency (its `/metrics` histogram, kept in the run
folder's metrics) beside the harness's exact percentiles. The estimate must be the one a Prometheus
user would see, so this follows `bucketQuantile` in Prometheus' `promql/quantile.go`: the rank
`q x count` falls in the first bucket whose cumulative count reaches it, and the value is
interpolated linearly between that bucket's lower and upper bounds.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from itertools import accumulate, pairwise


def quantile(q: float, bounds: Sequence[float], cumulative_counts: Sequence[float]) -> float:
    """The `q`-quantile (0 <= q <= 1) of a histogram: `bounds` are its buckets' upper bounds (the
    `le` labels, increasing, the last `+Inf`), `cumulative_counts` their counts.

    As Prometheus answers: NaN without a `+Inf` bucket, a finite bucket or an observation; -Inf for
    q < 0 and +Inf for q > 1; the highest finite bound when the rank falls in the `+Inf` bucket; 0
    as the lowest bucket's lower bound (unless its upper bound is not positive: then that bound).
    Counts that fall from one bucket to the next, as in an exposition read while requests were being
    counted, are first raised to the running maximum, again as Prometheus does.
    """
    if len(bounds) != len(cumulative_counts):
        raise ValueError(f"{len(bounds)} bounds for {len(cumulative_counts)} counts")
    if any(lower >= upper for lower, upper in pairwise(bounds)):
        raise ValueError("bucket bounds must increase")
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if len(bounds) < 2 or bounds[-1] != math.inf:
        return math.nan
    counts = list(accumulate(cumulative_counts, max))
    observations = counts[-1]
    if observations == 0:
        return math.nan
    rank = q * observations
    b = bisect_left(counts, rank, 0, len(counts) - 1)
    if b == len(counts) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start, below = (bounds[b - 1], counts[b - 1]) if b > 0 else (0.0, 0.0)
    if counts[b] == below:
        return math.nan  # q = 0 with the lowest bucket empty: Prometheus divides 0 by 0 too
    return start + (bounds[b] - start) * (rank - below) / (counts[b] - below)
