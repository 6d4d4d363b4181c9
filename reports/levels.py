"""A capacity search's levels judged on their own records while the run goes, and what the levels
together say of the answer (docs/capacity.md, "The capacity search").

The search runs one Locust run whose rate moves between levels (`surge.day.levels`); its records
land in the run folder every second, and `Judge` keeps them on the run's clock. A level is
judged on the requests that started in it:

- **Settled.** A level's queue is stationary once it has drained what an earlier, higher level
  left (no second of it still `DRAIN_FACTOR` times slower than its latest) and then had time to
  relax, `SETTLE_RESPONSES` times its mean response time (a queue near its limit forgets its past
  in tens of service times), never less than `SETTLE_FLOOR_S`. Its judged stretch runs from
  there. A level above the one before (the first one too) may fail before it settles: its queue
  only grows towards its steady state, so a failure on the way is a failure there. So may a
  level below it whose inherited queue does not drain at all (`_stuck`): it is at or past the
  target's capacity, and would never settle.
- **Decided.** Each objective of the profile (`reports.slo`) counts its bad requests against its
  budget, decided by the confidence sequence of `reports.sequential` at `CONFIDENCE` shared
  among the objectives (each at (1 - CONFIDENCE) / their number). The level fails as soon as one
  objective surely breaks, and passes once every objective surely holds, the generator having
  kept its schedule (late and unstarted visits within the run's limits). The generator fell
  behind only when its share of late and unstarted visits is surely beyond the limit, decided
  the same way on the blocks' visits: a host busy for a second makes a block of late visits,
  which early in a level is a share past the limit but no evidence. A level that shows no
  queueing yet (its mean response time within `LIGHT_SHARE` of the lighter levels', beyond
  noise) is light: the search steps past it without deciding it (a light level passes its
  budget almost surely but needs thousands of requests to show it). A level that reaches the
  longest it may be judged is unsure: it leans as its point estimates do.
- **Its rate** is the one it offered, not the multiple asked: its arrivals in the judged stretch,
  replayed from the run's schedule, over the searched phase's rate (`Judged.realized`).

`Judge.crossing` reads the levels together: where an objective's share of bad requests crosses
its budget, from the levels either side of it (a weighted logistic fit against the realized
rate, with its 95% interval); `Judge.guide` predicts it before any level broke, from the queueing
the levels show (an M/M/c fit by Little's law: the lightest level's mean response time is the
service time, the queueing above it at the busiest level gives the slots).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from reports import capacity, generator, queueing, sequential, slo, timeline
from reports.frames import frames, rank
from surge.day import arrivals
from surge.day.profile import CHANNELS, Profile
from surge.runfolder import LevelSpan, RunFolder, Status
from surge.visit.wire import ERRORS

CONFIDENCE = 0.95
"""A level's verdict is wrong with probability at most 1 - this (docs/capacity.md)."""
SETTLE_RESPONSES = 20.0
SETTLE_FLOOR_S = 2.0
RECENT_S = 2.0
"""A level's latest seconds, whose mean response time says how long its queue takes to relax:
they must come after where it settled, so a queue still growing is not read as settled by the
light start of it."""
DRAIN_FACTOR = 3.0
"""A second of a level still this many times slower than its latest is the drain of an earlier
level's queue."""
STUCK_S = 8.0
"""A level below the one before is judged stuck (`_stuck`) at the earliest this long after its
start: a few of its response times, and blocks enough to decide on."""
MIN_BLOCKS = 4
"""Blocks (`sequential.BLOCK_S`) a decision needs at least: the dispersion about the blocks'
trend needs some beyond the line's two."""
LIGHT_SHARE = 0.25
LIGHT_SIGMAS = 3.0
"""…and beyond this many standard errors of the difference: the lighter levels may have had only
a few requests, and a level wrongly taken for busy must then be decided, which takes long."""
LIGHT_SIGMAS_OVER = 2.0
"""…and none of its objectives' shares beyond its budget by more than this many standard errors:
a few requests may well overspend a budget by chance, a target refusing everything does by far,
and a level of hundreds of requests over its budget is not light, however fast its mean."""
IDLE_IN_FLIGHT = 1.0
"""Light levels with fewer requests in flight than this on average (Little's law) stand for the
idle lane: their mean response is its service time. Levels with more may queue a little, and
a reference made of them would creep up with each (a 5-slot lane at 0.82 of its capacity, past
where its p95 broke, read as light against the 49 ms of the levels below it)."""
LIGHT_MIN_REQUESTS = 10
LIGHT_MIN_S = 4.0
FLUSH_LAG_S = 1.5
"""How far behind the run its records land: the harness writes a capacity search's records
every second (a distributed run's reach the master every 2 s first)."""
MAX_LAG_S = 10.0
DEFAULT_ERROR_RATE = 0.05
"""The error rate a channel is held to when the profile states none (`objectives`)."""
SHAPE_MAX_SHARE = 0.5
"""Levels whose share of bad requests is beyond this were overloaded: their queues grew all
the while, so they say where the objectives broke, not how the share grows towards it."""
SHAPE_MIN_EFFECTIVE = 20.0
"""Levels weighing less than this many requests (deflated by their dispersion) are left out of
the fit: a light level of a few seconds, its dispersion bounded from a handful of blocks, weighs
next to nothing, and its smoothed share (half a request bad of almost none) reads as 50%."""
COLUMNS = ("channel", "journey", "outcome", "start", "end", "scheduled")
ABOVE = 1.0 + 1e-9


