"""The run folder, `results/<UTC timestamp>-<profile>/`: everything a report needs, written once.

Reports read only this folder, so it holds the resolved profile (`run.json`), one row per request
(`requests.csv`), the visits' lateness (`lateness.json`, which rebuilds a `Lateness`), the basic
figures (`summary.json`), the target's lane gauges over the run (`metrics.csv`, see
`surge.scrape`) and whatever the target's admin API answered at the end. In a distributed run the
master alone writes it, from what the workers sent.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from surge.arrivals import Lateness
from surge.retry import RequestRecord

REQUEST_COLUMNS = RequestRecord._fields
_OUTCOME = REQUEST_COLUMNS.index("outcome")
LAG_PERCENTILES = (50, 95, 99)


@dataclass(frozen=True, slots=True)
class Limits:
    """How far behind its schedule a run may fall and still be evidence (shares of visits due)."""

    max_dropped_share: float = 0.05
    max_late_share: float = 0.10


def folder_name(started: float, profile: str) -> str:
    stamp = dt.datetime.fromtimestamp(started, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{profile}"


def create(root: Path, started: float, profile: str) -> Path:
    """A new, empty run folder under `root` (a suffix keeps two runs of one second apart)."""
    root.mkdir(parents=True, exist_ok=True)
    base = folder_name(started, profile)
    for n in range(1000):
        path = root / (base if n == 0 else f"{base}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"{root}: no free run folder name for {base}")


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_requests(path: Path, records: Iterable[Sequence[Any]]) -> None:
    """One row per request: `RequestRecord` fields, in their order."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(REQUEST_COLUMNS)
        writer.writerows(records)


def summary(
    records: Sequence[Sequence[Any]],
    lateness: Lateness,
    scheduled: Mapping[str, int],
    duration_s: float,
    limits: Limits,
) -> dict[str, Any]:
    """The basic figures of a run; `valid` says whether the generator kept to the schedule."""
    counts = lateness.counts()
    outcomes = Counter(record[_OUTCOME] for record in records)
    channels = {}
    for channel, due in sorted(scheduled.items()):
        mine = lateness.counts(channel)
        started = mine.on_time + mine.late
        channels[channel] = {
            "scheduled": due,
            "started": started,
            "late": mine.late,
            "dropped": mine.dropped,
            "scheduled_per_s": due / duration_s if duration_s else 0.0,
            "started_per_s": started / duration_s if duration_s else 0.0,
        }
    return {
        "requests": len(records),
        "failures": outcomes["failed"],
        "refusals": outcomes["refused"],
        "retries": outcomes["retried"],
        "visits": {
            "scheduled": sum(scheduled.values()),
            "started": counts.on_time + counts.late,
            "late": counts.late,
            "dropped": counts.dropped,
            "late_share": lateness.late_share,
            "dropped_share": lateness.dropped_share,
        },
        "start_lag_s": {f"p{p}": lateness.lag_percentile(p) for p in LAG_PERCENTILES},
        "channels": channels,
        "limits": {
            "max_dropped_share": limits.max_dropped_share,
            "max_late_share": limits.max_late_share,
        },
        "valid": lateness.valid(limits.max_dropped_share, limits.max_late_share),
    }
