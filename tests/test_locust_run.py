"""`locust -f loadtests --headless` end to end, against a real mock core in another process.

Each run replays a profile whose eight-hour day is compressed to seconds (`--time-scale`); the
arrival rates are raised in a copy of `weekday` so the short day still has a couple of hundred
visits. The runs are real Locust processes, so what is pinned is what users get: the exit code,
the one-line messages and the run folder.
"""

from __future__ import annotations

import csv
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from surge import runfolder
from surge.day.arrivals import Schedule
from surge.day.profile import CHANNELS, load_profile
from surge.judge import verdict
from tests.load import (
    TIME_SCALE,
    busy_weekday,
    locust,
    records,
    run_folder,
    watched_the_whole_day,
)
from tests.support import TOKENS, serve

pytestmark = pytest.mark.slow

DAY_SECONDS = 8 * 3600  # weekday: 09:00 to 17:00


class Run:
    def __init__(self, done: subprocess.CompletedProcess[str], results: Path, profile: Path):
        self.done, self.profile = done, profile
        self.read = run_folder(results)
        self.folder = self.read.path
        assert self.read.visits is not None
        self.visits = self.read.visits.total


@pytest.fixture(scope="module")
def unsaturated(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One 20-second day against an unlimited mock core."""
    tmp = tmp_path_factory.mktemp("unsaturated")
    profile = busy_weekday(tmp, "precision")
    with serve(tmp / "core.db", "--unlimited", "--customers", "20") as (host, _):
        done = locust(
            host,
            *("--profile", str(profile), "--time-scale", str(TIME_SCALE)),
            *("--results", str(tmp / "results"), "--customers", "20"),
            *("--admin-token", TOKENS["admin"]),
            *("--csv", str(tmp / "locust")),
            report=True,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    return Run(done, tmp / "results", profile)


def test_an_unsaturated_run_starts_every_scheduled_visit_on_time(unsaturated: Run) -> None:
    profile = load_profile(str(unsaturated.profile)).scaled(TIME_SCALE)
    channels = {channel: profile.segments(channel) for channel in CHANNELS}
    expected = sum(1 for _ in Schedule(channels, profile.seed))
    visits = unsaturated.visits
    assert visits.planned == expected
    assert visits.started >= 0.98 * expected
    assert visits.dropped == visits.lost == visits.not_reached == 0
    assert verdict.judge(unsaturated.read).valid
    assert f"Run folder: {unsaturated.folder}" in unsaturated.done.stdout
    assert "The run is valid evidence" in unsaturated.done.stdout


def test_a_plain_locust_run_ends_with_its_report(unsaturated: Run) -> None:
    report = unsaturated.folder / "report.html"
    assert f"Report: {report}" in unsaturated.done.stdout
    assert report.stat().st_size > 1_000_000  # plotly's JavaScript inside
    assert runfolder.load(unsaturated.folder).summary["slo"]["objectives"]


def test_the_run_folder_records_the_resolved_profile_and_every_request(unsaturated: Run) -> None:
    read = unsaturated.read
    assert (read.info.profile, read.info.workers) == ("precision", 1)
    assert read.info.format_version == runfolder.FORMAT_VERSION
    assert read.profile.time_scale == TIME_SCALE
    rows = records(read)
    assert len(rows) == read.request_count == read.visits.shares[0].requests > 0
    assert {r["channel"] for r in rows} == set(CHANNELS)
    assert all(r["end"] >= r["start"] for r in rows)
    assert read.reconcile is not None
    assert read.reconcile["ok"] is True
    assert TOKENS["admin"] not in (unsaturated.folder / "run.json").read_text(encoding="utf-8")
    assert isinstance(read.alerts, list)


def test_every_write_is_recorded_with_its_idempotency_key_and_customer(unsaturated: Run) -> None:
    rows = records(unsaturated.read)
    writes = [r for r in rows if r["method"] != "GET" and r["step"] != "login"]
    assert writes
    assert all(r["key"] for r in writes)
    assert all(r["key"] == "" for r in rows if r["method"] == "GET" or r["step"] == "login")
    assert all(re.fullmatch(r"C\d{8}", r["customer"]) for r in rows)
    retried = [r for r in writes if r["retries"] > 0]
    for retry in retried:  # a retry carries the key of its step's first attempt
        assert any(r["key"] == retry["key"] and r["retries"] == 0 for r in writes)


def test_every_kiosk_and_online_visit_logs_in_first_and_counter_visits_never(
    unsaturated: Run,
) -> None:
    visits: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in sorted(records(unsaturated.read), key=lambda r: r["start"]):
        visits.setdefault((r["channel"], r["journey"], r["scheduled"], r["customer"]), []).append(r)
    firsts = {channel: [rows[0] for key, rows in visits.items() if key[0] == channel]
              for channel in CHANNELS}  # fmt: skip
    assert firsts["kiosk"]
    assert firsts["online"]
    for channel in ("kiosk", "online"):
        assert {(r["step"], r["method"], r["name"]) for r in firsts[channel]} == {
            ("login", "POST", "/v1/sessions")
        }
    logins = [r for rows in visits.values() for r in rows if r["step"] == "login"]
    assert all(r["channel"] != "counter" and r["outcome"] != "failed" for r in logins)


def test_locust_counts_every_request_and_no_business_refusal_as_a_failure(
    unsaturated: Run,
) -> None:
    outcomes = unsaturated.read.requests(["outcome"]).column("outcome").to_pylist()
    stats = unsaturated.folder.parent.parent / "locust_stats.csv"
    with stats.open(encoding="utf-8") as rows:
        total = next(r for r in csv.DictReader(rows) if r["Name"] == "Aggregated")
    assert outcomes.count("refused") > 0  # withdrawals beyond the balance, sold-out products
    assert int(total["Request Count"]) == len(outcomes)
    assert int(total["Failure Count"]) == sum(o in ("failed", "retried") for o in outcomes)


def test_a_run_with_the_admin_token_keeps_the_lane_gauges_over_the_run(unsaturated: Run) -> None:
    metrics = unsaturated.read.metrics()
    assert metrics is not None
    samples = metrics.to_pylist()
    busy = [s for s in samples if s["metric"] == "mock_core_lane_busy_slots"]
    assert {s["labels"] for s in busy} >= {'{lane="teller-core"}', '{lane="kiosk-gateway"}'}
    assert len({s["time"] for s in busy}) >= 5  # a 20 s day, a scrape every 2 s
    assert all(s["metric"].startswith("mock_core_") for s in samples)


def test_time_scale_divides_every_duration_of_the_recorded_profile(unsaturated: Run) -> None:
    original = load_profile(str(unsaturated.profile))
    durations = [phase.duration for phase in unsaturated.read.profile.phases]
    assert durations == pytest.approx([p.duration / TIME_SCALE for p in original.phases])
    assert sum(durations) == pytest.approx(DAY_SECONDS / TIME_SCALE)
    assert unsaturated.read.info.time_scale == TIME_SCALE


def test_the_run_watched_its_generators_host_over_the_whole_day(unsaturated: Run) -> None:
    watched_the_whole_day(unsaturated.read, 0)
    assert {s.process for s in unsaturated.read.generator() or []} == {0}
    assert sum(s.cpu * s.interval_s for s in unsaturated.read.generator() or []) > 0
