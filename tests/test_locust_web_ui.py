"""`locust -f loadtests` with its web UI, used as its users use it: Chromium (Debian's, driven by
Playwright) opens the page, presses START with the form as shown, sees users and requests rise,
presses STOP; then NEW, every custom field filled in, START, STOP. Each swarm leaves its run
folder and report. One Locust process for both, each swarm a few seconds of load."""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from mock_core.seed import credentials
from surge import runfolder
from surge.bindings import loader
from surge.runfolder import RunFolder
from tests.load import busy_weekday, process
from tests.support import TOKENS, free_port, serve

pytestmark = pytest.mark.slow

START_S = 30.0
RISE_S = 60.0
FOLDER_S = 90.0
TIME_SCALE = 480  # a day of a minute, stopped after a few seconds of load
CUSTOMERS = 20
MOCK_CORE_SEED = 42
"""The mock core's own seed when given none, which its customers' logins derive from."""


@dataclass(frozen=True)
class Swarm:
    folder: Path
    seen: tuple[int, int]
    """Users and requests the page showed before STOP."""


@dataclass(frozen=True)
class WebRun:
    page: str
    """The page as Locust served it, before any swarm."""
    form: Swarm
    """Started with the form as shown."""
    filled: Swarm
    """Started with every custom field filled in."""
    filled_in: dict[str, str]
    log: Path


def _within(seconds: float, what: str) -> Iterator[None]:
    """Poll until the caller breaks out; fail with `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        yield
        assert time.monotonic() < deadline, f"{what} within {seconds:g} s"
        time.sleep(0.25)


def _shown(page: Page) -> tuple[int, int]:
    """Users in the header and requests in the statistics' Aggregated row, as the page shows."""
    text = page.inner_text("body")
    users = re.search(r"Users\s+(\d+)", text)
    requests = re.search(r"Aggregated\s+(\d+)", text)
    return (int(users[1]) if users else 0, int(requests[1]) if requests else 0)


def _swarm(page: Page, results: Path) -> Swarm:
    """START (the form already open and filled), see users and requests rise, STOP, and wait
    for the run folder's report."""
    page.get_by_role("button", name="Start").click()
    first = 0
    for _ in _within(RISE_S, "users and requests rising on the page"):
        refused = page.get_by_role("alert")  # how the form says "An unknown error occurred"
        assert refused.count() == 0, refused.all_inner_texts()
        users, requests = _shown(page)
        if users and requests and not first:
            first = requests
        elif users and requests > first > 0:
            break
    seen = _shown(page)
    page.get_by_role("button", name="Stop").click()
    for _ in _within(FOLDER_S, "the run folder and its report"):
        folders = [f for f in results.glob("*") if (f / runfolder.REPORT).exists()]
        if folders and (folders[0] / runfolder.SUMMARY).exists():
            break
    [folder] = folders
    return Swarm(folder, seen)