@dataclass(frozen=True, slots=True)
class Check:
    """One objective on a level's judged stretch."""

    name: str
    limit: float
    budget: float
    requests: int
    bad: int
    dispersion: float
    low: float
    high: float
    """The confidence sequence's interval of the bad share."""
    status: Status
    """`pass`, `fail` or `unclear`; `pass` with no requests (nothing was asked of it)."""
    mean_ms: float | None
    """Its requests' mean response time, and…"""
    per_s: float
    """…their rate: the M/M/c guide's inputs."""

    @property
    def share(self) -> float | None:
        return self.bad / self.requests if self.requests else None

    @property
    def margin(self) -> float:
        """Its bad share over its budget: the first to break is the largest."""
        share = self.share or 0.0
        if not self.budget:
            return math.inf if share else 0.0
        return share / self.budget


@dataclass(frozen=True, slots=True)
class Judged:
    """A level's verdict so far and the figures behind it."""

    multiple: float
    """The multiple asked for."""
    status: Status
    """`unclear` while it is not decided."""
    sure: bool
    """Decided by the confidence sequence (a pass or a fail), not light or unsure."""
    light: bool
    why: str
    settle_end: float | None
    """Run seconds where it settled; None until it has."""
    judged_s: float
    realized: float | None
    """The multiple it offered: its arrivals in the judged stretch over the phase's rate."""
    offered_per_s: dict[str, float]
    started_per_s: dict[str, float]
    requests_per_s: float | None
    p95_ms: float | None
    mean_ms: float | None
    checks: list[Check]
    broke: str | None
    """The objective furthest beyond its budget (of those that surely broke, else of the point
    estimates)."""
    late_share: float | None
    generator_saturated: bool
    """The generator was saturated in the judged stretch (`surge.judge.saturation`)."""
    saturated_s: float
    lane: str | None = None
    """The busiest lane of the target in the level (the largest peak share of its slots), when
    it was scraped (known once the run ended)."""
    lane_peak_share: float | None = None

    @property
    def decided(self) -> bool:
        return self.status != "unclear"

    @property
    def failed_on_time(self) -> bool:
        """It broke (or leaned so) on an objective of time, which a saturated generator slows
        itself; errors are the target's own answers (a 503 is not the generator's doing)."""
        broken = [c for c in self.checks if c.status == "fail"] or [
            c for c in self.checks if c.margin > 1
        ]
        return any(not c.name.endswith(".error_rate") for c in broken)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"checks": [asdict(c) for c in self.checks]}


@dataclass(frozen=True, slots=True)
class Crossing:
    """Where an objective's bad share crosses its budget, as a multiple of the phase."""

    objective: str
    multiple: float
    low: float | None
    high: float | None
    """Its 95% interval (None where it is unbounded)."""
    levels: int
    """Levels it rests on."""


