"""The open model inside one Locust process: visits are put on queues at their due time.

A scheduler greenlet walks this process's `Schedule` and, at each visit's scheduled time, puts the
arrival on its channel's queue. A user takes it, counts its lateness, and only then turns it into a
journey (`journeys.Visit`: operation, customer, diversion, high value, suspicious pattern), so a
visit dropped under overload costs the generator almost nothing. A visit nobody is free to take
waits on the queue and becomes late, then dropped (`Lateness`). Users help other channels rather
than idle, so `--max-users` is one budget whatever the channels' shares. Everything a visit
draws comes from a `random.Random` seeded from (seed, channel, number), so a run replays whatever
the timing was and whichever user ran the visit.

The state is per process and its counts are plain data that merge (a distributed run's workers
send theirs to the master): nothing here assumes it sees every visit of the run.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import gevent
from gevent.queue import Empty, Queue

from surge.day import arrivals
from surge.day.profile import CHANNELS, DIVERSION, Channel, Profile
from surge.visit import journeys
from surge.visit.customers import Pool

WAKE_S = 0.001
"""The scheduler sleeps at least this long, then releases every visit due by then at once: at
thousands of visits a second, a wake-up (a timer and two greenlet switches) per visit is
avoidable work. A visit never starts early, and at most this much later than it could."""
LOOKAHEAD_S = 2.0
"""The pool is sized for the busiest rate from now to this much later: it grows only at Locust's
spawn rate, after the shape's next tick, so a phase's rise must be seen coming."""
PRIOR_VISIT_S = 1.0
"""Visit duration assumed before any visit of a channel has finished."""
HEADROOM = 1.5
"""Users kept beyond Little's law, for visits slower than their mean."""
BURSTS = 3.0
"""And this many times the square root of the whole need, for Poisson bursts: with `a` visits in
flight on average, the number in flight varies by about sqrt(a) (square-root staffing)."""
SHRINK_TO = 0.75
"""The pool shrinks only once it can shed a quarter of its users or more (`next_pool`)."""
_MEAN_WEIGHT = 0.05
"""Weight of each finished visit in the running mean of visit duration (about the last 20)."""


class ArrivalQueue(Protocol):
    """gevent's `Queue`, which ships no types, as the dispatcher fills it: with arrivals, and
    None once the dispatcher is closed (`Dispatcher.close`), one for each user it wakes."""

    def put(self, item: arrivals.Arrival | None) -> None: ...

    def get(self, block: bool = True, timeout: float | None = None) -> arrivals.Arrival | None: ...

    def get_nowait(self) -> arrivals.Arrival: ...

    def empty(self) -> bool: ...

    def qsize(self) -> int: ...


