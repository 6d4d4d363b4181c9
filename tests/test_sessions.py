"""Customer sessions: login, throttling and lockout, expiry, logout, forgery, restarts, and one
customer never seeing another's resources (issue 12, finding 1; issue 21)."""

from __future__ import annotations

import datetime as dt
import itertools
import sqlite3
import uuid
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mock_core import store
from mock_core.app import create_app
from mock_core.identity import luhn_check_digit
from mock_core.seed import Credentials, credentials
from mock_core.settings import load_settings
from tests.support import SEED, Api, Session, auth, login_body, serve_api

T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC).timestamp()
DAY = "2026-12-03"


@pytest.fixture
def clock(app: FastAPI) -> list[float]:
    now = [T0]
    app.state.core.clock = lambda: now[0]
    return now


def login(api: Api, channel: str, customer_id: str = "C00000001", **wrong: str):
    body = {**login_body(channel, customer_id, credentials(SEED, int(customer_id[1:]))), **wrong}
    return api.client.post("/v1/sessions", json=body, headers=auth(channel))


def deposit_body(account: str, amount: str = "10.00") -> dict[str, str]:
    return {"account_id": account, "amount": amount, "branch_id": "B001", "operator_id": "K01"}


@pytest.mark.parametrize(
    ("channel", "wrong", "locked_field"),
    [
        ("kiosk", {"pin": "000000"}, "card_number"),
        ("online", {"password": "not-it-1"}, "customer_id"),
    ],
)
def test_three_wrong_credentials_lock_the_login_with_423_and_retry_after(
    api: Api, clock: list[float], channel: str, wrong: dict[str, str], locked_field: str
) -> None:
    for _ in range(3):
        refused = login(api, channel, **wrong)
        assert (refused.status_code, refused.json()["field"]) == (401, next(iter(wrong)))
    locked = login(api, channel)  # even the right credential, while the lock lasts
    assert (locked.status_code, locked.json()["field"]) == (423, locked_field)
    assert locked.headers["Retry-After"] == "900"
    assert login(api, channel, "C00000002").status_code == 201  # one customer's lock only
    clock[0] += 901
    assert login(api, channel).status_code == 201


def test_a_success_resets_the_count_of_wrong_pins(api: Api) -> None:
    for _ in range(2):
        assert login(api, "kiosk", pin="000000").status_code == 401
    assert login(api, "kiosk").status_code == 201
    for _ in range(2):
        assert login(api, "kiosk", pin="000000").status_code == 401
    assert login(api, "kiosk").status_code == 201


def test_an_unknown_card_or_customer_gets_the_same_401_as_a_wrong_secret(api: Api) -> None:
    unknown_card = login(api, "kiosk", card_number="6217009999999995")
    wrong_pin = login(api, "kiosk", pin="000000")
    assert unknown_card.status_code == wrong_pin.status_code == 401
    assert unknown_card.json() == wrong_pin.json()
    unknown = login(api, "online", "C09999999")
    wrong = login(api, "online", password="not-it-1")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json()["detail"] == wrong.json()["detail"]


def test_a_login_with_the_other_channels_fields_is_422_naming_the_field(api: Api) -> None:
    given = credentials(SEED, 1)
    body = {"card_number": given.card_number, "pin": given.pin, "password": given.password}
    response = api.client.post("/v1/sessions", json=body, headers=auth("kiosk"))
    assert (response.status_code, response.json()["field"]) == (422, "password")
    response = api.client.post(
        "/v1/sessions", json={"customer_id": "C00000001"}, headers=auth("online")
    )
    assert (response.status_code, response.json()["field"]) == (422, "password")


def test_the_teller_and_admin_channels_open_no_session(api: Api) -> None:
    for channel in ("teller", "admin"):
        response = api.client.post("/v1/sessions", json={}, headers=auth(channel))
        assert response.status_code == 403


def test_the_bare_kiosk_or_online_token_on_a_customer_route_is_401(api: Api) -> None:
    account = api.customer_account()["id"]
    for channel in ("kiosk", "online"):
        response = api.get(f"/v1/accounts/{account}", channel)
        assert (response.status_code, response.json()["field"]) == (401, "Authorization")
        assert response.json()["detail"] == "a customer session is required"
    assert api.get("/v1/branches", "kiosk").status_code == 200  # nobody's data: no session


