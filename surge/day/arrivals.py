"""The open arrival model: when visits are due, and how far the generator fell behind them.

Customers arrive whether or not the system kept up with the ones before them, so each channel's
visits are a Poisson process whose rate follows the profile (piecewise constant), drawn from a seed
so a run can be replayed. A visit is due at its scheduled time; `Lateness` counts the visits that
started late or not at all, which the verdict (`surge.judge.verdict`) weighs. Nothing here
knows Locust or the profile file: rates come in as segments, times are seconds from the run's start.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from surge.day.profile import CHANNELS, Profile, Segment


class RateSegment(Protocol):
    """Visits arrive at `per_second` on average from `start_s` (inclusive) to `end_s` (not):
    what the profile model gives per channel (`surge.day.profile.Segment`)."""

    @property
    def start_s(self) -> float: ...

    @property
    def end_s(self) -> float: ...

    @property
    def per_second(self) -> float: ...


_Checked = tuple[tuple[float, float, float], ...]


def _checked(segments: Iterable[RateSegment]) -> _Checked:
    """Segments as (start, end, rate), refused unless finite, non-negative and in time order.

    A gap between segments is a stretch with no arrivals.
    """
    checked: list[tuple[float, float, float]] = []
    previous_end = -math.inf
    for i, segment in enumerate(segments):
        start, end = float(segment.start_s), float(segment.end_s)
        rate = float(segment.per_second)
        if not (math.isfinite(start) and math.isfinite(end) and math.isfinite(rate)):
            raise ValueError(f"segment {i}: start, end and rate must be finite numbers")
        if end < start:
            raise ValueError(f"segment {i}: ends at {end} s, before it starts at {start} s")
        if rate < 0:
            raise ValueError(f"segment {i}: rate {rate} per second is negative")
        if start < previous_end:
            raise ValueError(
                f"segment {i}: starts at {start} s, before the previous ends at {previous_end} s"
            )
        checked.append((start, end, rate))
        previous_end = end
    return tuple(checked)


def arrivals(
    segments: Iterable[RateSegment], rng: random.Random, *, start_s: float = 0.0
) -> Iterator[float]:
    """Scheduled start times of one channel's visits from `start_s` to the last segment's end.

    Lazy (a day of arrivals is never held in memory) and strictly increasing. The same `rng`
    state gives the same times. Segments are checked now, not on the first `next()`.
    """
    return _arrivals(_Stream(_checked(segments), rng, start_s))


def _arrivals(stream: _Stream) -> Iterator[float]:
    while (due := stream.pop()) is not None:
        yield due


class _Stream:
    """One channel's arrivals drawn one at a time, the next one held until taken, so the segments
    not yet reached can be replaced while it runs (`retarget`).

    Each segment draws exponential gaps from its start, and the first draw reaching its end is
    thrown away: exponential gaps are memoryless, so restarting the draw at each segment's start
    (or at `start_s`) instead of carrying the overshoot across the boundary is exact, not a
    shortcut. A retarget at `at` goes back to the last arrival taken (never after `at`) and
    draws again on the new segments from there, with the same uniform numbers the draws since
    had used, so what the stream gives out is exactly what the new segments replay from the
    start gives (docs/capacity.md, "One run").
    """

    __slots__ = ("_at_take", "_held", "_pending", "_rng", "_segments", "_since", "_state")

    def __init__(self, segments: _Checked, rng: random.Random, start_s: float = 0.0) -> None:
        self._segments = segments
        self._rng = rng
        self._state = (0, False, start_s)
        """(segment index, whether its start was reached, time of the last draw kept)."""
        self._at_take = self._state
        """…as it was just after the last arrival taken."""
        self._since: list[float] = []
        """The uniform numbers drawn since then."""
        self._pending: deque[float] = deque()
        """Uniform numbers drawn before a retarget and not yet drawn again after it."""
        self._held: float | None = None

    def peek(self) -> float | None:
        """The next arrival, held until taken; None when the segments are done."""
        if self._held is None:
            self._held = self._draw()
        return self._held

    def pop(self) -> float | None:
        due = self.peek()
        self._held = None
        self._at_take = self._state
        self._since.clear()
        return due

    def _uniform(self) -> float:
        u = self._pending.popleft() if self._pending else self._rng.random()
        self._since.append(u)
        return u

    def _draw(self) -> float | None:
        segments = self._segments
        index, entered, t = self._state
        while index < len(segments):
            begin, end, rate = segments[index]
            if not entered:
                if rate == 0.0 or end <= t:
                    index += 1
                    continue
                t, entered = max(begin, t), True
            # `random.expovariate` itself: -log(1 - U) / rate.
            due = t - math.log(1.0 - self._uniform()) / rate
            if due >= end:
                index, entered = index + 1, False
                continue
            # A gap below half a float step of t would repeat t; drawing again keeps the times
            # strictly increasing and only matters with probability under rate × 1e-11 per draw
            # for times within a day.
            if due > t:
                self._state = (index, entered, due)
                return due
        self._state = (index, entered, t)
        return None

    def retarget(self, segments: _Checked, at: float) -> None:
        """From `at` on, follow `segments` instead: they are the current ones before `at`, and
        no arrival at or after `at` has been taken (`check`)."""
        self.check(segments, at)
        self._segments = segments
        self._state = self._at_take
        self._pending.extendleft(reversed(self._since))
        self._since.clear()
        self._held = None

    def check(self, segments: _Checked, at: float) -> None:
        """Refuse a retarget that would change what was given out already."""
        taken = self._at_take[2]
        if at < taken:
            raise ValueError(f"a change at {at:g} s comes after the arrival taken at {taken:g} s")
        old = [(b, min(e, at), r) for b, e, r in self._segments if b < at]
        new = [(b, min(e, at), r) for b, e, r in segments if b < at]
        if old != new:
            raise ValueError(f"the segments before {at:g} s changed")


class Arrival(NamedTuple):
    """One visit due at `t`: the `number`-th of its channel in the whole schedule (from 0)."""

    t: float
    channel: str
    number: int


class Schedule:
    """Every channel's visits in time order, from one seed, optionally one worker's share of them.

    Each channel draws from its own generator, `random.Random(f"{seed}:{channel}")`, so adding or
    removing a channel leaves the others' visits unchanged. Iterating again replays the same visits.

    Splitting across `workers`: each visit goes to the worker drawn uniformly for it from a second
    per-channel stream, `random.Random(f"{seed}:{channel}:worker")`, which is independent of the
    arrival times. Independent thinning of a Poisson process of rate λ(t) with probability 1/N gives
    N independent Poisson processes of rate λ(t)/N (the colouring theorem), and the N shares are
    exactly the whole schedule (same times, same visit numbers, whatever N is), so the target sees
    the profile's rate exactly and each worker's share is itself a fair sample of the customers.
    Taking every N-th visit instead would balance the counts to within one but give each worker
    Erlang-N gaps (coefficient of variation 1/√N): smoother than real arrivals, so a worker's lag
    would look better than the load it stands for, and a missing worker would leave a gapped,
    non-Poisson remainder.
    """

    def __init__(
        self,
        channels: Mapping[str, Iterable[RateSegment]],
        seed: int | str,
        *,
        worker: int = 0,
        workers: int = 1,
    ) -> None:
        if workers < 1 or not 0 <= worker < workers:
            raise ValueError(f"worker {worker} of {workers}: need 0 <= worker < workers")
        self._channels = {name: _checked(segments) for name, segments in channels.items()}
        self._seed = seed
        self._worker = worker
        self._workers = workers

    def __iter__(self) -> Iterator[Arrival]:
        # Ties in t between channels (probability zero) fall back to the channel name: still
        # deterministic, whatever order the mapping had.
        return heapq.merge(*(self._visits(name, seg) for name, seg in self._channels.items()))

    def _visits(self, channel: str, segments: _Checked) -> Iterator[Arrival]:
        for number, (t, owner) in enumerate(self._owned(channel, segments)):
            if owner == self._worker:
                yield Arrival(t, channel, number)

    def _owned(self, channel: str, segments: _Checked) -> Iterator[tuple[float, int]]:
        """Every visit of `channel` in the whole schedule, as (due time, share that runs it)."""
        times = _arrivals(_Stream(segments, random.Random(f"{self._seed}:{channel}")))
        owner = random.Random(f"{self._seed}:{channel}:worker")
        for t in times:
            yield t, owner.randrange(self._workers)

    def live(self) -> Live:
        """This share replayed as the clock goes, its rates changeable ahead of it."""
        return Live(self._channels, self._seed, self._worker, self._workers)

    def census(self, until_s: float = math.inf) -> dict[int, dict[str, int]]:
        """Visits due before `until_s`, by share (0..workers-1) and channel, for every share of
        the split, not only this schedule's: what a run planned, whoever was to run it. The
        master counts a lost worker's visits so; it costs a walk through the day's draws."""
        counts = {share: dict.fromkeys(self._channels, 0) for share in range(self._workers)}
        for channel, segments in self._channels.items():
            for t, owner in self._owned(channel, segments):
                if t >= until_s:
                    break
                counts[owner][channel] += 1
        return counts


class Live:
    """A `Schedule`'s share given out one visit at a time as the clock reaches it, whose rates
    may change ahead of the clock (`retarget`): a capacity search moves one run's arrivals
    between rate levels (docs/capacity.md, "One run").

    What it gives out is exactly what the `Schedule` of the final segments replays: each
    channel's stream holds one draw ahead (`_Stream`), and a visit's share and number are drawn
    only when it is taken, so a draw a retarget throws away never took a share's draw. Every
    share walks the whole schedule (it waits for the others' visits too, and takes them to draw
    their shares), so the shares of a split stay the split of the same schedule.
    """

    def __init__(
        self, channels: Mapping[str, _Checked], seed: int | str, worker: int, workers: int
    ) -> None:
        self._streams = {
            name: _Stream(segments, random.Random(f"{seed}:{name}"))
            for name, segments in channels.items()
        }
        self._owners = {name: random.Random(f"{seed}:{name}:worker") for name in channels}
        self._numbers = dict.fromkeys(channels, 0)
        self._worker = worker
        self._workers = workers
        self._heap: list[tuple[float, str]] = []
        self._fill()

    def due(self) -> float | None:
        """When the next visit of the whole schedule is due; None when the day is done."""
        return self._heap[0][0] if self._heap else None

    def _fill(self) -> None:
        # Ties in t between channels (probability zero) fall back to the channel name, as in
        # `Schedule`.
        self._heap = [
            (t, n) for n, stream in self._streams.items() if (t := stream.peek()) is not None
        ]
        heapq.heapify(self._heap)

    def take(self) -> Arrival | None:
        """The visit due next, taken: it if it is this share's, else None (another share's)."""
        if not self._heap:
            return None
        t, name = self._heap[0]
        stream = self._streams[name]
        stream.pop()
        following = stream.peek()
        if following is None:
            heapq.heappop(self._heap)
        else:
            heapq.heapreplace(self._heap, (following, name))
        number = self._numbers[name]
        self._numbers[name] = number + 1
        owner = self._owners[name].randrange(self._workers)
        return Arrival(t, name, number) if owner == self._worker else None

    def retarget(self, channels: Mapping[str, Iterable[RateSegment]], at: float) -> None:
        """Follow each channel's `channels` segments from `at` on: they are the current ones up
        to `at`, and no visit at or after `at` has been taken (`_Stream.retarget`)."""
        checked = {name: _checked(segments) for name, segments in channels.items()}
        if set(checked) != set(self._streams):
            raise ValueError(f"channels {sorted(checked)} are not {sorted(self._streams)}")
        for name, stream in self._streams.items():  # all or nothing
            stream.check(checked[name], at)
        for name, stream in self._streams.items():
            stream.retarget(checked[name], at)
        self._fill()


class Timeliness(StrEnum):
    ON_TIME = "on_time"
    LATE = "late"
    DROPPED = "dropped"


_DIGITS = 4
_EXACT_BELOW_US = 10**_DIGITS


class Counts(NamedTuple):
    on_time: int = 0
    late: int = 0
    dropped: int = 0

    @property
    def total(self) -> int:
        return self.on_time + self.late + self.dropped


def _lag_key(lag_s: float) -> int:
    """A start lag in whole microseconds, kept to 4 significant digits (exact below 10 ms).

    The error is under 0.1 %: a 20 ms lag reads to 10 µs, a 0.5 s lag to 100 µs. Lags of started
    visits are at most `drop_after_s`, so the histogram has at most 10,000 + 9,000 bins per decade
    above 10 ms (about 37,000 up to 10 s) however many visits it counts.
    """
    us = max(0, round(lag_s * 1_000_000))
    if us < _EXACT_BELOW_US:  # nearly every lag: no rounding to work out
        return us
    step: int = 10 ** (len(str(us)) - _DIGITS)  # a whole power: `us` has more than _DIGITS digits
    return us - us % step


class Lateness:
    """On-time, late and dropped visits per channel and per time bucket, and the start-lag spread.

    Call `record` at the moment a visit would start. It answers the visit's timeliness: `DROPPED`
    (the lag exceeds `drop_after_s`) means do not start the visit; `LATE` means the lag exceeds
    `late_after_s`. Buckets are by scheduled time, so the report can show when the generator fell
    behind. A visit that starts early counts as on time with no lag.

    Start lags go to a fixed-precision histogram (`_lag_key`) rather than a reservoir: a reservoir
    is exact only until it fills and two of them do not merge into the reservoir of the whole,
    whereas histograms merge by adding counts, so workers' parts merged on the master give exactly
    the figures of one process that saw every visit. Dropped visits never started and have no lag.
    The state is plain data (`to_dict`) so it can travel over Locust's messaging.
    """

    def __init__(
        self, *, late_after_s: float = 0.5, drop_after_s: float = 10.0, bucket_s: float = 1.0
    ) -> None:
        if not 0 <= late_after_s <= drop_after_s < math.inf:
            raise ValueError("need 0 <= late_after_s <= drop_after_s, both finite")
        if not 0 < bucket_s < math.inf:
            raise ValueError("bucket_s must be positive and finite")
        self.late_after_s = float(late_after_s)
        self.drop_after_s = float(drop_after_s)
        self.bucket_s = float(bucket_s)
        self._buckets: dict[str, dict[int, list[int]]] = {}
        self._lags: dict[int, int] = {}

    def record(self, channel: str, scheduled_s: float, started_s: float) -> Timeliness:
        lag = started_s - scheduled_s
        if lag > self.drop_after_s:  # index: the outcome's place in `Counts`
            outcome, index = Timeliness.DROPPED, 2
        else:
            outcome, index = (
                (Timeliness.LATE, 1) if lag > self.late_after_s else (Timeliness.ON_TIME, 0)
            )
            key = _lag_key(lag)
            self._lags[key] = self._lags.get(key, 0) + 1
        buckets = self._buckets.get(channel)
        if buckets is None:
            buckets = self._buckets[channel] = {}
        bucket = math.floor(scheduled_s / self.bucket_s)
        counts = buckets.get(bucket)
        if counts is None:
            counts = buckets[bucket] = [0, 0, 0]
        counts[index] += 1
        return outcome

    def counts(self, channel: str | None = None) -> Counts:
        """Totals for one channel, or for all of them."""
        totals = [0, 0, 0]
        for _, counts in self._bucket_rows(channel):
            for i, n in enumerate(counts):
                totals[i] += n
        return Counts(*totals)

    def over_time(self, channel: str | None = None) -> list[tuple[float, Counts]]:
        """(bucket start in seconds, counts) for every bucket with a visit, in time order."""
        merged: dict[int, list[int]] = {}
        for bucket, counts in self._bucket_rows(channel):
            into = merged.setdefault(bucket, [0, 0, 0])
            for i, n in enumerate(counts):
                into[i] += n
        return [(bucket * self.bucket_s, Counts(*merged[bucket])) for bucket in sorted(merged)]

    def _bucket_rows(self, channel: str | None) -> Iterator[tuple[int, list[int]]]:
        chosen = self._buckets.values() if channel is None else [self._buckets.get(channel, {})]
        for buckets in chosen:
            yield from buckets.items()

    def lag_percentile(self, percent: float) -> float | None:
        """Nearest-rank percentile of the started visits' start lag in seconds; None if none."""
        if not 0 < percent <= 100:
            raise ValueError(f"percentile {percent} is outside (0, 100]")
        total = sum(self._lags.values())
        if total == 0:
            return None
        rank = max(1, math.ceil(percent * total / 100))
        seen = 0
        for key in sorted(self._lags):
            seen += self._lags[key]
            if seen >= rank:
                return key / 1_000_000
        raise AssertionError("unreachable: rank <= total")

    def merge(self, other: Lateness) -> None:
        """Add `other`'s visits to these, as if this one had recorded them too."""
        mine = (self.late_after_s, self.drop_after_s, self.bucket_s)
        theirs = (other.late_after_s, other.drop_after_s, other.bucket_s)
        if mine != theirs:
            raise ValueError(f"cannot merge lateness kept with {theirs} into one kept with {mine}")
        for channel, buckets in other._buckets.items():
            into_channel = self._buckets.setdefault(channel, {})
            for bucket, counts in buckets.items():
                into = into_channel.setdefault(bucket, [0, 0, 0])
                for i, n in enumerate(counts):
                    into[i] += n
        for key, n in other._lags.items():
            self._lags[key] = self._lags.get(key, 0) + n

    def to_dict(self) -> dict[str, Any]:
        """Plain str/int/float/list/dict data (msgpack and JSON safe), in a canonical order."""
        return {
            "late_after_s": self.late_after_s,
            "drop_after_s": self.drop_after_s,
            "bucket_s": self.bucket_s,
            "buckets": {
                channel: [[bucket, *buckets[bucket]] for bucket in sorted(buckets)]
                for channel, buckets in sorted(self._buckets.items())
            },
            "lags_us": [[key, self._lags[key]] for key in sorted(self._lags)],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Lateness:
        lateness = cls(
            late_after_s=data["late_after_s"],
            drop_after_s=data["drop_after_s"],
            bucket_s=data["bucket_s"],
        )
        lateness._buckets = {
            channel: {int(row[0]): [int(n) for n in row[1:]] for row in rows}
            for channel, rows in data["buckets"].items()
        }
        lateness._lags = {int(key): int(n) for key, n in data["lags_us"]}
        return lateness


def schedule(profile: Profile, seed: int, *, worker: int = 0, workers: int = 1) -> Schedule:
    """The profile's day as the open model replays it: worker `worker`'s share of `workers`."""
    channels: dict[str, list[Segment]] = {c: profile.segments(c) for c in CHANNELS}
    return Schedule(channels, seed, worker=worker, workers=workers)