class Judge:
    """A capacity search's run, judged as its records come (`add`)."""

    def __init__(self, phase: Profile, level_max_s: float) -> None:
        """`phase`: the searched phase (its rates at multiple 1, its objectives)."""
        self.phase = phase
        self.level_max_s = level_max_s
        self.objectives = objectives(phase)
        self.alpha = (1 - CONFIDENCE) / max(1, len(self.objectives))
        self.per_s = sum(
            getattr(phase.phases[0].arrivals_per_hour, c) * phase.branches / 3600 for c in CHANNELS
        )
        """Visits a second of the phase at multiple 1, every channel."""
        self._parts: list[pd.DataFrame] = []
        self._records: pd.DataFrame | None = None
        self._arrivals: tuple[tuple[int, float], np.ndarray] | None = None

    def add(self, table: pa.Table, day_start: float) -> None:
        """Records that landed (`surge.runfolder.RequestTail`), on the run's clock."""
        if not table.num_rows:
            return
        data = table.select(list(COLUMNS)).to_pandas()
        start, end = data["start"].to_numpy(), data["end"].to_numpy()
        self._parts.append(
            pd.DataFrame(
                {
                    "channel": data["channel"].astype("category"),
                    "journey": data["journey"].astype("category"),
                    "error": data["outcome"].isin(ERRORS).to_numpy(),
                    "t": start - day_start,
                    "response_ms": (end - start) * 1000.0,
                    "wait_s": end - data["scheduled"].to_numpy(),
                    "scheduled_t": data["scheduled"].to_numpy() - day_start,
                }
            )
        )
        self._records = None

    @property
    def records(self) -> pd.DataFrame:
        if self._records is None:
            self._records = (
                pd.concat(self._parts, ignore_index=True)
                if self._parts
                else pd.DataFrame(
                    {
                        name: pd.Series(dtype=float)
                        for name in ("t", "response_ms", "wait_s", "scheduled_t")
                    }
                    | {"channel": pd.Series(dtype=object), "journey": pd.Series(dtype=object)}
                    | {"error": pd.Series(dtype=bool)}
                )
            )
            self._parts = [self._records] if self._parts else []
        return self._records

    def level(
        self,
        span: LevelSpan,
        before: Sequence[Judged],
        run: RunFolder,
        now: float | None,
    ) -> Judged:
        """The level of `span`, the levels judged `before` it in order; `now` (run seconds) while
        the run goes, None once it ended (then its whole span is judged, not decided).

        Its records are complete up to where the slowest of them would have landed (`cutoff`);
        a failure may be read from every record landed so far (`landed`), since the requests
        still on their way are the slow ones. The requests sent while the generator was
        saturated are left out of the objectives' counts: their times are the harness's own."""
        records = self.records
        end = span.end if span.end is not None else math.inf
        mine = records[(records["t"] >= span.start) & (records["t"] < end)]
        slowest = float(mine["response_ms"].max()) / 1000.0 if len(mine) else 0.0
        if now is None:
            last = float(records["t"].max()) if len(records) else span.start
            landed = cutoff = min(end, max(span.start, last))
        else:
            landed = min(now - FLUSH_LAG_S * (2 if run.info.workers > 1 else 1), end)
            cutoff = landed - min(MAX_LAG_S, slowest)
        saturated = generator.saturated(run, run.info.day_start or 0.0)
        mine = mine[mine["t"] < landed]
        settle_end = span.settle_end
        if settle_end is None:
            settle_end = _settle_end(mine[mine["t"] < cutoff], span.start, cutoff)
        settled = settle_end is not None and settle_end <= cutoff
        previous = before[-1].multiple if before else None
        start = settle_end if settled and settle_end is not None else span.start
        rising = previous is None or span.multiple > previous  # the first rises from none
        stuck = not (settled or rising) and _stuck(
            records[records["t"] < cutoff],
            mine[mine["t"] < cutoff],
            span.start,
            cutoff,
            _lightest_ms(before),
        )
        counted = mine[~_within(mine["t"].to_numpy(), saturated)]
        checks = self._checks(counted, start, cutoff)
        failing = self._checks(counted, start, landed) if settled or rising or stuck else []
        judged = mine[(mine["t"] >= start) & (mine["t"] < cutoff)]
        lateness, offered, started = self._offered(run, start, cutoff, judged)
        saturated_s = generator.overlap(saturated, start, cutoff)
        judged_s = max(0.0, cutoff - start)
        status, sure, light, why = self._verdict(
            checks, failing, before, judged, settled, lateness, run, judged_s, landed - start, now
        )
        if status == "fail" and sure and failing:
            checks = failing  # the evidence it failed on
        if saturated_s > 0:
            worst = max((s for s in saturated if s.end > start), key=lambda s: s.end - s.start)
            why += (
                f"; the generator was saturated for {saturated_s:.1f} s of it ({worst.name}), "
                "whose requests are left out"
            )
        realized = sum(offered.values()) / self.per_s if self.per_s and offered else None
        responses = judged["response_ms"].to_numpy()
        return Judged(
            multiple=span.multiple,
            status=status,
            sure=sure,
            light=light,
            why=why,
            settle_end=settle_end if settled else None,
            judged_s=judged_s,
            realized=realized,
            offered_per_s=offered,
            started_per_s=started,
            requests_per_s=len(judged) / judged_s if judged_s > 0 else None,
            p95_ms=_percentile(responses, 95.0),
            mean_ms=float(responses.mean()) if len(responses) else None,
            checks=checks,
            broke=_broke(checks),
            late_share=lateness.share if lateness else None,
            generator_saturated=saturated_s > 0,
            saturated_s=saturated_s,
        )

    def _checks(self, records: pd.DataFrame, start: float, cutoff: float) -> list[Check]:
        within = records[(records["t"] >= start) & (records["t"] < cutoff)]
        return [self._check(within, o, start, cutoff) for o in self.objectives]

    def _check(
        self, judged: pd.DataFrame, objective: slo.Objective, start: float, cutoff: float
    ) -> Check:
        column = "channel" if objective.scope == "channel" else "journey"
        mine = judged[(judged[column] == objective.key).to_numpy()]
        columns = {
            "response_ms": mine["response_ms"].to_numpy(),
            "wait_s": mine["wait_s"].to_numpy(),
            "error": mine["error"].to_numpy(),
        }
        bad = objective.bad(columns)
        edges = np.arange(start, cutoff + sequential.BLOCK_S, sequential.BLOCK_S)
        t = mine["t"].to_numpy()
        requests = np.histogram(t, edges)[0]
        bad_blocks = np.histogram(t[bad], edges)[0]
        decided = sequential.share(requests, bad_blocks, objective.budget, self.alpha)
        status: Status = decided.decision or ("pass" if not len(mine) else "unclear")
        span_s = cutoff - start
        return Check(
            name=objective.name,
            limit=objective.limit,
            budget=objective.budget,
            requests=decided.requests,
            bad=decided.bad,
            dispersion=decided.dispersion,
            low=decided.low,
            high=decided.high,
            status=status,
            mean_ms=float(columns["response_ms"].mean()) if len(mine) else None,
            per_s=len(mine) / span_s if span_s > 0 else 0.0,
        )

    def _verdict(
        self,
        checks: list[Check],
        failing: list[Check],
        before: Sequence[Judged],
        judged: pd.DataFrame,
        settled: bool,
        lateness: sequential.Share | None,
        run: RunFolder,
        judged_s: float,
        landed_s: float,
        now: float | None,
    ) -> tuple[Status, bool, bool, str]:
        """(status, sure, light, why) of a level so far."""
        if run.info.error:
            return "invalid", False, False, f"not valid evidence: {run.info.error}"
        asked = [c for c in checks if c.requests]
        broken = [c for c in failing if c.requests and c.status == "fail"]
        if broken and landed_s >= MIN_BLOCKS * sequential.BLOCK_S:
            worst = max(broken, key=lambda c: c.margin)
            return "fail", True, False, _why_broke(worst)
        if not settled or now is None:
            return "unclear", False, False, "not settled" if not settled else "not decided"
        blocks = judged_s / sequential.BLOCK_S
        if lateness is None or lateness.share is None or judged_s < LIGHT_MIN_S:
            return "unclear", False, False, "not decided yet"
        late = lateness.share
        if late > run.info.limits.max_late_share:
            sure = lateness.decision == "fail"
            if not sure and judged_s < self.level_max_s:
                return "unclear", False, False, f"not decided yet: {late:.0%} of its visits late"
            return (
                "behind",
                sure,
                False,
                (
                    f"{late:.0%} of its visits started late or not at all: the generator fell "
                    "behind its schedule (not the target's limit)"
                ),
            )
        if blocks >= MIN_BLOCKS and all(c.status == "pass" for c in checks):
            return "pass", True, False, "every objective held at 95% confidence"
        if all(b.status == "pass" for b in before) and all(  # still climbing: explore
            _within_budget(c) for c in checks
        ):
            light = self._light(judged, before, judged_s)
            if light is not None:
                return "pass", False, True, light
        if judged_s >= self.level_max_s:
            leaning: Status = "fail" if any(c.margin > 1 for c in asked) else "pass"
            unclear = ", ".join(c.name for c in asked if c.status == "unclear")
            return (
                leaning,
                False,
                False,
                (
                    f"unsure: not decided at 95% confidence in {judged_s:.0f} s ({unclear}); its "
                    f"point estimates {'broke' if leaning == 'fail' else 'held'}"
                ),
            )
        return "unclear", False, False, "not decided yet"

    def _light(self, judged: pd.DataFrame, before: Sequence[Judged], judged_s: float) -> str | None:
        """Why the level is light (no queueing shows yet), or None."""
        responses = judged["response_ms"].to_numpy()
        if len(responses) < LIGHT_MIN_REQUESTS or judged_s < LIGHT_MIN_S:
            return None
        lighter = _idle([b for b in before if b.light])
        mean = float(responses.mean())
        if lighter:
            counts = [(b.requests_per_s or 0.0) * b.judged_s for b in lighter]
            reference = float(np.average([b.mean_ms or 0.0 for b in lighter], weights=counts))
            # Response times near an idle lane spread about as widely as they are long (an
            # exponential's do): the reference's own noise, from its few requests, counts too.
            noise = LIGHT_SIGMAS * math.sqrt(
                float(responses.var()) / len(responses) + reference**2 / max(1.0, sum(counts))
            )
            if mean - reference > max(LIGHT_SHARE * reference, noise):
                return None
            return (
                f"light: its mean response {mean:.0f} ms is within {LIGHT_SHARE:.0%} of the "
                f"lighter levels' {reference:.0f} ms (not decided)"
            )
        return f"light: the first level, its mean response {mean:.0f} ms (not decided)"

    def _offered(
        self, run: RunFolder, start: float, cutoff: float, judged: pd.DataFrame
    ) -> tuple[sequential.Share | None, dict[str, float], dict[str, float]]:
        """The share of the visits due in [start, cutoff - late-after) that started late or not
        at all, decided against the run's limit on the share (`sequential.share`, by blocks of
        their due times), and the visits a second offered and started per channel there."""
        late_after = float(run.info.options.get("late_after") or 0.5)
        end = cutoff - late_after
        if end <= start:
            return None, {}, {}
        times, channels = self._schedule(run, end)
        due = (times >= start) & (times < end)
        span = end - start
        offered: dict[str, float] = {
            c: float(((channels == c) & due).sum()) / span for c in CHANNELS
        }
        visits = judged[(judged["scheduled_t"] >= start) & (judged["scheduled_t"] < end)]
        first = visits.groupby("scheduled_t", observed=True).agg(
            t=("t", "min"), channel=("channel", "first")
        )
        on_time = first[first["t"] - first.index.to_numpy() <= late_after]
        started: dict[str, float] = {
            c: float((first["channel"] == c).sum()) / span for c in CHANNELS
        }
        if not due.any():
            return None, offered, started
        edges = np.arange(start, end + sequential.BLOCK_S, sequential.BLOCK_S)
        visits_due = np.histogram(times[due], edges)[0]
        # Never below none: a visit due within a float's rounding of an edge (its record's time
        # less the day's start) may fall in the next block there and in this one here.
        late = np.maximum(visits_due - np.histogram(on_time.index.to_numpy(), edges)[0], 0)
        limit = run.info.limits.max_late_share
        return sequential.share(visits_due, late, limit, self.alpha), offered, started

    def _schedule(self, run: RunFolder, until: float) -> tuple[np.ndarray, np.ndarray]:
        """Every visit of the run's schedule due before `until`: times and channels (the
        schedule is replayed from its seed and the levels as run.json has them)."""
        key = (len(run.profile.phases), run.profile.duration_s)
        known = self._arrivals
        if known is None or known[0] != key or (len(known[1]) and known[1][-1][0] < until):
            found = []
            for arrival in arrivals.schedule(run.profile, run.info.seed):
                found.append((arrival.t, arrival.channel))
                if arrival.t >= until + 60:
                    break
            table = np.array(found, dtype=[("t", float), ("channel", object)])
            self._arrivals = known = (key, table)
        table = known[1]
        return table["t"], table["channel"]

    def final(
        self, span: LevelSpan, live: Judged, before: Sequence[Judged], run: RunFolder
    ) -> Judged:
        """The level as decided while the run went (`live`), its figures over its whole judged
        span now that the run ended, and the busiest lane of the target in it."""
        whole = self.level(span, before, run, None)
        lanes = [lane for lane in _lanes(run) if lane.phase == _phase_name(run, span)]
        busiest = max(lanes, key=lambda lane: lane.peak_share or 0.0, default=None)
        return replace(
            whole,
            status=live.status,
            sure=live.sure,
            light=live.light,
            why=live.why,
            lane=busiest.lane if busiest else None,
            lane_peak_share=busiest.peak_share if busiest else None,
        )

    def crossing(self, levels: Sequence[Judged]) -> Crossing | None:
        """The lowest of the objectives' crossings, each from the levels either side of it."""
        found = [c for o in self.objectives if (c := self._crossing(levels, o)) is not None]
        return min(found, key=lambda c: c.multiple, default=None)

    def _crossing(self, levels: Sequence[Judged], objective: slo.Objective) -> Crossing | None:
        """Where the objective's bad share, against the rate offered, reaches its budget: a
        weighted fit through the levels (light ones too, weighed by their few requests;
        overloaded ones aside, past `SHAPE_MAX_SHARE`, whose queues never settled), on at least
        one level each side of the budget.

        The shape is a queue's: the log-odds of the share grow as `a + b / (mu - x)`, slowly
        far below the limit (where a p95's budget is mostly spent by the service time's own
        tail) and steeply near the rate `mu` the lane saturates at; a straight line through
        the levels either side of the budget would put the crossing too low. With two levels
        only, the line (in the log of the rate) it is. The interval is the fit's, by the delta
        method, from the levels' deflated counts."""
        points = []
        for level in levels:
            check = next((c for c in level.checks if c.name == objective.name), None)
            usable = level.status in ("pass", "fail")
            usable = usable and not (level.status == "fail" and level.generator_saturated)
            if check is None or not usable or level.realized is None or not check.requests:
                continue
            effective = check.requests / check.dispersion
            share = check.bad / check.requests
            if effective >= SHAPE_MIN_EFFECTIVE and share <= SHAPE_MAX_SHARE:
                points.append((level.realized, effective, share))
        below = [p for p in points if p[2] <= objective.budget]
        if not below or len(below) == len(points) or len({p[0] for p in points}) < 2:
            return None
        x = np.array([p[0] for p in points])
        n = np.array([p[1] for p in points])
        share = (n * np.array([p[2] for p in points]) + 0.5) / (n + 1)
        y = np.log(share / (1 - share))
        weights = n * share * (1 - share)
        target = math.log(objective.budget / (1 - objective.budget))
        fitted = _hyperbola(x, y, weights, target) if len(set(x)) > 2 else None
        if fitted is None:
            fitted = _line(x, y, weights, target)
        if fitted is None:
            return None
        at, low, high = fitted
        return Crossing(objective.name, at, low, high, len(points))

    def guide(self, levels: Sequence[Judged]) -> float | None:
        """The multiple where the objectives would first break by an M/M/c fit to the levels
        passed so far, when the busiest shows queueing; None when none does yet."""
        passed = [level for level in levels if level.status == "pass" and level.realized]
        found = []
        for objective in self.objectives:
            if objective.metric not in ("p95_ms", "p99_ms"):
                continue
            points = [
                (level, check)
                for level in passed
                for check in level.checks
                if check.name == objective.name
                and check.requests >= LIGHT_MIN_REQUESTS
                and check.mean_ms is not None
                and check.per_s > 0
            ]
            if len(points) < 2:
                continue
            idle = {id(level) for level in _idle([level for level, _ in points])}
            lightest = [check for level, check in points if id(level) in idle]
            level, busiest = max(points, key=lambda p: p[1].per_s)
            if busiest in lightest:
                continue
            requests = sum(check.requests for check in lightest)
            service = sum((c.mean_ms or 0.0) * c.requests for c in lightest) / requests / 1000.0
            waited = (busiest.mean_ms or 0.0) / 1000.0 - service
            noise = 2 * service * math.sqrt(1 / requests + 1 / busiest.requests)
            if waited <= noise or service <= 0:
                continue
            slots = _slots(busiest.per_s, service, waited)
            rate = queueing.max_arrival_rate(
                service, slots, objective.limit / 1000.0, 1 - objective.budget
            )
            found.append(rate / (busiest.per_s / (level.realized or level.multiple)))
        return min(found, default=None)


