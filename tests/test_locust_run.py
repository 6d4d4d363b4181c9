"""`locust -f loadtests --headless` end to end, against a real mock core in another process.

Each run replays a profile whose eight-hour day is compressed to seconds (`--time-scale`); the
arrival rates are raised in a copy of `weekday` so the short day still has a couple of hundred
visits. The runs are real Locust processes, so what is pinned is what users get: the exit code,
the one-line messages and the run folder.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from surge.arrivals import Schedule
from surge.profile import CHANNELS, load_profile, profiles_dir
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


def run_folder(results: Path) -> Path:
    folders = list(results.iterdir())
    assert len(folders) == 1, folders
    return folders[0]


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


class Run:
    def __init__(self, done: subprocess.CompletedProcess[str], results: Path, profile: Path):
        self.done, self.profile = done, profile
        self.folder = run_folder(results)
        self.summary = read_json(self.folder / "summary.json")
        self.run = read_json(self.folder / "run.json")


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
    visits = unsaturated.summary["visits"]
    assert visits["scheduled"] == expected
    assert visits["started"] >= 0.98 * expected
    assert visits["dropped"] == 0
    assert unsaturated.summary["valid"] is True
    assert f"Run folder: {unsaturated.folder}" in unsaturated.done.stdout


def test_the_run_folder_records_the_resolved_profile_and_every_request(unsaturated: Run) -> None:
    assert unsaturated.run["profile"] == "precision"
    assert unsaturated.run["workers"] == 1
    assert unsaturated.run["resolved_profile"]["time_scale"] == TIME_SCALE
    with (unsaturated.folder / "requests.csv").open(encoding="utf-8") as rows:
        records = list(csv.DictReader(rows))
    assert len(records) == unsaturated.summary["requests"] > 0
    assert {r["channel"] for r in records} == set(CHANNELS)
    assert all(float(r["end"]) >= float(r["start"]) for r in records)
    assert read_json(unsaturated.folder / "reconcile.json")["ok"] is True
    assert TOKENS["admin"] not in (unsaturated.folder / "run.json").read_text(encoding="utf-8")
    assert isinstance(read_json(unsaturated.folder / "alerts.json"), list)


def test_locust_counts_every_request_and_no_business_refusal_as_a_failure(
    unsaturated: Run,
) -> None:
    with (unsaturated.folder / "requests.csv").open(encoding="utf-8") as rows:
        outcomes = [r["outcome"] for r in csv.DictReader(rows)]
    stats = unsaturated.folder.parent.parent / "locust_stats.csv"
    with stats.open(encoding="utf-8") as rows:
        total = next(r for r in csv.DictReader(rows) if r["Name"] == "Aggregated")
    assert outcomes.count("refused") > 0  # withdrawals beyond the balance, sold-out products
    assert int(total["Request Count"]) == len(outcomes)
    assert int(total["Failure Count"]) == sum(o in ("failed", "retried") for o in outcomes)


def test_a_run_with_the_admin_token_keeps_the_lane_gauges_over_the_run(unsaturated: Run) -> None:
    with (unsaturated.folder / "metrics.csv").open(encoding="utf-8") as rows:
        samples = list(csv.DictReader(rows))
    busy = [s for s in samples if s["metric"] == "mock_core_lane_busy_slots"]
    assert {s["labels"] for s in busy} >= {'{lane="teller-core"}', '{lane="kiosk-gateway"}'}
    assert len({s["time"] for s in busy}) >= 5  # a 20 s day, a scrape every 2 s
    assert all(s["metric"].startswith("mock_core_") for s in samples)


def test_time_scale_divides_every_duration_of_the_recorded_profile(unsaturated: Run) -> None:
    original = load_profile(str(unsaturated.profile))
    recorded = unsaturated.run["resolved_profile"]
    durations = [phase["duration"] for phase in recorded["phases"]]
    assert durations == pytest.approx([p.duration / TIME_SCALE for p in original.phases])
    assert sum(durations) == pytest.approx(DAY_SECONDS / TIME_SCALE)
    assert unsaturated.run["time_scale"] == TIME_SCALE


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
    summary = read_json(run_folder(tmp_path / "results") / "summary.json")
    assert summary["valid"] is False
    assert summary["visits"]["error"] > 0


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
    visits = read_json(run_folder(tmp_path / "results") / "summary.json")["visits"]
    assert visits["late"] > 0
    assert visits["dropped"] > 0
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
            ["--profile", "payday", "--rate-scale", "1000"],
            "error: --rate-scale: rate scale 1000 takes kiosk arrivals in phase 'lunch_peak' "
            "to 140000 an hour per branch, above 100000",
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
