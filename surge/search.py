"""The capacity search's next step: a staircase of rate multiples, then a bisection.

Pure: it reads the steps judged so far and answers the next multiple to run, or that the search
is done and why. The staircase doubles the multiple from `--from` until a step fails or `--to`
is reached; then the bracket between the highest passing multiple and the lowest failing one is
halved until it is within `--precision` of its lower end. A step judged unclear (its confidence
interval straddles an objective) is run again, up to `MAX_REPEATS` times, its records pooled; a
step where the generator fell behind ends the search, since a generator's shortfall must never
be read as the system's limit (docs/capacity.md, "The capacity search"); so does a step that
failed while the generator was saturated (`Step.saturated`): its slow responses may be the
generator's own. A saturated step that passed counts as passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Status = Literal["pass", "fail", "behind", "unclear", "invalid"]
"""A step's verdict: its objectives held and it carried the load offered; one broke; the
generator could not offer the load; the evidence does not decide yet; or its run is not
evidence of the target at all (it could not reach it, say)."""
Ending = Literal["bracketed", "above_range", "below_range", "generator_limit", "not_valid"]
"""Why a search ended: the answer is bracketed within the precision; every step passed up to
`--to`; the first step (`--from`) already failed; the generator fell behind first, or was
saturated when a step failed; a step's run was not evidence."""
GROWTH = 2.0
"""The staircase's factor from one step to the next."""
MAX_REPEATS = 2
"""Runs of one multiple beyond the first while its verdict is unclear."""


@dataclass(frozen=True, slots=True)
class Step:
    """A multiple run and judged (its repeats pooled)."""

    multiple: float
    status: Status
    runs: int = 1
    """Runs pooled into the verdict (1 + repeats)."""
    unsure: bool = False
    """Still unclear after every repeat: `status` is where its point estimates pointed."""
    saturated: bool = False
    """The generator was saturated while the step was judged (`surge.saturation`)."""


@dataclass(frozen=True, slots=True)
class Next:
    """Run this multiple next; `repeat`: again, pooled with the runs before."""

    multiple: float
    repeat: bool = False


@dataclass(frozen=True, slots=True)
class Done:
    ending: Ending
    sustained: float | None
    """The highest multiple that passed (None: none did)."""
    failed: float | None
    """The lowest multiple above it that failed (None: none did)."""


@dataclass(frozen=True, slots=True)
class Range:
    low: float
    high: float
    precision: float
    """The bracket is narrow enough when (failed - sustained) / sustained <= precision."""


def next_step(steps: Sequence[Step], given: Range) -> Next | Done:
    """What to do after `steps` (in the order run; a repeat replaces its multiple's step)."""
    if not steps:
        return Next(given.low)
    last = steps[-1]
    if last.status == "unclear":
        if last.runs <= MAX_REPEATS:
            return Next(last.multiple, repeat=True)
        raise ValueError(
            f"x{last.multiple:g} is unclear after {last.runs} runs: decide it (unsure)"
        )
    passed = [s.multiple for s in steps if s.status == "pass"]
    failed = [s.multiple for s in steps if s.status == "fail" and not s.saturated]
    sustained = max(passed, default=None)
    if last.status == "behind" or (last.status == "fail" and last.saturated):
        return Done("generator_limit", sustained, min(failed, default=None))
    if last.status == "invalid":
        return Done("not_valid", sustained, min(failed, default=None))
    if not failed:
        if last.multiple >= given.high:
            return Done("above_range", sustained, None)
        return Next(min(last.multiple * GROWTH, given.high))
    lowest_fail = min(failed)
    if sustained is None or sustained > lowest_fail:
        below = [m for m in passed if m < lowest_fail]
        sustained = max(below, default=None)
    if sustained is None:
        if lowest_fail <= given.low:
            return Done("below_range", None, lowest_fail)
        return Next(given.low)
    if (lowest_fail - sustained) / sustained <= given.precision:
        return Done("bracketed", sustained, lowest_fail)
    return Next((sustained + lowest_fail) / 2)
