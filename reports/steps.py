"""One capacity-search step judged on its own records: did the target carry this rate within the
profile's objectives, and how sure is that?

A step is one or more run folders of the same offered rate (a repeat is pooled with the runs
before it). From each, the visits scheduled in its warm-up (`warmup_s` run seconds from the
day's start) are left out with their requests: the queues fill then, and a fresh step's first
seconds are lighter than its steady state. Each objective of the profile (`reports.slo`) is
judged on what is left, with a 95% confidence interval from a block bootstrap: requests are
resampled in blocks of `BLOCK_S` seconds of schedule, since the responses of requests close in
time share a queue and are not independent (an interval from independent draws, order
statistics or a plain bootstrap, is too narrow near the knee). An objective holds when the whole
interval is within its limit, breaks when the whole interval is beyond it, and is unclear
otherwise.

A step whose run is not evidence of the target (it could not start, an incident cut it) is
`invalid`. Otherwise the step passes when every objective holds, it started at least `CARRIED`
of the visits offered, and the generator kept its schedule (the run's verdict does not say it
fell behind); it fails when an objective broke, the target was too slow to start the visits,
or its error budget was spent (the harness stopped it early); it is `behind` when the generator
fell behind while no objective broke, which is never the system's limit; else it is unclear.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reports import capacity, generator, slo, timeline
from reports.frames import ERRORS, frames, rank
from surge import runfolder, verdict
from surge.profile import CHANNELS, Profile
from surge.search import Status

CARRIED = 0.95
"""Share of the offered visits a step must start to pass."""
BLOCK_S = 2.0
"""Seconds of schedule resampled together: longer than a queue near its knee takes to forget."""
RESAMPLES = 400
CONFIDENCE = 0.95
SEED = 7
"""The bootstrap's own generator: judging the same folders twice gives the same verdict."""
_STEP_CAUSES = frozenset({"behind", "error_budget", "ended_early"})
"""Reasons a step's run is not valid evidence that the step's verdict accounts for (the
generator fell behind; the harness ended it, its error budget spent). Any other (the target
unreachable, an incident, a worker lost) leaves the step `invalid`: the search ends there."""


@dataclass(frozen=True, slots=True)
class Check:
    """One objective on the step's records."""

    name: str
    """`kiosk.p95_ms`, `balance.error_rate` (`reports.slo.Objective.name`)."""
    limit: float
    value: float | None
    low: float | None
    high: float | None
    """The 95% interval of `value`."""
    requests: int
    status: Status
    """`pass`, `fail` or `unclear` (no requests: `pass`, nothing was asked of it)."""

    @property
    def margin(self) -> float:
        """How far beyond its limit it went (value / limit): the first to break is the
        largest."""
        return (self.value or 0.0) / self.limit if self.limit else 0.0


@dataclass(frozen=True, slots=True)
class Judged:
    """A step's verdict and the figures behind it."""

    status: Status
    leaning: Status
    """Where the point estimates point (`pass` or `fail`): the verdict of a step still unclear
    after every repeat, marked unsure."""
    why: str
    runs: int
    measured_s: float
    """Run seconds judged, over every run pooled."""
    offered_per_s: dict[str, float]
    """Visits a second the plan offered, per channel (after the warm-up)."""
    started_per_s: dict[str, float]
    requests_per_s: float
    """Request attempts a second, every channel (the throughput the target carried)."""
    p95_ms: float | None
    """Every request's p95 response time, the latency of the curve."""
    mean_ms: float | None
    """…and their mean: with the throughput, the requests in flight (Little's law)."""
    checks: list[Check]
    broke: str | None
    """The objective that broke furthest beyond its limit (or, when none broke for sure, whose
    point estimate went furthest beyond it); None when none did."""
    lane: str | None
    """The busiest lane of the target (largest peak share of its slots), when it was scraped."""
    lane_peak_share: float | None
    stopped: bool
    """The harness ended a run early: its error budget was spent."""
    generator_saturated: bool
    """The generator was saturated during the judged stretch of a run (after its warm-up):
    slow responses then are partly the harness's own."""

    @property
    def offered_total(self) -> float:
        return sum(self.offered_per_s.values())

    @property
    def started_total(self) -> float:
        return sum(self.started_per_s.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"checks": [asdict(c) for c in self.checks]}