def test_an_expired_session_is_401(api: Api, clock: list[float]) -> None:
    account = api.customer_account()["id"]
    kiosk = api.login("kiosk")
    assert api.get(f"/v1/accounts/{account}", kiosk).status_code == 200
    clock[0] += 300
    expired = api.get(f"/v1/accounts/{account}", kiosk)
    assert (expired.status_code, expired.json()["field"]) == (401, "Authorization")
    assert "expired" in expired.json()["detail"]


def test_a_forged_or_altered_session_is_401(api: Api) -> None:
    session = api.login("online")
    version, channel, customer, expires, signature = session.token.split(".")
    other = ".".join([version, channel, "2", expires, signature])
    longer = ".".join([version, channel, customer, str(int(expires) + 10**9), signature])
    made_up = ".".join([version, channel, "2", expires, "A" * len(signature)])
    for token in (other, longer, made_up, "s1.online.2", "s1"):
        forged = Session("online", "C00000002", token)
        response = api.get("/v1/customers/C00000002/accounts", forged)
        assert (response.status_code, response.json()["field"]) == (401, "Authorization")


def test_malformed_json_without_a_token_is_401_before_the_body_is_read(api: Api) -> None:
    for path in ("/v1/sessions", "/v1/transfers", "/v1/cash/deposits"):
        response = api.client.post(
            path, content=b'{"amount": ', headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 401, (path, response.text)
    with_token = api.client.post(
        "/v1/transfers",
        content=b'{"amount": ',
        headers={**auth("teller"), "Content-Type": "application/json", "Idempotency-Key": "k"},
    )
    assert with_token.status_code == 400


@pytest.mark.slow
def test_a_session_survives_a_restart_of_the_core_on_the_same_database(tmp_path: Path) -> None:
    db = tmp_path / "ledger.sqlite"
    args = ("--customers", "5", "--seed", str(SEED), "--unlimited")
    with serve_api(db, *args) as api:
        session = api.login("kiosk", "C00000003")
        account = api.customer_account("C00000003")["id"]
    with serve_api(db, *args) as api:
        assert api.get(f"/v1/accounts/{account}", session).status_code == 200


def _own_resources(api: Api, app: FastAPI) -> dict[str, str]:
    """C00000001's account, an appointment, a ticket, and a kiosk quote, each made in a session."""
    kiosk, online = api.login("kiosk"), api.login("online")
    account = api.customer_account()["id"]
    booking = {
        "branch_id": "B001",
        "day": DAY,
        "start": "09:30",
        "customer_id": "C00000001",
        "service_type": "loan",
    }
    appointment = api.ok(api.post("/v1/appointments", booking, online))["id"]
    ticket = api.ok(api.post("/v1/branches/B001/tickets", {"service_type": "cash"}, kiosk))
    assert ticket["customer_id"] == "C00000001"
    quote = {"sell_currency": "CNY", "buy_currency": "USD", "sell_amount": "100.00"}
    quote_id = api.ok(api.post("/v1/fx/quotes", quote, kiosk))["quote_id"]
    return {
        "account": account,
        "appointment": appointment,
        "ticket": ticket["id"],
        "quote": quote_id,
    }


@pytest.mark.parametrize(
    ("what", "channel", "method", "path", "field"),
    [
        ("account", "kiosk", "get", "/v1/accounts/{account}", "account_id"),
        ("account", "online", "get", "/v1/accounts/{account}", "account_id"),
        ("account", "kiosk", "get", "/v1/accounts/{account}/statement", "account_id"),
        ("account", "online", "get", "/v1/customers/C00000001/accounts", "customer_id"),
        ("appointment", "online", "get", "/v1/appointments/{appointment}", "appointment_id"),
        (
            "appointment",
            "online",
            "post",
            "/v1/appointments/{appointment}/cancel",
            "appointment_id",
        ),
        (
            "appointment",
            "kiosk",
            "post",
            "/v1/appointments/{appointment}/check-in",
            "appointment_id",
        ),
        ("ticket", "kiosk", "get", "/v1/tickets/{ticket}", "ticket_id"),
    ],
)
def test_another_customers_resource_is_404_as_if_it_did_not_exist(
    api: Api,
    app: FastAPI,
    clock: list[float],
    what: str,
    channel: str,
    method: str,
    path: str,
    field: str,
) -> None:
    mine = _own_resources(api, app)
    intruder = api.login(channel, "C00000002")
    call = api.get if method == "get" else api.post
    response = call(path.format(**mine), channel=intruder)
    assert (response.status_code, response.json()["field"]) == (404, field), response.text
    missing = path.format(
        account="6222029999999999999", appointment="AP09999999", ticket="T09999999"
    )
    if "{" in path:
        nothing = call(missing, channel=intruder).json()
        assert {k: v for k, v in nothing.items() if k not in ("detail", "instance")} == {
            k: v for k, v in response.json().items() if k not in ("detail", "instance")
        }
    owner = call(path.format(**mine), channel=api.login(channel, "C00000001"))
    assert owner.status_code in (200, 201), owner.text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/v1/cash/deposits",
            {"amount": "10.00", "branch_id": "B001", "operator_id": "K01"},
            "account_id",
        ),
        (
            "/v1/cash/withdrawals",
            {"amount": "10.00", "branch_id": "B001", "operator_id": "K01"},
            "account_id",
        ),
        ("/v1/transfers", {"amount": "10.00"}, "from_account"),
    ],
)
def test_moving_money_out_of_another_customers_account_is_404(
    api: Api, path: str, body: dict[str, str], field: str
) -> None:
    victim = api.customer_account("C00000001")["id"]
    own = api.customer_account("C00000002")["id"]
    full = {**body, field: victim}
    if field == "from_account":
        full["to_account"] = own
    channel = "online" if path == "/v1/transfers" else "kiosk"
    response = api.post(path, full, api.login(channel, "C00000002"))
    assert (response.status_code, response.json()["field"]) == (404, field), response.text
    assert api.ok(api.get(f"/v1/accounts/{victim}"), 200) == api.customer_account("C00000001")
    assert api.reconcile()["ok"]


