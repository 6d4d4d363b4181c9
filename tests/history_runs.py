"""Run folders for the history's tests: written by the run folder's own writer (`tests.runs`)
and reported by the report itself (`reports.report.conclude`), so each has the summary.json a
real run has, without running load."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reports import report
from tests import runs

REQUESTS = 3_000
"""Requests a run: enough for its p95 to wobble about 2% from run to run."""
MEDIAN_MS = 120.0


def timed_run(folder: Path, *, slower: float = 1.0, seed: int = 0, start: float = 1_000.0) -> Path:
    """A reported run folder of counter deposits whose response times are log-normal about
    `MEDIAN_MS` times `slower`, drawn with `seed`; the run began at `start` (epoch seconds)."""
    rng = np.random.default_rng(seed)
    durations = MEDIAN_MS * slower * np.exp(rng.normal(0.0, 0.3, REQUESTS)) / 1000.0
    at = runs.DAY_START + np.sort(rng.uniform(0.0, 18.0, REQUESTS))
    records = [
        (
            "counter",
            "cash_deposit",
            "deposit",
            "POST",
            "/v1/cash/deposits",
            201,
            "",
            0,
            "ok",
            float(t),
            float(t + d),
            float(t) - 0.001,
            f"C{n % 7:08d}",
            f"key-{seed}-{n}",
        )
        for n, (t, d) in enumerate(zip(at, durations, strict=True))
    ]
    runs.make(folder, records=records, start=start)
    report.conclude(folder, html=False)
    return folder
