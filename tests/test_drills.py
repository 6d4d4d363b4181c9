"""Lanes, faults and metrics against a real `mock-core` process: it saturates and fails like a
real system, and a fault never corrupts the ledger."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from mock_core.app import create_app
from mock_core.settings import load_settings
from tests.support import Api, auth, serve_api

TINY_TELLER_LANE = """
[lanes.teller-core]
slots = 1
queue = 2
timeout = 0.4
service = { distribution = "constant", mean = 0.25 }
"""


def serving(api: Api, lane: str, within_s: float = 10.0) -> None:
    """Wait until `lane` has a slot serving (the core's own gauge), at most `within_s`."""
    busy = f'mock_core_lane_busy_slots{{lane="{lane}"}} 1.0'
    deadline = time.monotonic() + within_s
    while busy not in api.client.get("/metrics").text.splitlines():
        assert time.monotonic() < deadline, f"{lane} never began serving"
        time.sleep(0.005)


@pytest.fixture
def tiny(tmp_path: Path) -> Iterator[Api]:
    """A server whose teller lane serves one request at a time, a quarter second each."""
    config = tmp_path / "core.toml"
    config.write_text(TINY_TELLER_LANE)
    with serve_api(tmp_path / "l.sqlite", "--customers", "5", "--config", str(config)) as api:
        yield api


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    db = tmp_path_factory.mktemp("faults") / "l.sqlite"
    with serve_api(db, "--customers", "5", "--unlimited") as api:
        yield api


@pytest.fixture
def clean_faults(fast: Api) -> Iterator[Api]:
    yield fast
    fast.client.delete("/admin/faults", headers=auth("admin"))


def parallel(api: Api, count: int, call) -> list[httpx.Response]:
    """`count` calls at once, each on a client of its own. The clients are made first and the
    threads start together: making an httpx client takes tens of milliseconds on a loaded
    machine, which spread the calls out until a one-slot lane drained between them."""
    base = str(api.client.base_url)
    clients = [httpx.Client(base_url=base, timeout=10) for _ in range(count)]
    together = threading.Barrier(count)

    def one(i: int) -> httpx.Response:
        together.wait()
        return call(Api(clients[i]), i)

    try:
        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(one, range(count)))
    finally:
        for client in clients:
            client.close()


def deposit_body(api: Api, amount: str = "10.00") -> dict:
    account = api.customer_account()["id"]
    return {"account_id": account, "amount": amount, "branch_id": "B001", "operator_id": "T1"}


def add_fault(api: Api, **spec: object) -> dict:
    return api.ok(api.post("/admin/faults", spec, "admin"))


@pytest.mark.slow
def test_a_full_queue_is_503_with_retry_after_and_a_long_wait_is_504(tiny: Api) -> None:
    account = tiny.customer_account()["id"]
    responses = parallel(tiny, 8, lambda api, _: api.get(f"/v1/accounts/{account}"))
    statuses = sorted(r.status_code for r in responses)
    assert 503 in statuses
    assert 504 in statuses
    assert 200 in statuses
    assert all(int(r.headers["Retry-After"]) >= 1 for r in responses if r.status_code == 503)
    assert all(
        r.headers["content-type"] == "application/problem+json"
        for r in responses
        if r.status_code >= 500
    )


@pytest.mark.slow
def test_refused_writes_post_nothing_under_saturation(tiny: Api) -> None:
    body = deposit_body(tiny)
    before = Decimal(tiny.ok(tiny.get(f"/v1/accounts/{body['account_id']}"), 200)["balance"])
    responses = parallel(tiny, 10, lambda api, _: api.post("/v1/cash/deposits", body))
    accepted = sum(r.status_code == 201 for r in responses)
    assert accepted < 10
    assert {r.status_code for r in responses} <= {201, 503, 504}
    after = Decimal(tiny.ok(tiny.get(f"/v1/accounts/{body['account_id']}"), 200)["balance"])
    assert after == before + 10 * accepted
    assert tiny.reconcile()["ok"]


@pytest.mark.slow
def test_a_repeat_while_the_first_is_in_its_service_time_is_409(tiny: Api) -> None:
    body, key = deposit_body(tiny), uuid.uuid4().hex
    first: list[httpx.Response] = []
    sender = threading.Thread(
        target=lambda: first.append(tiny.post("/v1/cash/deposits", body, key=key))
    )
    sender.start()
    serving(tiny, "teller-core")  # the first is in its service time, whatever the machine's load
    repeat = tiny.post("/v1/cash/deposits", body, key=key)
    sender.join()
    assert repeat.status_code == 409
    assert repeat.json()["field"] == "Idempotency-Key"
    assert first[0].status_code == 201
    replay = tiny.post("/v1/cash/deposits", body, key=key)
    assert replay.json() == first[0].json()


