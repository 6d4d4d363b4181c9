"""A rehearsal's progress, read from its run folder while the harness writes it: nothing before
the day starts, then the phase, the time left, visits, errors and late visits; plain lines,
not a live one, when the output is not a terminal (a CI log)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from reports.timeline import phases
from surge.run import progress
from surge.run.progress import ProgressLine
from tests.runs import DAY, make, record


def test_progress_waits_for_the_day_then_names_phase_visits_errors_and_late_visits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [record(n) for n in range(8)] + [record(8, outcome="failed", status=503)]
    late = list(record(9))
    late[11] = late[9] - 2.0  # due two seconds before it started
    folder = make(tmp_path / "run", records=[*rows, tuple(late)], ended=False, day_start=None)
    out = io.StringIO()
    shown = ProgressLine(DAY, folder, out)
    shown.update()
    assert out.getvalue() == ""  # the day has not started: nothing to say
    make(tmp_path / "run2", records=[*rows, tuple(late)], ended=False)
    monkeypatch.setattr(progress.time, "time", lambda: 1_001.0 + DAY.duration_s / 2)
    shown = ProgressLine(DAY, tmp_path / "run2", out)
    shown.update()
    shown.close()
    [line] = out.getvalue().splitlines()
    midday = next(span.name for span in phases(DAY) if span.start <= DAY.duration_s / 2 < span.end)
    assert line.startswith(f"surge: {midday} ")
    assert "10 requests, 1 errors, 1 late visits" in line
    assert "left" in line