@dataclass(slots=True)
class Dispatcher:
    """Queues, the scheduler and the figures the shape sizes the user pool with."""

    profile: Profile
    """Already scaled: its times are run seconds."""
    seed: int
    pool: Pool
    lateness: arrivals.Lateness
    worker: int = 0
    workers: int = 1
    clock: Callable[[], float] = time.time
    t0: float = math.inf
    """Wall-clock start of the day, set by `start`: until then the day is ahead (`elapsed` is
    negative), so the shape ticking while the run is still prepared (its faults posted, say)
    never reads it as over."""
    scheduled: dict[str, int] = field(default_factory=dict)
    """Visits put on a queue, by channel (of the arrival, as everything here)."""
    in_flight: dict[str, int] = field(default_factory=dict)
    """Visits being run."""
    mean_visit_s: dict[str, float] = field(default_factory=dict)
    queues: dict[str, ArrivalQueue] = field(default_factory=dict)
    idle: dict[str, int] = field(default_factory=dict)
    """Users of each channel waiting on its queue for a visit."""
    closed: bool = False
    """No visit is handed out any more (`close`)."""
    _greenlet: gevent.Greenlet | None = None
    _live: arrivals.Live | None = None
    _mix: dict[str, _Weighted] = field(default_factory=dict)
    _patterns: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for channel in CHANNELS:
            self.queues[channel] = Queue()
            self.scheduled[channel] = 0
            self.in_flight[channel] = 0
            self.idle[channel] = 0
            self.mean_visit_s[channel] = PRIOR_VISIT_S
            # Drawn per visit on the scheduler's hot path: worked out once, not per visit.
            self._mix[channel] = _Weighted(getattr(self.profile.mix, channel).shares())
            self._patterns[channel] = [p for p, on in journeys.PATTERNS.items() if on == channel]

    def schedule(self) -> arrivals.Schedule:
        return arrivals.schedule(self.profile, self.seed, worker=self.worker, workers=self.workers)

    def start(self, t0: float | None = None) -> None:
        """Start the day at `t0` (epoch seconds; now by default): workers share the master's."""
        self.t0 = self.clock() if t0 is None else t0
        self._live = self.schedule().live()
        self._greenlet = gevent.spawn(self._run, self._live)

    def retarget(self, profile: Profile, at: float, drop: bool = False) -> None:
        """Follow `profile` from run time `at` on: the same day before `at`, other rates after it
        (a capacity search's next level, `surge.day.levels`). The scheduler sleeps until its next
        visit is due, so it is stopped and started again on the new rates; raises ValueError
        when a visit due at or after `at` was already put on a queue. With `drop`, the visits
        waiting on the queues (all due before `at`: the levels before) are dropped: a level
        below one that overloaded the target starts without that level's backlog."""
        live = self._live
        if live is None:
            raise ValueError("the day has not started")
        live.retarget({channel: profile.segments(channel) for channel in CHANNELS}, at)
        self.profile = profile
        if self._greenlet is not None:
            self._greenlet.kill(block=True)  # asleep: between two visits, never inside one
        self._greenlet = gevent.spawn(self._run, live)
        if drop:
            self._drop_waiting()

    def stop(self) -> None:
        """Stop scheduling; visits still queued count as dropped (they never started)."""
        if self._greenlet is not None:
            self._greenlet.kill(block=True)
        self._drop_waiting()

    def close(self) -> None:
        """Hand out no more visits, and wake every user waiting for one with none.

        Locust stops a user only once its task returns, and an idle user's task waits here for
        up to `surge.harness.users.IDLE_WAIT_S`: woken, the users stop as soon as the visits in
        flight end, not up to that long after. Called as Locust starts stopping the users.
        """
        self.closed = True
        for channel, queue in self.queues.items():
            for _ in range(self.idle[channel]):
                queue.put(None)

    def _drop_waiting(self) -> None:
        now = self.elapsed()
        for queue in self.queues.values():
            while not queue.empty():
                arrival = queue.get_nowait()
                if arrival is None:  # a wake-up no user was left waiting for (`close`)
                    continue
                never = max(now, arrival.t + self.lateness.drop_after_s + 1e-3)
                self.lateness.record(arrival.channel, arrival.t, never)

    def elapsed(self) -> float:
        return self.clock() - self.t0

    @property
    def scheduling(self) -> bool:
        return self._greenlet is not None and not self._greenlet.dead

    def _run(self, live: arrivals.Live) -> None:
        while (due := live.due()) is not None:
            wait = self.t0 + due - self.clock()
            if wait > 0:
                gevent.sleep(max(wait, WAKE_S))
            arrival = live.take()
            if arrival is not None:  # this process's share
                self.scheduled[arrival.channel] += 1
                self.queues[self._queue_for(arrival.channel)].put(arrival)

    def _queue_for(self, channel: str) -> str:
        """The channel's own queue, unless none of its users waits there and another channel's
        does: that user runs the visit now rather than leave it to wait for a busy one."""
        idle = self.idle
        if idle[channel]:
            return channel
        for other in CHANNELS:
            if idle[other]:
                return other
        return channel

    def journey(self, arrival: arrivals.Arrival) -> journeys.Visit:
        """What the customer of `arrival` does: drawn from the visit's own seeded rng only."""
        # An integer seed: seeding from a string hashes it with SHA-512, a tenth of the
        # scheduler's time. Visit numbers stay far below 2**32.
        channel_index = CHANNELS.index(arrival.channel)
        rng = random.Random((self.seed << 40) + (channel_index << 32) + arrival.number)
        customers = self.profile.customers
        channel = arrival.channel
        operation = self._mix[channel].draw(rng)
        patterns = self._patterns[channel]
        if patterns and rng.random() < customers.suspicious_share:
            operation = rng.choice(patterns)
        elif operation in DIVERSION and channel == "counter" and rng.random() < customers.diversion:
            channel, operation = DIVERSION[operation]
        # Drawn for wealth orders only, so every other visit draws what it always drew.
        launch = operation == "wealth_order" and rng.random() < customers.launch_share
        high_value = rng.random() < customers.high_value_share
        customer = self.pool.pick(rng, high_value=high_value)
        needed = {"transfer": 1, "fan_in": journeys.FAN_IN_SOURCES}.get(operation, 0)
        everyone = self.pool.customers
        counterparties = rng.sample(everyone, min(len(everyone), needed + 1)) if needed else ()
        return journeys.Visit(
            channel,  # type: ignore[arg-type]  # a CHANNELS member, by construction
            operation,
            customer,
            rng,
            self.t0 + arrival.t,
            counterparties,
            high_value,
            launch,
        )

    def take(self, channel: str, timeout: float) -> arrivals.Arrival | None:
        """The next visit due for a user of `channel`, or None when none came within `timeout`
        (none is waiting, with a timeout of 0) or the dispatcher is closed (`close`).

        A user serves the other channels' waiting visits when its own queue is empty, before
        and after waiting: users are one budget (`--max-users`) whatever the channels' shares,
        and a worker of a distributed run may have no user of some channel at all (Locust deals
        user classes to workers in turn: with three workers, one class each).
        """
        if self.closed:
            return None
        own = self.queues[channel]
        if not own.empty():
            return own.get_nowait()
        if (arrival := self._waiting_elsewhere(channel)) or timeout <= 0:
            return arrival
        self.idle[channel] += 1
        try:
            return own.get(timeout=timeout)  # None: woken by `close`
        except Empty:
            return self._waiting_elsewhere(channel)
        finally:
            self.idle[channel] -= 1

    def _waiting_elsewhere(self, channel: str) -> arrivals.Arrival | None:
        if self.closed:
            return None
        for other in CHANNELS:
            if other != channel and not self.queues[other].empty():
                return self.queues[other].get_nowait()
        return None

    def finished(self, channel: str, seconds: float) -> None:
        mean = self.mean_visit_s[channel]
        self.mean_visit_s[channel] = mean + _MEAN_WEIGHT * (seconds - mean)

    def backlog(self, channel: str | None = None) -> int:
        chosen = self.queues.values() if channel is None else [self.queues[channel]]
        return sum(queue.qsize() for queue in chosen)

    def busy(self) -> int:
        return sum(self.in_flight.values())

    def users_needed(self) -> dict[str, int]:
        present: dict[str, int] = {c: self.in_flight[c] + self.backlog(c) for c in CHANNELS}
        return users_needed(self.profile, self.elapsed(), self.mean_visit_s, present)

    def finished_day(self) -> bool:
        """The day is over and every visit scheduled has been taken and run."""
        return (
            self.elapsed() >= self.profile.duration_s
            and not self.scheduling
            and self.backlog() == 0
            and self.busy() == 0
        )


