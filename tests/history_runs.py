"""Run folders for the history's tests: written by the run folder's own writer (`tests.runs`)
and reported by the report itself (`reports.report.conclude`), so each has the summary.json a
real run has, without running load."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from reports import report
from reports.levels import Judged
from surge import runfolder
from surge.day.profile import profiles_dir
from surge.history.entry import (
    CAPACITY_SEARCH,
    EMBEDDED,
    REHEARSAL,
    STEP_PROFILE,
    Capacity,
    Entry,
    Objective,
)
from surge.runfolder import LevelSpan, Status
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


def capacity_search(
    folder: Path,
    multiple: float | None,
    *,
    start: float = 1_000.0,
    interval: tuple[float, float | None] | None = None,
) -> Path:
    """A capacity search's folder as `surge capacity` leaves it (capacity.json, its level
    profile, its one run folder of levels), its answer `multiple` (None: below the range) in
    `interval` (the highest level that passed and the lowest that failed, multiples)."""
    runs.make(folder / runfolder.SEARCH_RUN, start=start)
    _profile(folder / runfolder.LEVEL_PROFILE)
    low, high = interval or (multiple, None)
    data = {
        **_search(multiple, start),
        "format_version": runfolder.SEARCH_FORMAT_VERSION,
        "level_s": 45.0,
        "run": runfolder.SEARCH_RUN,
        "levels": [_level(multiple or 1.0, "pass" if multiple else "fail")],
        "answer": None
        if multiple is None
        else {
            "multiple": multiple,
            "visits_per_s": {"kiosk": 1.0},
            "requests_per_s": 10.0 * multiple,
            "method": "bracket",
            "estimate": None,
            "sure": True,
            "interval": {
                "low": _end(low, "pass"),
                "high": None if high is None else _end(high, "fail"),
            },
        },
    }
    (folder / runfolder.CAPACITY).write_text(json.dumps(data), encoding="utf-8")
    return folder


def step_search(
    folder: Path,
    multiple: float,
    *,
    start: float = 1_000.0,
    interval: object = None,
    failed: float | None = None,
) -> Path:
    """A capacity search's folder from before one run of levels (capacity.json's format 1: a
    run folder per step, the step profile), its sustained `multiple`, `interval` written as
    its `interval` when given (a later format-1 capacity.json stated one), else the lowest
    `failed` multiple."""
    step = runs.make(folder / "steps" / "01-x1", start=start)
    _profile(folder / STEP_PROFILE)
    judged = {"requests_per_s": 10.0 * multiple, "p95_ms": 100.0, "why": "held"}
    data: dict[str, object] = {
        **_search(multiple, start),
        "format_version": 1,
        "step_s": 30.0,
        "warmup_s": 7.5,
        "steps": [
            {
                "multiple": multiple,
                "status": "pass",
                "unsure": False,
                "runs": [str(step.relative_to(folder))],
                "judged": judged,
            }
        ],
        "sustained": {
            "multiple": multiple,
            "visits_per_s": {"kiosk": 1.0},
            "requests_per_s": 10.0 * multiple,
        },
        "failed_multiple": failed,
    }
    if interval is not None:
        data["interval"] = interval
    (folder / runfolder.CAPACITY).write_text(json.dumps(data), encoding="utf-8")
    return folder


def _end(multiple: float | None, status: Status) -> dict[str, object]:
    """An end of the answer's interval: the level's multiple offered and asked, decided."""
    rate = 10.0 * (multiple or 0.0)
    return {
        "multiple": multiple,
        "asked": multiple,
        "requests_per_s": rate,
        "status": status,
        "sure": True,
    }


def _level(multiple: float, status: Status) -> dict[str, object]:
    """A level of the search's run as capacity.json holds it: its span and its judgement."""
    span = LevelSpan(number=1, multiple=multiple, start=0.0, settle_end=5.0, end=45.0)
    judged = Judged(
        multiple=multiple,
        status=status,
        sure=True,
        light=False,
        why="held" if status == "pass" else "counter.p95_ms over its budget",
        settle_end=5.0,
        judged_s=40.0,
        realized=multiple,
        offered_per_s={"kiosk": multiple},
        started_per_s={"kiosk": multiple},
        requests_per_s=10.0 * multiple,
        p95_ms=100.0,
        mean_ms=50.0,
        checks=[],
        broke=None if status == "pass" else "counter.p95_ms",
        late_share=0.0,
        generator_saturated=False,
        saturated_s=0.0,
    )
    return span.model_dump(mode="json") | judged.to_dict()


def _profile(path: Path) -> None:
    path.write_text((profiles_dir() / "weekday.toml").read_text(encoding="utf-8"), "utf-8")


def _search(multiple: float | None, start: float) -> dict[str, object]:
    """What capacity.json says of a search in either format."""
    return {
        "profile": "weekday",
        "phase": "lunch",
        "branches": 2,
        "host": None,
        "range": [1.0, 64.0],
        "precision": 0.05,
        "started": start,
        "load_s": 60.0,
        "ending": "bracketed" if multiple else "below_range",
        "broke_first": None,
        "lane": None,
        "sure": True,
        "interrupted": None,
    }


def entry(
    number: int,
    values: Sequence[float],
    *,
    metric: str = "p95_ms",
    counts: Sequence[tuple[int, int]] | None = None,
    capacity_answer: float | None = None,
    valid: bool = True,
) -> Entry:
    """A recorded rehearsal (or, with `capacity_answer`, a capacity search) without a folder:
    its objectives `o0.p95_ms`, `o1.p95_ms`, … with `values` (an error rate's with its
    `counts`, bad and requests), an hour after the entry numbered one less."""
    objectives = tuple(
        Objective(
            name=f"o{k}.{metric}",
            metric=metric,
            limit=1_000.0 if metric != "error_rate" else 0.05,
            budget=0.05,
            requests=counts[k][1] if counts else 3_000,
            bad=counts[k][0] if counts else 30,
            share=counts[k][0] / counts[k][1] if counts else 0.01,
            value=float(value),
            passed=True,
            held=True,
        )
        for k, value in enumerate(values)
    )
    search = capacity_answer is not None
    return Entry(
        uid=f"entry-{number}",
        kind=CAPACITY_SEARCH if search else REHEARSAL,
        profile="weekday",
        profile_hash="h",
        target=EMBEDDED,
        binding="surge.bindings.mock_core:MockCore",
        started=dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=number),
        valid=valid,
        exit_code=0,
        folder=f"/runs/{number}",
        report=None,
        objectives=() if search else objectives,
        capacity=Capacity(capacity_answer, capacity_answer, None, None) if search else None,
        id=number,
    )
