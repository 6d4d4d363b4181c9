"""The mock core's binding: the default, and the reference for writing another (docs/mock-core.md).

Every path, body, token and status of the mock core's API the harness uses is here and nowhere
else. The counter acts with the teller's token; a kiosk or online customer logs in with the
channel's token (`POST /v1/sessions`) and acts with the session token it answers. Amounts arrive
in minor units and are sent as the decimal strings the API takes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from surge.visit import (
    DONE,
    OPERATIONS,
    Actor,
    BindingOptions,
    Check,
    Customer,
    Person,
    PlainResponse,
    PlainWire,
    PoolError,
    Result,
    Wire,
    result,
)

_TICKETS = "/v1/branches/{branch_id}/tickets"
_CALL_NEXT = "/v1/branches/{branch_id}/counters/{counter_id}/call-next"
_COMPLETE = "/v1/tickets/{ticket_id}/complete"
_ACCOUNT = "/v1/accounts/{account_id}"
_STATEMENT = "/v1/accounts/{account_id}/statement"
_DECISION = "/v1/loans/{loan_id}/decision"
_ANSWERS = "/v1/enquiries/{enquiry_id}/answers"
_CLOSE = "/v1/enquiries/{enquiry_id}/close"
_SLOTS = "/v1/branches/{branch_id}/slots"
_CHECK_IN = "/v1/appointments/{appointment_id}/check-in"
_CANCEL = "/v1/appointments/{appointment_id}/cancel"
_EXISTS = re.compile(r"\bcustomer (\w+)\s*$")
_UNFUNDED = (422,)
"""Insufficient funds or over a limit: the customer meets it."""


def money(minor: int) -> str:
    """Minor units as the API's decimal string ("12.05")."""
    return f"{minor // 100}.{minor % 100:02d}"


