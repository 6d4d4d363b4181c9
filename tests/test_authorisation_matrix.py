"""The authorisation matrix: every operation of the live OpenAPI document against every credential,
and against another customer's session, answered exactly as documented (issue 12).

What each credential should get comes from the document alone: no `security` means open to all; a
missing, expired or forged token is 401; a channel outside the operation's `x-channels` is 403;
the bare kiosk or online channel token where `x-session-channels` names that channel is 401; any
other credential in scope gets the operation's documented 2xx. A customer-owned resource of
customer A asked for in customer B's session is 404. An operation without an example request here
fails the test, so a new endpoint cannot be left out of the matrix.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mock_core.app import create_app
from mock_core.seed import credentials
from mock_core.sessions import Session as Signed
from mock_core.settings import Settings, load_settings
from tests.support import SEED, TOKENS, Api

A, B = "C00000001", "C00000002"
CREDENTIALS = (
    "none",
    "teller",
    "kiosk",
    "kiosk session",
    "online",
    "online session",
    "admin",
    "expired session",
    "forged session",
)
TOMORROW = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()
NEW_CUSTOMER = {
    "name": "王小明",
    "id_number": "11010519491231002X",
    "phone": "13812345678",
    "home_branch": "B001",
}
Ids = dict[str, str]


@dataclass(frozen=True)
class Example:
    """A request the operation answers with its 2xx for any credential in its scope."""

    path: Callable[[Ids], str]
    body: Callable[[Ids, str], Any] | None = None
    """Given the ids and the credential's channel."""
    query: dict[str, str] | None = None
    owned: bool = False
    """It names a resource of customer A: customer B's session must get 404."""
    prepare: Callable[[Api], None] | None = None


def _fixed(path: str) -> Callable[[Ids], str]:
    return lambda ids: path.format(**ids)


def _login(ids: Ids, channel: str) -> dict[str, str]:
    if channel == "online":
        return {"customer_id": A, "password": ids["password"]}
    return {"card_number": ids["card"], "pin": ids["pin"]}


def _add_fault(api: Api) -> None:
    api.ok(api.post("/admin/faults", {"kind": "hang", "target": "path:/nowhere"}, "admin"))


