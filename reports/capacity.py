"""What this run shows of the systems' capacity: where latency turns up with load (the upturn), the
load offered against the load carried per channel, the lanes that saturated and when, and the
headroom each lane kept in each phase ("the kiosk gateway ran at 62% of its slots at the lunch
peak"). The lane figures need the target's metrics (`metrics.csv`); the rest comes from the
harness's own records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reports.timeline import Span, Timeline
from surge.day.profile import CHANNELS

UPTURN_FACTOR = 2.0
"""The upturn: the load at which the windows' median p95 first exceeds this many times the p95
at the lightest load the run had. Where latency starts to grow with load, not the capacity: the
objectives may well hold beyond it (docs/report.md)."""
LOAD_BINS = 10
SATURATED = 0.9
"""A lane is saturated while at least this share of its slots is busy, or anything queues or is
refused."""


@dataclass(frozen=True, slots=True)
class Upturn:
    curve: pd.DataFrame
    """Per load bin: `per_s` (requests per second, the bin's median) and `p95` (ms, the median
    of its windows' p95)."""
    at_per_s: float | None
    """Requests per second where latency turned up; None when it did not."""
    baseline_p95_ms: float | None


@dataclass(frozen=True, slots=True)
class Carried:
    channel: str
    offered: float
    """Visits the profile offered over the day."""
    started: int
    dropped: int

    @property
    def share(self) -> float | None:
        return self.started / self.offered if self.offered else None


@dataclass(frozen=True, slots=True)
class LanePhase:
    lane: str
    phase: str
    slots: float
    mean_busy: float
    peak_busy: float

    @property
    def peak_share(self) -> float | None:
        return self.peak_busy / self.slots if self.slots else None


@dataclass(frozen=True, slots=True)
class Saturation:
    lane: str
    first_t: float
    """Run seconds of the first sample in which the lane was saturated."""
    samples: int
    """Samples (scrapes) in which it was."""
    refused_per_s_peak: float
    scrapes: int = 0
    """Samples of the lane in the run."""


@dataclass(frozen=True)
class Capacity:
    upturn: Upturn
    carried: list[Carried]
    lanes: list[LanePhase]
    """Every lane in every phase (empty without the target's metrics)."""
    saturated: list[Saturation]

    def busiest(self) -> LanePhase | None:
        """The lane and phase with the highest peak share of slots busy."""
        known = [lane for lane in self.lanes if lane.peak_share is not None]
        return max(known, key=lambda lane: lane.peak_share or 0.0, default=None)


def capacity(timeline: Timeline) -> Capacity:
    return Capacity(
        upturn=upturn(timeline),
        carried=_carried(timeline),
        lanes=_lane_phases(timeline),
        saturated=_saturated(timeline),
    )


def upturn(timeline: Timeline) -> Upturn:
    windows = timeline.requests.dropna(subset=["p95"])
    per_s = (windows["ok"] + windows["refused"] + windows["errors"]) / timeline.window_s
    if len(windows) < 3 or per_s.max() <= 0:
        return Upturn(pd.DataFrame({"per_s": [], "p95": []}), None, None)
    bins = pd.qcut(per_s.rank(method="first"), min(LOAD_BINS, len(windows)), labels=False)
    curve = (
        pd.DataFrame({"per_s": per_s, "p95": windows["p95"], "bin": bins})
        .groupby("bin")
        .median()
        .sort_values("per_s")
        .reset_index(drop=True)
    )
    baseline = float(curve["p95"].iloc[0])
    above = curve[curve["p95"] > UPTURN_FACTOR * baseline]
    at = float(above["per_s"].iloc[0]) if len(above) else None
    return Upturn(curve, at, baseline)


def _carried(timeline: Timeline) -> list[Carried]:
    arrivals = timeline.arrivals.groupby("channel").sum(numeric_only=True)
    return [
        Carried(
            channel,
            float(arrivals.at[channel, "planned"]),
            int(arrivals.at[channel, "started"]),
            int(arrivals.at[channel, "dropped"]),
        )
        for channel in CHANNELS
        if channel in arrivals.index and arrivals.at[channel, "planned"] > 0
    ]


def _phase_of(t: np.ndarray, phases: list[Span]) -> np.ndarray:
    names = np.full(len(t), "", dtype=object)
    for phase in phases:
        names[(t >= phase.start) & (t < phase.end)] = phase.name
    return names


def _lane_phases(timeline: Timeline) -> list[LanePhase]:
    lanes = timeline.lanes
    if lanes is None:
        return []
    inside = lanes.assign(phase=_phase_of(lanes["t"].to_numpy(), timeline.phases))
    inside = inside[inside["phase"] != ""]
    order = {phase.name: n for n, phase in enumerate(timeline.phases)}
    rows = inside.groupby(["lane", "phase"]).agg(
        slots=("slots", "max"), mean_busy=("busy", "mean"), peak_busy=("busy", "max")
    )
    found = [
        LanePhase(lane, phase, float(r.slots), float(r.mean_busy), float(r.peak_busy))
        for (lane, phase), r in rows.iterrows()
    ]
    return sorted(found, key=lambda lane: (lane.lane, order.get(lane.phase, 0)))


def _saturated(timeline: Timeline) -> list[Saturation]:
    lanes = timeline.lanes
    if lanes is None:
        return []
    lanes = lanes[lanes["t"] >= 0]
    hot = lanes[
        (lanes["busy"] >= SATURATED * lanes["slots"])
        | (lanes["queue"] > 0)
        | (lanes["refused_per_s"].fillna(0) > 0)
    ]
    found = []
    scrapes = lanes.groupby("lane").size()
    for lane, samples in hot.groupby("lane"):
        peak = samples["refused_per_s"].max()
        found.append(
            Saturation(
                str(lane),
                float(samples["t"].min()),
                len(samples),
                0.0 if np.isnan(peak) else float(peak),
                int(scrapes[lane]),
            )
        )
    return sorted(found, key=lambda s: s.first_t)
