"""Run folders made in tests through the folder's own writer (`surge.runfolder`), as a run
would leave them, without running load."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from surge import runfolder
from surge.arrivals import Lateness
from surge.profile import CHANNELS, Profile, load_profile
from surge.retry import RequestRecord
from surge.runfolder import GeneratorSample, Limits, RequestLog, RunInfo, Visits

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


def sample(
    t: float,
    process: int = 0,
    *,
    cpu: float = 0.2,
    idle: float = 0.5,
    lag_max: float = 4.0,
    lag_mean: float = 1.0,
    interval: float = 1.0,
) -> GeneratorSample:
    """One process's sample of the generator's host, its interval ending `t` run seconds into
    the day; the defaults are a healthy default rehearsal's."""
    return GeneratorSample(DAY_START + t, process, interval, idle, cpu, lag_max, lag_mean)


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