def judge(folders: Sequence[Path], warmup_s: float) -> Judged:
    """The step run into `folders` (its first run and repeats), each with `warmup_s` left out."""
    if not folders:
        raise ValueError("a step needs at least one run folder")
    parts = [_part(runfolder.load(folder), warmup_s, n) for n, folder in enumerate(folders)]
    profile = parts[0].profile
    requests = pd.concat([p.requests for p in parts], ignore_index=True)
    measured = sum(p.measured_s for p in parts)
    offered = {c: sum(p.offered[c] for p in parts) / measured for c in CHANNELS}
    started = {c: sum(p.started[c] for p in parts) / measured for c in CHANNELS}
    checks = [_check(requests, objective) for objective in slo.objectives(profile)]
    broken = [c for c in checks if c.status == "fail"]
    stopped = any(p.stopped for p in parts)
    behind = any(p.behind for p in parts)
    invalid = [reason for p in parts for reason in p.invalid]
    short = sum(started.values()) < CARRIED * sum(offered.values())
    lanes = [p.lane for p in parts if p.lane is not None]
    busiest = max(lanes, key=lambda lane: lane[1], default=None)
    if invalid:
        status: Status = "invalid"
        why = f"not valid evidence: {'; '.join(invalid)}"
    else:
        status, why = _status(checks, broken, stopped, behind, short, started, offered)
    saturated_s = sum(p.saturated_s for p in parts)
    if saturated_s > 0:
        worst = max((p for p in parts if p.saturated_s), key=lambda p: p.saturated_s)
        why += (
            f"; the generator was saturated for {saturated_s:.1f} s of the {measured:g} s "
            f"judged ({worst.saturated[0].name})"
        )
    leaning: Status = "fail" if any(c.margin > 1 for c in checks) or status == "fail" else "pass"
    leaning = "invalid" if invalid else leaning
    return Judged(
        status=status,
        leaning=leaning,
        why=why,
        runs=len(parts),
        measured_s=measured,
        offered_per_s=offered,
        started_per_s=started,
        requests_per_s=len(requests) / measured,
        p95_ms=_percentile(requests["response_ms"].to_numpy(), 95.0),
        mean_ms=float(requests["response_ms"].mean()) if len(requests) else None,
        checks=checks,
        broke=_broke(broken or [c for c in checks if c.margin > 1]),
        lane=busiest[0] if busiest else None,
        lane_peak_share=busiest[1] if busiest else None,
        stopped=stopped,
        generator_saturated=saturated_s > 0,
    )


def _broke(checks: list[Check]) -> str | None:
    """The objective furthest beyond its limit: of those that broke, or for a step decided
    unsure, of those whose point estimate is beyond it."""
    return max(checks, key=lambda c: c.margin).name if checks else None


def _status(
    checks: list[Check],
    broken: list[Check],
    stopped: bool,
    behind: bool,
    short: bool,
    started: dict[str, float],
    offered: dict[str, float],
) -> tuple[Status, str]:
    carried = sum(started.values()) / max(sum(offered.values()), 1e-9)
    if stopped:
        return "fail", "its error budget was spent: the harness stopped it early"
    if broken:
        worst = max(broken, key=lambda c: c.margin)
        return "fail", f"{worst.name} broke: {worst.value:g} against {worst.limit:g}"
    if behind:
        return "behind", "the generator fell behind its schedule (not the target's limit)"
    if short:
        return "fail", f"the target started only {carried:.0%} of the visits offered"
    unclear = [c.name for c in checks if c.status == "unclear"]
    if unclear:
        return "unclear", f"not decided at 95% confidence: {', '.join(unclear)}"
    return "pass", f"every objective held; {carried:.0%} of the visits offered started"


@dataclass(frozen=True)
class _Part:
    profile: Profile
    requests: pd.DataFrame
    """After the warm-up; `block` numbers the bootstrap's blocks across runs."""
    measured_s: float
    offered: dict[str, int]
    started: dict[str, int]
    behind: bool
    stopped: bool
    invalid: tuple[str, ...]
    """Why the run is not evidence of the target at all (it could not start, an incident…)."""
    lane: tuple[str, float] | None
    saturated: list[timeline.Span]
    """The stretches after the warm-up when the generator was saturated, longest first."""
    saturated_s: float


