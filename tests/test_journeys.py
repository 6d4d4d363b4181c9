"""The journeys against a real mock core: each visit's business, its login and session, retries,
refusals and AML truth."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from faker import Faker
from geventhttpclient.header import Headers
from orjson import loads

from mock_core.identity import luhn_check_digit
from mock_core.seed import Credentials, credentials
from surge.bindings.mock_core import MockCore
from surge.visit.binding import BindingOptions
from surge.visit.journeys import (
    FAN_IN_SOURCES,
    JOURNEYS,
    Context,
    Visit,
    VisitResult,
    run_visit,
)
from surge.visit.values import Customer, Tokens
from surge.visit.wire import (
    PlainWire,
    PushBack,
    RequestRecord,
    RetryPolicy,
    Sender,
    idempotency_key,
)
from tests.support import TOKENS, Api, auth, serve

SCHEDULED = 1_700_000_000.0
SEED = 11


class Spy:
    """The journeys' client over httpx: notes what was sent and what came back."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.sent: list[tuple[str, str, dict[str, str], Any]] = []
        self.responses: list[httpx.Response] = []

    def request(
        self, method, path, *, data=None, headers=None, name=None, refusals=()
    ) -> httpx.Response:
        self.sent.append((method, path, dict(headers or {}), None if data is None else loads(data)))
        response = self.client.request(method, path, content=data, headers=headers)
        self.responses.append(response)
        return response


@dataclass
class Target:
    api: Api
    client: httpx.Client
    branches: dict[str, int]
    people: list[Customer]
    balances: dict[str, Decimal]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    db = tmp_path_factory.mktemp("journeys") / "ledger.sqlite"
    with (
        serve(db, "--customers", "40", "--seed", str(SEED), "--unlimited") as (base, _),
        httpx.Client(base_url=base, timeout=10) as client,
    ):
        api = Api(client)
        people, balances = [], {}
        for item in api.ok(api.get("/v1/customers", limit=200), 200)["items"]:
            accounts: dict[str, tuple[str, ...]] = {}
            for account in api.ok(api.get(f"/v1/customers/{item['id']}/accounts"), 200):
                currency = account["currency"]
                accounts[currency] = (*accounts.get(currency, ()), account["id"])
                balances[account["id"]] = Decimal(account["balance"])
            login = credentials(SEED, int(item["id"][1:]))
            people.append(
                Customer(
                    item["id"],
                    item["segment"],
                    item["home_branch"],
                    accounts,
                    login.card_number,
                    login.pin,
                    login.password,
                )
            )
        branches = mock_core().branches(PlainWire(client, PushBack(1), "reading the branches"))
        yield Target(api, client, branches, people, balances)


def mock_core() -> MockCore:
    tokens = Tokens(TOKENS["teller"], TOKENS["kiosk"], TOKENS["online"])
    return MockCore(BindingOptions("http://127.0.0.1", tokens))


def richest(target: Target, *, segments=("affluent", "private"), cny_accounts: int = 1) -> Customer:
    eligible = [
        p
        for p in target.people
        if p.segment in segments and len(p.accounts.get("CNY", [])) >= cny_accounts
    ]
    return max(eligible, key=lambda p: target.balances[p.accounts["CNY"][0]])


_CARDS = iter(range(1, 10_000))


def onboard(target: Target, segment: str = "mass") -> Customer:
    """A new customer with one empty CNY account, a card and PIN and a password."""
    card = f"6228480{next(_CARDS):011d}"
    card += luhn_check_digit(card)
    body = {
        "name": "测试客户",
        "id_number": Faker("zh_CN").ssn(),
        "phone": "13800138000",
        "segment": segment,
        "home_branch": "B002",
        "card_number": card,
        "pin": "246810",
        "password": "journeys-password",
    }
    created = target.api.ok(target.api.post("/v1/customers", body))
    accounts = {"CNY": (created["accounts"][0]["id"],)}
    return Customer(created["id"], segment, "B002", accounts, card, "246810", "journeys-password")