def test_a_body_naming_another_customer_is_404_naming_customer_id(
    api: Api, clock: list[float]
) -> None:
    booking = {
        "branch_id": "B001",
        "day": DAY,
        "start": "09:30",
        "customer_id": "C00000001",
        "service_type": "loan",
    }
    response = api.post("/v1/appointments", booking, api.login("online", "C00000002"))
    assert (response.status_code, response.json()["field"]) == (404, "customer_id")
    ticket = {"service_type": "cash", "customer_id": "C00000001"}
    response = api.post("/v1/branches/B001/tickets", ticket, api.login("kiosk", "C00000002"))
    assert (response.status_code, response.json()["field"]) == (404, "customer_id")


def test_a_quote_is_spent_only_for_the_customer_whose_session_made_it(
    api: Api, app: FastAPI, clock: list[float]
) -> None:
    mine = _own_resources(api, app)
    usd = {"customer_id": "C00000002", "currency": "USD"}
    theirs_usd = api.ok(api.post("/v1/accounts", usd))["id"]
    theirs_cny = api.customer_account("C00000002")["id"]
    body = {"quote_id": mine["quote"], "from_account": theirs_cny, "to_account": theirs_usd}
    response = api.post("/v1/fx/exchanges", body)
    assert (response.status_code, response.json()["field"]) == (404, "quote_id")
    own_usd = api.ok(api.post("/v1/accounts", {"customer_id": "C00000001", "currency": "USD"}))
    body = {"quote_id": mine["quote"], "from_account": mine["account"], "to_account": own_usd["id"]}
    assert api.post("/v1/fx/exchanges", body).status_code == 201


def test_idempotency_keys_belong_to_each_customers_session(api: Api) -> None:
    key = uuid.uuid4().hex
    first = api.customer_account("C00000001")["id"]
    second = api.customer_account("C00000002")["id"]
    mine = api.ok(api.post("/v1/cash/deposits", deposit_body(first), api.login("kiosk"), key))
    theirs = api.post(
        "/v1/cash/deposits", deposit_body(second, "20.00"), api.login("kiosk", "C00000002"), key
    )
    assert theirs.status_code == 201, theirs.text  # its own first use: not a replay, not a 422
    assert "Idempotent-Replayed" not in theirs.headers
    assert (theirs.json()["account_id"], theirs.json()["amount"]) == (second, "20.00")
    again = api.post("/v1/cash/deposits", deposit_body(first), api.login("kiosk"), key)
    assert again.json() == mine
    assert again.headers["Idempotent-Replayed"] == "true"
    assert api.reconcile()["ok"]