def objectives(phase: Profile) -> list[slo.Objective]:
    """The profile's objectives, and for each channel the phase sends visits through that has
    no error rate of its own, one of `DEFAULT_ERROR_RATE`: a target that refuses what it is
    sent does not carry it, whatever its answers' speed."""
    found = slo.objectives(phase)
    bounded = {o.key for o in found if o.scope == "channel" and o.metric == "error_rate"}
    visited = [c for c in CHANNELS if getattr(phase.phases[0].arrivals_per_hour, c) > 0]
    return found + [
        slo.Objective("channel", c, "error_rate", DEFAULT_ERROR_RATE)
        for c in visited
        if c not in bounded
    ]


def _line(
    x: np.ndarray, y: np.ndarray, weights: np.ndarray, target: float
) -> tuple[float, float | None, float | None] | None:
    """`y = a + b log x` by weighted least squares: where it reaches `target`, and Fieller's
    95% interval of that."""
    design = np.column_stack([np.ones_like(x), np.log(x)])
    try:
        covariance = np.linalg.inv(design.T @ (design * weights[:, None]))
    except np.linalg.LinAlgError:
        return None
    a, b = covariance @ (design.T @ (weights * y))
    if not b > 0:
        return None
    low, high = _fieller(a, b, covariance, target)
    return math.exp((target - a) / b), low, high


