"""The profile's service-level objectives, judged over the whole run and over sliding windows.

A breach of a few minutes of the day must not hide inside a passing average, so every objective
is also judged in windows of `WINDOW_DAY_S` of the rehearsed day (15 minutes: on a day compressed
X times, 900 / X run seconds, but never under `MIN_WINDOW_S`), sliding by a quarter of that. A
window with too few of an objective's requests is not judged for it (`least`: a p99 of twenty
requests is their maximum, and says nothing). Each objective gives its whole-run value, the
first window that breached it, and the worst window; after each fault, its recovery: the time
from the fault's end (a crash's: the core answering again) to the start of the first window,
starting then or later, in which every objective held (an objective is held in a window too
thin to judge it), which the profile's `[slo] recovery_s` may bound.

When it does, that bound is the objective of each incident's stretch: a window that overlaps a
fault or the `recovery_s` after its end is not counted as a breach (`Judgement.excused` counts
those), since the drill expects the objectives to break while the fault lasts and asks only that
they hold again in time. Without the bound every window counts. The whole-run value counts every
request either way.

Definitions (profiles/README.md): `p95_ms`, `p99_ms` are response-time percentiles of every
request attempt of the channel (or of the operation, on whatever channel); `error_rate` is the
share of attempts the system got wrong (retried or failed, `frames.ERRORS`); a channel's
`customer_wait_p95_s` is the p95 of request end minus the visit's scheduled start.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reports.frames import ERRORS, Frames, percentiles, rank
from reports.timeline import Span, faults
from surge.profile import CHANNELS, Profile

WINDOW_DAY_S = 900.0
"""A sliding window is this much of the rehearsed day (15 minutes, as SLO dashboards use)."""
MIN_WINDOW_S = 2.0
"""…and never shorter than this in run seconds, so that a window holds enough requests."""
SLIDES = 4
"""Windows start every window / SLIDES seconds."""
MIN_REQUESTS = 20
"""Fewest requests a window needs to be judged for an error rate."""
TAIL = 5
"""…and for a percentile p, enough that `TAIL` requests lie above it: 100 for a p95, 500 for a
p99, so that a window's percentile is not merely its slowest request."""
_METRICS = {  # metric: (the requests' column, its percentile; None for the error rate)
    "p95_ms": ("response_ms", 95.0),
    "p99_ms": ("response_ms", 99.0),
    "customer_wait_p95_s": ("wait_s", 95.0),
    "error_rate": ("", None),
}


@dataclass(frozen=True, slots=True)
class Objective:
    scope: str
    """`channel` or `operation`."""
    key: str
    """The channel's or the operation's name."""
    metric: str
    """`p95_ms`, `p99_ms`, `customer_wait_p95_s` or `error_rate`."""
    limit: float

    @property
    def name(self) -> str:
        return f"{self.key}.{self.metric}"


@dataclass(frozen=True, slots=True)
class Judgement:
    objective: Objective
    value: float | None
    """Over the whole run; None when the run sent none of its requests."""
    requests: int
    passed: bool | None
    windows: int
    """Windows judged."""
    breached: int
    """Windows that breached it, outside the incidents' stretches."""
    first_breach: float | None
    """Start (run seconds) of the first window that breached it."""
    worst: float | None
    worst_at: float | None
    excused: int = 0
    """Windows that breached it within an incident's stretch, judged by the recovery bound."""

    @property
    def held(self) -> bool:
        """Over the whole run and in every window judged."""
        return self.passed is not False and self.breached == 0


@dataclass(frozen=True, slots=True)
class Recovery:
    fault: Span
    after_s: float | None
    """Run seconds from the fault's end until every objective held again in a window (0: at
    once); None when they had not by the day's end."""
    bound_s: float | None = None
    """The profile's `recovery_s` (run seconds); None when it sets none."""

    @property
    def passed(self) -> bool | None:
        """Within the bound; None without one."""
        if self.bound_s is None:
            return None
        return self.after_s is not None and self.after_s <= self.bound_s + 1e-9


@dataclass(frozen=True)
class Slos:
    window_s: float
    step_s: float
    judgements: list[Judgement]
    recoveries: list[Recovery]
    windows: pd.DataFrame
    """Per window start `t`: each objective's value (columns by `Objective.name`, NaN where not
    judged) and `held` (no objective breached there)."""

    @property
    def held(self) -> bool:
        return all(j.held for j in self.judgements)


def objectives(profile: Profile) -> list[Objective]:
    found = []
    for channel in CHANNELS:
        slo = getattr(profile.slo, channel)
        if slo is not None:
            found += _of("channel", channel, slo.model_dump())
    for operation, slo in profile.slo.operations.items():
        found += _of("operation", operation, slo.model_dump())
    return found


def _of(scope: str, key: str, limits: dict[str, float | None]) -> list[Objective]:
    return [
        Objective(scope, key, metric, float(limit))
        for metric, limit in limits.items()
        if limit is not None and metric in _METRICS
    ]


