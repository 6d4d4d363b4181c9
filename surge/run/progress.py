"""Progress of a rehearsal while it runs, read from its run folder as the harness writes it.

The harness streams its records into `requests.parquet/` every couple of seconds and names the
day's start in `run.json` once the target is prepared (docs/run-folder.md), so the rehearsal
process follows the run without talking to Locust: the phase, elapsed and remaining time of
the day, the arrival rate (visits a second whose first request was recorded), errors and late
visits so far. On a terminal it is one live line (rich); otherwise (a CI log) a plain line every
`PLAIN_EVERY_S`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.live import Live

from surge import runfolder
from surge.day.profile import Profile, format_duration
from surge.visit.wire import ERRORS

PLAIN_EVERY_S = 10.0
UPDATE_S = 1.0
"""The folder is looked at no more often than this: parts arrive every 2 s."""
LATE_AFTER_S = 0.5
"""A visit whose first request started this long after it was due is late (the harness's
default `--late-after`; the verdict counts lateness exactly at the end)."""
_COLUMNS = ["outcome", "start", "scheduled"]


class ProgressLine:
    """Call `update` every so often while the run goes, `close` once it ended."""

    def __init__(self, profile: Profile, folder: Path, out: IO[str] | None = None) -> None:
        self._profile = profile
        self._folder = folder
        self._console = Console(file=out or sys.stdout)
        self._live = Live(console=self._console, auto_refresh=False, transient=True)
        self._terminal = self._console.is_terminal
        self._tail = runfolder.RequestTail(folder, _COLUMNS)
        self._requests = self._errors = self._late = 0
        self._visits: set[float] = set()
        self._last_plain = self._last_update = 0.0
        if self._terminal:
            self._live.start()

    def update(self) -> None:
        if time.monotonic() - self._last_update < UPDATE_S:
            return
        self._last_update = time.monotonic()
        day_start = runfolder.day_start(self._folder)
        if day_start is None:
            return
        self._take_parts()
        line = self._line(time.time() - day_start)
        if self._terminal:
            self._live.update(line, refresh=True)
        elif time.monotonic() - self._last_plain >= PLAIN_EVERY_S:
            self._last_plain = time.monotonic()
            self._console.print(line, highlight=False, soft_wrap=True)

    def close(self) -> None:
        if self._terminal:
            self._live.stop()

    def _take_parts(self) -> None:
        table = self._tail.take()
        outcome = table.column("outcome").to_pylist()
        starts = table.column("start").to_pylist()
        scheduled = table.column("scheduled").to_pylist()
        self._requests += len(outcome)
        self._errors += sum(1 for o in outcome if o in ERRORS)
        firsts: dict[float, float] = {}
        for due, start in zip(scheduled, starts, strict=True):
            if due not in self._visits:
                firsts[due] = min(start, firsts.get(due, start))
        self._visits.update(firsts)
        self._late += sum(1 for due, start in firsts.items() if start - due > LATE_AFTER_S)

    def _line(self, elapsed: float) -> str:
        profile = self._profile
        shown = min(max(elapsed, 0.0), profile.duration_s)
        phase, ends = profile.phases[-1].name, 0.0
        for each in profile.phases:  # back to back from the day's start (the profile's rule)
            ends += each.duration
            if shown < ends:
                phase = each.name
                break
        rate = len(self._visits) / elapsed if elapsed > 0 else 0.0
        return (
            f"surge: {phase} {profile.wall_clock(shown)}, {format_duration(round(shown))} of "
            f"{format_duration(round(profile.duration_s))} "
            f"({format_duration(round(profile.duration_s - shown))} left): {rate:.1f} visits/s, "
            f"{self._requests} requests, {self._errors} errors, {self._late} late visits"
        )
