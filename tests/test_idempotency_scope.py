"""Idempotency keys belong to their caller, and a repeat is judged by the parsed request."""

import signal
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_core import store
from tests.support import Api, serve


def deposit(api: Api, amount: str) -> dict[str, Any]:
    account = api.customer_account()["id"]
    return {"account_id": account, "amount": amount, "branch_id": "B001", "operator_id": "T01"}


def balance(api: Api, account: str) -> str:
    return str(api.ok(api.get(f"/v1/accounts/{account}"), 200)["balance"])


def test_a_kiosk_reusing_a_tellers_key_gets_its_own_answer_not_the_tellers_deposit(
    api: Api,
) -> None:
    body, key = deposit(api, "20000.00"), uuid.uuid4().hex
    teller = api.ok(api.post("/v1/cash/deposits", body, "teller", key))
    kiosk = api.post("/v1/cash/deposits", body, api.login("kiosk"), key)
    # Kiosks take at most 5,000 CNY: the kiosk's own first use is refused on its merits.
    assert kiosk.status_code == 422, kiosk.text
    assert kiosk.json()["title"] == "Over the kiosk limit"
    assert "Idempotent-Replayed" not in kiosk.headers
    replay = api.post("/v1/cash/deposits", body, "teller", key)
    assert replay.status_code == 201
    assert replay.json() == teller
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert balance(api, body["account_id"]) == teller["balance"]
    assert api.reconcile()["ok"]


def test_a_tellers_key_is_a_first_use_for_the_kiosk_not_a_reuse(api: Api) -> None:
    key = uuid.uuid4().hex
    api.ok(api.post("/v1/cash/deposits", deposit(api, "20000.00"), "teller", key))
    kiosk = api.ok(api.post("/v1/cash/deposits", deposit(api, "100.00"), api.login("kiosk"), key))
    assert kiosk["amount"] == "100.00"
    assert balance(api, kiosk["account_id"]) == kiosk["balance"]
    assert api.reconcile()["ok"]


def test_the_same_amount_written_differently_is_a_replay(api: Api) -> None:
    body, key = deposit(api, "0.20"), uuid.uuid4().hex
    first = api.ok(api.post("/v1/cash/deposits", body, key=key))
    # Another field order and one place fewer: the same parsed request.
    again = {"amount": "0.2", **{k: v for k, v in reversed(body.items()) if k != "amount"}}
    replay = api.post("/v1/cash/deposits", again, key=key)
    assert replay.status_code == 201, replay.text
    assert replay.json() == first
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert balance(api, body["account_id"]) == first["balance"]


def test_another_amount_under_the_same_key_is_422(api: Api) -> None:
    body, key = deposit(api, "0.02"), uuid.uuid4().hex
    api.ok(api.post("/v1/cash/deposits", body, key=key))
    response = api.post("/v1/cash/deposits", {**body, "amount": "0.03"}, key=key)
    assert response.status_code == 422
    assert response.json()["field"] == "Idempotency-Key"


@pytest.mark.slow
def test_each_callers_record_answers_its_replay_after_kill_9_and_restart(tmp_path: Path) -> None:
    db, key = tmp_path / "ledger.sqlite", uuid.uuid4().hex
    with serve(db, "--customers", "5") as (base, process), httpx.Client(base_url=base) as client:
        api = Api(client)
        teller_body, kiosk_body = deposit(api, "20000.00"), deposit(api, "100.00")
        session = api.login("kiosk", seed=42)
        teller = api.ok(api.post("/v1/cash/deposits", teller_body, "teller", key))
        kiosk = api.ok(api.post("/v1/cash/deposits", kiosk_body, session, key))
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    with serve(db, "--customers", "5") as (base, _), httpx.Client(base_url=base) as client:
        api = Api(client)
        # The kiosk session opened before the crash is still valid: the secret is in the ledger.
        for channel, body, first in (("teller", teller_body, teller), (session, kiosk_body, kiosk)):
            replay = api.post(
                "/v1/cash/deposits",
                {**body, "amount": body["amount"].removesuffix("0")},
                channel,
                key,
            )
            assert replay.status_code == 201, replay.text
            assert replay.json() == first
            assert replay.headers["Idempotent-Replayed"] == "true"
        assert balance(api, kiosk_body["account_id"]) == kiosk["balance"]
        assert api.reconcile()["ok"]


def test_a_ledger_from_before_scoped_keys_keeps_its_posted_keys(tmp_path: Path) -> None:
    db = tmp_path / "ledger.sqlite"
    old = sqlite3.connect(db)
    old.executescript(
        "CREATE TABLE journal (n INTEGER PRIMARY KEY, kind TEXT NOT NULL, idempotency_key TEXT,"
        " channel TEXT NOT NULL, branch_id TEXT, operator_id TEXT, created_at REAL NOT NULL,"
        " memo TEXT NOT NULL DEFAULT '');"
        "CREATE TABLE idempotency (key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL,"
        " status INTEGER NOT NULL, body BLOB NOT NULL, created_at REAL NOT NULL);"
        "INSERT INTO journal (kind, idempotency_key, channel, created_at)"
        " VALUES ('cash', 'posted', 'kiosk', 1);"
        "INSERT INTO idempotency VALUES ('posted', 'f', 201, x'7b7d', 1);"
        "INSERT INTO idempotency VALUES ('refused', 'f', 422, x'7b7d', 1);"
    )
    old.close()
    conn = store.connect(db)
    try:
        rows = conn.execute("SELECT caller, key, status FROM idempotency").fetchall()
        assert [tuple(row) for row in rows] == [("kiosk", "posted", 201)]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert "idempotency_unscoped" not in tables
    finally:
        conn.close()
