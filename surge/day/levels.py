"""A capacity search's rate levels: the one run's day made of them, and the plan the search hands
the harness.

`surge capacity` drives one Locust run whose arrival rate moves between levels
(docs/capacity.md, "One run"). Its day is a profile whose phases are the levels: the searched
phase at one multiple each, back to back, the last one running to the run's bound until the
search ends the day. So a level is a span of the run folder as any phase is (its start, end and
rates in run.json's resolved profile), and everything that reads a run's day reads the levels
with nothing more: the schedule the generator replays and the census of its visits, the pool's
sizing, the report's planned load. The day runs at `TIME_SCALE`, a second of run a minute of the
day, so that a level, which starts on a whole second, starts its phase on a whole minute (the
profile's clock has minutes); it starts at midnight, so the longest run is `BOUND_S`.

The plan (`Plan`, a small JSON file the search rewrites) lists the multiples asked for, in order,
and whether the day should end. The harness reads it at each tick of its shape and starts each
new level (or ends the day) `LEAD_S` later on a whole second, then rewrites run.json: that is
how the search learns when the level started.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from surge.day.profile import CHANNELS, Profile, format_duration

TIME_SCALE = 60.0
BOUND_S = 1200.0
"""The longest a search's run may last, in run seconds (20 hours of its day): every load loop is
bounded in time."""
LEAD_S = 1.0
"""A level starts at least this long after the harness read it: the scheduler and, in a
distributed run, every worker have it before its first arrival is due."""


@dataclass(frozen=True)
class Plan:
    """What the search asks of the run: the levels' multiples in order (the first is the one
    the run starts with), and whether to end the day after the last."""

    multiples: tuple[float, ...]
    end: bool = False

    def write(self, path: Path) -> None:
        """Whole or not at all: the harness may read it at any moment."""
        temporary = path.with_name(f".{path.name}.tmp")
        data = {"multiples": list(self.multiples), "end": self.end}
        temporary.write_text(json.dumps(data) + "\n", encoding="utf-8")
        os.replace(temporary, path)

    @classmethod
    def read(cls, path: Path) -> Plan | None:
        """The plan at `path`; None when there is none (yet) or it is not one."""
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
            multiples = tuple(float(m) for m in data["multiples"])
            return cls(multiples, bool(data["end"]))
        except (OSError, ValueError, TypeError, KeyError):
            return None


def base(profile: Profile) -> None:
    """Refuse (ValueError, one line) a profile a search's run cannot be made of: one phase, at
    `TIME_SCALE`, starting the day at midnight, lasting the bound at most."""
    if len(profile.phases) != 1:
        raise ValueError(f"a capacity search's day has one phase, not {len(profile.phases)}")
    if profile.time_scale != TIME_SCALE or profile.day_start != "00:00":
        raise ValueError(
            f"a capacity search's day starts at 00:00 at time scale {TIME_SCALE:g}, not at "
            f"{profile.day_start} at {profile.time_scale:g}"
        )
    if profile.duration_s > BOUND_S:
        raise ValueError(
            f"a capacity search's day lasts at most {format_duration(BOUND_S)} of run, not "
            f"{format_duration(profile.duration_s)}"
        )


def day(phase: Profile, levels: Sequence[tuple[float, float]], end_s: float) -> Profile:
    """`phase` (the searched phase alone at rate scale 1, `base`) as the levels (multiple, start
    in run seconds, whole), each to the next one's start and the last to `end_s`."""
    base(phase)
    if not levels or levels[0][1] != 0:
        raise ValueError("the first level starts the day")
    data = phase.to_dict()
    only = data["phases"][0]
    ends = [start for _, start in levels[1:]] + [end_s]
    phases = []
    for number, ((multiple, start), end) in enumerate(zip(levels, ends, strict=True), 1):
        if start != math.floor(start) or not start < end <= BOUND_S:
            raise ValueError(f"level {number}: from {start:g} s to {end:g} s")
        rates = {c: only["arrivals_per_hour"][c] * multiple for c in CHANNELS}
        phases.append(
            {
                "name": name(number, multiple),
                "start": phase.wall_clock(start),
                "duration": end - start,
                "arrivals_per_hour": rates,
            }
        )
    data["phases"] = phases
    # The file's rates are what the phase wrote: a level's are raised by its multiple, which the
    # cap on arrivals a file may write allows for (`surge.day.profile.MAX_PER_HOUR`).
    data["rate_scale"] = max(multiple for multiple, _ in levels)
    return Profile.from_dict(data, source="the capacity search's levels")


def name(number: int, multiple: float) -> str:
    """A level's phase: its number and its multiple, `03-x4.5`."""
    return f"{number:02d}-x{multiple:.4g}"
