"""`locust -f loadtests` with its web UI: the harness's options show there, and a swarm started
from the form, as the browser posts it, runs the profile and writes the run folder."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest

from surge import runfolder, verdict
from tests.support import free_port, serve
from tests.test_locust_distributed import process
from tests.test_locust_run import TIME_SCALE, busy_weekday

START_S = 30.0
RUN_S = 90.0


def _wait(until: float, what: str) -> None:
    assert time.monotonic() < until, f"{what} within the bound"
    time.sleep(0.2)


@pytest.fixture(scope="module")
def web_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """A web-UI Locust whose swarm was started from the form; (the page, results, log)."""
    tmp = tmp_path_factory.mktemp("web")
    profile, results, log = busy_weekday(tmp, "browser"), tmp / "results", tmp / "locust.log"
    port = free_port()
    web = f"http://127.0.0.1:{port}"
    with (
        serve(tmp / "core.db", "--unlimited", "--customers", "20") as (host, _),
        process(
            [
                "--web-host",
                "127.0.0.1",
                "--web-port",
                str(port),
                "--host",
                host,
                "--customers",
                "20",
            ],
            log,
        ),
        httpx.Client(base_url=web, timeout=10) as browser,
    ):
        until = time.monotonic() + START_S
        while True:
            try:
                page = browser.get("/").text
                break
            except httpx.TransportError:
                _wait(until, "the web UI answers")
        form = {  # what the form posts: every field, the blank ones as empty strings
            "host": host,
            "profile": str(profile),
            "time_scale": str(TIME_SCALE),
            "results": str(results),
            "seed": "",
            "locale": "",
            "data_pool": "",
            "admin_token": "",
        }
        started = browser.post("/swarm", data=form).json()
        assert started["success"], started
        until = time.monotonic() + RUN_S
        while not list(results.glob("*/summary.json")):
            _wait(until, "the run folder")
    return page, results, log


def test_the_harness_options_show_in_the_web_ui(web_run: tuple[str, Path, Path]) -> None:
    page, _, _ = web_run
    arguments = json.loads(re.search(r"window\.templateArgs = (\{.*?\});?\s*$", page, re.M)[1])
    shown = set(arguments["extra_options"])
    assert {"time_scale", "rate_scale", "max_users", "seed", "customers", "data_pool"} <= shown
    assert arguments["extra_options"]["admin_token"]["is_secret"] is True


def test_a_swarm_started_from_the_form_replays_the_profile(web_run: tuple[str, Path, Path]) -> None:
    _, results, log = web_run
    folder = runfolder.load(next(results.iterdir()))
    assert verdict.judge(folder).valid, log.read_text(errors="replace")[-3000:]
    assert folder.visits is not None
    total = folder.visits.total
    assert total.started == total.planned > 0
    assert folder.visits.ok + folder.visits.unfinished == total.started
    assert folder.request_count > 0
    assert folder.info.seed == folder.profile.seed
    assert folder.info.profile == "browser"
    assert folder.info.time_scale == TIME_SCALE