def test_onboarding_credentials_are_never_answered_and_open_sessions(
    api: Api, app: FastAPI
) -> None:
    given = Credentials(card_number="6222000011112223", pin="424242", password="correct-horse-9")
    customer = {
        "name": "王小明",
        "id_number": "11010519491231002X",
        "phone": "13812345678",
        "home_branch": "B001",
        "card_number": given.card_number,
        "pin": given.pin,
        "password": given.password,
    }
    response = api.post("/v1/customers", customer)
    answer = api.ok(response)
    assert answer["card_number"] == "************2223"
    for secret in (given.card_number, given.pin, given.password):
        assert secret not in response.text
    stored = app.state.core.conn.execute(
        "SELECT * FROM customers WHERE n = ?", (int(answer["id"][1:]),)
    ).fetchone()
    assert not {given.card_number, given.pin, given.password} & {str(v) for v in tuple(stored)}
    for channel in ("kiosk", "online"):
        session = api.login(channel, answer["id"], given)
        assert session.token
    duplicate = api.post("/v1/customers", {**customer, "id_number": "110105194912310038"})
    assert (duplicate.status_code, duplicate.json()["field"]) == (409, "card_number")


def test_an_onboardings_pin_and_password_are_no_part_of_its_idempotency_fingerprint(
    api: Api, app: FastAPI
) -> None:
    # The fingerprint is kept with the stored answer: a hash of a 6-digit PIN is soon reversed.
    customer = {
        "name": "李华",
        "id_number": "110105194912310046",
        "phone": "13812345679",
        "home_branch": "B001",
        "card_number": "6222000011112231",
        "pin": "135790",
        "password": "first-password-1",
    }
    first = api.ok(api.post("/v1/customers", customer, key="onboard-once"))
    retried = {**customer, "pin": "246802", "password": "other-password-2"}
    again = api.post("/v1/customers", retried, key="onboard-once")
    assert (again.status_code, again.json()) == (201, first)
    assert again.headers["Idempotent-Replayed"] == "true"


def test_a_ledger_from_before_sessions_gains_the_credential_columns_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    db = tmp_path / "ledger.sqlite"
    old = sqlite3.connect(db)
    old.executescript(
        "CREATE TABLE customers (n INTEGER PRIMARY KEY, name TEXT NOT NULL, id_number TEXT NOT NULL"
        " UNIQUE, phone TEXT NOT NULL, segment TEXT NOT NULL, home_branch TEXT NOT NULL,"
        " created_at REAL NOT NULL);"
        "INSERT INTO customers VALUES (1, 'x', '11010519491231002X', '1', 'mass', 'B001', 1);"
        "CREATE TABLE journal (n INTEGER PRIMARY KEY, kind TEXT NOT NULL, idempotency_key TEXT,"
        " channel TEXT NOT NULL, branch_id TEXT, operator_id TEXT, created_at REAL NOT NULL,"
        " memo TEXT NOT NULL DEFAULT '');"
    )
    old.close()
    conn = store.connect(db)
    try:
        columns = {row["name"] for row in conn.execute("PRAGMA table_info(customers)")}
        assert {"card_digest", "salt", "pin_hash", "password_hash"} <= columns
        assert "caller" in {row["name"] for row in conn.execute("PRAGMA table_info(journal)")}
        rows = conn.execute("SELECT name, card_digest FROM customers").fetchall()
        assert [tuple(row) for row in rows] == [("x", None)]
    finally:
        conn.close()


def test_failed_logins_from_one_source_are_throttled_with_429_before_cards_lock(
    app: FastAPI, api: Api, clock: list[float]
) -> None:
    """Issue 21: with the kiosk's channel token alone, a burst of wrong PINs locked every card it
    named. Past `source_max_failures` in the window, a source's logins are a 429 before any card
    is tried, so it locks a handful of cards at most, and other sources log in as before."""
    limit = app.state.core.settings.sessions.source_max_failures
    statuses = []
    for n in range(1, 21):
        for _ in range(3):
            statuses.append(login(api, "kiosk", f"C{n:08d}", pin="000000").status_code)
    assert statuses[:limit] == [401] * limit
    assert set(statuses[limit:]) == {429}
    throttled = login(api, "kiosk", "C00000030")  # the right PIN too: nothing is tried
    assert (throttled.status_code, throttled.json()["field"]) == (429, "pin")
    assert int(throttled.headers["Retry-After"]) > 0
    with TestClient(app, client=("198.51.100.7", 50000)) as elsewhere:
        locked = [
            n
            for n in range(1, 21)
            if login(Api(elsewhere), "kiosk", f"C{n:08d}").status_code == 423
        ]
        assert len(locked) <= limit // 3
        assert login(Api(elsewhere), "online", "C00000021").status_code == 201
    clock[0] += app.state.core.settings.sessions.source_window_s
    assert login(api, "kiosk", "C00000030").status_code == 201