def _hyperbola(
    x: np.ndarray, y: np.ndarray, weights: np.ndarray, target: float
) -> tuple[float, float | None, float | None] | None:
    """`y = a + b / (mu - x)`, `mu` beyond every level, by weighted least squares (linear in a
    and b for each `mu` of a grid, the best kept): where it reaches `target`, and the delta
    method's 95% interval of that."""
    top = float(x.max())
    best: tuple[float, float, float, float] | None = None
    for mu in top * (1 + np.geomspace(1e-3, 20.0, 240)):
        design = np.column_stack([np.ones_like(x), 1 / (mu - x)])
        normal = design.T @ (design * weights[:, None])
        try:
            a, b = np.linalg.solve(normal, design.T @ (weights * y))
        except np.linalg.LinAlgError:
            continue
        error = float((weights * (y - design @ (a, b)) ** 2).sum())
        if b > 0 and target > a and (best is None or error < best[0]):
            best = (error, float(a), float(b), float(mu))
    if best is None:
        return None
    _, a, b, mu = best
    at = mu - b / (target - a)
    jacobian = np.column_stack([np.ones_like(x), 1 / (mu - x), -b / (mu - x) ** 2])
    try:
        covariance = np.linalg.inv(jacobian.T @ (jacobian * weights[:, None]))
    except np.linalg.LinAlgError:
        return at, None, None
    gradient = np.array([-b / (target - a) ** 2, -1 / (target - a), 1.0])
    spread = 1.96 * math.sqrt(max(0.0, float(gradient @ covariance @ gradient)))
    return at, (at - spread if at > spread else None), at + spread


