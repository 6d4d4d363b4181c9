"""`locust -f loadtests` runs that are, or are not, valid evidence: a target whose answers the
journeys cannot read, a core too small for the day, and a rate scale past what a file may write.
Real Locust processes against real servers, as in tests/test_locust_run.py."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from surge.judge import verdict
from tests.load import TIME_SCALE, busy_weekday, locust, one_branch, run_folder
from tests.relay import Relay
from tests.support import TOKENS, serve

pytestmark = pytest.mark.slow


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
        "customer_id,account_id,currency,segment,home_branch,card_number,pin,password\n"
        + "".join(
            f"C0000000{n},A0000000{n},CNY,mass,B001,{card},12345{n},password-{n}\n"
            for n, card in enumerate(CARDS, 1)
        ),
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
            *("--allow-host", "127.0.0.1"),  # not the mock core: allowed, to see what it answers
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


CARDS = ("6222020000000000018", "6222020000000000026", "6222020000000000034")  # Luhn-valid


@pytest.mark.parametrize(
    ("columns", "row", "error"),
    [
        ("", "", "pool.csv: line 1: header: no card_number and no pin column, and kiosk visits"),
        (
            ",card_number,pin,password",
            f",{CARDS[0]},123456,",
            "pool.csv: line 2: password: C00000001 has none, and online visits log in with",
        ),
    ],
)
def test_a_data_pool_without_the_logins_the_day_needs_exits_2_before_any_load(
    tmp_path: Path, columns: str, row: str, error: str
) -> None:
    """The day has kiosk and online visits, and any customer may be drawn for one."""
    pool = tmp_path / "pool.csv"
    pool.write_text(
        f"customer_id,account_id,currency,segment,home_branch{columns}\n"
        f"C00000001,A00000001,CNY,mass,B001{row}\n",
        encoding="utf-8",
    )
    done = locust(
        "http://127.0.0.1:9",  # nothing listens: the pool is refused before the target is asked
        *("--profile", str(busy_weekday(tmp_path, "pool")), "--data-pool", str(pool)),
        *("--results", str(tmp_path / "results")),
    )
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert error in line
    assert "123456" not in done.stderr
    assert not (tmp_path / "results").exists()


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


def test_a_slow_admin_api_delays_the_day_without_ending_it(tmp_path: Path) -> None:
    """The day starts once the profile's faults are posted, and the shape ticks meanwhile (every
    second): a tick that saw the run's day before it started ended the run at once, every visit
    never due. Here `/admin/faults` answers after more than a tick."""
    profile = one_branch(tmp_path)
    with (
        serve(tmp_path / "core.db", "--unlimited", "--customers", "5") as (core, _),
        Relay(core, hold={("GET", "/admin/faults"): 1.2}) as relay,
    ):
        done = locust(
            relay.url,
            *("--profile", str(profile), "--time-scale", str(4 * TIME_SCALE)),
            *("--results", str(tmp_path / "results"), "--customers", "5"),
            *("--admin-token", TOKENS["admin"]),
        )
    read = run_folder(tmp_path / "results")
    assert read.visits is not None
    total = read.visits.total
    assert total.not_reached == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert total.started == total.planned > 0
    assert relay.sent[("GET", "/admin/faults")] == 1  # held past a tick of the shape