def test_seeded_card_numbers_do_not_follow_one_another() -> None:
    """Issue 21: serials in a row let anyone name (and lock) every seeded card."""
    cards = [credentials(SEED, n).card_number for n in range(1, 201)]
    assert len(set(cards)) == len(cards)
    serials = [int(card[6:-1]) for card in cards]
    steps = {b - a for a, b in itertools.pairwise(serials)}
    assert len(steps) == len(serials) - 1  # no common step between neighbours
    assert credentials(SEED, 1).card_number != credentials(SEED + 1, 1).card_number


def test_a_lock_ends_the_customers_sessions_on_that_channel(api: Api, clock: list[float]) -> None:
    """Issue 21: a session outlived the lock of its card (200 after the 423)."""
    account = api.customer_account()["id"]
    kiosk, online = api.login("kiosk"), api.login("online")
    clock[0] += 1
    for _ in range(3):
        assert login(api, "kiosk", pin="000000").status_code == 401
    ended = api.get(f"/v1/accounts/{account}", kiosk)
    assert (ended.status_code, ended.json()["field"]) == (401, "Authorization")
    assert "ended" in ended.json()["detail"]
    assert api.get(f"/v1/accounts/{account}", online).status_code == 200  # the card's lock only
    clock[0] += 901
    assert api.get(f"/v1/accounts/{account}", api.login("kiosk")).status_code == 200


def test_logging_out_ends_the_session_and_the_customers_others_on_that_channel(
    api: Api, clock: list[float]
) -> None:
    account = api.customer_account()["id"]
    first, second, kiosk = api.login("online"), api.login("online"), api.login("kiosk")
    clock[0] += 1
    out = api.client.delete("/v1/sessions/current", headers=auth(first))
    assert out.status_code == 204, out.text
    for session in (first, second):
        response = api.get(f"/v1/accounts/{account}", session)
        assert (response.status_code, response.json()["field"]) == (401, "Authorization")
    assert api.get(f"/v1/accounts/{account}", kiosk).status_code == 200
    assert api.client.delete("/v1/sessions/current", headers=auth(first)).status_code == 401
    clock[0] += 1
    assert api.get(f"/v1/accounts/{account}", api.login("online")).status_code == 200
    bare = api.client.delete("/v1/sessions/current", headers=auth("online"))
    assert (bare.status_code, bare.json()["field"]) == (401, "Authorization")


def test_a_logout_outlives_a_restart_of_the_core(tmp_path: Path) -> None:
    db = tmp_path / "ledger.sqlite"
    args = ("--customers", "3", "--seed", str(SEED), "--unlimited")
    with serve_api(db, *args) as api:
        session = api.login("online", "C00000002")
        account = api.customer_account("C00000002")["id"]
        assert api.client.delete("/v1/sessions/current", headers=auth(session)).status_code == 204
    with serve_api(db, *args) as api:
        assert api.get(f"/v1/accounts/{account}", session).status_code == 401


def test_failure_counts_of_unknown_cards_are_bounded_and_forgotten(tmp_path: Path) -> None:
    """Issue 21: every made-up card number kept a row for ever."""
    settings = load_settings(
        seed=SEED,
        customers=2,
        unlimited=True,
        sessions={"source_max_failures": 10_000, "max_failure_rows": 100},
    )
    app = create_app(settings, tmp_path / "ledger.sqlite")
    now = [T0]
    app.state.core.clock = lambda: now[0]
    with TestClient(app) as client:
        for n in range(300):
            payload = f"621799{n:09d}"
            card = payload + luhn_check_digit(payload)
            body = {"card_number": card, "pin": "000000"}
            assert client.post("/v1/sessions", json=body, headers=auth("kiosk")).status_code == 401

        def rows() -> int:
            return int(
                app.state.core.conn.execute("SELECT count(*) FROM login_failures").fetchone()[0]
            )

        assert rows() <= 100
        now[0] += settings.sessions.lock_s + 1
        body = {"card_number": credentials(SEED, 1).card_number, "pin": "000000"}
        assert client.post("/v1/sessions", json=body, headers=auth("kiosk")).status_code == 401
        assert rows() == 1
