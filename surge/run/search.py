"""The capacity search's next level: climb, then close in on where the objectives break.

Pure: it reads the levels decided so far and answers the next multiple to run, or that the search
is done and why (docs/capacity.md, "The capacity search"):

- **Climbing.** From `--from`, a light level (no queueing shows yet) is followed by one `GROWTH`
  times higher while its requests in flight are few, `CLIMB` times once they are not; once the
  levels show queueing, the M/M/c guide's prediction of where the objectives break (`guide`)
  sets the next level, just past it, within those bounds. Until a level fails or `--to` passed.
- **Closing in.** Between the highest level that passed and the lowest that failed (leaning as
  their point estimates do when they were not decided), a wide bracket is halved (geometric
  middles) until it is within `WIDE` or there is an estimate of the crossing from the levels
  either side of it (`estimate`); then one level beyond it on each side (`PROBES`) where no level
  closer surely failed or passed yet (so the answer's interval rests on decided levels near it),
  and last one confirmation level at the estimate itself. The search ends early once the levels
  surely passed and failed are within `--precision` of each other.
- **Endings.** A level where the generator fell behind ends the search, since a generator's
  shortfall must never be read as the system's limit. A level that failed while the generator
  was saturated (its slow responses may be the generator's own) is never the upper end of the
  answer's interval, nor climbed over (a climb past a failure overloads the target): the search
  goes on between the highest level that passed and it (where the answer is), or, with no room
  there, runs it again; failing so at the same multiple `SATURATED_TRIES` times ends the search
  at the generator's limit. A level that passed while it was saturated passed. A level whose run
  is not evidence of the target ends it as not valid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from surge.runfolder import Ending, Status

GROWTH = 4.0
"""The climb's factor from a light level with few requests in flight (`FEW_IN_FLIGHT`)."""
FEW_IN_FLIGHT = 1.0
CLIMB = 1.6
"""The climb's factor once requests crowd in and the guide does not see queueing yet: a level
past the target's capacity fills its queue and the generator's backlog, which the levels below
it then wait to drain, so the climb overshoots by this at most. From half the capacity
(M/M/c at half load shows little queueing) it lands below saturation, where a p95's limit is."""
SLOWEST_CLIMB = 1.25
"""The guide never sets the next level closer than this above the last."""
PAST_GUIDE = 1.1
"""…and aims this far past the multiple it predicts, for a level that surely fails soon."""
WIDE = 1.6
"""A bracket this wide is halved before the estimate is trusted (a climb past the answer leaves
one `CLIMB` wide at most, a guided jump up to `GROWTH`)."""
PROBES = {"fail": 0.2, "pass": -0.3}
"""Where the probes go, as shares of the estimate: a level 20% above it fails surely within
seconds; below it a p95's budget is shallow (its service time's own tail spends much of it), so
a level must be 30% below to be decided within a minute (docs/capacity.md, "Accuracy")."""
NEAR = 0.03
"""A level within this share of the estimate confirms it."""
MOST_AFTER_FAIL = 7
"""Levels after the first failure, at most: the search always ends."""
SATURATED_TRIES = 2
"""A multiple that failed this many times while the generator was saturated is the generator's
limit: once may be a host busy for a second (another process's burst, one stall of 100 ms)."""


@dataclass(frozen=True, slots=True)
class Level:
    """A level run and decided."""

    multiple: float
    """Asked for."""
    status: Status
    realized: float | None = None
    """The multiple it offered (its arrivals over the phase's rate); None when not known."""
    sure: bool = False
    """Decided at the stated confidence (not light, not unsure)."""
    light: bool = False
    """Explored, not decided: no queueing showed."""
    saturated: bool = False
    """The generator was saturated while it was judged (`surge.judge.saturation`)."""
    in_flight: float = 0.0
    """Requests in flight on average (Little's law: their rate times their mean time)."""

    @property
    def rate(self) -> float:
        """Where it stands: the multiple offered, or asked when that is not known."""
        return self.realized if self.realized is not None else self.multiple


@dataclass(frozen=True, slots=True)
class Next:
    multiple: float


@dataclass(frozen=True, slots=True)
class Done:
    ending: Ending


@dataclass(frozen=True, slots=True)
class Range:
    low: float
    high: float
    precision: float
    """Close in until the interval is within this share of its lower end."""


def failed(levels: Sequence[Level]) -> list[Level]:
    """The levels that failed as the target's doing (not while the generator was saturated)."""
    return [level for level in levels if level.status == "fail" and not level.saturated]