def go(
    target: Target | None,
    channel: str,
    operation: str,
    customer: Customer,
    *,
    seed: int = 1,
    client: Any = None,
    sleep: Any = None,
    branches: dict[str, int] | None = None,
    **visit: Any,
) -> tuple[VisitResult, list[RequestRecord], list[float]]:
    records: list[RequestRecord] = []
    delays: list[float] = []
    ctx = Context(
        client=client or Spy(target.client),
        binding=mock_core(),
        record=records.append,
        branches=branches or target.branches,
        sleep=sleep or delays.append,
    )
    visit.setdefault("counterparties", target.people if target else ())
    result = run_visit(
        Visit(channel, operation, customer, random.Random(seed), SCHEDULED, **visit), ctx
    )
    return result, records, delays


def steps(records: list[RequestRecord]) -> list[str]:
    return [r.step for r in records]


def balance(api: Api, account: str) -> Decimal:
    return Decimal(api.ok(api.get(f"/v1/accounts/{account}"), 200)["balance"])


def assert_clean(records: list[RequestRecord], channel: str, journey: str) -> None:
    for r in records:
        assert 200 <= r.status < 300, r
        assert (r.outcome, r.error, r.retries) == ("ok", "", 0), r
        assert (r.channel, r.journey, r.scheduled) == (channel, journey, SCHEDULED)
        assert r.start <= r.end
        assert not any(ch.isdigit() for ch in r.name.removeprefix("/v1/")), r.name


COUNTER_STEPS = {
    "cash_deposit": ["deposit"],
    "cash_withdrawal": ["withdraw"],
    "transfer": ["transfer"],
    "loan_application": ["apply", "decide"],
    "wealth_order": ["order"],
    "enquiry": ["open", "answer", "close"],
    "complaint": ["open", "answer"],
}


@pytest.mark.parametrize("operation", JOURNEYS["counter"][:8])
def test_each_counter_operation_is_ticket_call_business_complete(target, operation) -> None:
    customer = richest(target)
    result, records, _ = go(target, "counter", operation, customer)
    assert result.ok, records
    assert not result.refused, records
    assert_clean(records, "counter", operation)
    business = steps(records)[2:-1]
    if operation == "fx_exchange":  # a customer without a foreign account opens one first
        assert [s for s in business if s != "open_account"] == ["quote", "exchange"]
    else:
        assert business == COUNTER_STEPS[operation]
    assert steps(records)[:2] == ["take_ticket", "call_next"]
    assert records[-1].step == "complete"
    assert records[0].name == "/v1/branches/{branch_id}/tickets"


KIOSK_STEPS = {
    "balance": ["login", "balance"],
    "statement": ["login", "statement"],
    "cash_deposit": ["login", "deposit"],
    "cash_withdrawal": ["login", "withdraw"],
    "own_transfer": ["login", "transfer"],
    "fx_quote": ["login", "quote"],
    "ticket": ["login", "take_ticket"],
}


def assert_logged_in(spy: Spy, channel: str, customer: Customer) -> str:
    """The visit's first request opened `customer`'s session with the channel's token and no
    key, and every later one carried that session; returns its token."""
    method, path, headers, body = spy.sent[0]
    assert (method, path, headers["Authorization"]) == (
        "POST",
        "/v1/sessions",
        f"Bearer {TOKENS[channel]}",
    )
    assert "Idempotency-Key" not in headers
    if channel == "kiosk":
        assert body == {"card_number": customer.card_number, "pin": customer.pin}
    else:
        assert body == {"customer_id": customer.customer_id, "password": customer.password}
    opened = spy.responses[0].json()
    assert (opened["customer_id"], opened["channel"]) == (customer.customer_id, channel)
    session = f"Bearer {opened['session_token']}"
    for _, path, headers, _ in spy.sent[1:]:
        teller = path == "/v1/accounts"  # a kiosk's new account is opened by a teller
        assert headers["Authorization"] == (auth("teller")["Authorization"] if teller else session)
    return opened["session_token"]


