"""Run folders made in tests through the folder's own writer (`surge.runfolder`), as a run
would leave them, without running load."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reports.frames import Frames
from surge import runfolder
from surge.day.arrivals import Lateness
from surge.day.profile import CHANNELS, Profile, load_profile
from surge.runfolder import GeneratorSample, Limits, RequestLog, RunInfo, Visits
from surge.visit.wire import RequestRecord

DAY = load_profile("weekday").scaled(1440)
DAY_START = 1_001.0
"""`info()`'s day_start: the day's first second, epoch seconds."""


def info(**changes: Any) -> RunInfo:
    values: dict[str, Any] = {
        "format_version": runfolder.FORMAT_VERSION,
        "profile": DAY.name,
        "seed": DAY.seed,
        "host": "http://127.0.0.1:8600",
        "time_scale": 1440.0,
        "rate_scale": 1.0,
        "versions": {"locust": "2.47.0", "branch-surge": "0.1.0"},
        "start": 1_000.0,
        "day_start": DAY_START,
        "end": 1_021.0,
        "command_line": ["locust", "-f", "loadtests", "--admin-token", "***"],
        "workers": 1,
        "max_users": 500,
        "customers": 20,
        "options": {"time_scale": 1440.0},
        "limits": Limits(),
    }
    return RunInfo(**(values | changes))


def record(n: int, *, channel: str = "counter", outcome: str = "ok", status: int = 201) -> tuple:
    start = 1_001.0 + n * 0.01
    return tuple(
        RequestRecord(
            channel,
            "cash_deposit",
            "deposit",
            "POST",
            "/v1/cash/deposits",
            status,
            "" if outcome == "ok" else f"{status} Failed",
            0,
            outcome,  # type: ignore[arg-type]
            start,
            start + 0.02,
            start - 0.001,
            f"C{n % 7:08d}",
            f"key-{n}",
        )
    )


def request(t: float, response_s: float, **fields: Any) -> tuple:
    """A counter deposit sent at run time `t`, answered after `response_s`."""
    values = {
        "channel": "counter",
        "journey": "cash_deposit",
        "step": "deposit",
        "method": "POST",
        "name": "/v1/cash/deposits",
        "status": 201,
        "error": "",
        "retries": 0,
        "outcome": "ok",
        "start": DAY_START + t,
        "end": DAY_START + t + response_s,
        "scheduled": DAY_START + t,
        "customer": "C00000001",
        "key": f"k{t}",
    } | fields
    return tuple(RequestRecord(**values))


def slow_between(start: float, end: float) -> list[tuple]:
    """100 requests a second for the whole 20 s day: 10 ms, but 900 ms from `start` to `end`."""
    return [request(n / 100, 0.9 if start <= n / 100 < end else 0.01) for n in range(0, 2000)]


def sample(
    t: float,
    process: int = 0,
    *,
    cpu: float = 0.2,
    idle: float = 0.5,
    lag_max: float = 4.0,
    lag_mean: float = 1.0,
    interval: float = 1.0,
    cpu_wait: float = 0.02,
) -> GeneratorSample:
    """One process's sample of the generator's host, its interval ending `t` run seconds into
    the day; the defaults are a healthy default rehearsal's on an idle host."""
    return GeneratorSample(DAY_START + t, process, interval, idle, cpu, lag_max, lag_mean, cpu_wait)


def host_day(
    processes: int = 1,
    seconds: int = 20,
    changed: Mapping[tuple[int, int], Mapping[str, float]] | None = None,
) -> list[GeneratorSample]:
    """A sample a second for each process over a day of `seconds`, from a second before it
    (the preparation) to one after (the drain of its last visits); the second ending at `t` of `process` takes
    `changed[t, process]`'s figures (`sample`'s keywords)."""
    changed = changed or {}
    return [
        sample(float(t), process, **changed.get((t, process), {}))
        for process in range(processes)
        for t in range(0, seconds + 2)
    ]


def lateness(on_time: int, late: int = 0, dropped: int = 0, channel: str = "counter") -> Lateness:
    kept = Lateness()
    for n in range(on_time):
        kept.record(channel, float(n), n + 0.01)
    for n in range(late):
        kept.record(channel, float(n), n + 1.0)
    for n in range(dropped):
        kept.record(channel, float(n), n + 11.0)
    return kept


def make(
    folder: Path,
    *,
    records: list[tuple] | None = None,
    parts: int = 1,
    planned: dict[str, int] | None = None,
    recorded: Lateness | None = None,
    run: dict[str, int] | None = None,
    profile: Profile = DAY,
    ended: bool = True,
    generator: list[GeneratorSample] | None = None,
    **changes: Any,
) -> Path:
    """A run folder in `folder`: `records` in `parts` flushes, the visits `planned` (counter
    only unless given) against what `recorded` saw, and the `generator`'s host samples (none:
    a folder from before the harness watched it)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = records if records is not None else [record(n) for n in range(10)]
    kept = recorded if recorded is not None else lateness(len(rows))
    end = changes.pop("end", 1_021.0) if ended else None
    runfolder.write_run(folder, info(end=None, **changes), profile)
    log = RequestLog(folder)
    size = max(1, -(-len(rows) // parts))
    for start in range(0, len(rows), size):
        log.extend(rows[start : start + size])
        log.flush()
    if not ended:
        return folder
    by_channel = planned or {"counter": kept.counts().total}
    census = {0: {channel: by_channel.get(channel, 0) for channel in CHANNELS}}
    outcomes = run or {"ok": kept.counts().on_time + kept.counts().late}
    visits = Visits.account(census, {0: kept}, run=outcomes, requests={0: log.written})
    runfolder.write_lateness(folder, kept)
    runfolder.write_visits(folder, visits)
    runfolder.write_expected_alerts(folder, [])
    if generator is not None:
        runfolder.write_generator(folder, generator)
    runfolder.write_run(folder, info(end=end, **changes), profile)
    return folder


PAYDAY = load_profile("payday").scaled(480)
"""The default rehearsal's day: payday's eight hours in 60 s."""
CHANNEL_SHARES = {"counter": 0.39, "kiosk": 0.42, "online": 0.19}
"""Of the default payday rehearsal's requests (its logins included)."""