def _slots(rate: float, service: float, waited: float) -> int:
    """The most slots whose Erlang C mean wait at `rate` is still at least `waited`: the lane
    the queueing shows, taken at its smallest (the guide then aims low, not past the limit)."""
    slots = max(1, math.ceil(rate * service * ABOVE))
    while queueing.mean_wait(rate, service, slots + 1) >= waited and slots < 100_000:
        slots += 1
    return slots


def _fieller(
    a: float, b: float, covariance: np.ndarray, target: float, z: float = 1.96
) -> tuple[float | None, float | None]:
    """The 95% interval of where a + b x reaches `target` (Fieller's), as multiples."""
    quadratic = b * b - z * z * covariance[1, 1]
    if quadratic <= 0:
        return None, None
    linear = (a - target) * b - z * z * covariance[0, 1]
    constant = (a - target) ** 2 - z * z * covariance[0, 0]
    root = linear * linear - quadratic * constant
    if root < 0:
        return None, None
    low = (-linear - math.sqrt(root)) / quadratic
    high = (-linear + math.sqrt(root)) / quadratic
    return math.exp(low), math.exp(high)


def _settle_end(mine: pd.DataFrame, start: float, cutoff: float) -> float | None:
    """Where the level's queue had drained and relaxed (module docstring), judged by its last
    `RECENT_S`, which must come after it; None while it has not."""
    if cutoff - start < SETTLE_FLOOR_S + RECENT_S or mine.empty:
        return None
    t = mine["t"].to_numpy()
    response = mine["response_ms"].to_numpy()
    latest = response[t >= cutoff - RECENT_S]
    if not len(latest):
        return None
    recent = float(latest.mean())
    seconds = np.floor(t - start).astype(np.int64)
    means = pd.Series(response).groupby(seconds).mean()
    draining = means[means > DRAIN_FACTOR * recent]
    drained = start + float(draining.index.max() + 1) if len(draining) else start
    settled = max(start + SETTLE_FLOOR_S, drained + SETTLE_RESPONSES * recent / 1000.0)
    return settled if settled <= cutoff - RECENT_S else None


