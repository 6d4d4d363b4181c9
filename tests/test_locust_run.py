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
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from surge import runfolder, verdict
from surge.arrivals import Schedule
from surge.profile import CHANNELS, load_profile, profiles_dir
from surge.runfolder import RunFolder
from tests.support import TOKENS, serve

ROOT = Path(__file__).resolve().parent.parent
DAY_SECONDS = 8 * 3600  # weekday: 09:00 to 17:00
RATES = "{ counter = 3600, kiosk = 3600, online = 1800 }"  # per branch per hour: 10 visits/s


def busy_weekday(folder: Path, name: str) -> Path:
    """`weekday` with rates high enough for a day of seconds to be a sample."""
    text = (profiles_dir() / "weekday.toml").read_text(encoding="utf-8")
    text = text.replace('name = "weekday"', f'name = "{name}"')
    text = re.sub(r"arrivals_per_hour = \{[^}]*\}", f"arrivals_per_hour = {RATES}", text)
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def locust(host: str, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "locust", "-f", "loadtests", "--headless", "--host", host, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_folder(results: Path) -> RunFolder:
    """The one run folder under `results`, read."""
    folders = list(results.iterdir())
    assert len(folders) == 1, folders
    return runfolder.load(folders[0])


def records(folder: RunFolder) -> list[dict[str, Any]]:
    return folder.requests().to_pylist()


class Run:
    def __init__(self, done: subprocess.CompletedProcess[str], results: Path, profile: Path):
        self.done, self.profile = done, profile
        self.read = run_folder(results)
        self.folder = self.read.path
        assert self.read.visits is not None
        self.visits = self.read.visits.total


TIME_SCALE = 1440  # the day lasts 20 s


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
    writes = [r for r in rows if r["method"] != "GET"]
    assert writes
    assert all(r["key"] for r in writes)
    assert all(r["key"] == "" for r in rows if r["method"] == "GET")
    assert all(re.fullmatch(r"C\d{8}", r["customer"]) for r in rows)
    retried = [r for r in writes if r["retries"] > 0]
    for retry in retried:  # a retry carries the key of its step's first attempt
        assert any(r["key"] == retry["key"] and r["retries"] == 0 for r in writes)


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


class _Unreadable(BaseHTTPRequestHandler):
    """A target that is not the branch systems' API: 200 with `{}` for everything but the branch
    list, so the journeys cannot read what they need (a ticket, an account)."""

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'[{"id": "B001", "counters": 2}]' if self.path == "/v1/branches" else b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *_: Any) -> None:
        pass