@pytest.mark.parametrize("operation", JOURNEYS["kiosk"])
def test_each_kiosk_operation_logs_in_and_completes_within_kiosk_limits(target, operation) -> None:
    spy = Spy(target.client)
    customer = richest(target, cny_accounts=2)
    result, records, _ = go(target, "kiosk", operation, customer, client=spy)
    assert result.ok, records
    assert not result.refused, records
    assert_clean(records, "kiosk", operation)
    assert steps(records) == KIOSK_STEPS[operation]
    assert records[0].name == "/v1/sessions"
    assert records[0].key == ""
    assert all(r.key for r in records[1:] if r.method == "POST")
    assert_logged_in(spy, "kiosk", customer)
    for _, _, _, body in spy.sent:
        if body and "amount" in body:
            assert Decimal(body["amount"]) <= 5_000


def test_a_kiosk_own_transfer_opens_the_second_account_when_the_customer_has_one(target) -> None:
    customer = richest(target, segments=("mass",))
    customer.accounts["CNY"] = customer.accounts["CNY"][:1]
    spy = Spy(target.client)
    result, records, _ = go(target, "kiosk", "own_transfer", customer, client=spy)
    assert result.ok, records
    assert not result.refused, records
    assert steps(records) == ["login", "open_account", "transfer"]
    assert_logged_in(spy, "kiosk", customer)  # the account opened by a teller, as at a counter
    assert len(customer.accounts["CNY"]) == 2
    assert balance(target.api, customer.accounts["CNY"][1]) > 0


ONLINE_STEPS = {
    "browse_slots": ["login", "browse_slots"],
    "book": ["login", "browse_slots", "book"],
    "cancel": ["login", "browse_slots", "book", "cancel"],
    "check_in": ["login", "browse_slots", "book", "check_in"],
    "transfer": ["login", "transfer"],
}


@pytest.mark.parametrize("operation", JOURNEYS["online"][:5])
def test_each_online_operation_logs_in_and_completes(target, operation) -> None:
    spy = Spy(target.client)
    customer = richest(target) if operation == "transfer" else onboard(target)
    result, records, _ = go(target, "online", operation, customer, client=spy)
    assert result.ok, records
    assert not result.refused, records
    assert_clean(records, "online", operation)
    assert steps(records) == ONLINE_STEPS[operation]
    assert_logged_in(spy, "online", customer)
    if operation != "transfer":
        tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86_400))
        assert spy.sent[1][1].endswith(f"?day={tomorrow}")
    if operation == "check_in":
        assert spy.responses[-1].json()["ticket"]["priority"] is True


def test_a_journeys_session_reaches_its_customer_and_no_other(target) -> None:
    """The session a kiosk visit opened reads the customer's own account; another customer's
    account, statement and cash are answered 404, as for accounts that do not exist."""
    spy = Spy(target.client)
    customer = richest(target)
    result, _, _ = go(target, "kiosk", "balance", customer, client=spy)
    assert result.ok
    session = {"Authorization": f"Bearer {assert_logged_in(spy, 'kiosk', customer)}"}
    mine = customer.accounts["CNY"][0]
    other = next(p for p in target.people if p.customer_id != customer.customer_id)
    theirs = other.accounts["CNY"][0]
    assert target.client.get(f"/v1/accounts/{mine}", headers=session).status_code == 200
    assert target.client.get(f"/v1/accounts/{theirs}", headers=session).status_code == 404
    statement = target.client.get(f"/v1/accounts/{theirs}/statement", headers=session)
    assert statement.status_code == 404
    withdrawal = {"account_id": theirs, "amount": "100.00", "currency": "CNY",
                  "branch_id": "B001", "operator_id": "K-B001-01"}  # fmt: skip
    taken = target.client.post(
        "/v1/cash/withdrawals",
        json=withdrawal,
        headers={**session, "Idempotency-Key": idempotency_key()},
    )
    assert taken.status_code == 404, taken.text
    assert balance(target.api, theirs) == target.balances[theirs]