def _stuck(
    records: pd.DataFrame,
    mine: pd.DataFrame,
    start: float,
    cutoff: float,
    lightest_ms: float | None,
) -> bool:
    """The queue a level below the one before inherited did not drain at all: `STUCK_S` in, the
    requests in flight over its latest `RECENT_S` (every request's, the earlier levels' too) are
    no fewer than over its first, and its latest responses still `DRAIN_FACTOR` times slower
    than the lightest level's. Below the target's capacity a backlog drains, the requests in
    flight falling from the start; one that does not is at or past it, and waiting for it to
    settle (a multiple of response times of seconds) would only spend the run. Response times
    alone cannot say so: a queue held at the target's timeout answers as slowly while it
    drains."""
    if lightest_ms is None or cutoff - start < STUCK_S:
        return False
    t = mine["t"].to_numpy()
    latest = mine["response_ms"].to_numpy()[t >= cutoff - RECENT_S]
    if not len(latest) or not float(latest.mean()) > DRAIN_FACTOR * lightest_ms:
        return False
    starts = np.sort(records["t"].to_numpy())
    ends = np.sort(_ends(records))
    first = _in_flight(starts, ends, start, start + RECENT_S)
    last = _in_flight(starts, ends, cutoff - RECENT_S, cutoff)
    return last >= first


