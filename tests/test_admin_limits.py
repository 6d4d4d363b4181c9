"""Admin input out of bounds is a 422 naming the field, changes nothing, and never stops the
service from stopping: issue 12, finding 5."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_core.settings import SEED_MAX, SERVICE_MAX, SERVICE_MIN
from tests.support import Api, auth, serve


def _put_capacity(api: Api, body: dict[str, Any]) -> httpx.Response:
    response: httpx.Response = api.client.put("/admin/capacity", json=body, headers=auth("admin"))
    return response


def _capacity(api: Api) -> dict[str, Any]:
    return api.ok(api.get("/admin/capacity", "admin"), 200)


def _lognormal(median: float, p95: float) -> dict[str, Any]:
    return {"service": {"distribution": "lognormal", "median": median, "p95": p95}}


@pytest.mark.parametrize("seed", [10**30, SEED_MAX + 1, -1])
def test_reset_with_a_seed_beyond_the_generators_is_a_422_naming_seed(api: Api, seed: int) -> None:
    response = api.post("/admin/reset", {"seed": seed}, "admin")
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == "seed"
    assert api.reconcile()["ok"]


def test_reset_takes_the_largest_seed(api: Api) -> None:
    reset = api.ok(api.post("/admin/reset", {"seed": SEED_MAX, "customers": 3}, "admin"), 200)
    assert reset == {"seed": SEED_MAX, "customers": 3}


@pytest.mark.parametrize(
    ("lane", "field"),
    [
        (_lognormal(1e-300, 0.15), "median"),
        (_lognormal(0.04, SERVICE_MAX * 2), "p95"),
        ({"service": {"distribution": "exponential", "mean": SERVICE_MIN / 2}}, "mean"),
    ],
)
def test_a_service_time_out_of_bounds_is_a_422_and_capacity_stays_as_it_was(
    api: Api, lane: dict[str, Any], field: str
) -> None:
    before = _capacity(api)
    response = _put_capacity(api, {"lanes": {"teller-core": lane}})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == f"lanes.teller-core.service.{field}"
    assert _capacity(api) == before


def test_a_partly_bad_capacity_change_changes_nothing(api: Api) -> None:
    before = _capacity(api)
    body = {
        "unlimited": False,
        "lanes": {
            "fx": {"slots": 3},
            "teller-core": _lognormal(1e-300, 0.15),
            "loans": {"queue": 1},
        },
    }
    response = _put_capacity(api, body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "lanes.teller-core.service.median"
    assert _capacity(api) == before


@pytest.mark.slow
def test_a_service_stays_stoppable_by_sigterm_after_the_most_extreme_accepted_values(
    tmp_path: Path,
) -> None:
    """The widest lognormal accepted draws service times of hours now and then, and a hang fault
    holds a request for its longest accepted time; SIGTERM still ends the process in seconds."""
    with serve(tmp_path / "ledger.sqlite", "--customers", "5") as (base, process):
        # Every request cut at shutdown logs a traceback; unread, they fill the stderr pipe and
        # the process blocks writing them instead of exiting.
        assert process.stderr is not None
        threading.Thread(target=process.stderr.read, daemon=True).start()
        admin = auth("admin")
        widest = _lognormal(SERVICE_MIN, SERVICE_MAX)
        lanes = {"teller-core": {**widest, "slots": 1, "queue": 1_000_000, "timeout": 3600}}
        put = httpx.put(f"{base}/admin/capacity", json={"lanes": lanes}, headers=admin)
        assert put.status_code == 200, put.text
        assert _finite(put.json())
        hang = {"kind": "hang", "target": "lane:kiosk-gateway", "seconds": 600}
        fault = httpx.post(
            f"{base}/admin/faults", json=hang, headers={**admin, "Idempotency-Key": "hang-1"}
        )
        assert fault.status_code == 201, fault.text

        def request(path: str, channel: str) -> None:
            # The request is cut when the service stops: that is the point.
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{base}{path}", headers=auth(channel), timeout=30)

        # The hang fault holds the kiosk requests for 600 s; of 40 teller requests on one slot a
        # few draw service times of minutes or more and the rest queue behind them.
        held = [
            threading.Thread(target=request, args=(path, channel), daemon=True)
            for path, channel in [("/v1/customers/C00000001", "teller")] * 40
            + [("/v1/branches", "kiosk")] * 2
        ]
        for thread in held:
            thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            faults = httpx.get(f"{base}/admin/faults", headers=admin).json()
            if faults[0]["fired"] >= 2:
                break
            time.sleep(0.1)
        assert faults[0]["fired"] >= 2, "the hang fault never held a request"
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(15)
        assert time.monotonic() - started < 10
        # uvicorn ends by re-raising the signal it caught, once it has shut down cleanly.
        assert process.returncode in (0, -signal.SIGTERM)


def _finite(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, float):
        return value == value and abs(value) != float("inf")
    return True