class DayProgress(Protocol):
    """What the shape reads of the day in progress: this process's `Dispatcher`, or a master's
    merge of its workers' shares (`surge.harness.distributed.Fleet`), so one shape serves both."""

    @property
    def profile(self) -> Profile: ...

    def elapsed(self) -> float:
        """Run seconds since the day started (negative before)."""
        ...

    def users_needed(self) -> dict[str, int]:
        """Users each channel needs now (`users_needed`)."""
        ...

    def finished_day(self) -> bool:
        """The day is over and every visit due has been taken and run."""
        ...


LAST_LOOK_S = 0.05
"""How often `finishes_within` looks whether the day is done."""


def finishes_within(day: DayProgress, seconds: float) -> bool:
    """The day is done now, or once its scheduled end is nearer than `seconds`, within them:
    this waits for it, looking every `LAST_LOOK_S`. A capacity search's end is that near only
    once it is final (`surge.harness.levels.follow` starts a level `surge.day.levels.LEAD_S`
    ahead, within the day's bound)."""
    deadline = time.monotonic() + seconds - LAST_LOOK_S
    while not day.finished_day():
        if day.profile.duration_s - day.elapsed() > seconds or time.monotonic() >= deadline:
            return False
        gevent.sleep(LAST_LOOK_S)
    return True


