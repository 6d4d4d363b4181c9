"""Reconciliation, alerts and reseeding through the admin API."""

import uuid

from fastapi.testclient import TestClient

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