def _part(run: runfolder.RunFolder, warmup_s: float, number: int) -> _Part:
    records = frames(run)
    duration = records.duration_s
    if not 0 <= warmup_s < duration:
        raise ValueError(f"a warm-up of {warmup_s:g} s leaves nothing of a {duration:g} s day")
    kept = records.requests[records.requests["scheduled_t"] >= warmup_s]
    blocks = np.floor((kept["scheduled_t"].to_numpy() - warmup_s) / BLOCK_S).astype(np.int64)
    kept = kept.assign(block=blocks + number * 1_000_000)
    offered = dict.fromkeys(CHANNELS, 0)
    started = dict.fromkeys(CHANNELS, 0)
    if run.lateness is not None:
        for channel in CHANNELS:
            for second, (on_time, late, dropped) in run.lateness.over_time(channel):
                if second >= warmup_s:
                    offered[channel] += on_time + late + dropped
                    started[channel] += on_time + late
    judged = verdict.judge(run)
    codes = {cause.code for cause in judged.causes}
    judged_spans = [s for s in generator.saturated(run, records.day_start) if s.end > warmup_s]
    lanes = capacity.capacity(timeline.timeline(run, records)).lanes
    busiest = max(lanes, key=lambda lane: lane.peak_share or 0.0, default=None)
    return _Part(
        profile=run.profile,
        requests=kept,
        measured_s=duration - warmup_s,
        offered=offered,
        started=started,
        behind="behind" in codes,
        stopped="error_budget" in codes,
        invalid=tuple(c.sentence() for c in judged.causes if c.code not in _STEP_CAUSES),
        lane=(busiest.lane, busiest.peak_share or 0.0) if busiest is not None else None,
        saturated=sorted(judged_spans, key=lambda span: span.start - span.end),
        # The visits scheduled after the warm-up are judged, their requests sent in the drain
        # after the day too.
        saturated_s=generator.overlap(judged_spans, warmup_s, math.inf),
    )


def _check(requests: pd.DataFrame, objective: slo.Objective) -> Check:
    column = "channel" if objective.scope == "channel" else "journey"
    mine = requests[requests[column] == objective.key]
    if mine.empty:
        return Check(objective.name, objective.limit, None, None, None, 0, "pass")
    values, percent = _values(mine, objective.metric)
    value = _statistic(values, percent)
    low, high = _interval(values, mine["block"].to_numpy(), percent)
    status: Status = (
        "pass" if high <= objective.limit else "fail" if low > objective.limit else "unclear"
    )
    return Check(objective.name, objective.limit, value, low, high, len(mine), status)


def _values(requests: pd.DataFrame, metric: str) -> tuple[np.ndarray, float | None]:
    """What the metric is computed from, and its percentile (None: a share of errors)."""
    if metric == "error_rate":
        return requests["outcome"].isin(ERRORS).to_numpy(dtype=np.float64), None
    column = "wait_s" if metric == "customer_wait_p95_s" else "response_ms"
    return requests[column].to_numpy(dtype=np.float64), 99.0 if metric == "p99_ms" else 95.0


def _statistic(values: np.ndarray, percent: float | None) -> float:
    return float(values.mean()) if percent is None else float(_percentile(values, percent) or 0.0)


def _percentile(values: np.ndarray, percent: float) -> float | None:
    """Nearest rank, as every other figure of the report (`reports.frames`)."""
    if not len(values):
        return None
    return float(np.partition(values, rank(len(values), percent))[rank(len(values), percent)])


def _interval(values: np.ndarray, blocks: np.ndarray, percent: float | None) -> tuple[float, float]:
    """The central `CONFIDENCE` interval of the statistic over block-bootstrap resamples."""
    ids, members = np.unique(blocks, return_inverse=True)
    order = np.argsort(members, kind="stable")
    ends = np.cumsum(np.bincount(members, minlength=len(ids)))
    starts = ends - np.bincount(members, minlength=len(ids))
    grouped = values[order]
    generator = np.random.default_rng(SEED)
    draws = np.empty(RESAMPLES)
    for n in range(RESAMPLES):
        chosen = generator.integers(0, len(ids), len(ids))
        sample = np.concatenate([grouped[starts[b] : ends[b]] for b in chosen])
        draws[n] = _statistic(sample, percent) if len(sample) else 0.0
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)