@pytest.mark.parametrize(("channel", "operation"), [("kiosk", "balance"), ("online", "book")])
def test_a_refused_login_leaves_the_visit_unfinished_at_step_login(
    target, channel, operation
) -> None:
    """A wrong PIN or password is a harness bug, not a customer's outcome: the step fails,
    nothing else is sent, and the credential appears in no record."""
    right = onboard(target)
    wrong = Customer(
        right.customer_id, right.segment, right.home_branch, right.accounts,
        right.card_number, "135799", "not-the-password",
    )  # fmt: skip
    spy = Spy(target.client)
    result, records, delays = go(target, channel, operation, wrong, client=spy)
    assert (result.ok, result.failed_step) == (False, "login")
    assert [(r.step, r.name, r.status, r.outcome) for r in records] == [
        ("login", "/v1/sessions", 401, "failed")
    ]
    assert len(spy.sent) == 1
    assert delays == []
    for secret in ("135799", "not-the-password", right.card_number):
        assert all(secret not in str(field) for r in records for field in r)


def test_each_fan_in_payer_logs_in_on_a_session_of_its_own(target) -> None:
    payers = [p for p in target.people if target.balances[p.accounts["CNY"][0]] > 1_000]
    spy = Spy(target.client)
    result, records, _ = go(target, "online", "fan_in", onboard(target), client=spy,
                            counterparties=payers)  # fmt: skip
    assert result.ok, records
    assert steps(records) == ["login", "transfer"] * FAN_IN_SOURCES
    logins = [body["customer_id"] for _, path, _, body in spy.sent if path == "/v1/sessions"]
    by_id = {p.customer_id: p for p in payers}
    assert len(set(logins)) == FAN_IN_SOURCES
    for n in range(FAN_IN_SOURCES):
        (_, _, _, login), (_, _, paid, transfer) = spy.sent[2 * n : 2 * n + 2]
        payer = by_id[login["customer_id"]]
        assert login["password"] == payer.password
        token = spy.responses[2 * n].json()["session_token"]
        assert paid["Authorization"] == f"Bearer {token}"
        assert transfer["from_account"] == payer.accounts["CNY"][0]


def test_a_full_day_sends_the_customer_to_the_next_one(target) -> None:
    """Tomorrow's windows all full: the customer books the day after."""
    customer = onboard(target)
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86_400))
    slots = target.api.ok(target.api.get("/v1/branches/B002/slots", day=tomorrow), 200)
    for slot in slots["slots"]:
        for _ in range(slot["available"]):
            filler = onboard(target)
            body = {
                "branch_id": "B002",
                "day": tomorrow,
                "start": slot["start"],
                "customer_id": filler.customer_id,
                "service_type": "cash",
            }
            given = Credentials(filler.card_number, filler.pin, filler.password)
            session = target.api.login("online", filler.customer_id, given)
            target.api.ok(target.api.post("/v1/appointments", body, session))
    spy = Spy(target.client)
    result, records, _ = go(target, "online", "book", customer, client=spy)
    assert result.ok
    assert not result.refused
    assert steps(records) == ["login", "browse_slots", "browse_slots", "book"]
    assert spy.sent[-1][3]["day"] != tomorrow


def test_a_high_value_customer_takes_a_priority_ticket(target) -> None:
    spy = Spy(target.client)
    result, _, _ = go(target, "counter", "enquiry", onboard(target), client=spy, high_value=True)
    assert result.ok
    assert spy.sent[0][3]["priority"] is True
    assert spy.responses[0].json()["priority"] is True


def test_a_premium_customer_orders_a_premium_product_and_a_mass_one_the_bond(target) -> None:
    premium, mass = Spy(target.client), Spy(target.client)
    go(target, "counter", "wealth_order", richest(target), client=premium)
    go(target, "counter", "wealth_order", richest(target, segments=("mass",)), client=mass)
    assert premium.sent[2][3]["product_id"] in ("WP-BAL1Y", "WP-USD6M")
    assert mass.sent[2][3]["product_id"] == "WP-BOND90"


def test_a_visit_replays_from_its_seed(target) -> None:
    first, second = Spy(target.client), Spy(target.client)
    for spy in (first, second):
        go(target, "counter", "transfer", richest(target), seed=42, client=spy)
    bodies = [[(m, body) for m, _, _, body in spy.sent] for spy in (first, second)]
    assert bodies[0] == bodies[1]
    assert first.sent[2][3]["amount"] == second.sent[2][3]["amount"]