@pytest.mark.slow
def test_healthz_answers_while_the_lanes_are_saturated(tiny: Api) -> None:
    account = tiny.customer_account()["id"]
    with ThreadPoolExecutor(6) as pool:
        flood = [pool.submit(tiny.get, f"/v1/accounts/{account}") for _ in range(6)]
        assert tiny.client.get("/healthz").status_code == 200
        [f.result() for f in flood]


def test_capacity_changes_live_and_a_bad_change_changes_nothing(fast: Api) -> None:
    capacity = fast.ok(fast.get("/admin/capacity", "admin"), 200)
    assert capacity["unlimited"] is True
    changed = fast.client.put(
        "/admin/capacity", json={"lanes": {"fx": {"slots": 3}}}, headers=auth("admin")
    )
    assert changed.status_code == 200
    assert changed.json()["lanes"]["fx"]["slots"] == 3
    bad = fast.client.put(
        "/admin/capacity",
        json={"lanes": {"fx": {"slots": 5}, "loans": {"queue": -1}}},
        headers=auth("admin"),
    )
    assert bad.status_code == 422
    assert bad.json()["field"] == "lanes.loans.queue"
    assert fast.ok(fast.get("/admin/capacity", "admin"), 200)["lanes"]["fx"]["slots"] == 3
    unknown = fast.client.put(
        "/admin/capacity", json={"lanes": {"nope": {}}}, headers=auth("admin")
    )
    assert unknown.status_code == 422


def test_unlimited_that_is_not_a_boolean_is_refused_and_changes_nothing(fast: Api) -> None:
    bad = fast.client.put("/admin/capacity", json={"unlimited": 0}, headers=auth("admin"))
    assert bad.status_code == 422
    assert bad.json()["field"] == "unlimited"
    assert fast.ok(fast.get("/admin/capacity", "admin"), 200)["unlimited"] is True


def test_an_injected_error_refuses_the_write_and_posts_nothing(clean_faults: Api) -> None:
    api = clean_faults
    body = deposit_body(api)
    before = api.ok(api.get(f"/v1/accounts/{body['account_id']}"), 200)["balance"]
    add_fault(api, kind="error", target="path:/v1/cash/*", status=500)
    response = api.post("/v1/cash/deposits", body)
    assert response.status_code == 500
    assert response.json()["title"] == "Injected fault"
    assert api.ok(api.get(f"/v1/accounts/{body['account_id']}"), 200)["balance"] == before
    assert api.reconcile()["ok"]


def test_a_reset_loses_the_answer_but_the_write_is_kept_once(clean_faults: Api) -> None:
    api = clean_faults
    body, key = deposit_body(api), uuid.uuid4().hex
    before = Decimal(api.ok(api.get(f"/v1/accounts/{body['account_id']}"), 200)["balance"])
    fault = add_fault(api, kind="reset", target="path:/v1/cash/deposits")
    with pytest.raises(httpx.TransportError):
        api.post("/v1/cash/deposits", body, key=key)
    api.client.delete(f"/admin/faults/{fault['id']}", headers=auth("admin"))
    retry = api.post("/v1/cash/deposits", body, key=key)
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert Decimal(retry.json()["balance"]) == before + 10
    assert api.reconcile()["ok"]


def test_empty_and_malformed_responses(clean_faults: Api) -> None:
    api = clean_faults
    account = api.customer_account()["id"]
    fault = add_fault(api, kind="empty", target="path:/v1/accounts/*")
    empty = api.get(f"/v1/accounts/{account}")
    assert empty.status_code == 200
    assert empty.content == b""
    api.client.delete(f"/admin/faults/{fault['id']}", headers=auth("admin"))
    add_fault(api, kind="malformed", target="path:/v1/accounts/*")
    garbled = api.get(f"/v1/accounts/{account}")
    with pytest.raises(json.JSONDecodeError):
        garbled.json()


