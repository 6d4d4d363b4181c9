"""Run folders made in tests through the folder's own writer (`surge.runfolder`), as a run
would leave them, without running load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from surge import runfolder
from surge.arrivals import Lateness
from surge.profile import CHANNELS, Profile, load_profile
from surge.retry import RequestRecord
from surge.runfolder import Limits, RequestLog, RunInfo, Visits

DAY = load_profile("weekday").scaled(1440)


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
        "day_start": 1_001.0,
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
    **changes: Any,
) -> Path:
    """A run folder in `folder`: `records` in `parts` flushes, the visits `planned` (counter
    only unless given) against what `recorded` saw."""
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
    runfolder.write_run(folder, info(end=end, **changes), profile)
    return folder
