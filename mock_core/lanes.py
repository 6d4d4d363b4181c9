"""Capacity lanes: finite parallel slots, a bounded wait queue and a service-time distribution.

A request takes a slot of its lane for a sampled service time; while every slot is busy it waits
in the lane's queue. A full queue refuses at once (503 with Retry-After); a wait longer than the
lane's timeout gives up (504). The service time is an `asyncio.sleep`, so it costs no CPU and one
process can stand in for a large system. This is an M/G/c/K queue, so throughput under overload
tends to slots / mean service time, as queueing theory says.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from mock_core.problems import Problem
from mock_core.settings import DRAW_MAX, LaneSettings, ServiceTime

_Z95 = 1.6448536269514722  # standard normal quantile at 0.95


def _lognormal(service: ServiceTime) -> tuple[float, float]:
    """(mu, sigma) of the lognormal with the given median and 95th percentile."""
    assert service.median is not None
    assert service.p95 is not None
    return math.log(service.median), math.log(service.p95 / service.median) / _Z95


def sampler(service: ServiceTime, rng: random.Random) -> Callable[[], float]:
    """A function drawing one service time (seconds) from `service`'s distribution.

    Draws are cut at `DRAW_MAX`, which changes no distribution a team would measure (a 60 s
    exponential passes 600 s once in 22 000 draws) but keeps a wide lognormal from holding a slot
    for days.
    """
    if service.distribution == "lognormal":
        mu, sigma = _lognormal(service)
        return lambda: min(rng.lognormvariate(mu, sigma), DRAW_MAX)
    mean = service.mean
    assert mean is not None
    if service.distribution == "constant":
        return lambda: mean
    return lambda: min(rng.expovariate(1 / mean), DRAW_MAX)


def mean_service(service: ServiceTime) -> float:
    """The distribution's mean, seconds (for Retry-After and the capacity figures)."""
    if service.distribution == "lognormal":
        mu, sigma = _lognormal(service)
        return math.exp(mu + sigma * sigma / 2)
    assert service.mean is not None
    return service.mean


@dataclass
class LaneStats:
    served: int = 0
    rejected_full: int = 0
    rejected_timeout: int = 0
    refused_down: int = 0


@dataclass
class Lane:
    name: str
    settings: LaneSettings
    rng: random.Random
    share: float = 1.0
    """Fraction of the slots in service: 1 normally, less in a brownout, 0 when the lane is down."""
    busy: int = 0
    stats: LaneStats = field(default_factory=LaneStats)
    _waiting: deque[asyncio.Future[bool]] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self._draw = sampler(self.settings.service, self.rng)

    @property
    def slots(self) -> int:
        """Slots in service now: a brownout keeps at least one, a lane that is down has none."""
        if self.share <= 0:
            return 0
        return max(1, math.floor(self.settings.slots * self.share))

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def configure(self, settings: LaneSettings | None = None, share: float | None = None) -> None:
        """Change the lane live; waiting requests take any slots this frees."""
        if settings is not None:
            self.settings = settings
            self._draw = sampler(settings.service, self.rng)
        if share is not None:
            self.share = share
        while self.busy < self.slots and self._hand_over():
            self.busy += 1

    async def serve(self) -> float:
        """Hold a slot for one service time; returns the seconds spent waiting for it."""
        if self.slots == 0:
            self.stats.refused_down += 1
            raise Problem(
                503, "Lane down", f"the {self.name} lane is down", headers={"Retry-After": "5"}
            )
        waited = 0.0
        if self.busy < self.slots and not self._waiting:
            self.busy += 1
        else:
            waited = await self._queue()
        try:
            await asyncio.sleep(self._draw())
        finally:
            self._release()
        self.stats.served += 1
        return waited

    async def _queue(self) -> float:
        if len(self._waiting) >= self.settings.queue:
            self.stats.rejected_full += 1
            drain = self.waiting * mean_service(self.settings.service) / max(self.slots, 1)
            retry = max(1, math.ceil(drain))
            raise Problem(
                503,
                "Lane saturated",
                f"the {self.name} lane's queue is full ({self.settings.queue} waiting)",
                headers={"Retry-After": str(retry)},
            )
        loop = asyncio.get_running_loop()
        started = loop.time()
        ticket: asyncio.Future[bool] = loop.create_future()
        timer = loop.call_later(self.settings.timeout, self._expire, ticket)
        self._waiting.append(ticket)
        try:
            granted = await ticket
        except asyncio.CancelledError:
            if ticket.done() and not ticket.cancelled() and ticket.result():
                self._release()
            raise
        finally:
            timer.cancel()
        if not granted:
            self.stats.rejected_timeout += 1
            raise Problem(
                504,
                "Lane timeout",
                f"waited {self.settings.timeout:g} s for the {self.name} lane",
            )
        return loop.time() - started

    def _expire(self, ticket: asyncio.Future[bool]) -> None:
        if not ticket.done():
            ticket.set_result(False)
            self._waiting.remove(ticket)

    def _hand_over(self) -> bool:
        """Give a slot to the first live waiter; False when nobody is waiting."""
        while self._waiting:
            ticket = self._waiting.popleft()
            if not ticket.done():
                ticket.set_result(True)
                return True
        return False

    def _release(self) -> None:
        if self.busy > self.slots or not self._hand_over():
            self.busy -= 1


class Lanes:
    """Every lane of the service, and the rule that picks one for a request."""

    def __init__(
        self,
        lanes: dict[str, LaneSettings],
        channels: dict[str, str],
        tags: dict[str, str],
        seed: int,
        unlimited: bool = False,
    ) -> None:
        self.unlimited = unlimited
        self.lanes = {
            name: Lane(name, settings, random.Random(f"{seed}:{name}"))
            for name, settings in lanes.items()
        }
        self._channels = channels
        self._tags = tags

    def lane_for(self, channel: str, tag: str) -> Lane | None:
        name = self._channels.get(channel) or self._tags.get(tag)
        return self.lanes.get(name) if name else None