EXAMPLES: dict[str, Example] = {
    "POST /v1/sessions": Example(_fixed("/v1/sessions"), _login),
    "DELETE /v1/sessions/current": Example(_fixed("/v1/sessions/current")),
    "POST /v1/customers": Example(_fixed("/v1/customers"), lambda i, c: NEW_CUSTOMER),
    "GET /v1/customers": Example(_fixed("/v1/customers")),
    "GET /v1/customers/{customer_id}": Example(_fixed(f"/v1/customers/{A}")),
    "GET /v1/customers/{customer_id}/accounts": Example(
        _fixed(f"/v1/customers/{A}/accounts"), owned=True
    ),
    "POST /v1/accounts": Example(_fixed("/v1/accounts"), lambda i, c: {"customer_id": A}),
    "GET /v1/accounts/{account_id}": Example(_fixed("/v1/accounts/{cny}"), owned=True),
    "GET /v1/accounts/{account_id}/statement": Example(
        _fixed("/v1/accounts/{cny}/statement"), owned=True
    ),
    "POST /v1/cash/deposits": Example(
        _fixed("/v1/cash/deposits"),
        lambda i, c: {
            "account_id": i["cny"],
            "amount": "10.00",
            "branch_id": "B001",
            "operator_id": "K01",
        },
        owned=True,
    ),
    "POST /v1/cash/withdrawals": Example(
        _fixed("/v1/cash/withdrawals"),
        lambda i, c: {
            "account_id": i["cny"],
            "amount": "10.00",
            "branch_id": "B001",
            "operator_id": "K01",
        },
        owned=True,
    ),
    "POST /v1/transfers": Example(
        _fixed("/v1/transfers"),
        lambda i, c: {"from_account": i["cny"], "to_account": i["savings"], "amount": "1.00"},
        owned=True,
    ),
    "POST /v1/loans": Example(
        _fixed("/v1/loans"),
        lambda i, c: {"customer_id": A, "amount": "1000.00", "term_months": 12, "purpose": "shop"},
    ),
    "GET /v1/loans/{loan_id}": Example(_fixed("/v1/loans/{pending_loan}")),
    "POST /v1/loans/{loan_id}/decision": Example(
        _fixed("/v1/loans/{pending_loan}/decision"), lambda i, c: {"decision": "approve"}
    ),
    "POST /v1/loans/{loan_id}/disbursement": Example(
        _fixed("/v1/loans/{approved_loan}/disbursement"), lambda i, c: {"account_id": i["cny"]}
    ),
    "GET /v1/wealth/products": Example(_fixed("/v1/wealth/products")),
    "GET /v1/wealth/products/{product_id}": Example(_fixed("/v1/wealth/products/WP-CASH")),
    "POST /v1/wealth/orders": Example(
        _fixed("/v1/wealth/orders"),
        lambda i, c: {
            "product_id": "WP-CASH",
            "customer_id": A,
            "account_id": i["cny"],
            "units": 1,
        },
    ),
    "POST /v1/fx/quotes": Example(
        _fixed("/v1/fx/quotes"),
        lambda i, c: {"sell_currency": "CNY", "buy_currency": "USD", "sell_amount": "100.00"},
    ),
    "POST /v1/fx/exchanges": Example(
        _fixed("/v1/fx/exchanges"),
        lambda i, c: {"quote_id": i["quote"], "from_account": i["cny"], "to_account": i["usd"]},
    ),
    "GET /v1/branches": Example(_fixed("/v1/branches")),
    "POST /v1/branches/{branch_id}/tickets": Example(
        _fixed("/v1/branches/B001/tickets"),
        lambda i, c: {"service_type": "cash", "customer_id": A},
        owned=True,
    ),
    "POST /v1/branches/{branch_id}/counters/{counter_id}/call-next": Example(
        _fixed("/v1/branches/B003/counters/C01/call-next")
    ),
    "POST /v1/tickets/{ticket_id}/complete": Example(_fixed("/v1/tickets/{called}/complete")),
    "POST /v1/tickets/{ticket_id}/no-show": Example(_fixed("/v1/tickets/{called}/no-show")),
    "GET /v1/tickets/{ticket_id}": Example(_fixed("/v1/tickets/{ticket}"), owned=True),
    "GET /v1/branches/{branch_id}/queue": Example(_fixed("/v1/branches/B001/queue")),
    "GET /v1/branches/{branch_id}/slots": Example(
        _fixed("/v1/branches/B001/slots"), query={"day": TOMORROW}
    ),
    "POST /v1/appointments": Example(
        _fixed("/v1/appointments"),
        lambda i, c: {
            "branch_id": "B001",
            "day": TOMORROW,
            "start": "10:00",
            "customer_id": A,
            "service_type": "loan",
        },
        owned=True,
    ),
    "POST /v1/appointments/{appointment_id}/cancel": Example(
        _fixed("/v1/appointments/{appointment}/cancel"), owned=True
    ),
    "POST /v1/appointments/{appointment_id}/check-in": Example(
        _fixed("/v1/appointments/{appointment}/check-in"), owned=True
    ),
    "GET /v1/appointments/{appointment_id}": Example(
        _fixed("/v1/appointments/{appointment}"), owned=True
    ),
    "POST /v1/enquiries": Example(
        _fixed("/v1/enquiries"),
        lambda i, c: {
            "customer_id": A,
            "kind": "enquiry",
            "channel": "counter",
            "subject": "card",
            "text": "lost",
        },
    ),
    "POST /v1/enquiries/{enquiry_id}/answers": Example(
        _fixed("/v1/enquiries/{enquiry}/answers"), lambda i, c: {"text": "found"}
    ),
    "POST /v1/enquiries/{enquiry_id}/close": Example(_fixed("/v1/enquiries/{enquiry}/close")),
    "GET /v1/enquiries/{enquiry_id}": Example(_fixed("/v1/enquiries/{enquiry}")),
    "GET /admin/reconcile": Example(_fixed("/admin/reconcile")),
    "GET /admin/ledger/keys": Example(_fixed("/admin/ledger/keys")),
    "GET /admin/alerts": Example(_fixed("/admin/alerts")),
    "POST /admin/reset": Example(_fixed("/admin/reset"), lambda i, c: {"customers": 5}),
    "GET /admin/capacity": Example(_fixed("/admin/capacity")),
    "PUT /admin/capacity": Example(_fixed("/admin/capacity"), lambda i, c: {"unlimited": True}),
    "GET /admin/faults": Example(_fixed("/admin/faults")),
    "POST /admin/faults": Example(
        _fixed("/admin/faults"), lambda i, c: {"kind": "hang", "target": "path:/nowhere"}
    ),
    "DELETE /admin/faults": Example(_fixed("/admin/faults")),
    "DELETE /admin/faults/{fault_id}": Example(_fixed("/admin/faults/F0001"), prepare=_add_fault),
    "GET /metrics": Example(_fixed("/metrics")),
    "GET /healthz": Example(_fixed("/healthz")),
}


