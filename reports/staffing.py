"""The branch: what each phase's counter queue does with the counters open (Erlang C, M/M/c).

From the profile alone (`[staffing]`, the counter mix, lobby diversion): for each phase, the
counter arrivals per branch per hour after diversion, the mean handling time of what is left,
and with the counters open the predicted probability of waiting, the mean wait, the share
served within the target, and the counters the target needs. Then the drill's own question:
how many counters the peak phase needs as lobby diversion goes from 0 to 50%. (The seed plan's
review found customers not diverted to kiosks and online in time overloaded the counters.)

Rates are per real hour of the day the run stands for: the profile's rates per run hour divided
by the time scale, so a day compressed with every visit kept (rate scale = time scale) is the
branch day as written, and `--rate-scale 1.5` a day of 1.5 times the customers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reports import queueing
from surge.day.profile import DIVERSION, Profile

DIVERSIONS = tuple(n / 100 for n in range(0, 55, 5))
"""Shares of divertible counter business sent to kiosks and online, for the what-if."""


@dataclass(frozen=True, slots=True)
class PhaseQueue:
    phase: str
    start: str
    """Wall-clock start, HH:MM."""
    arrivals_per_hour: float
    """Counter arrivals per branch per hour, after diversion."""
    handling_minutes: float
    counters: int
    utilisation: float
    """Offered load over counters; at or above 1 the queue grows all phase."""
    waiting: float
    """Probability that a customer waits."""
    mean_wait_minutes: float
    within_target: float
    """Share served within the target wait."""
    needed: int
    """Counters the target service level needs."""


@dataclass(frozen=True, slots=True)
class WhatIf:
    diversion: float
    arrivals_per_hour: float
    needed: int


@dataclass(frozen=True)
class Staffing:
    target_wait_minutes: float
    target_service_level: float
    diversion: float
    """The profile's own lobby diversion."""
    phases: list[PhaseQueue]
    peak: str
    """The phase with the most counter arrivals."""
    what_if: list[WhatIf]

    @property
    def short(self) -> list[PhaseQueue]:
        """Phases needing more counters than are open."""
        return [p for p in self.phases if p.needed > p.counters]


def _counter(profile: Profile, per_hour: float, diversion: float) -> tuple[float, float]:
    """(arrivals per hour after diversion, mean handling minutes of what stays at the counter)."""
    shares = profile.mix.counter.shares()
    # The same operation names, keyed as the plain strings shares() gives.
    handling: dict[str, float] = dict(profile.staffing.handling_minutes.items())
    stay = {op: share * (1 - diversion if op in DIVERSION else 1) for op, share in shares.items()}
    kept = sum(stay.values())
    if kept <= 0:
        return 0.0, 0.0
    minutes = sum(share * handling.get(op, 0.0) for op, share in stay.items()) / kept
    return per_hour * kept, minutes


def _needed(arrivals: float, minutes: float, profile: Profile) -> int:
    if arrivals <= 0 or minutes <= 0:
        return 0
    staffing = profile.staffing
    return queueing.servers_needed(
        arrivals / 60, minutes, staffing.target_wait_minutes, staffing.target_service_level
    )


def staffing(profile: Profile) -> Staffing:
    staffing_ = profile.staffing
    counters, target = staffing_.counters, staffing_.target_wait_minutes
    diversion = profile.customers.diversion
    phases, peak, busiest = [], "", -1.0
    for phase in profile.phases:
        per_hour = phase.arrivals_per_hour.counter / profile.time_scale
        arrivals, minutes = _counter(profile, per_hour, diversion)
        rate = arrivals / 60  # per minute, as the handling times
        load = rate * minutes
        phases.append(
            PhaseQueue(
                phase=phase.name,
                start=phase.start,
                arrivals_per_hour=arrivals,
                handling_minutes=minutes,
                counters=counters,
                utilisation=load / counters,
                waiting=queueing.erlang_c(load, counters) if load > 0 else 0.0,
                mean_wait_minutes=queueing.mean_wait(rate, minutes, counters) if load else 0.0,
                within_target=queueing.service_level(rate, minutes, counters, target)
                if load
                else 1.0,
                needed=_needed(arrivals, minutes, profile),
            )
        )
        if per_hour > busiest:
            peak, busiest = phase.name, per_hour
    what_if = []
    for share in DIVERSIONS:
        arrivals, minutes = _counter(profile, busiest, share)
        what_if.append(WhatIf(share, arrivals, _needed(arrivals, minutes, profile)))
    return Staffing(target, staffing_.target_service_level, diversion, phases, peak, what_if)


def finite(value: float) -> float | None:
    """JSON has no infinity: an unbounded wait is null."""
    return value if math.isfinite(value) else None
