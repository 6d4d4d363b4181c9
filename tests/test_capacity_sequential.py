"""The capacity search's sequential rule (`reports.sequential`), on synthetic counts: a level is
looked at every block of requests, as the search looks at it while it runs, and decided as soon
as its share's confidence sequence leaves the budget. Its error rate is pinned over many seeds,
on independent requests and on requests whose slow ones come in runs (as near a queue's limit);
docs/capacity.md states what it guarantees.

Fixed seeds, so nothing flakes; the bounds hold for the rule, not for the seeds: with 300 levels
the share decided wrongly has a standard error of about 1.3 points at 5%."""

from __future__ import annotations

import numpy as np
import pytest

from reports import sequential

BUDGET = 0.05
ALPHA = 0.05
BLOCKS = 22
"""45 s of a level in blocks of 2 s: the longest a level is judged by default."""
PER_BLOCK = 180
"""Requests in a block: 90 a second, the benchmark's 5-slot lane near its limit."""
LEVELS = 300
CONCENTRATION = 60.0
"""Of the blocks' shares when clustered: a block of 180 requests then varies about four times as
much as independent requests would (1 + 179 / 61)."""


def decide(shares: np.ndarray, rng: np.random.Generator) -> str | None:
    """One level: block `k` holds `PER_BLOCK` requests, each bad with `shares[k]`; its verdict
    as the search would reach it, looking after every block."""
    requests = np.full(len(shares), PER_BLOCK)
    bad = rng.binomial(PER_BLOCK, shares)
    for seen in range(1, len(shares) + 1):
        decided = sequential.decide(requests[:seen], bad[:seen], BUDGET, ALPHA)
        if decided is not None:
            return decided
    return None


def verdicts(share: float, clustered: bool, seed: int) -> dict[str | None, int]:
    """`LEVELS` levels whose requests are bad with `share` on average: independent, or
    clustered (each block's share drawn from a beta of mean `share`: a dispersion about 4,
    the bursts of slow requests of a queue near its limit)."""
    rng = np.random.default_rng(seed)
    found: dict[str | None, int] = {"pass": 0, "fail": 0, None: 0}
    for _ in range(LEVELS):
        shares = (
            rng.beta(share * CONCENTRATION, (1 - share) * CONCENTRATION, BLOCKS)
            if clustered
            else np.full(BLOCKS, share)
        )
        found[decide(shares, rng)] += 1
    return found


@pytest.mark.parametrize("clustered", [False, True], ids=["independent", "clustered"])
def test_a_level_held_exactly_at_its_budget_is_decided_at_most_one_time_in_twenty(
    clustered: bool,
) -> None:
    """Any decision is wrong there; the rule's whole error budget is spent on it."""
    found = verdicts(BUDGET, clustered, seed=1)
    assert (found["pass"] + found["fail"]) / LEVELS <= ALPHA


@pytest.mark.parametrize(
    ("clustered", "within", "beyond", "decided"),
    [(False, 0.5, 2.0, 0.8), (True, 0.25, 3.0, 0.5)],
    ids=["independent", "clustered"],
)
def test_a_level_well_within_or_beyond_its_budget_is_decided_on_its_side(
    clustered: bool, within: float, beyond: float, decided: float
) -> None:
    """Never on the wrong side; clustered requests weigh less, so it takes a wider margin."""
    below = verdicts(BUDGET * within, clustered, 2)
    above = verdicts(BUDGET * beyond, clustered, 3)
    assert below["fail"] == 0
    assert above["pass"] == 0
    assert below["pass"] >= decided * LEVELS
    assert above["fail"] >= decided * LEVELS


def test_a_level_of_independent_requests_is_decided_much_sooner_than_a_clustered_one() -> None:
    """The deflation by the blocks' dispersion is what keeps the clustered levels honest."""
    rng = np.random.default_rng(4)
    requests = np.full(BLOCKS, PER_BLOCK)
    alone = rng.binomial(PER_BLOCK, np.full(BLOCKS, BUDGET * 0.6))
    runs = rng.binomial(PER_BLOCK, rng.beta(0.03 * 5, 0.97 * 5, BLOCKS))
    independent = sequential.share(requests, alone, BUDGET, ALPHA)
    clustered = sequential.share(requests, runs, BUDGET, ALPHA)
    assert independent.dispersion < 3 < clustered.dispersion
    assert independent.high - independent.low < clustered.high - clustered.low


def test_the_interval_holds_the_share_and_narrows_with_the_requests() -> None:
    few = sequential.interval(100, 5, ALPHA)
    many = sequential.interval(10_000, 500, ALPHA)
    assert few[0] < 0.05 < few[1]
    assert many[0] < 0.05 < many[1]
    assert many[1] - many[0] < (few[1] - few[0]) / 5
    assert sequential.interval(0, 0, ALPHA) == (0.0, 1.0)
    assert sequential.interval(200, 0, ALPHA)[0] == 0.0


def test_one_block_decides_nothing_however_many_requests_it_holds() -> None:
    """Its dispersion is unknown: a run of slow requests may be all there is of it (and two
    blocks are all the trend's line: their dispersion about it is unknown too)."""
    for blocks in (1, 2):
        few = sequential.share(np.full(blocks, 5000), np.full(blocks, 5000), BUDGET, ALPHA)
        assert few.decision is None
        assert (few.low, few.high) == (0.0, 1.0)
    four = sequential.share(np.full(4, 300), np.full(4, 300), BUDGET, ALPHA)
    assert four.decision == "fail"


def test_a_level_whose_slow_share_climbs_block_by_block_is_decided_on_its_trend() -> None:
    """A queue still growing: its blocks' shares climb from none to all. That climb is the
    level's, not noise, and it fails; about one share for all its dispersion read as hundreds
    and left it undecided."""
    climbing = np.array([0, 30, 120, 250, 290, 300, 300])
    decided = sequential.share(np.full(7, 300), climbing, BUDGET, ALPHA)
    assert decided.decision == "fail"
    assert decided.low > BUDGET