@dataclass
class World:
    """A ledger holding one of everything, copied afresh for every request that may change it."""

    settings: Settings
    template: sqlite3.Connection
    folder: Path
    ids: Ids
    tokens: dict[str, str]
    """credential -> bearer token; "other kiosk" and "other online" are customer B's sessions."""
    doc: dict[str, Any]

    def fresh(self) -> TestClient:
        target = self.folder / f"{uuid.uuid4().hex}.sqlite"
        with sqlite3.connect(target) as copy:
            self.template.backup(copy)
        copy.close()
        return TestClient(create_app(self.settings, target))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("matrix")
    settings = load_settings(seed=SEED, customers=10, unlimited=True)
    app = create_app(settings, folder / "template.sqlite")
    with TestClient(app) as client:
        api = Api(client)
        kiosk, online = api.login("kiosk", A), api.login("online", A)
        cny = api.customer_account(A)["id"]
        savings = api.ok(api.post("/v1/accounts", {"customer_id": A, "kind": "savings"}))["id"]
        usd = api.ok(api.post("/v1/accounts", {"customer_id": A, "currency": "USD"}))["id"]
        api.ok(
            api.post(
                "/v1/cash/deposits",
                {
                    "account_id": usd,
                    "amount": "500",
                    "currency": "USD",
                    "branch_id": "B001",
                    "operator_id": "T01",
                },
            )
        )
        quote = {"sell_currency": "CNY", "buy_currency": "USD", "sell_amount": "100.00"}
        booking = {
            "branch_id": "B001",
            "day": TOMORROW,
            "start": "09:30",
            "customer_id": A,
            "service_type": "loan",
        }
        loan = {"customer_id": A, "amount": "1000.00", "term_months": 12, "purpose": "shop"}
        approved = api.ok(api.post("/v1/loans", loan))["id"]
        api.ok(api.post(f"/v1/loans/{approved}/decision", {"decision": "approve"}), 200)
        enquiry = {
            "customer_id": A,
            "kind": "enquiry",
            "channel": "counter",
            "subject": "s",
            "text": "t",
        }
        api.ok(api.post("/v1/branches/B002/tickets", {"service_type": "cash"}))
        called = api.ok(api.post("/v1/branches/B002/counters/C01/call-next"), 200)["ticket"]["id"]
        ticket = api.ok(api.post("/v1/branches/B001/tickets", {"service_type": "cash"}, kiosk))
        given = credentials(SEED, 1)
        ids = {
            "cny": cny,
            "savings": savings,
            "usd": usd,
            "quote": api.ok(api.post("/v1/fx/quotes", quote))["quote_id"],
            "appointment": api.ok(api.post("/v1/appointments", booking, online))["id"],
            "pending_loan": api.ok(api.post("/v1/loans", loan))["id"],
            "approved_loan": approved,
            "enquiry": api.ok(api.post("/v1/enquiries", enquiry))["id"],
            "called": called,
            "ticket": ticket["id"],
            "card": given.card_number,
            "pin": given.pin,
            "password": given.password,
        }
        signer = app.state.core.signer
        expired = signer.token(Signed("kiosk", 1, time.time() - 1))
        head, _, signature = online.token.rpartition(".")
        tokens = {
            **{name: TOKENS[name] for name in ("teller", "kiosk", "online", "admin")},
            "kiosk session": kiosk.token,
            "online session": online.token,
            "expired session": expired,
            "forged session": f"{head}.{signature[::-1]}",
            "other kiosk": api.login("kiosk", B).token,
            "other online": api.login("online", B).token,
        }
        doc = client.get("/openapi.json").json()
        yield World(settings, app.state.core.conn, folder, ids, tokens, doc)


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in doc["paths"].items()
        for method, operation in methods.items()
    ]