def users_needed(
    profile: Profile, t: float, mean_visit_s: Mapping[str, float], present: Mapping[str, int]
) -> dict[str, int]:
    """Users each channel needs at run time `t`: Little's law (the rate `expected_rate` is ready
    for × the mean visit time) with `HEADROOM`, or the visits `present` (running and waiting),
    whichever is more; at least one."""
    need: dict[str, int] = {}
    for channel in CHANNELS:
        carried = expected_rate(profile, channel, t) * mean_visit_s[channel] * HEADROOM
        need[channel] = max(1, math.ceil(carried), present[channel])
    return need


def pool_size(needs: Mapping[str, int]) -> int:
    """The users to run for the channels' `needs` together: users help other channels
    (`Dispatcher.take`), so the needs add up, plus `BURSTS` × their square root."""
    total = sum(needs.values())
    return total + math.ceil(BURSTS * math.sqrt(total))


def next_pool(need: int, last: int | None, most: int) -> int:
    """The pool to ask Locust for: `need` rounded up to four steps a doubling (… 7, 8, 10, 12,
    14, 16, 20, 24, 28, 32, 40 …), or the `last` pool while the step below it would shed less
    than a quarter of its users (`SHRINK_TO`); either no larger than `most` unless `need` is.

    Every change of the pool is a spawn message to every worker, and Locust 2.47's worker handles
    one with its event loop held for half a CPU-second (docs/report.md, "The generator's host").
    A need wandering by a user or two sent one a second, and on a busy host a few in a row held
    workers past the master's heartbeat patience: it gave them up, and the run was not valid
    evidence. A user more than needed costs a wait on its channel's queue.
    """
    unit = 1 << max(0, need.bit_length() - 3)
    step = max(need, min(most, -(-need // unit) * unit))
    held = None if last is None else min(last, most)
    if held is not None and SHRINK_TO * held < step < held:
        return held
    return step


def expected_rate(profile: Profile, channel: Channel, t: float) -> float:
    """Arrivals per second the pool must be ready for at run time `t` (before the day: its
    start): the higher of now's rate and `LOOKAHEAD_S` later's."""
    t = max(t, 0.0)
    return max(profile.rate(channel, t), profile.rate(channel, t + LOOKAHEAD_S))


class _Weighted:
    """Keys drawn in proportion to their shares, one draw of the rng each; the cumulative shares
    are added up once, not per visit."""

    def __init__(self, shares: Mapping[str, float]) -> None:
        kept = [(name, share) for name, share in shares.items() if share > 0]
        self._names = [name for name, _ in kept]
        self._ends = list(itertools.accumulate(share for _, share in kept))

    def draw(self, rng: random.Random) -> str:
        x = rng.random() * self._ends[-1]
        return self._names[min(bisect.bisect_right(self._ends, x), len(self._names) - 1)]