def window(profile: Profile) -> tuple[float, float]:
    """(length, step) of the sliding windows in run seconds, for a day scaled as `profile`."""
    length = max(WINDOW_DAY_S / profile.time_scale, MIN_WINDOW_S)
    length = min(length, max(profile.duration_s, MIN_WINDOW_S))
    return length, length / SLIDES


def judge(frames: Frames, profile: Profile, fault_spans: Sequence[Span] | None = None) -> Slos:
    """The objectives of `profile`, and the recovery after each of `fault_spans` (the faults as
    they happened, `timeline.faults`; as scheduled when not given)."""
    length, step = window(profile)
    columns = ["channel", "journey", "t", "outcome", "response_ms", "wait_s"]
    requests = frames.requests[columns].sort_values("t", kind="stable")  # for `_windows`
    starts = np.arange(0.0, max(frames.duration_s - length, 0.0) + step / 2, step)
    series = pd.DataFrame(index=pd.Index(starts, name="t"))
    spans = faults(profile) if fault_spans is None else fault_spans
    incident = _incidents(starts, length, spans, profile.slo.recovery_s)
    judgements = []
    for objective in objectives(profile):
        column = "channel" if objective.scope == "channel" else "journey"
        mine = requests[requests[column] == objective.key]
        value = _value(mine, objective.metric)
        per_window = _windows(mine, objective.metric, starts, length, step)
        series[objective.name] = per_window
        over_limit = per_window > objective.limit
        breached = per_window[over_limit & ~incident]
        judged = per_window.dropna()
        judgements.append(
            Judgement(
                objective=objective,
                value=value,
                requests=len(mine),
                passed=None if value is None else value <= objective.limit,
                windows=len(judged),
                breached=len(breached),
                first_breach=float(breached.index[0]) if len(breached) else None,
                worst=float(judged.max()) if len(judged) else None,
                worst_at=float(judged.idxmax()) if len(judged) else None,
                excused=int((over_limit & incident).sum()),
            )
        )
    limits = {j.objective.name: j.objective.limit for j in judgements}
    over = pd.DataFrame({name: series[name] > limit for name, limit in limits.items()})
    series["held"] = ~over.any(axis=1) if limits else True
    recoveries = [_recovery(fault, series["held"], profile.slo.recovery_s) for fault in spans]
    return Slos(length, step, judgements, recoveries, series.reset_index())


def _incidents(
    starts: np.ndarray, length: float, spans: Sequence[Span], bound_s: float | None
) -> np.ndarray:
    """Per window start, whether the window overlaps a fault or the recovery bound after it;
    all False when the profile bounds no recovery."""
    inside = np.zeros(len(starts), dtype=bool)
    if bound_s is None:
        return inside
    for span in spans:
        inside |= (starts < span.end + bound_s) & (starts + length > span.start)
    return inside


def _value(requests: pd.DataFrame, metric: str) -> float | None:
    if requests.empty:
        return None
    column, percent = _METRICS[metric]
    if percent is None:
        return float(requests["outcome"].isin(ERRORS).mean())
    return float(percentiles(requests[column], ps=(percent,)).iloc[0, 0])


def _windows(
    requests: pd.DataFrame, metric: str, starts: np.ndarray, length: float, step: float
) -> pd.Series:
    """The metric in each window beginning at `starts` (NaN where too few requests), of
    `requests` sorted by `t`: a window's requests are one stretch of them (from its first step
    to `length` after its start), so each request counts in every window that holds it without
    being copied into each."""
    t = requests["t"].to_numpy()
    slot = np.floor(t / step).astype(np.int64)
    copies = math.ceil(length / step)
    windows = np.arange(len(starts))
    low = np.searchsorted(slot, windows)
    high = np.minimum(np.searchsorted(t, starts + length), np.searchsorted(slot, windows + copies))
    high = np.maximum(high, low)
    counts = high - low
    column, percent = _METRICS[metric]
    if percent is None:
        wrong = np.r_[0, np.cumsum(requests["outcome"].isin(ERRORS).to_numpy())]
        values = (wrong[high] - wrong[low]) / np.maximum(counts, 1)
    else:
        measured = requests[column].to_numpy()
        values = np.full(len(starts), np.nan)
        for n in np.flatnonzero(counts >= least(metric)):
            inside = measured[low[n] : high[n]]
            inside = inside[np.isfinite(inside)]
            if len(inside):
                at = rank(len(inside), percent)
                values[n] = np.partition(inside, at)[at]
    values = np.where(counts >= least(metric), values, np.nan)
    return pd.Series(values, index=pd.Index(starts, name="t"))


def least(metric: str) -> int:
    """Fewest requests a window needs to be judged for `metric`."""
    _, percent = _METRICS[metric]
    if percent is None:
        return MIN_REQUESTS
    return max(MIN_REQUESTS, math.ceil(TAIL / (1 - percent / 100) - 1e-9))


def _recovery(fault: Span, held: pd.Series, bound_s: float | None) -> Recovery:
    """From the fault's end to the start of the first window, beginning then or later, in which
    every objective held."""
    after = held[held.index >= fault.end - 1e-9]
    clean = after[after]
    after_s = None if clean.empty else max(0.0, float(clean.index[0]) - fault.end)
    return Recovery(fault, after_s, bound_s)