def _success(operation: dict[str, Any]) -> int:
    return int(next(s for s in operation["responses"] if s.startswith("2")))


def documented(operation: dict[str, Any], credential: str) -> int:
    """The status the document promises `credential` for `operation`."""
    if not operation.get("security"):
        return _success(operation)
    if credential in ("none", "expired session", "forged session"):
        return 401
    channel, _, session = credential.partition(" ")
    if channel not in operation["x-channels"]:
        return 403
    if not session and channel in operation["x-session-channels"]:
        return 401
    return _success(operation)


def _send(
    client: TestClient, method: str, example: Example, ids: Ids, token: str | None, channel: str
):
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = example.body(ids, channel) if example.body else None
    return client.request(
        method, example.path(ids), json=body, params=example.query, headers=headers
    )


def test_every_operation_has_an_example_request(world: World) -> None:
    missing = [f"{m} {p}" for m, p, _ in _operations(world.doc) if f"{m} {p}" not in EXAMPLES]
    assert not missing, f"add these to EXAMPLES so the matrix covers them: {missing}"
    stale = set(EXAMPLES) - {f"{m} {p}" for m, p, _ in _operations(world.doc)}
    assert not stale, f"no longer in the OpenAPI document: {sorted(stale)}"


@pytest.mark.slow
def test_every_operation_answers_every_credential_exactly_as_documented(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    deviations, cases = [], 0
    with TestClient(create_app(world.settings, world.folder / "template.sqlite")) as shared:
        for method, path, operation in _operations(world.doc):
            example = EXAMPLES[f"{method} {path}"]
            for credential in CREDENTIALS:
                expected = documented(operation, credential)
                token = world.tokens.get(credential)
                channel = credential.partition(" ")[0]
                cases += 1
                if expected < 300:
                    with world.fresh() as client:
                        if example.prepare:
                            example.prepare(Api(client))
                        got = _send(client, method, example, world.ids, token, channel)
                else:
                    got = _send(shared, method, example, world.ids, token, channel)
                if got.status_code != expected:
                    deviations.append(
                        (method, path, credential, expected, got.status_code, got.text[:120])
                    )
            if example.owned:
                for channel in operation["x-session-channels"]:
                    cases += 1
                    got = _send(
                        shared,
                        method,
                        example,
                        world.ids,
                        world.tokens[f"other {channel}"],
                        channel,
                    )
                    if got.status_code != 404:
                        deviations.append(
                            (
                                method,
                                path,
                                f"customer B's {channel} session",
                                404,
                                got.status_code,
                                got.text[:120],
                            )
                        )
    with capsys.disabled():
        print(f"\nauthorisation matrix: {cases} cases, {len(deviations)} deviations")
    assert not deviations, "\n".join(map(str, deviations))