@dataclass(frozen=True)
class Burst:
    """A stretch of the day (run seconds) in which a share of one channel's requests are slow
    (beyond every latency objective covering them), as when its lane saturates."""

    channel: str
    start: float
    end: float
    slow: float


def steady_day(
    seed: int,
    *,
    profile: Profile = PAYDAY,
    per_s: float = 400.0,
    share_of_budget: float = 0.8,
    burst: Burst | None = None,
) -> Frames:
    """A stationary day of independent requests, Poisson in time at `per_s`: each objective of
    the profile covering a request spends `share_of_budget` of its budget (a request beyond the
    tightest p95 limit covering it with probability 0.05 times that, …), plus `burst`."""
    rng = np.random.default_rng(seed)
    slow95, slow99 = 0.05 * share_of_budget, 0.01 * share_of_budget
    names: list[tuple[str, str]] = []
    parts: list[dict[str, np.ndarray]] = []
    for channel, channel_share in CHANNEL_SHARES.items():
        for journey, share in getattr(profile.mix, channel).shares().items():
            n = int(rng.poisson(per_s * profile.duration_s * channel_share * share))
            if not n:
                continue
            limit = _tightest(profile, channel, journey)
            t = rng.uniform(0.0, profile.duration_s, n)
            u = rng.random(n)
            response = np.where(
                u < slow99,
                limit["p99_ms"] * 1.5,
                np.where(
                    u < slow95,
                    (limit["p95_ms"] + limit["p99_ms"]) / 2,
                    limit["p95_ms"] * rng.uniform(0.05, 0.9, n),
                ),
            )
            if burst is not None and channel == burst.channel:
                hit = (t >= burst.start) & (t < burst.end) & (rng.random(n) < burst.slow)
                response = np.where(hit, limit["p99_ms"] * 2, response)
            late = rng.random(n) < 0.05 * share_of_budget
            parts.append(
                {
                    "pair": np.full(n, len(names)),
                    "t": t,
                    "error": rng.random(n) < limit["error_rate"] * share_of_budget,
                    "response_ms": response,
                    "wait_s": limit["wait_s"] * np.where(late, 1.5, rng.uniform(0.0, 0.9, n)),
                }
            )
            names.append((channel, journey))
    day = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    channels = pd.Categorical([c for c, _ in names])
    journeys = pd.Categorical([j for _, j in names])
    requests = pd.DataFrame(
        {
            "channel": pd.Categorical.from_codes(channels.codes[day["pair"]], channels.categories),
            "journey": pd.Categorical.from_codes(journeys.codes[day["pair"]], journeys.categories),
            "t": day["t"],
            "outcome": pd.Categorical.from_codes(day["error"].astype(np.int8), ["ok", "retried"]),
            "response_ms": day["response_ms"],
            "wait_s": day["wait_s"],
        }
    )
    return Frames(requests, pd.DataFrame(), 0.0, profile.duration_s)


def write_day(folder: Path, day: Frames, profile: Profile) -> Path:
    """`day` (from `steady_day`) as a run folder of `profile` in `folder`, through its writer:
    failed requests as 503s, their times on the day that began at `DAY_START`."""
    start = DAY_START
    rows = [
        tuple(
            RequestRecord(
                str(r.channel),
                str(r.journey),
                "step",
                "GET",
                "/v1/route",
                200 if r.outcome == "ok" else 503,
                "" if r.outcome == "ok" else "503 Service Unavailable",
                0,
                str(r.outcome),
                start + r.t,
                start + r.t + r.response_ms / 1000,
                start + r.t + r.response_ms / 1000 - r.wait_s,
                "C00000001",
                "",
            )
        )
        for r in day.requests.itertuples()
    ]
    return make(folder, records=rows, profile=profile, day_start=start)


def _tightest(profile: Profile, channel: str, journey: str) -> dict[str, float]:
    """The tightest limit of each metric over the objectives covering a request of `journey` on
    `channel` (its channel's and its operation's); generous where none does."""
    covering = [getattr(profile.slo, channel), profile.slo.operations.get(journey)]
    found = {"p95_ms": 1e9, "p99_ms": 1e9, "error_rate": 1.0, "wait_s": 1e9}
    for slo in covering:
        if slo is None:
            continue
        for metric, key in (
            ("p95_ms", "p95_ms"),
            ("p99_ms", "p99_ms"),
            ("error_rate", "error_rate"),
        ):
            value = getattr(slo, metric)
            if value is not None:
                found[key] = min(found[key], value)
        wait = getattr(slo, "customer_wait_p95_s", None)
        if wait is not None:
            found["wait_s"] = min(found["wait_s"], wait)
    found["p99_ms"] = max(found["p99_ms"], found["p95_ms"])
    return found