def test_visits_the_harness_cannot_run_make_the_run_not_valid_evidence(tmp_path: Path) -> None:
    pool = tmp_path / "pool.csv"
    pool.write_text(
        "customer_id,account_id,currency,segment,home_branch\n"
        + "".join(f"C0000000{n},A0000000{n},CNY,mass,B001\n" for n in range(1, 4)),
        encoding="utf-8",
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unreadable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        done = locust(
            f"http://127.0.0.1:{server.server_address[1]}",
            *("--profile", str(busy_weekday(tmp_path, "unreadable"))),
            *("--time-scale", str(4 * TIME_SCALE), "--results", str(tmp_path / "results")),
            *("--data-pool", str(pool)),
        )
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 3, done.stderr[-3000:]
    assert re.search(
        r"not valid evidence: \d+ of \d+ visits failed inside the harness", done.stdout
    )
    read = run_folder(tmp_path / "results")
    assert not verdict.judge(read).valid
    assert read.visits is not None
    assert read.visits.error > 0


def test_a_saturated_core_gives_late_and_dropped_visits_and_exit_code_3(tmp_path: Path) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(
        "[lanes.teller-core]\nslots = 1\nqueue = 1\ntimeout = 0.2\n"
        'service = { distribution = "constant", mean = 0.5 }\n',
        encoding="utf-8",
    )
    profile = busy_weekday(tmp_path, "saturated")
    with serve(tmp_path / "core.db", "--config", str(config), "--customers", "20") as (host, _):
        done = locust(
            host,
            *("--profile", str(profile), "--time-scale", str(2 * TIME_SCALE)),
            *("--results", str(tmp_path / "results"), "--customers", "10"),
            *("--max-users", "3", "--drop-after", "1"),
        )
    assert done.returncode == 3, done.stderr[-3000:]
    read = run_folder(tmp_path / "results")
    assert read.visits is not None
    assert read.visits.total.late > 0
    assert read.visits.total.dropped > 0
    verdicts = [line for line in done.stdout.splitlines() if "not valid evidence" in line]
    assert len(verdicts) == 1
    assert "dropped" in verdicts[0]


def test_an_unknown_profile_is_refused_with_one_line_and_exit_code_2(tmp_path: Path) -> None:
    done = locust("http://127.0.0.1:9", "--profile", "no_such_day", timeout=60)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: no_such_day: no such profile (shipped: emergency_drill, new_product_launch, "
        "payday, post_holiday, weekday)"
    ]
    assert "Traceback" not in done.stderr


def test_a_time_scale_of_zero_is_refused_with_one_line_and_exit_code_2() -> None:
    done = locust("http://127.0.0.1:9", "--time-scale", "0", timeout=60)
    assert done.returncode == 2
    assert "error: --time-scale: must be a number above 0, not 0" in done.stderr.splitlines()
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate-scale", "0"], "error: --rate-scale: must be a number above 0, not 0"),
        (
            ["--profile", "payday", "--rate-scale", "1e7"],
            "error: --rate-scale: 1e+07 gives payday about 81,450,000,000 visits, more than the "
            "50,000,000 one run may schedule",
        ),
    ],
)
def test_a_bad_rate_scale_is_refused_with_one_line_and_exit_code_2(
    args: list[str], message: str
) -> None:
    done = locust("http://127.0.0.1:9", *args, timeout=60)
    assert done.returncode == 2
    assert message in done.stderr.splitlines()
    assert "Traceback" not in done.stderr


def one_branch(folder: Path) -> Path:
    """`busy_weekday` at one branch, its kiosk at 2,000 visits an hour as the file writes it."""
    text = busy_weekday(folder, "one_branch").read_text(encoding="utf-8")
    text = re.sub(r"^branches = \d+", "branches = 1", text, flags=re.M)
    rates = "{ counter = 1000, kiosk = 2000, online = 500 }"
    text = re.sub(r"arrivals_per_hour = \{[^}]*\}", f"arrivals_per_hour = {rates}", text)
    path = folder / "one_branch.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_rate_scale_drives_one_branch_past_the_cap_on_what_a_file_may_write(
    tmp_path: Path,
) -> None:
    """100 times 2,000 kiosk visits an hour is 200,000 (56 a second at one branch): twice the
    100,000 a profile file may write, and load the generator carries."""
    profile = one_branch(tmp_path)
    with serve(tmp_path / "core.db", "--unlimited", "--customers", "20") as (host, _):
        done = locust(
            host,
            *("--profile", str(profile), "--time-scale", str(4 * TIME_SCALE)),
            *("--rate-scale", "100", "--results", str(tmp_path / "results")),
            *("--customers", "20"),
        )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    read = run_folder(tmp_path / "results")
    assert read.profile.phases[0].arrivals_per_hour.kiosk == 200_000
    assert read.visits is not None
    kiosk = read.visits.channels["kiosk"]
    assert kiosk.started == kiosk.planned > 200  # five seconds at 56 a second


def test_a_profile_file_writing_more_than_the_cap_is_refused_whatever_the_scale(
    tmp_path: Path,
) -> None:
    profile = one_branch(tmp_path)
    profile.write_text(
        profile.read_text(encoding="utf-8").replace("kiosk = 2000", "kiosk = 200000", 1),
        encoding="utf-8",
    )
    done = locust("http://127.0.0.1:9", "--profile", str(profile), "--rate-scale", "0.1")
    assert done.returncode == 2
    [error] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert error.startswith(f"error: {profile}: phases[0].arrivals_per_hour.kiosk: 200000")
    assert "above 100000" in error