class MockCore:
    """The mock core's API (docs/mock-core.md)."""

    operations: ClassVar[frozenset[str]] = OPERATIONS

    def __init__(self, options: BindingOptions) -> None:
        tokens = options.tokens
        # Made once: every request of a run sends one of these, and clients copy what they send.
        self._teller = Actor("staff", {"Authorization": f"Bearer {tokens.teller}"})
        self._channels = {
            "kiosk": {"Authorization": f"Bearer {tokens.kiosk}"},
            "online": {"Authorization": f"Bearer {tokens.online}"},
        }

    def staff(self) -> Actor:
        return self._teller

    def open_session(self, wire: Wire, channel: str, customer: Customer) -> Result[Actor]:
        if channel == "kiosk":
            body = {"card_number": customer.card_number, "pin": customer.pin}
        else:
            body = {"customer_id": customer.customer_id, "password": customer.password}
        reply = wire.send(
            "login",
            "POST",
            "/v1/sessions",
            name="/v1/sessions",
            headers=self._channels[channel],
            json=body,
            keyed=False,
        )
        if reply.outcome != "ok":
            return result(reply)
        headers = {"Authorization": f"Bearer {reply.body['session_token']}"}
        return Result("done", Actor(channel, headers, customer.customer_id))

    def take_ticket(
        self, wire: Wire, actor: Actor, branch: str, service: str, customer_id: str, priority: bool
    ) -> Result[str]:
        """A teller grants `priority` as asked; a customer's own ticket (a kiosk session) gets
        it from the customer's segment, which the core alone judges, so it is not asked for."""
        body: dict[str, Any] = {"service_type": service, "customer_id": customer_id}
        if actor.who == "staff":
            body["priority"] = priority
        path = f"/v1/branches/{branch}/tickets"
        reply = wire.send(
            "take_ticket",
            "POST",
            path,
            name=_TICKETS,
            headers=actor.headers,
            json=body,
            refusals=(409,),  # the customer already holds as many tickets as a branch allows
        )
        return result(reply, reply.body and reply.body["id"])

    def call_next(self, wire: Wire, actor: Actor, branch: str, counter: str) -> Result[str]:
        path = f"/v1/branches/{branch}/counters/{counter}/call-next"
        reply = wire.send("call_next", "POST", path, name=_CALL_NEXT, headers=actor.headers)
        if reply.outcome != "ok":
            return result(reply)
        called = reply.body["ticket"]
        return DONE if called is None else Result("done", called["id"])

    def complete_ticket(self, wire: Wire, actor: Actor, ticket_id: str) -> Result[None]:
        path = f"/v1/tickets/{ticket_id}/complete"
        return result(wire.send("complete", "POST", path, name=_COMPLETE, headers=actor.headers))

    def open_account(
        self, wire: Wire, actor: Actor, customer_id: str, currency: str, kind: str
    ) -> Result[str]:
        body = {"customer_id": customer_id, "currency": currency, "kind": kind}
        reply = wire.send(
            "open_account",
            "POST",
            "/v1/accounts",
            name="/v1/accounts",
            headers=actor.headers,
            json=body,
        )
        return result(reply, reply.body and reply.body["id"])

    def deposit(
        self,
        wire: Wire,
        actor: Actor,
        account_id: str,
        minor: int,
        currency: str,
        branch: str,
        operator: str,
    ) -> Result[None]:
        return self._cash(wire, actor, "deposit", account_id, minor, currency, branch, operator)

    def withdraw(
        self,
        wire: Wire,
        actor: Actor,
        account_id: str,
        minor: int,
        currency: str,
        branch: str,
        operator: str,
    ) -> Result[None]:
        return self._cash(wire, actor, "withdraw", account_id, minor, currency, branch, operator)

    def _cash(
        self,
        wire: Wire,
        actor: Actor,
        step: str,
        account_id: str,
        minor: int,
        currency: str,
        branch: str,
        operator: str,
    ) -> Result[None]:
        path = "/v1/cash/deposits" if step == "deposit" else "/v1/cash/withdrawals"
        body = {
            "account_id": account_id,
            "amount": money(minor),
            "currency": currency,
            "branch_id": branch,
            "operator_id": operator,
        }
        refusals = _UNFUNDED if step == "withdraw" else ()
        reply = wire.send(
            step, "POST", path, name=path, headers=actor.headers, json=body, refusals=refusals
        )
        return result(reply)

    def transfer(
        self, wire: Wire, actor: Actor, source: str, target: str, minor: int
    ) -> Result[None]:
        body = {"from_account": source, "to_account": target, "amount": money(minor)}
        reply = wire.send(
            "transfer",
            "POST",
            "/v1/transfers",
            name="/v1/transfers",
            headers=actor.headers,
            json=body,
            refusals=_UNFUNDED,
        )
        return result(reply)

    def balance(self, wire: Wire, actor: Actor, account_id: str) -> Result[None]:
        path = f"/v1/accounts/{account_id}"
        return result(wire.send("balance", "GET", path, name=_ACCOUNT, headers=actor.headers))

    def statement(self, wire: Wire, actor: Actor, account_id: str, limit: int) -> Result[None]:
        path = f"/v1/accounts/{account_id}/statement?limit={limit}"
        reply = wire.send("statement", "GET", path, name=_STATEMENT, headers=actor.headers)
        return result(reply)

    def apply_loan(
        self, wire: Wire, actor: Actor, customer_id: str, minor: int, term_months: int, purpose: str
    ) -> Result[str]:
        body = {
            "customer_id": customer_id,
            "amount": money(minor),
            "term_months": term_months,
            "purpose": purpose,
        }
        reply = wire.send(
            "apply", "POST", "/v1/loans", name="/v1/loans", headers=actor.headers, json=body
        )
        return result(reply, reply.body and reply.body["id"])

    def decide_loan(
        self, wire: Wire, actor: Actor, loan_id: str, approve: bool, reason: str
    ) -> Result[None]:
        body = {"decision": "approve" if approve else "reject", "reason": reason}
        path = f"/v1/loans/{loan_id}/decision"
        reply = wire.send("decide", "POST", path, name=_DECISION, headers=actor.headers, json=body)
        return result(reply)

    def order_wealth(
        self, wire: Wire, actor: Actor, product: str, customer_id: str, account_id: str, units: int
    ) -> Result[None]:
        body = {
            "product_id": product,
            "customer_id": customer_id,
            "account_id": account_id,
            "units": units,
        }
        reply = wire.send(
            "order",
            "POST",
            "/v1/wealth/orders",
            name="/v1/wealth/orders",
            headers=actor.headers,
            json=body,
            refusals=(409, 422),  # sold out; the account cannot pay
        )
        return result(reply)

    def quote_fx(
        self, wire: Wire, actor: Actor, sell: str, buy: str, sell_minor: int
    ) -> Result[str]:
        body = {"sell_currency": sell, "buy_currency": buy, "sell_amount": money(sell_minor)}
        reply = wire.send(
            "quote", "POST", "/v1/fx/quotes", name="/v1/fx/quotes", headers=actor.headers, json=body
        )
        return result(reply, reply.body and reply.body["quote_id"])

    def exchange_fx(
        self, wire: Wire, actor: Actor, quote_id: str, source: str, target: str
    ) -> Result[None]:
        body = {"quote_id": quote_id, "from_account": source, "to_account": target}
        reply = wire.send(
            "exchange",
            "POST",
            "/v1/fx/exchanges",
            name="/v1/fx/exchanges",
            headers=actor.headers,
            json=body,
            refusals=_UNFUNDED,
        )
        return result(reply)

    def open_enquiry(
        self,
        wire: Wire,
        actor: Actor,
        customer_id: str,
        kind: str,
        channel: str,
        subject: str,
        text: str,
    ) -> Result[str]:
        body = {
            "customer_id": customer_id,
            "kind": kind,
            "channel": channel,
            "subject": subject,
            "text": text,
        }
        reply = wire.send(
            "open", "POST", "/v1/enquiries", name="/v1/enquiries", headers=actor.headers, json=body
        )
        return result(reply, reply.body and reply.body["id"])

    def answer_enquiry(self, wire: Wire, actor: Actor, enquiry_id: str, text: str) -> Result[None]:
        path = f"/v1/enquiries/{enquiry_id}/answers"
        reply = wire.send(
            "answer", "POST", path, name=_ANSWERS, headers=actor.headers, json={"text": text}
        )
        return result(reply)

    def close_enquiry(self, wire: Wire, actor: Actor, enquiry_id: str) -> Result[None]:
        path = f"/v1/enquiries/{enquiry_id}/close"
        return result(wire.send("close", "POST", path, name=_CLOSE, headers=actor.headers))

    def browse_slots(
        self, wire: Wire, actor: Actor, branch: str, day: str
    ) -> Result[Sequence[str]]:
        path = f"/v1/branches/{branch}/slots?day={day}"
        reply = wire.send("browse_slots", "GET", path, name=_SLOTS, headers=actor.headers)
        if reply.outcome != "ok":
            return result(reply)
        return Result("done", [s["start"] for s in reply.body["slots"] if s["available"] > 0])

    def book(
        self,
        wire: Wire,
        actor: Actor,
        branch: str,
        day: str,
        start: str,
        customer_id: str,
        service: str,
    ) -> Result[str]:
        body = {
            "branch_id": branch,
            "day": day,
            "start": start,
            "customer_id": customer_id,
            "service_type": service,
        }
        reply = wire.send(
            "book",
            "POST",
            "/v1/appointments",
            name="/v1/appointments",
            headers=actor.headers,
            json=body,
            refusals=(409,),  # the slot filled first
        )
        return result(reply, reply.body and str(reply.body["id"]))

    def check_in(self, wire: Wire, actor: Actor, appointment_id: str) -> Result[None]:
        path = f"/v1/appointments/{appointment_id}/check-in"
        return result(wire.send("check_in", "POST", path, name=_CHECK_IN, headers=actor.headers))

    def cancel(self, wire: Wire, actor: Actor, appointment_id: str) -> Result[None]:
        path = f"/v1/appointments/{appointment_id}/cancel"
        return result(wire.send("cancel", "POST", path, name=_CANCEL, headers=actor.headers))

    def branches(self, wire: PlainWire) -> dict[str, int]:
        response = wire.get("/v1/branches", self._channels["kiosk"])
        found = _json(response)
        if response.status_code != 200 or not isinstance(found, list):
            raise RuntimeError(f"GET /v1/branches {_failure(response)}")
        return {branch["id"]: branch["counters"] for branch in found}

    def onboard(
        self, wire: PlainWire, person: Person, key: str, opening: Mapping[str, int]
    ) -> Customer:
        """`POST /v1/customers` with an account per currency of `opening`, then the opening
        cash paid in at the home branch; someone the core already knows under another key
        (409 "Customer exists") is looked up instead."""
        auth = self._teller.headers
        body = {
            "name": person.name,
            "id_number": person.id_number,
            "phone": person.phone,
            "segment": person.segment,
            "home_branch": person.home_branch,
            "open_accounts": list(opening),
        }
        given = {"card_number": person.card_number, "pin": person.pin, "password": person.password}
        # A person made without a PIN or password is onboarded without it, and cannot log in
        # to that channel.
        body.update({name: value for name, value in given.items() if value})
        response = wire.post("/v1/customers", body, {**auth, "Idempotency-Key": key})
        if response.status_code == 201:
            answer = _json(response)
            if not isinstance(answer, dict):
                raise PoolError(f"{wire.where}: POST /v1/customers answered 201 without a customer")
            accounts = _by_currency(answer["accounts"])
            for currency, minor in opening.items():
                deposit = {
                    "account_id": accounts[currency][0],
                    "amount": money(minor),
                    "currency": currency,
                    "branch_id": person.home_branch,
                    "operator_id": "ONBOARDING",
                }
                keyed = {**auth, "Idempotency-Key": f"{key}-{currency}"}
                paid = wire.post("/v1/cash/deposits", deposit, keyed)
                if paid.status_code != 201:
                    raise PoolError(f"{wire.where}: POST /v1/cash/deposits {_failure(paid)}")
            return person.customer(answer["id"], accounts, answer["segment"], answer["home_branch"])
        existing = _existing_customer(response)
        if existing is None:
            raise PoolError(f"{wire.where}: POST /v1/customers {_failure(response)}")
        path = f"/v1/customers/{existing}/accounts"
        found = wire.get(path, auth)
        if found.status_code != 200:
            raise PoolError(f"{wire.where}: GET {path} {_failure(found)}")
        return person.customer(existing, _by_currency(_json(found)))

    def reconcile(self, wire: PlainWire) -> list[Check] | None:
        """None: the mock core's ledger is checked through its own /admin routes
        (`surge.harness.lifecycle`), not by the binding."""
        return None


def _json(response: PlainResponse) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _existing_customer(response: PlainResponse) -> str | None:
    """The customer id in a 409 "Customer exists" problem, or None for any other answer."""
    problem = _json(response)
    if response.status_code != 409 or not isinstance(problem, dict):
        return None
    if problem.get("title") != "Customer exists":
        return None
    match = _EXISTS.search(str(problem.get("detail", "")))
    return match[1] if match else None


def _failure(response: PlainResponse) -> str:
    problem = _json(response)
    if isinstance(problem, dict) and ("title" in problem or "detail" in problem):
        reason = ": ".join(str(problem[k]) for k in ("title", "detail") if problem.get(k))
        return f"answered {response.status_code}: {reason}"
    return f"answered {response.status_code}"


def _by_currency(accounts: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, ...]]:
    grouped: dict[str, list[str]] = {}
    for account in accounts:
        grouped.setdefault(account["currency"], []).append(account["id"])
    return {currency: tuple(ids) for currency, ids in grouped.items()}