@pytest.mark.parametrize(
    ("channel", "pattern"),
    [("counter", "structuring"), ("counter", "large_cash"), ("online", "fan_in")],
)
def test_a_suspicious_visit_raises_the_alert_it_expects(target, channel, pattern) -> None:
    customer = onboard(target)
    payers = [p for p in target.people if target.balances[p.accounts["CNY"][0]] > 1_000]
    assert len(payers) >= FAN_IN_SOURCES
    result, records, _ = go(target, channel, pattern, customer, counterparties=payers)
    assert result.ok, records
    expected = result.expected_alert
    assert expected is not None
    assert (expected.rule, expected.customer_id) == (pattern, customer.customer_id)
    alerts = target.api.ok(target.api.get("/admin/alerts", "admin", rule=pattern, limit=200), 200)
    raised = {(a["customer_id"], a["account_id"]) for a in alerts["items"]}
    assert (expected.customer_id, expected.account_id) in raised


def test_an_ordinary_visit_expects_no_alert(target) -> None:
    result, _, _ = go(target, "kiosk", "cash_deposit", onboard(target))
    assert result.ok
    assert result.expected_alert is None


class Faults:
    """Injects faults (admin); `sleep` notes each wait and lifts them, as time passing would."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.delays: list[float] = []

    def inject(self, **spec: Any) -> None:
        self.target.api.ok(self.target.api.post("/admin/faults", spec, "admin"))

    def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        self.clear()

    def clear(self) -> None:
        self.target.client.delete("/admin/faults", headers=auth("admin"))


@pytest.fixture
def faults(target) -> Iterator[Faults]:
    faults = Faults(target)
    yield faults
    faults.clear()


def test_a_503_is_retried_with_the_same_key_after_retry_after_and_posts_once(
    target, faults
) -> None:
    customer = onboard(target)
    faults.inject(kind="error", status=503, target="path:/v1/cash/*", probability=1, duration=60)
    spy = Spy(target.client)
    result, records, _ = go(
        target, "kiosk", "cash_deposit", customer, client=spy, sleep=faults.sleep
    )
    assert result.ok, records
    assert [(r.step, r.status, r.retries, r.outcome) for r in records] == [
        ("login", 201, 0, "ok"),
        ("deposit", 503, 0, "retried"),
        ("deposit", 201, 1, "ok"),
    ]
    assert records[1].error == "503 Injected fault"
    assert faults.delays == [1.0]  # the fault's Retry-After
    keys = [h["Idempotency-Key"] for _, _, h, _ in spy.sent[1:]]
    assert len(keys) == 2
    assert keys[0] == keys[1]
    assert balance(target.api, customer.accounts["CNY"][0]) == Decimal(spy.sent[1][3]["amount"])
    assert target.api.reconcile()["ok"]


def test_a_lost_acknowledgement_is_retried_and_answered_from_the_record(target, faults) -> None:
    """The deposit posts, the connection is reset before the answer: the retry must not post."""
    customer = onboard(target)
    faults.inject(kind="reset", target="path:/v1/cash/deposits", probability=1)
    spy = Spy(target.client)
    result, records, _ = go(
        target, "kiosk", "cash_deposit", customer, client=spy, sleep=faults.sleep
    )
    assert result.ok, records
    assert [(r.status, r.outcome) for r in records] == [(201, "ok"), (0, "retried"), (201, "ok")]
    assert records[1].error
    assert spy.responses[-1].headers["Idempotent-Replayed"] == "true"
    account = customer.accounts["CNY"][0]
    assert balance(target.api, account) == Decimal(spy.sent[1][3]["amount"])
    lines = target.api.ok(target.api.get(f"/v1/accounts/{account}/statement"), 200)["items"]
    assert len(lines) == 1
    report = target.api.reconcile()
    assert report["ok"], report


def test_retries_are_bounded_and_the_ticket_is_still_completed(target, faults) -> None:
    faults.inject(kind="error", status=503, target="path:/v1/cash/*", probability=1, duration=60)
    result, records, delays = go(target, "counter", "cash_deposit", onboard(target))
    assert not result.ok
    assert result.failed_step == "deposit"
    deposits = [r for r in records if r.step == "deposit"]
    assert [(r.retries, r.outcome) for r in deposits] == [
        (0, "retried"),
        (1, "retried"),
        (2, "retried"),
        (3, "failed"),
    ]
    assert delays == [1.0, 1.0, 1.0]
    assert records[-1].step == "complete"
    assert records[-1].outcome == "ok"
    assert target.api.reconcile()["ok"]


def test_insufficient_funds_is_an_outcome_not_an_error_or_a_retry(target) -> None:
    result, records, delays = go(target, "kiosk", "cash_withdrawal", onboard(target))
    assert result.ok
    assert result.refused
    assert [(r.step, r.status, r.outcome, r.retries) for r in records] == [
        ("login", 201, "ok", 0),
        ("withdraw", 422, "refused", 0),
    ]
    assert records[1].error == "422 Insufficient funds"
    assert delays == []


def test_a_sold_out_launch_is_an_outcome_and_the_ticket_completes(api: Api) -> None:
    """In process: the whole launch quota is bought first, then a customer asks for more."""
    buyer = api.ok(api.get("/v1/customers/C00000001"), 200)
    account = next(a["id"] for a in buyer["accounts"] if a["currency"] == "CNY")
    deposit = {
        "account_id": account,
        "amount": "5000000.00",
        "branch_id": "B001",
        "operator_id": "T",
    }
    api.ok(api.post("/v1/cash/deposits", deposit))
    order = {
        "product_id": "WP-LAUNCH",
        "customer_id": buyer["id"],
        "account_id": account,
        "units": 500,
    }
    api.ok(api.post("/v1/wealth/orders", order))
    late = Customer(buyer["id"], buyer["segment"], buyer["home_branch"], {"CNY": (account,)})
    result, records, delays = go(
        None,
        "counter",
        "wealth_order",
        late,
        client=Spy(api.client),
        branches={"B001": 6},
        launch=True,
    )
    assert result.ok
    assert result.refused
    order_rows = [r for r in records if r.step == "order"]
    assert [(r.status, r.outcome, r.error) for r in order_rows] == [
        (409, "refused", "409 Sold out")
    ]
    assert records[-1].step == "complete"
    assert records[-1].outcome == "ok"
    assert delays == []


def test_a_visit_the_journeys_cannot_do_is_a_value_error(target) -> None:
    with pytest.raises(ValueError, match="no 'fan_in' journey on the kiosk channel"):
        go(target, "kiosk", "fan_in", richest(target))
    with pytest.raises(ValueError, match="needs 6 counterparties"):
        go(target, "online", "fan_in", richest(target), counterparties=target.people[:3])


# The retry rules, with a scripted client --------------------------------------------------------


class Scripted:
    """Answers each request with the next scripted reply: (status, headers, body), a response
    object as it is, or an exception."""

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.sent: list[dict[str, str]] = []

    def request(
        self, method, path, *, data=None, headers=None, name=None, refusals=()
    ) -> httpx.Response:
        self.sent.append(dict(headers or {}))
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        if not isinstance(reply, tuple):
            return reply
        status, headers, body = reply
        return httpx.Response(status, headers=headers, content=body)


def sender(
    client: Scripted, delays: list[float], records: list[RequestRecord], **policy: Any
) -> Sender:
    return Sender(
        client,
        records.append,
        delays.append,
        RetryPolicy(**policy),
        "kiosk",
        "j",
        SCHEDULED,
        "C1",
        7,
    )


OK = (200, {}, b'{"ok": true}')


def send(client: Scripted, method: str = "POST", refusals=(), **policy: Any):
    delays: list[float] = []
    records: list[RequestRecord] = []
    reply = sender(client, delays, records, **policy).send(
        "step", method, "/x", name="/x", headers={"Authorization": "Bearer t"}, refusals=refusals
    )
    return reply, records, delays


def test_an_unkeyed_post_carries_its_json_and_no_key_and_is_recorded_without_one() -> None:
    """A login moves nothing: no Idempotency-Key, so no key for the ledger checks to look for."""
    client = Scripted((503, {}, b""), OK)
    records: list[RequestRecord] = []
    headers = {"Authorization": "Bearer t"}
    reply = sender(client, [], records).send(
        "login", "POST", "/v1/sessions", name="/v1/sessions", headers=headers,
        json={"pin": "123456"}, keyed=False,
    )  # fmt: skip
    assert reply.outcome == "ok"
    assert client.sent == [{**headers, "Content-Type": "application/json"}] * 2
    assert [(r.key, r.outcome) for r in records] == [("", "retried"), ("", "ok")]
    assert headers == {"Authorization": "Bearer t"}  # the shared header is never changed


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    client = Scripted((503, {"Retry-After": "2"}, b""), (503, {"Retry-After": "30"}, b""), OK)
    reply, _, delays = send(client, max_delay=5)
    assert reply.outcome == "ok"
    assert reply.body == {"ok": True}
    assert delays == [2.0, 5.0]


def test_a_retry_after_sent_twice_waits_its_first_value() -> None:
    """Locust's FastHttpSession (geventhttpclient) gives a header sent twice as a list, httpx as
    one comma-joined string; either way the step waits the first value and is sent again. The
    list once raised a TypeError out of the step."""
    twice = Headers()
    twice.add("Retry-After", "2")
    twice.add("Retry-After", "3")
    fast = SimpleNamespace(status_code=503, headers=twice, content=b"", text="")
    client = Scripted(fast, (503, [("Retry-After", "2"), ("Retry-After", "3")], b""), OK)
    reply, _, delays = send(client)
    assert reply.outcome == "ok"
    assert delays == [2.0, 2.0]


def test_without_retry_after_the_backoff_doubles_with_jitter() -> None:
    client = Scripted(*[(504, {}, b"")] * 3, OK)
    _, _, delays = send(client)
    for n, delay in enumerate(delays):
        assert 0.2 * 2**n * 0.5 <= delay <= 0.2 * 2**n * 1.5
    assert len(delays) == 3


def test_a_write_keeps_its_key_across_retries_and_a_read_has_none() -> None:
    write = Scripted(OSError("connection refused"), (503, {}, b""), OK)
    reply, records, _ = send(write)
    assert reply.outcome == "ok"
    assert len({h["Idempotency-Key"] for h in write.sent}) == 1
    assert len(write.sent) == 3
    assert [(r.status, r.retries) for r in records] == [(0, 0), (503, 1), (200, 2)]
    assert records[0].error == "OSError: connection refused"
    assert {r.key for r in records} == {write.sent[0]["Idempotency-Key"]}
    assert {r.customer for r in records} == {"C1"}
    read = Scripted((503, {}, b""), OK)
    _, read_records, _ = send(read, "GET")
    assert all("Idempotency-Key" not in h for h in read.sent)
    assert {r.key for r in read_records} == {""}


def test_a_409_in_flight_is_retried_and_a_409_answer_is_not() -> None:
    in_flight = Scripted((409, {"Retry-After": "1"}, b'{"title": "Request in flight"}'), OK)
    assert send(in_flight, refusals=(409,))[0].outcome == "ok"
    sold_out = Scripted((409, {}, b'{"title": "Sold out"}'))
    reply, records, delays = send(sold_out, refusals=(409,))
    assert (reply.outcome, records[0].error, delays) == ("refused", "409 Sold out", [])
    unexpected = Scripted((409, {}, b'{"title": "Already decided"}'))
    assert send(unexpected)[0].outcome == "failed"


@pytest.mark.parametrize(
    ("body", "worded"),
    [
        (b'{"title": "Sold out"}', "409 Sold out"),
        (
            b'{"error": {"code": "insufficient_funds", "message": "account 6222"}}',
            "409 insufficient_funds",
        ),
        (b'{"code": "LIMIT_REACHED", "detail": "customer C00000007"}', "409 LIMIT_REACHED"),
        (b'{"error": "account 6222020000000000018 is closed"}', "409 Conflict"),
        (b"account 6222020000000000018 is closed", "409 Conflict"),
    ],
)
def test_an_error_answer_is_recorded_by_its_title_or_code_never_its_free_text(
    body: bytes, worded: str
) -> None:
    """Another API's error shape (docs/bindings.md) must not put an account number in the
    records, which the report groups errors by."""
    reply, records, _ = send(Scripted((409, {}, body)), refusals=(409,))
    assert (reply.outcome, records[0].error) == ("refused", worded)


def test_an_unreadable_acknowledgement_is_asked_for_again() -> None:
    client = Scripted((201, {}, b'{"id": "T0'), (201, {}, b'{"id": "T1"}'))
    reply, records, _ = send(client)
    assert reply.body == {"id": "T1"}
    assert [r.outcome for r in records] == ["retried", "ok"]
    assert records[0].error == "201 unreadable body"


def test_a_status_0_response_is_a_transport_error() -> None:
    """Locust's FastHttpSession returns status 0 with `.error` instead of raising."""

    class Failed:
        status_code, headers, content, text = 0, {}, None, ""
        error = "ConnectionRefusedError(111)"

    class LocustLike:
        def request(self, method, path, *, data=None, headers=None, name=None, refusals=()) -> Any:
            return Failed()

    records: list[RequestRecord] = []
    reply = Sender(
        LocustLike(),
        records.append,
        lambda _: None,
        RetryPolicy(max_retries=1, reconnect_s=0),
        "k",
        "j",
        0.0,
        "C1",
        1,
    ).send("s", "GET", "/x", name="/x", headers={})
    assert reply.outcome == "failed"
    assert reply.status == 0
    assert [(r.status, r.error) for r in records] == [(0, "ConnectionRefusedError(111)")] * 2


