"""Reconciliation, alerts and reseeding through the admin API."""

import threading
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient

from mock_core import seed
from tests.support import Api


def test_reset_reseeds_with_a_new_seed_and_customer_count(api: Api) -> None:
    before = api.ok(api.get("/v1/customers/C00000001"), 200)
    reset = api.ok(api.post("/admin/reset", {"seed": 99, "customers": 12}, "admin"), 200)
    assert reset == {"seed": 99, "customers": 12}
    after = api.ok(api.get("/v1/customers/C00000001"), 200)
    assert after["id_number"] != before["id_number"]
    assert api.get("/v1/customers/C00000013").status_code == 404
    assert api.reconcile()["ok"]


def test_a_repeated_reset_is_answered_without_wiping_again(api: Api) -> None:
    key = uuid.uuid4().hex
    api.ok(api.post("/admin/reset", {}, "admin", key=key), 200)
    account = api.customer_account()
    body = {"account_id": account["id"], "amount": "5.00", "branch_id": "B001", "operator_id": "T"}
    receipt = api.ok(api.post("/v1/cash/deposits", body))
    repeat = api.post("/admin/reset", {}, "admin", key=key)
    assert repeat.status_code == 200
    assert repeat.headers["Idempotent-Replayed"] == "true"
    assert api.ok(api.get(f"/v1/accounts/{account['id']}"), 200)["balance"] == receipt["balance"]


def test_reset_needs_the_admin_token(api: Api) -> None:
    assert api.post("/admin/reset", {}, "teller").status_code == 403


def test_the_app_survives_a_second_startup_and_shutdown(app) -> None:
    for _ in range(2):
        with TestClient(app) as client:
            assert Api(client).reconcile()["ok"]


def test_reconcile_reports_every_check_with_its_figures(api: Api) -> None:
    report = api.reconcile()
    assert [c["name"] for c in report["checks"]] == [
        "journal_balanced",
        "balances_match_postings",
        "money_conserved",
        "no_forbidden_negative",
        "one_posting_per_key",
        "slots_within_capacity",
        "products_within_quota",
    ]
    assert all(c["ok"] and c["figures"] for c in report["checks"])


def test_reconcile_catches_a_tampered_balance(app, api: Api) -> None:
    account = api.customer_account()["id"]
    app.state.core.conn.execute(
        "UPDATE accounts SET balance = balance + 1 WHERE id = ?", (account,)
    )
    report = api.reconcile()
    failed = {c["name"] for c in report["checks"] if not c["ok"]}
    assert not report["ok"]
    assert failed == {"balances_match_postings", "money_conserved"}


def test_a_reset_runs_off_the_event_loop_and_writes_wait_for_it_with_503(
    app, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 21: reseeding 20,000 customers held the event loop for 4.8 s, every request with it.
    The reseed is held half-way here: the service goes on answering meanwhile, reads see the
    ledger as it was, a write gets 503 with Retry-After, and the reset then completes."""
    started, release = threading.Event(), threading.Event()
    real = seed.seed

    def held(*args: object, **kwargs: object) -> None:
        started.set()
        release.wait(10)
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(seed, "seed", held)
    account = api.customer_account()["id"]
    done: dict[str, httpx.Response] = {}
    resetting = threading.Thread(
        target=lambda: done.update(reset=api.post("/admin/reset", {"customers": 3}, "admin"))
    )
    resetting.start()
    try:
        assert started.wait(10)
        during: dict[str, httpx.Response] = {}

        def meanwhile() -> None:
            during["health"] = api.client.get("/healthz")
            during["read"] = api.get(f"/v1/accounts/{account}")
            body = {
                "account_id": account,
                "amount": "1.00",
                "branch_id": "B001",
                "operator_id": "T",
            }
            during["write"] = api.post("/v1/cash/deposits", body)

        probe = threading.Thread(target=meanwhile)
        probe.start()
        probe.join(5)
        assert not probe.is_alive(), "the service did not answer while the reset ran"
        assert "reset" not in done
    finally:
        release.set()
        resetting.join(20)
    assert during["health"].status_code == 200
    assert during["read"].status_code == 200
    write = during["write"]
    assert (write.status_code, write.json()["title"]) == (503, "Busy"), write.text
    assert write.headers["Retry-After"] == "1"
    assert api.ok(done["reset"], 200) == {"seed": 7, "customers": 3}
    assert api.get("/v1/customers/C00000004").status_code == 404
    assert api.reconcile()["ok"]
