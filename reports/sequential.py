"""An objective decided on a level's requests as they come: the Confidence Sequence Method.

A capacity search extends each level until every objective's share of bad requests is decided
against its budget (`reports.slo.Objective.budget`: 5% slow for a p95, the error rate's own
share for an error rate), however often it looks. A fixed-sample interval checked every second
would be wrong far more often than its level says (looking again and again until it excludes
the budget is how false findings are made), so the decision uses Robbins' confidence sequence
for a binomial share, the one the Confidence Sequence Method builds on (Ding, Gandy & Hahn,
arXiv 1611.01675; Robbins 1970, Lai 1976): after n requests of which b were bad, the shares

    { p : (n + 1) C(n, b) p^b (1 - p)^(n - b) > alpha }

hold the true share at every n at once with probability at least 1 - alpha. (The left side is
the reciprocal of a martingale, the likelihood of the requests mixed over a uniform prior on the
share against their likelihood at p; Ville's inequality bounds the chance it ever exceeds
1 / alpha.) So an objective decided when the budget leaves the sequence is decided wrongly with
probability at most alpha, whenever the search looked and however long the level ran.

Neighbouring requests share a queue, so their outcomes are not independent: near the limit slow
requests come in runs. The counts are deflated by their dispersion first, as the whole-run
judgement does (`reports.slo`): the bad counts of the level's `BLOCK_S` blocks against one share
for the level (Pearson's dispersion, never below 1), so that n requests weigh as n / D. How
often that still errs, on independent and on clustered requests, is pinned by
tests/test_capacity_sequential.py; docs/capacity.md states it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import optimize, special

BLOCK_S = 2.0
"""Seconds of requests counted together for their dispersion: longer than a queue near its
limit takes to forget (docs/capacity.md, "Accuracy")."""

DISPERSION_CONFIDENCE = 0.975
"""The dispersion used is its upper bound at this confidence, from the blocks' chi-square. Near
a queue's limit slow requests come in bursts, and a level that happened to see few of them sees
both a lower share and a lower dispersion: in simulated M/M/c queues held exactly at their
budget for 45 s (5 slots of 40 ms, 8 of 25 ms; 200 levels each), the point estimate decided
20% and 14% of the levels, the upper bound at 90% 4.5% and 13.5%, at 97.5% 2% and 4.5% (about
one share for all the blocks; about their trend a stationary level's line is flat, and the
degree of freedom it costs widens the bound)."""

Decision = Literal["pass", "fail"]


@dataclass(frozen=True, slots=True)
class Share:
    """One objective's requests on a level: counted, deflated and decided."""

    requests: int
    bad: int
    dispersion: float
    """At least 1: n requests weigh as n / this."""
    low: float
    high: float
    """The confidence sequence's interval for the share, now."""
    decision: Decision | None
    """`pass` when the whole interval is within the budget, `fail` when it is beyond it."""

    @property
    def share(self) -> float | None:
        return self.bad / self.requests if self.requests else None


def share(requests: np.ndarray, bad: np.ndarray, budget: float, alpha: float) -> Share:
    """The share of bad requests over blocks (`requests` and `bad` per block, in order),
    decided against `budget` at `alpha` (the chance of ever deciding wrongly)."""
    n, b = int(requests.sum()), int(bad.sum())
    d = dispersion(requests, bad)
    low, high = interval(n / d, b / d, alpha)
    return Share(n, b, d, low, high, _decision(n / d, b / d, budget, alpha))


def decide(requests: np.ndarray, bad: np.ndarray, budget: float, alpha: float) -> Decision | None:
    """`share`'s decision alone (the budget outside the confidence sequence, and on which side
    of it the share is), without working out the interval."""
    d = dispersion(requests, bad)
    return _decision(float(requests.sum()) / d, float(bad.sum()) / d, budget, alpha)


def _decision(n: float, b: float, budget: float, alpha: float) -> Decision | None:
    if not n > 0 or _log_mixture(n, b, budget) > math.log(alpha):
        return None
    return "pass" if b / n < budget else "fail"


def dispersion(requests: np.ndarray, bad: np.ndarray) -> float:
    """How much more the blocks' bad counts vary than independent requests' would: Pearson's
    dispersion about the blocks' trend (a weighted straight line through their shares), taken
    at its upper `DISPERSION_CONFIDENCE` bound (a few blocks may well have missed the runs of
    slow requests that make it), never below 1. About the trend, not one share for all: a level
    whose queue still grows has shares that climb block by block, and that is no noise (about
    one share it read as a dispersion of 990, and a level 73% slow against a budget of 5% was
    left undecided). Without a block's worth of variation to measure (fewer than three blocks,
    or no bad request or no good one) it is that bound over a dispersion of 1."""
    used = requests > 0
    blocks = int(used.sum())
    if blocks < 3:
        return math.inf
    n, b = requests[used].astype(float), bad[used].astype(float)
    p = b.sum() / n.sum()
    freedom = blocks - 2  # the line's two parameters
    pearson = float(freedom)  # a dispersion of 1
    if 0 < p < 1:
        at = np.arange(blocks, dtype=float)
        slope, level = np.polyfit(at, b / n, 1, w=np.sqrt(n))
        expected = n * np.clip(level + slope * at, 0.0, 1.0)
        pearson = max(pearson, float(((b - expected) ** 2 / (n * p * (1 - p))).sum()))
    # chi-squared's quantile at 1 - DISPERSION_CONFIDENCE, without importing scipy.stats
    bound: float = special.chdtri(freedom, DISPERSION_CONFIDENCE)
    return pearson / bound


def interval(n: float, b: float, alpha: float) -> tuple[float, float]:
    """The shares still in the confidence sequence after `n` requests, `b` of them bad (both
    may be fractional: deflated counts)."""
    if not n > 0:
        return 0.0, 1.0
    level = math.log(alpha)
    peak = b / n

    def excess(p: float) -> float:
        return _log_mixture(n, b, p) - level

    low = 0.0
    if b > 0 and excess(1e-300) <= 0:
        low = optimize.brentq(excess, 1e-300, peak)
    high = 1.0
    if b < n and excess(1 - 1e-16) <= 0:
        high = optimize.brentq(excess, max(peak, 1e-300), 1 - 1e-16)
    return float(low), float(high)


def _log_mixture(n: float, b: float, p: float) -> float:
    """log of (n + 1) C(n, b) p^b (1 - p)^(n - b), with the binomial coefficient through the
    gamma function (deflated counts are not whole)."""
    choose = special.gammaln(n + 1) - special.gammaln(b + 1) - special.gammaln(n - b + 1)
    return float(math.log(n + 1) + choose + special.xlogy(b, p) + special.xlog1py(n - b, -p))