def bracket(levels: Sequence[Level], sure: bool = False) -> tuple[Level | None, Level | None]:
    """The highest level that passed below the lowest that failed, and that one (by the rate
    offered); only the levels decided at the stated confidence with `sure`."""
    fails = [f for f in failed(levels) if f.sure or not sure]
    lowest = min(fails, key=lambda f: f.rate, default=None)
    passes = [
        p
        for p in levels
        if p.status == "pass" and (p.sure or not sure) and (lowest is None or p.rate < lowest.rate)
    ]
    return max(passes, key=lambda p: p.rate, default=None), lowest


def answer_at(levels: Sequence[Level], estimate: float | None) -> tuple[float, str]:
    """Where the answer stands, and how it was found: at the `estimate` of the crossing when it
    lies between the highest level that passed and the lowest that failed, as they leaned (above
    a level that leaned to failing it would contradict what was measured there); else at the
    highest level that passed. Needs a level that passed."""
    low, high = bracket(levels)
    if low is None:
        raise ValueError("no level passed")
    if estimate is not None and low.rate <= estimate and (high is None or estimate < high.rate):
        return estimate, "crossing"
    return low.rate, "highest_pass"


def next_level(
    levels: Sequence[Level], given: Range, estimate: float | None = None, guide: float | None = None
) -> Next | Done:
    """What to do after `levels` (in the order run); `estimate`: where the levels either side
    of it put the crossing, `guide`: where the M/M/c fit predicts it (multiples)."""
    if not levels:
        return Next(given.low)
    last = levels[-1]
    if last.status == "fail" and last.saturated:
        if _saturated_failures(levels, last.multiple) >= SATURATED_TRIES:
            return Done("generator_limit")
        low, _ = bracket(levels)
        if low is not None and last.rate > low.rate * (1 + given.precision):
            return Next(math.sqrt(low.rate * last.rate))  # below it, where the answer is
        return Next(last.multiple)
    if last.status == "behind":
        return Done("generator_limit")
    if last.status == "invalid":
        return Done("not_valid")
    if last.status == "unclear":
        raise ValueError(f"x{last.multiple:g} is not decided: decide it first")
    low, high = bracket(levels)
    if high is None:
        if last.multiple >= given.high:
            return Done("above_range")
        return Next(min(_climb(last, guide), given.high))
    if low is None:
        if high.multiple <= given.low:
            return Done("below_range")
        return Next(given.low)
    after = len(levels) - next(n for n, level in enumerate(levels) if level.status == "fail")
    if after > MOST_AFTER_FAIL:
        return Done("bracketed")
    sure_low, sure_high = bracket(levels, sure=True)
    if sure_low and sure_high and sure_high.rate <= sure_low.rate * (1 + given.precision):
        return Done("bracketed")
    if high.rate > low.rate * WIDE or estimate is None or not low.rate < estimate < high.rate:
        return _halve(low, high, given) or Done("bracketed")
    for side in ("fail", "pass"):
        if not _probed(levels, estimate, side):
            return Next(_probe(estimate, side))
    if not any(abs(level.rate / estimate - 1) <= NEAR for level in levels):
        return Next(estimate)
    return Done("bracketed")


def _saturated_failures(levels: Sequence[Level], multiple: float) -> int:
    return sum(
        1
        for level in levels
        if level.multiple == multiple and level.status == "fail" and level.saturated
    )


def _climb(last: Level, guide: float | None) -> float:
    if guide is not None:
        return min(max(guide * PAST_GUIDE, last.multiple * SLOWEST_CLIMB), last.multiple * GROWTH)
    if last.light and last.in_flight < FEW_IN_FLIGHT:
        return last.multiple * GROWTH
    return last.multiple * CLIMB


def _halve(low: Level, high: Level, given: Range) -> Next | None:
    """The geometric middle of the bracket, unless it is within the precision already."""
    if high.rate <= low.rate * (1 + given.precision):
        return None
    return Next(math.sqrt(low.rate * high.rate))


def _probe(estimate: float, side: str) -> float:
    return estimate * (1 + PROBES[side])


def _probed(levels: Sequence[Level], estimate: float, side: str) -> bool:
    """A level decided on `side` of the estimate no farther than its probe, or a level about the
    probe's place, asked or offered, decided or not (a probe is not run twice), but light (a
    light level was not decided, and not for want of time)."""
    probe = _probe(estimate, side)
    reach = abs(PROBES[side]) / 2
    for level in levels:
        about = any(abs(rate / probe - 1) <= reach for rate in (level.rate, level.multiple))
        between = min(probe, estimate) <= level.rate <= max(probe, estimate)
        if (about and not level.light) or (between and level.sure and level.status == side):
            return True
    return False
