"""The binding to Branch API v2 (`examples.bindings.branch_api_server`): what
`--binding examples.bindings.branch_api:BranchApi` names, and the example of docs/bindings.md.

Every request carries the harness's OAuth2 access token (`surge.visit.credentials`: fetched at
start, refreshed before it expires) and the channel it is sent on (`X-Channel`); a customer's
requests also carry their login (`X-Customer-Login`). Since the token changes during a run, an
`Actor`'s headers hold only the channel and the login, and `_headers` adds the token to each
request.
Amounts go out as the integer minor units the journeys give; business refusals are this API's
409s. Steps are recorded under the names of `surge.visit.binding.STEPS`, so the report and the gate
read a run of this binding as one of the mock core's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from surge.visit import (
    DONE,
    OPERATIONS,
    Actor,
    BadInput,
    BindingOptions,
    Check,
    Customer,
    Person,
    PlainResponse,
    PlainWire,
    PoolError,
    Result,
    Wire,
    credentials,
    result,
)

CHANNELS = {"staff": "branch", "kiosk": "kiosk", "online": "web"}
"""The journeys' actors and the `X-Channel` each is sent on."""
REFUSED = (409,)
"""This API's business refusals: insufficient funds, over a limit, sold out, slot taken, too
many tickets."""
_SITES = "/api/v2/sites"
_TICKETS = "/api/v2/sites/{siteCode}/queue-tickets"
_NEXT = "/api/v2/sites/{siteCode}/desks/{deskNo}/next"
_DONE = "/api/v2/queue-tickets/{ticketRef}/done"
_ACCOUNT = "/api/v2/accounts/{accountNo}"
_TRANSACTIONS = "/api/v2/accounts/{accountNo}/transactions"
_DECISION = "/api/v2/loan-applications/{applicationRef}/decision"
_REPLIES = "/api/v2/cases/{caseRef}/replies"
_RESOLUTION = "/api/v2/cases/{caseRef}/resolution"
_AVAILABILITY = "/api/v2/sites/{siteCode}/availability"
_BOOKING = "/api/v2/bookings/{bookingRef}"
_ARRIVAL = "/api/v2/bookings/{bookingRef}/arrival"
_INTEGRITY = "/api/v2/ledger/integrity"