def test_a_401_is_sent_once_more_with_the_renewed_token_and_the_same_key() -> None:
    """A token can expire on its way (in a queue longer than the refresh lead): the credentials
    renew it and the request goes again at once, with its idempotency key; a second 401 stands."""
    renewals: list[dict[str, str]] = []

    def renew(sent: Mapping[str, str]) -> dict[str, str]:
        renewals.append(dict(sent))
        return {**sent, "Authorization": f"Bearer t{len(renewals) + 1}"}

    expired = (401, {}, b'{"title": "token_expired"}')
    for replies, outcomes in (
        ((expired, OK), ["retried", "ok"]),
        ((expired, expired), ["retried", "failed"]),
    ):
        client, records, delays = Scripted(*replies), [], []
        one = sender(client, delays, records)
        one.renew = renew
        reply = one.send("step", "POST", "/x", name="/x", headers={"Authorization": "Bearer t"})
        assert [r.outcome for r in records] == outcomes
        assert reply.outcome == outcomes[-1]
        assert [h["Authorization"] for h in client.sent] == ["Bearer t", "Bearer t2"]
        assert client.sent[0]["Idempotency-Key"] == client.sent[1]["Idempotency-Key"]
        assert delays == [0.0]
        renewals.clear()
    _, records, _ = send(Scripted(expired))  # no credentials to renew: the 401 stands
    assert [r.outcome for r in records] == ["failed"]


