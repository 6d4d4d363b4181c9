"""The run over time, in windows of a few seconds scaled to its length (`frames.window_s`).

The harness's view: arrivals the profile planned against those the generator started, late and
dropped visits, requests by outcome and error kind, response-time percentiles, visits in flight.
The target's own view, where the run scraped its `/metrics` (`metrics.csv`): each lane's busy
slots against its slots, its queue and its refusals, and its latency quantiles from its own
histogram beside the harness's exact ones over the same stretches. The profile's phases and
fault windows go on every chart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reports import histogram
from reports.frames import ERROR_KINDS, Frames, percentiles, window_s
from surge.day.profile import CHANNELS, CRASH, Channel, Profile
from surge.runfolder import Crash, RunFolder
from surge.visit.wire import ERRORS

_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
LATENCY_METRIC = "mock_core_api_request_seconds"
"""The target's latency histogram of customer API requests (docs/capacity.md)."""


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of the day, in run seconds: a phase, or a fault while it is on."""

    name: str
    start: float
    end: float


@dataclass(frozen=True)
class Timeline:
    window_s: float
    arrivals: pd.DataFrame
    """Per window and channel: `planned` (the profile's rate over the window), `scheduled`,
    `started`, `late`, `dropped` (by scheduled time)."""
    requests: pd.DataFrame
    """Per window (by start time): `ok`, `refused`, `errors` and each error kind, the response
    `p50`, `p95`, `p99` (ms), the customers' `wait_p95` (s), and `in_flight` visits (the most)."""
    lanes: pd.DataFrame | None
    """Per scrape and lane: `slots`, `busy`, `queue`, `refused_per_s`; None without metrics."""
    server: pd.DataFrame | None
    """Per stretch between two kept histograms of the target: `start`, `end`, `requests`, the
    target's `server_p95_ms` and the harness's `harness_p95_ms` over the same stretch."""
    phases: list[Span]
    faults: list[Span]


def timeline(run: RunFolder, frames: Frames) -> Timeline:
    step = window_s(frames.duration_s)
    metrics = _metrics(run, frames.day_start)
    return Timeline(
        window_s=step,
        arrivals=_arrivals(run, step),
        requests=_requests(frames, step),
        lanes=_lanes(metrics),
        server=_server(metrics, frames),
        phases=phases(run.profile),
        faults=faults(run.profile, run.crashes, frames.day_start),
    )


def phases(profile: Profile) -> list[Span]:
    spans, start = [], 0.0
    for phase in profile.phases:
        spans.append(Span(phase.name, start, start + phase.duration))
        start += phase.duration
    return spans


def faults(profile: Profile, crashes: Sequence[Crash] = (), day_start: float = 0.0) -> list[Span]:
    """Each fault while it was on: as scheduled, except a crash, which is on from the kill until
    the core answered again (the end of the day if it never did), as incidents.json recorded
    it (`crashes`); a crash that was not done (no embedded core to kill) is no fault."""
    done = {crash.fault: crash for crash in crashes}
    spans = []
    for n, fault in enumerate(profile.faults):
        if fault.kind != CRASH:
            spans.append(Span(f"{fault.kind} {fault.target}", fault.at, fault.at + fault.duration))
        elif n in done:
            crash = done[n]
            back = profile.duration_s if crash.back_at is None else crash.back_at - day_start
            spans.append(Span(CRASH, crash.killed_at - day_start, back))
    return spans


def planned(profile: Profile, channel: Channel, start: float, end: float) -> float:
    """Visits the profile expects on `channel` from run time `start` to `end`."""
    return sum(
        segment.per_second * max(0.0, min(end, segment.end_s) - max(start, segment.start_s))
        for segment in profile.segments(channel)
    )


def _arrivals(run: RunFolder, step: float) -> pd.DataFrame:
    windows = max(1, math.ceil(run.profile.duration_s / step))
    rows = []
    for channel in CHANNELS:
        counts = np.zeros((windows, 3), dtype=np.int64)
        if run.lateness is not None:
            for bucket_start, seen in run.lateness.over_time(channel):
                counts[min(windows - 1, max(0, int(bucket_start // step)))] += seen
        for n in range(windows):
            on_time, late, dropped = (int(c) for c in counts[n])
            rows.append(
                {
                    "t": n * step,
                    "channel": channel,
                    "planned": planned(run.profile, channel, n * step, (n + 1) * step),
                    "scheduled": on_time + late + dropped,
                    "started": on_time + late,
                    "late": late,
                    "dropped": dropped,
                }
            )
    return pd.DataFrame(rows)


def _requests(frames: Frames, step: float) -> pd.DataFrame:
    requests = frames.requests
    window = np.floor(requests["t"].to_numpy() / step) * step
    outcome = requests["outcome"]
    counts = pd.DataFrame(
        {
            "t": window,
            "ok": outcome == "ok",
            "refused": outcome == "refused",
            "errors": outcome.isin(ERRORS),
            **{kind: requests["kind"] == kind for kind in ERROR_KINDS},
        }
    )
    out = counts.groupby("t").sum()
    spread = percentiles(requests["response_ms"], [pd.Series(window, name="t")], (50, 95, 99))
    for p in ("p50", "p95", "p99"):
        out[p] = spread[p]
    out["wait_p95"] = percentiles(requests["wait_s"], [pd.Series(window, name="t")], (95,))["p95"]
    out["in_flight"] = _in_flight(frames, step).reindex(out.index, fill_value=0)
    return out.reset_index()


def _in_flight(frames: Frames, step: float) -> pd.Series:
    """The most visits running at once in each window (first send to last answer)."""
    visits = frames.visits
    if visits.empty:
        return pd.Series(dtype=np.int64)
    times = np.concatenate([visits["start_t"].to_numpy(), visits["end_t"].to_numpy()])
    change = np.concatenate([np.ones(len(visits)), -np.ones(len(visits))])
    order = np.lexsort((change, times))  # an end before a start at the same instant
    running = np.cumsum(change[order])
    window = np.floor(times[order] / step) * step
    return pd.Series(running, index=window).groupby(level=0).max().astype(np.int64)


def _metrics(run: RunFolder, day_start: float) -> pd.DataFrame | None:
    table = run.metrics()
    if table is None or table.num_rows == 0:
        return None
    data = table.to_pandas()
    # Parsed once per distinct label set: a day's scrapes repeat the same few dozen.
    labels = data["labels"].fillna("").astype("category")
    parsed = {text: dict(_LABEL.findall(text)) for text in labels.cat.categories}
    data["lane"] = labels.map({text: d.get("lane", "") for text, d in parsed.items()})
    data["reason"] = labels.map({text: d.get("reason", "") for text, d in parsed.items()})
    data["le"] = labels.map(
        {text: float(d["le"]) if "le" in d else math.nan for text, d in parsed.items()}
    )
    data["t"] = data["time"] - day_start
    return data


def _lanes(metrics: pd.DataFrame | None) -> pd.DataFrame | None:
    if metrics is None:
        return None
    lanes = metrics[metrics["lane"] != ""]
    if lanes.empty:
        return None
    gauges = lanes.pivot_table(
        index=["t", "lane"], columns="metric", values="value", aggfunc="sum", observed=True
    )
    out = pd.DataFrame(index=gauges.index)
    for column, metric in (
        ("slots", "mock_core_lane_slots"),
        ("busy", "mock_core_lane_busy_slots"),
        ("queue", "mock_core_lane_queue_depth"),
    ):
        out[column] = gauges.get(metric, np.nan)
    refused = gauges.get("mock_core_lane_rejections_total")
    if refused is not None:
        per_lane = refused.unstack("lane").sort_index()
        rate = per_lane.diff().clip(lower=0).div(per_lane.index.to_series().diff(), axis=0)
        out["refused_per_s"] = rate.stack().reindex(out.index)
    else:
        out["refused_per_s"] = np.nan
    return out.reset_index()


def _server(metrics: pd.DataFrame | None, frames: Frames) -> pd.DataFrame | None:
    """The target's p95 between consecutive kept histograms, beside the harness's exact p95 of
    the requests answered in the same stretch."""
    if metrics is None:
        return None
    buckets = metrics[metrics["metric"] == f"{LATENCY_METRIC}_bucket"]
    if buckets.empty:
        return None
    cumulative = buckets.pivot_table(index="t", columns="le", values="value", aggfunc="sum")
    cumulative = cumulative.sort_index(axis=1)
    bounds = list(cumulative.columns)
    ends = (frames.requests["t"] + frames.requests["response_ms"] / 1000.0).to_numpy()
    by_end = np.argsort(ends, kind="stable")  # a stretch's requests are then one slice
    ends, response_ms = ends[by_end], frames.requests["response_ms"].to_numpy()[by_end]
    rows = []
    for (start, before), (end, after) in zip(
        cumulative.iloc[:-1].iterrows(), cumulative.iloc[1:].iterrows(), strict=True
    ):
        counts = (after - before).clip(lower=0).to_list()
        first, last = np.searchsorted(ends, (start, end), side="right")
        inside = pd.Series(response_ms[first:last])
        harness = percentiles(inside, ps=(95,))["p95"].iloc[0] if len(inside) else math.nan
        rows.append(
            {
                "start": start,
                "end": end,
                "requests": int(counts[-1]) if counts else 0,
                "server_p95_ms": histogram.quantile(0.95, bounds, counts) * 1000.0,
                "harness_p95_ms": harness,
            }
        )
    return pd.DataFrame(rows)