class BranchApi:
    """Branch API v2, reached with OAuth2 client credentials."""

    operations: ClassVar[frozenset[str]] = OPERATIONS

    def __init__(self, options: BindingOptions) -> None:
        given = options.credentials or credentials.from_environment()
        if given.oauth2 is None:
            raise BadInput(
                "--binding examples.bindings.branch_api:BranchApi: Branch API v2 takes OAuth2"
                " client credentials (SURGE_OAUTH2_TOKEN_URL, _CLIENT_ID, _CLIENT_SECRET)"
            )
        self._credentials = given
        self._staff = Actor("staff", {"X-Channel": CHANNELS["staff"]})

    def _headers(self, actor: Actor) -> dict[str, str]:
        """The actor's headers with the access token valid now."""
        return {**self._credentials.headers(), **actor.headers}

    def _send(
        self,
        wire: Wire,
        step: str,
        method: str,
        name: str,
        actor: Actor,
        json: Any = None,
        *,
        refusals: tuple[int, ...] = (),
        keyed: bool = True,
        query: str = "",
        **ids: str,
    ) -> Any:
        """One step's request to the route template `name`, filled from `ids`; its `Reply`."""
        path = (name.format(**ids) if ids else name) + query
        headers = self._headers(actor)
        return wire.send(
            step,
            method,
            path,
            name=name,
            headers=headers,
            json=json,
            refusals=refusals,
            keyed=keyed,
        )

    def staff(self) -> Actor:
        return self._staff

    def open_session(self, wire: Wire, channel: str, customer: Customer) -> Result[Actor]:
        if channel == "kiosk":
            body = {"cardNo": customer.card_number, "pinCode": customer.pin}
        else:
            body = {"customerRef": customer.customer_id, "passphrase": customer.password}
        via = Actor(channel, {"X-Channel": CHANNELS[channel]})
        reply = self._send(wire, "login", "POST", "/api/v2/customer-logins", via, body, keyed=False)
        if reply.outcome != "ok":
            return result(reply)
        headers = {**via.headers, "X-Customer-Login": reply.body["loginId"]}
        return Result("done", Actor(channel, headers, customer.customer_id))

    def take_ticket(
        self, wire: Wire, actor: Actor, branch: str, service: str, customer_id: str, priority: bool
    ) -> Result[str]:
        body = {"serviceCode": service.upper(), "customerRef": customer_id, "vip": priority}
        # Refused: the customer already holds as many waiting tickets as a branch allows.
        reply = self._send(
            wire, "take_ticket", "POST", _TICKETS, actor, body, refusals=REFUSED, siteCode=branch
        )
        return result(reply, reply.body and reply.body["ticketRef"])

    def call_next(self, wire: Wire, actor: Actor, branch: str, counter: str) -> Result[str]:
        reply = self._send(wire, "call_next", "POST", _NEXT, actor, siteCode=branch, deskNo=counter)
        if reply.outcome != "ok":
            return result(reply)
        called = reply.body["called"]
        return DONE if called is None else Result("done", called["ticketRef"])

    def complete_ticket(self, wire: Wire, actor: Actor, ticket_id: str) -> Result[None]:
        return result(self._send(wire, "complete", "POST", _DONE, actor, ticketRef=ticket_id))

    def open_account(
        self, wire: Wire, actor: Actor, customer_id: str, currency: str, kind: str
    ) -> Result[str]:
        body = {"customerRef": customer_id, "currency": currency, "product": kind}
        reply = self._send(wire, "open_account", "POST", "/api/v2/accounts", actor, body)
        return result(reply, reply.body and reply.body["accountNo"])

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
        """Cash in or out: one route, told apart by `direction`."""
        body = {
            "direction": "in" if step == "deposit" else "out",
            "accountNo": account_id,
            "amountMinor": minor,
            "currency": currency,
            "siteCode": branch,
            "operator": operator,
        }
        refusals = REFUSED if step == "withdraw" else ()
        path = "/api/v2/cash-movements"
        return result(self._send(wire, step, "POST", path, actor, body, refusals=refusals))

    def transfer(
        self, wire: Wire, actor: Actor, source: str, target: str, minor: int
    ) -> Result[None]:
        body = {"debitAccountNo": source, "creditAccountNo": target, "amountMinor": minor}
        path = "/api/v2/payments"
        return result(self._send(wire, "transfer", "POST", path, actor, body, refusals=REFUSED))

    def balance(self, wire: Wire, actor: Actor, account_id: str) -> Result[None]:
        return result(self._send(wire, "balance", "GET", _ACCOUNT, actor, accountNo=account_id))

    def statement(self, wire: Wire, actor: Actor, account_id: str, limit: int) -> Result[None]:
        reply = self._send(
            wire,
            "statement",
            "GET",
            _TRANSACTIONS,
            actor,
            query=f"?max={limit}",
            accountNo=account_id,
        )
        return result(reply)

    def apply_loan(
        self, wire: Wire, actor: Actor, customer_id: str, minor: int, term_months: int, purpose: str
    ) -> Result[str]:
        body = {
            "customerRef": customer_id,
            "principalMinor": minor,
            "months": term_months,
            "purpose": purpose,
        }
        reply = self._send(wire, "apply", "POST", "/api/v2/loan-applications", actor, body)
        return result(reply, reply.body and reply.body["applicationRef"])

    def decide_loan(
        self, wire: Wire, actor: Actor, loan_id: str, approve: bool, reason: str
    ) -> Result[None]:
        body = {"approved": approve, "note": reason}
        reply = self._send(wire, "decide", "PUT", _DECISION, actor, body, applicationRef=loan_id)
        return result(reply)

    def order_wealth(
        self, wire: Wire, actor: Actor, product: str, customer_id: str, account_id: str, units: int
    ) -> Result[None]:
        body = {
            "fundCode": product,
            "customerRef": customer_id,
            "accountNo": account_id,
            "units": units,
        }
        path = "/api/v2/investments"
        return result(self._send(wire, "order", "POST", path, actor, body, refusals=REFUSED))

    def quote_fx(
        self, wire: Wire, actor: Actor, sell: str, buy: str, sell_minor: int
    ) -> Result[str]:
        body = {"fromCurrency": sell, "toCurrency": buy, "fromAmountMinor": sell_minor}
        reply = self._send(wire, "quote", "POST", "/api/v2/fx/rate-locks", actor, body)
        return result(reply, reply.body and reply.body["lockRef"])

    def exchange_fx(
        self, wire: Wire, actor: Actor, quote_id: str, source: str, target: str
    ) -> Result[None]:
        body = {"lockRef": quote_id, "debitAccountNo": source, "creditAccountNo": target}
        path = "/api/v2/fx/conversions"
        return result(self._send(wire, "exchange", "POST", path, actor, body, refusals=REFUSED))

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
            "customerRef": customer_id,
            "caseType": kind,
            "via": channel,
            "topic": subject,
            "note": text,
        }
        reply = self._send(wire, "open", "POST", "/api/v2/cases", actor, body)
        return result(reply, reply.body and reply.body["caseRef"])

    def answer_enquiry(self, wire: Wire, actor: Actor, enquiry_id: str, text: str) -> Result[None]:
        reply = self._send(
            wire, "answer", "POST", _REPLIES, actor, {"note": text}, caseRef=enquiry_id
        )
        return result(reply)

    def close_enquiry(self, wire: Wire, actor: Actor, enquiry_id: str) -> Result[None]:
        return result(self._send(wire, "close", "POST", _RESOLUTION, actor, caseRef=enquiry_id))

    def browse_slots(
        self, wire: Wire, actor: Actor, branch: str, day: str
    ) -> Result[Sequence[str]]:
        reply = self._send(
            wire, "browse_slots", "GET", _AVAILABILITY, actor, query=f"?date={day}", siteCode=branch
        )
        if reply.outcome != "ok":
            return result(reply)
        return Result("done", [o["startsAt"] for o in reply.body["openings"] if o["seatsLeft"]])

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
            "siteCode": branch,
            "date": day,
            "startsAt": start,
            "customerRef": customer_id,
            "serviceCode": service.upper(),
        }
        reply = self._send(wire, "book", "POST", "/api/v2/bookings", actor, body, refusals=REFUSED)
        return result(reply, reply.body and reply.body["bookingRef"])

    def check_in(self, wire: Wire, actor: Actor, appointment_id: str) -> Result[None]:
        reply = self._send(wire, "check_in", "POST", _ARRIVAL, actor, bookingRef=appointment_id)
        return result(reply)

    def cancel(self, wire: Wire, actor: Actor, appointment_id: str) -> Result[None]:
        reply = self._send(wire, "cancel", "DELETE", _BOOKING, actor, bookingRef=appointment_id)
        return result(reply)

    def branches(self, wire: PlainWire) -> dict[str, int]:
        response = wire.get(_SITES, self._headers(self._staff))
        if response.status_code != 200:
            raise RuntimeError(f"GET {_SITES} {_failure(response)}")
        return {site["siteCode"]: site["desks"] for site in response.json()}

    def onboard(
        self, wire: PlainWire, person: Person, key: str, opening: Mapping[str, int]
    ) -> Customer:
        """A customer with an account per currency of `opening`, paid in at the home site;
        someone the bank already knows (409 `customer_exists`) is looked up instead."""
        body = {
            "fullName": person.name,
            "nationalId": person.id_number,
            "mobile": person.phone,
            "tier": person.segment,
            "homeSite": person.home_branch,
            "currencies": list(opening),
        }
        given = {"cardNo": person.card_number, "pinCode": person.pin, "passphrase": person.password}
        body.update({name: value for name, value in given.items() if value})
        auth = self._headers(self._staff)
        made = wire.post("/api/v2/customers", body, {**auth, "Idempotency-Key": key})
        if made.status_code == 201:
            answer = made.json()
            accounts = _by_currency(answer["accounts"])
            for currency, minor in opening.items():
                cash = {
                    "direction": "in",
                    "accountNo": accounts[currency][0],
                    "amountMinor": minor,
                    "currency": currency,
                    "siteCode": person.home_branch,
                    "operator": "ONBOARDING",
                }
                keyed = {**self._headers(self._staff), "Idempotency-Key": f"{key}-{currency}"}
                paid = wire.post("/api/v2/cash-movements", cash, keyed)
                if paid.status_code != 201:
                    raise PoolError(f"{wire.where}: POST /api/v2/cash-movements {_failure(paid)}")
            return person.customer(
                answer["customerRef"], accounts, answer["tier"], answer["homeSite"]
            )
        known = _error(made).get("customerRef") if made.status_code == 409 else None
        if not isinstance(known, str):
            raise PoolError(f"{wire.where}: POST /api/v2/customers {_failure(made)}")
        path = f"/api/v2/customers/{known}/accounts"
        found = wire.get(path, self._headers(self._staff))
        if found.status_code != 200:
            raise PoolError(f"{wire.where}: GET {path} {_failure(found)}")
        return person.customer(known, _by_currency(found.json()))

    def reconcile(self, wire: PlainWire) -> list[Check] | None:
        """The bank's own ledger checks (`GET /api/v2/ledger/integrity`, scope `ledger`); None
        when the client may not read them or the gateway offers none."""
        response = wire.get(_INTEGRITY, self._credentials.headers())
        if response.status_code != 200:
            return None
        return [
            Check(
                check.pop("check"),
                check.pop("about"),
                check.pop("passed"),
                check,
            )
            for check in response.json()["checks"]
        ]


def _by_currency(accounts: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, ...]]:
    grouped: dict[str, list[str]] = {}
    for account in accounts:
        grouped.setdefault(account["currency"], []).append(account["accountNo"])
    return {currency: tuple(ids) for currency, ids in grouped.items()}


def _error(response: PlainResponse) -> dict[str, Any]:
    """This API's error object (`{"error": {...}}`), or {} when the answer is not one."""
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _failure(response: PlainResponse) -> str:
    error = _error(response)
    reason = ": ".join(str(error[k]) for k in ("code", "message") if error.get(k))
    return f"answered {response.status_code}" + (f": {reason}" if reason else "")
