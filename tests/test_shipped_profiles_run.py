"""Every shipped profile runs headless end to end: `locust -f loadtests --profile NAME`.

Each run replays the shipped file itself. Its eight-hour day is compressed to about `DAY_S`
seconds (`--time-scale`); the time scale keeps rates per hour, so a day compressed that far would
be under one visit per channel, and `--rate-scale` raises every rate by one factor, chosen so the
profile's quietest channel expects `QUIETEST_VISITS` visits. Everything else (the curve's shape,
mixes, customers, faults, SLOs) is the shipped file's.

The five runs go three at a time (each mostly waits on its day), each against its own mock
core: `--unlimited`, except for `emergency_drill`, whose lane faults act only on real lanes. Every
run has the admin token, so scheduled faults are posted and reconcile and alerts are fetched.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from surge import runfolder
from surge.day.profile import CHANNELS, list_profiles, load_profile
from surge.judge import verdict
from surge.runfolder import RunFolder
from tests.load import unstarved
from tests.support import TOKENS, serve

ROOT = Path(__file__).resolve().parent.parent
DAY_S = 10.0
QUIETEST_VISITS = 15
CUSTOMERS = "20"
REAL_LANES = {"emergency_drill"}
"""Profiles whose faults need the lanes: `--unlimited` skips lanes, so lane_down would not act."""


def expected_visits(name: str) -> dict[str, float]:
    """Visits per channel the shipped day expects (per hour rates times hours, all branches)."""
    profile = load_profile(name)
    return {
        channel: sum(s.per_second * (s.end_s - s.start_s) for s in profile.segments(channel))
        for channel in CHANNELS
    }


def scales(name: str) -> tuple[float, float]:
    """The time scale that makes the day `DAY_S`, and the rate scale that gives it its visits."""
    time_scale = load_profile(name).duration_s / DAY_S
    quietest = min(v for v in expected_visits(name).values() if v > 0)
    return time_scale, time_scale * QUIETEST_VISITS / quietest


@dataclass(frozen=True)
class Run:
    name: str
    done: subprocess.CompletedProcess[str]
    folders: list[Path]
    faults: list[dict[str, Any]]
    """What the mock core lists at `GET /admin/faults` after the run."""


def run_profile(name: str, tmp: Path) -> Run:
    """The profile's short run, tried once more if its own verdict says it was starved
    (`tests.load.unstarved`): three run at a time beside the suite's other modules."""
    time_scale, rate_scale = scales(name)
    lanes = () if name in REAL_LANES else ("--unlimited",)

    def attempt(n: int) -> Run:
        here = tmp / f"try{n}"
        here.mkdir()
        with serve(here / "core.db", *lanes, "--customers", CUSTOMERS) as (host, _):
            done = subprocess.run(
                [
                    *(sys.executable, "-m", "locust", "-f", "loadtests", "--headless"),
                    *("--no-report", "--host", host, "--profile", name, "--customers", CUSTOMERS),
                    *("--time-scale", f"{time_scale:g}", "--rate-scale", f"{rate_scale:g}"),
                    *("--results", str(here / "results"), "--admin-token", TOKENS["admin"]),
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=80,
                check=False,
            )
            admin = {"Authorization": f"Bearer {TOKENS['admin']}"}
            faults = httpx.get(f"{host}/admin/faults", headers=admin, timeout=10).json()
        results = here / "results"
        folders = list(results.iterdir()) if results.exists() else []
        return Run(name, done, folders, faults)

    return unstarved(attempt, lambda run: (run.done.returncode, run.done.stdout + run.done.stderr))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    # The folders are made here: `mktemp` from the pool's threads raced to make the worker's
    # base folder when this was the worker's first module (FileExistsError).
    folders = {name: tmp_path_factory.mktemp(name) for name in list_profiles()}
    with ThreadPoolExecutor(max_workers=3) as pool:
        done = pool.map(lambda name: run_profile(name, folders[name]), folders)
        return {run.name: run for run in done}


def read(run: Run) -> RunFolder:
    assert len(run.folders) == 1, run.folders
    return runfolder.load(run.folders[0])


def requests(run: Run) -> list[dict[str, Any]]:
    return read(run).requests().to_pylist()


def test_the_shipped_profiles_are_the_five_branch_days() -> None:
    assert list_profiles() == [
        "emergency_drill",
        "new_product_launch",
        "payday",
        "post_holiday",
        "weekday",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("name", list_profiles())
def test_a_short_run_of_each_shipped_profile_is_valid_evidence(
    runs: dict[str, Run], name: str
) -> None:
    run = runs[name]
    assert run.done.returncode == 0, run.done.stdout[-2000:] + run.done.stderr[-3000:]
    folder = read(run)
    assert folder.path.name.endswith(f"-{name}")
    assert verdict.judge(folder).valid
    assert folder.visits is not None
    assert folder.visits.total.dropped == 0
    assert folder.info.profile == name
    time_scale, rate_scale = scales(name)
    assert folder.profile.time_scale == pytest.approx(time_scale, rel=1e-5)
    assert folder.profile.rate_scale == folder.info.rate_scale
    assert folder.info.rate_scale == pytest.approx(rate_scale, rel=1e-5)
    assert folder.reconcile is not None
    assert folder.reconcile["ok"] is True
    assert isinstance(folder.alerts, list)


@pytest.mark.slow
@pytest.mark.parametrize("name", list_profiles())
def test_every_channel_the_profile_uses_makes_requests(runs: dict[str, Run], name: str) -> None:
    records = requests(runs[name])
    used = {channel for channel, visits in expected_visits(name).items() if visits > 0}
    assert {r["channel"] for r in records} == used


POST_ANSWERED_S = 1.0
"""A bound on how long the core takes to take in a fault's `POST /admin/faults` on the suite's two
busy cores (one took 115 ms in CI): the harness says when the fault begins relative to when it
sends the post, and the core counts from when it reads it."""


@pytest.mark.slow
@pytest.mark.parametrize("name", list_profiles())
def test_the_profile_s_faults_begin_at_their_time_of_the_scaled_day_and_are_over_by_the_end(
    runs: dict[str, Run], name: str
) -> None:
    """Each fault begins on the core `at` after the day's start, never before it and late only by
    its post's way to the core: posted while customers were still being prepared, a fault
    counted from the day's start rather than from its post would begin about 10 minutes of a day
    compressed 480 times early."""
    run = runs[name]
    info = read(run).info
    assert info.day_start is not None
    scheduled = [
        (f.kind, f.target, info.day_start + f.at / info.time_scale, f.duration / info.time_scale)
        for f in load_profile(name).faults
        if f.kind != "crash"  # surge rehearse's to do to its own core: skipped against this one
    ]
    posted = [(f["kind"], f["target"], f["start_at"], f["duration"]) for f in run.faults]
    assert [(kind, target) for kind, target, *_ in posted] == [
        (kind, target) for kind, target, *_ in scheduled
    ]
    for (*_, began, lasted), (*_, due, duration) in zip(posted, scheduled, strict=True):
        assert due - 1e-3 <= began <= due + POST_ANSWERED_S
        assert lasted == pytest.approx(duration)
    assert {f["state"] for f in run.faults} <= {"expired"}


@pytest.mark.slow
@pytest.mark.parametrize("name", list_profiles())
def test_server_errors_happen_only_while_a_scheduled_fault_is_on(
    runs: dict[str, Run], name: str
) -> None:
    """Without faults an unlimited core never fails; the drill's 5xx all overlap a fault.

    Whether a request meets a fault at all is left open: the drill's FX outage lasts a fifth of
    a second here, so a few visits, or none, reach the FX lane while it is down.
    """
    run = runs[name]
    windows = [(f["start_at"], f["end_at"]) for f in run.faults]
    records = requests(run)
    errors = [r for r in records if 500 <= r["status"] < 600]
    for record in errors:
        start, end = record["start"], record["end"]
        assert any(start <= until and end >= since for since, until in windows), record
    if not run.faults:
        assert all(r["outcome"] != "failed" for r in records)


def test_the_drill_schedules_its_four_incidents() -> None:
    kinds = [f.kind for f in load_profile("emergency_drill").faults]
    assert kinds == ["latency", "lane_down", "brownout", "crash"]


@pytest.mark.slow
def test_a_crash_fault_against_a_core_not_embedded_is_skipped_with_one_line(
    runs: dict[str, Run],
) -> None:
    run = runs["emergency_drill"]
    skipped = [line for line in run.done.stderr.splitlines() if "crash" in line]
    assert len(skipped) == 1, skipped
    assert skipped[0].startswith("warning: fault 3 (crash at 14:30) skipped: only surge rehearse")
    assert runfolder.load(run.folders[0]).crashes == []