def test_latency_hang_and_slow_body_delay_the_answer(clean_faults: Api) -> None:
    api = clean_faults
    account = api.customer_account()["id"]
    latency = add_fault(
        api,
        kind="latency",
        target="path:/v1/accounts/*",
        latency={"distribution": "constant", "mean": 0.3},
    )
    started = time.monotonic()
    assert api.get(f"/v1/accounts/{account}").status_code == 200
    assert time.monotonic() - started >= 0.3
    api.client.delete(f"/admin/faults/{latency['id']}", headers=auth("admin"))
    slow = add_fault(api, kind="slow_body", target="path:/v1/accounts/*", seconds=0.5)
    started = time.monotonic()
    assert api.get(f"/v1/accounts/{account}").json()["id"] == account
    assert time.monotonic() - started >= 0.45
    api.client.delete(f"/admin/faults/{slow['id']}", headers=auth("admin"))
    add_fault(api, kind="hang", target="path:/v1/accounts/*", seconds=2)
    with pytest.raises(httpx.ReadTimeout):
        api.client.get(f"/v1/accounts/{account}", headers=auth("teller"), timeout=0.3)


def test_a_lane_down_refuses_its_requests_until_removed(clean_faults: Api) -> None:
    api = clean_faults
    api.client.put("/admin/capacity", json={"unlimited": False}, headers=auth("admin"))
    try:
        fault = add_fault(api, kind="lane_down", target="lane:fx")
        quote = {"sell_currency": "CNY", "buy_currency": "USD", "sell_amount": "100.00"}
        down = api.post("/v1/fx/quotes", quote)
        assert down.status_code == 503
        assert down.json()["title"] == "Lane down"
        api.client.delete(f"/admin/faults/{fault['id']}", headers=auth("admin"))
        assert api.post("/v1/fx/quotes", quote).status_code == 201
    finally:
        api.client.put("/admin/capacity", json={"unlimited": True}, headers=auth("admin"))


def test_a_brownout_cuts_the_slots_in_service(clean_faults: Api) -> None:
    api = clean_faults
    add_fault(api, kind="brownout", target="lane:kiosk-gateway", share=0.25)
    lane = api.ok(api.get("/admin/capacity", "admin"), 200)["lanes"]["kiosk-gateway"]
    assert lane["slots_in_service"] == lane["slots"] // 4


def test_a_scheduled_fault_starts_and_ends_by_itself(clean_faults: Api) -> None:
    api = clean_faults
    fault = add_fault(api, kind="error", target="path:/v1/branches", start_in=0.4, duration=0.4)
    assert fault["state"] == "scheduled"
    assert api.get("/v1/branches").status_code == 200
    time.sleep(0.5)
    assert api.get("/v1/branches").status_code == 500
    time.sleep(0.4)
    assert api.get("/v1/branches").status_code == 200
    listed = api.ok(api.get("/admin/faults", "admin"), 200)
    assert [f["state"] for f in listed] == ["expired"]


def test_faults_replay_exactly_with_the_same_seed(tmp_path: Path) -> None:
    def drill(name: str) -> list[int]:
        app = create_app(load_settings(seed=11, customers=3, unlimited=True), tmp_path / name)
        with TestClient(app) as client:
            api = Api(client)
            add_fault(api, kind="error", status=503, probability=0.5)
            return [api.get("/v1/branches").status_code for _ in range(40)]

    first, second = drill("a.sqlite"), drill("b.sqlite")
    assert first == second
    assert 8 < first.count(503) < 32


def test_a_bad_fault_is_422_naming_the_field(clean_faults: Api) -> None:
    api = clean_faults
    assert api.post("/admin/faults", {"kind": "latency"}, "admin").status_code == 422
    wrong = api.post("/admin/faults", {"kind": "brownout", "target": "lane:nope"}, "admin")
    assert wrong.status_code == 422
    assert wrong.json()["field"] == "target"
    assert (
        api.post("/admin/faults", {"kind": "lane_down", "target": "*"}, "admin").status_code == 422
    )


def test_metrics_expose_requests_lanes_faults_and_alerts(clean_faults: Api) -> None:
    api = clean_faults
    account = api.customer_account()["id"]
    api.get(f"/v1/accounts/{account}")
    api.ok(api.post("/v1/cash/deposits", {**deposit_body(api), "amount": "60000.00"}))
    add_fault(api, kind="latency", latency={"distribution": "constant", "mean": 0.001})
    text = api.client.get("/metrics").text
    assert (
        'mock_core_requests_total{endpoint="/v1/accounts/{account_id}",method="GET",status="200"}'
        in text
    )
    assert 'mock_core_lane_slots{lane="teller-core"} 48.0' in text
    assert 'mock_core_lane_queue_depth{lane="fx"} 0.0' in text
    assert 'mock_core_active_faults{kind="latency"} 1.0' in text
    assert "mock_core_request_seconds_bucket" in text
    assert 'mock_core_aml_alerts_total{rule="large_cash"} 1.0' in text