def _pool(host: str, path: Path) -> Path:
    """The mock core's seeded customers as a data pool: their accounts and their logins."""
    rows = []
    with httpx.Client(base_url=host, headers={"Authorization": f"Bearer {TOKENS['teller']}"}) as c:
        for n in range(1, CUSTOMERS + 1):
            customer = c.get(f"/v1/customers/C{n:08d}").json()
            logins = credentials(MOCK_CORE_SEED, n)
            for account in c.get(f"/v1/customers/C{n:08d}/accounts").json():
                rows.append(
                    {
                        "customer_id": customer["id"],
                        "account_id": account["id"],
                        "currency": account["currency"],
                        "segment": customer["segment"],
                        "home_branch": customer["home_branch"],
                        "card_number": logins.card_number,
                        "pin": logins.pin,
                        "password": logins.password,
                    }
                )
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def web_run(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[WebRun]:
    tmp = tmp_path_factory.mktemp("web")
    profile, log = busy_weekday(tmp, "browser"), tmp / "locust.log"
    port = free_port()
    with (
        serve(tmp / "core.db", "--unlimited", "--customers", str(CUSTOMERS)) as (host, _),
        process(
            [
                *("--web-host", "127.0.0.1", "--web-port", str(port), "--host", host),
                *("--profile", str(profile), "--time-scale", str(TIME_SCALE)),
                *("--customers", str(CUSTOMERS), "--results", str(tmp / "form")),
            ],
            log,
        ),
    ):
        url = f"http://127.0.0.1:{port}/"
        for _ in _within(START_S, "the web UI answering"):
            try:
                served = httpx.get(url, timeout=5).text
                break
            except httpx.TransportError:
                pass
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        try:
            page.goto(url)
            form = _swarm(page, tmp / "form")
            filled_in = {
                "profile": str(profile),
                "timeScale": str(TIME_SCALE),
                "rateScale": "1.5",
                "maxUsers": "60",
                "results": str(tmp / "filled"),
                "seed": "7",
                "customers": str(CUSTOMERS),
                "locale": "en_US",
                "dataPool": str(_pool(host, tmp / "pool.csv")),
                "binding": loader.DEFAULT,
                "lateAfter": "0.5",
                "dropAfter": "10",
                "maxDroppedShare": "0.05",
                "maxLateShare": "0.1",
                "tellerToken": TOKENS["teller"],
                "kioskToken": TOKENS["kiosk"],
                "onlineToken": TOKENS["online"],
                "adminToken": TOKENS["admin"],
                "stopAfterErrors": "1000",
                "allowHost": "127.0.0.1, localhost",
            }
            page.get_by_role("button", name="New").click()
            page.get_by_role("button", name="Advanced options").click()
            page.get_by_role("button", name="Custom parameters").click()
            for name, text in filled_in.items():
                page.fill(f"form input[name={name}]", text)
            filled = _swarm(page, tmp / "filled")
        finally:
            page.close()
        yield WebRun(served, form, filled, filled_in, log)


def test_the_harness_options_show_in_the_web_ui_with_their_defaults(web_run: WebRun) -> None:
    found = re.search(r"window\.templateArgs = (\{.*?\});?\s*$", web_run.page, re.M)
    assert found is not None
    arguments = json.loads(found[1])
    shown = arguments["extra_options"]
    assert {"time_scale", "rate_scale", "max_users", "seed", "customers", "data_pool"} <= set(shown)
    assert shown["admin_token"]["is_secret"] is True
    assert shown["max_users"]["default_value"] == "500"
    assert shown["time_scale"]["default_value"] == str(TIME_SCALE)
    assert shown["allow_host"]["default_value"] is None  # a blank field
    assert arguments["profile"].endswith("browser.toml")


def test_start_with_the_form_as_shown_runs_the_profile_until_stop(web_run: WebRun) -> None:
    users, requests = web_run.form.seen
    assert users > 0
    assert requests > 0
    read = runfolder.load(web_run.form.folder)
    assert read.info.profile == "browser"
    assert read.info.time_scale == TIME_SCALE
    assert read.info.seed == read.profile.seed
    assert read.info.customers == CUSTOMERS
    assert read.info.max_users == 500
    assert read.request_count > 0
    assert (web_run.form.folder / runfolder.REPORT).stat().st_size > 1_000_000


def test_start_with_every_custom_field_filled_in_runs_with_those_values(web_run: WebRun) -> None:
    users, requests = web_run.filled.seen
    assert users > 0
    assert requests > 0
    read: RunFolder = runfolder.load(web_run.filled.folder)
    filled = web_run.filled_in
    assert read.info.profile == "browser"
    assert (read.info.seed, read.info.rate_scale, read.info.max_users) == (7, 1.5, 60)
    assert read.info.customers == filled["dataPool"]
    assert read.info.limits.max_dropped_share == 0.05
    assert read.request_count > 0
    with Path(filled["dataPool"]).open(encoding="utf-8") as rows:
        pool = {row["customer_id"] for row in csv.DictReader(rows)}
    served = set(read.requests(["customer"]).column("customer").to_pylist()) - {""}
    assert served
    assert served <= pool  # the visits' customers came from the pool, none onboarded
    assert read.reconcile is not None  # the admin token reached the harness
    assert (web_run.filled.folder / runfolder.REPORT).is_file()


def test_no_swarm_raised_an_error_in_locust(web_run: WebRun) -> None:
    log = web_run.log.read_text(encoding="utf-8", errors="replace")
    assert "POST /swarm" not in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    assert "didn't have proper args" not in log