def _ends(records: pd.DataFrame) -> np.ndarray:
    """Each request's end, on the run's clock."""
    ends: np.ndarray = records["t"].to_numpy() + records["response_ms"].to_numpy() / 1000.0
    return ends


def _in_flight(starts: np.ndarray, ends: np.ndarray, low: float, high: float) -> float:
    """Requests in flight on average over [low, high), sampled every tenth of a second
    (`starts` and `ends` sorted)."""
    at = np.arange(low, high, 0.1)
    return float(
        (np.searchsorted(starts, at, side="right") - np.searchsorted(ends, at, side="right")).mean()
    )


def _idle(levels: Sequence[Judged]) -> list[Judged]:
    """Of `levels`, those that stand for the idle lane (`IDLE_IN_FLIGHT`); the one of the fewest
    requests a second when none had so few in flight."""
    known = [b for b in levels if b.mean_ms is not None and b.requests_per_s]
    idle = [
        b for b in known if (b.requests_per_s or 0.0) * (b.mean_ms or 0.0) / 1000 < IDLE_IN_FLIGHT
    ]
    if idle or not known:
        return idle
    return [min(known, key=lambda b: b.requests_per_s or 0.0)]


def _within_budget(check: Check) -> bool:
    """Its share is over its budget by no more than chance over its few requests would make it
    (`LIGHT_SIGMAS_OVER`)."""
    if not check.requests:
        return True
    spread = math.sqrt(check.budget * (1 - check.budget) / check.requests)
    return (check.share or 0.0) <= check.budget + LIGHT_SIGMAS_OVER * spread


def _lightest_ms(before: Sequence[Judged]) -> float | None:
    """The mean response of the lightest level judged so far: near the service time."""
    means = [b.mean_ms for b in before if b.mean_ms is not None and b.requests_per_s]
    return min(means, default=None)


def _within(t: np.ndarray, spans: Sequence[timeline.Span]) -> np.ndarray:
    inside = np.zeros(len(t), dtype=bool)
    for span in spans:
        inside |= (t >= span.start) & (t < span.end)
    return inside


def _broke(checks: list[Check]) -> str | None:
    broken = [c for c in checks if c.status == "fail"] or [c for c in checks if c.margin > 1]
    return max(broken, key=lambda c: c.margin).name if broken else None


def _why_broke(check: Check) -> str:
    return (
        f"{check.name} broke: {check.bad} of {check.requests} requests bad "
        f"({(check.share or 0):.1%} against a budget of {check.budget:.0%}, surely above "
        f"{check.low:.1%})"
    )


def _percentile(values: np.ndarray, percent: float) -> float | None:
    if not len(values):
        return None
    at = rank(len(values), percent)
    return float(np.partition(values, at)[at])


def _lanes(run: RunFolder) -> list[capacity.LanePhase]:
    return capacity.capacity(timeline.timeline(run, frames(run))).lanes


def _phase_name(run: RunFolder, span: LevelSpan) -> str:
    index = span.number - 1
    phases = run.profile.phases
    return phases[index].name if index < len(phases) else ""