def test_a_forked_process_makes_idempotency_keys_unlike_its_parents() -> None:
    """Locust's --processes forks its workers after importing the harness."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.write(write, idempotency_key().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    theirs = os.read(read, 200).decode()
    os.close(read)
    ours = idempotency_key()
    assert theirs.rsplit("-", 1)[0] != ours.rsplit("-", 1)[0]


def test_a_system_that_stopped_listening_is_waited_for_beyond_the_retries() -> None:
    """A core killed and started again (the crash drill) refuses connections for seconds: the
    step keeps its key and retries until it answers, within `reconnect_s`."""
    refused = [OSError("connection refused")] * 6
    reply, records, delays = send(Scripted(*refused, OK), max_retries=3)
    assert reply.outcome == "ok"
    assert len({r.key for r in records}) == 1
    assert [r.outcome for r in records] == ["retried"] * 6 + ["ok"]
    assert sum(delays) <= RetryPolicy().reconnect_s


def test_waiting_for_a_system_to_listen_again_is_bounded() -> None:
    refused = [OSError("connection refused")] * 50
    reply, records, delays = send(Scripted(*refused), reconnect_s=3)
    assert reply.outcome == "failed"
    assert sum(delays) <= 3
    assert len(records) < 50
    unanswered = [(504, {}, b"")] * 10
    assert len(send(Scripted(*unanswered, OK), reconnect_s=3)[1]) == 4  # max_retries + 1
