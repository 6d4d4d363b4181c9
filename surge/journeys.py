"""What a customer does in one visit: at a counter, at a kiosk, or online. No Locust here.

A visit is one customer doing one piece of business (`Visit.operation`) through one channel's API.
At the counter a teller serves them with the teller's token. At a kiosk and online the visit
starts with step `login` (`POST /v1/sessions` with the channel's token: the kiosk's card number and
PIN, the online customer number and password) and sends the rest with the session it opened,
which reaches that customer's own accounts, tickets, appointments and quotes only; a kiosk that
opens an account still calls a teller (`_Trip.open_account`). `run_visit` sends its requests
through `surge.retry` (keys, retries, one record per request) and returns what happened; the
caller (a Locust user, a test) supplies the client, the customer, a `random.Random` seeded for
this visit (so a run replays: amounts, products, counters and slots all come from it) and the
visit's scheduled start.

- counter: take a ticket at the home branch, a teller calls the next ticket (priority first, so
  under a surge often another visit's: this visit then completes that one, and every ticket taken
  is served once), does the business, completes the called ticket even if the business failed.
- kiosk: self-service within the kiosk's limits (CNY cash up to 5,000, own accounts only).
- online: appointment slots (tomorrow, then the next days while they are full), and the transfers
  that lobby diversion sends online.
- suspicious patterns are journeys too (`PATTERNS`): `run_visit` returns the AML alert they should
  raise, the ground truth of the report's detection check. In a fan-in each payer logs in on a
  session of their own and pays from it; the customer paid into does not log in.

Business refusals (insufficient funds, sold out, slot full) are outcomes the customer meets: they
are recorded with their status, never retried, and end the visit's dependent steps. A step that
fails after its retries abandons the visit (`VisitResult.failed_step`); a login refused (a wrong
PIN, a locked card) is such a failure, since the harness gave the credentials the system holds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from surge.customers import Customer
from surge.profile import CHANNELS, DIVERSION, OPERATIONS, Channel, Profile
from surge.retry import Client, Recorder, RetryPolicy, Sender

Pattern = Literal["structuring", "large_cash", "fan_in"]
PATTERNS: dict[Pattern, Channel] = {
    "structuring": "counter",
    "large_cash": "counter",
    "fan_in": "online",
}
"""Each suspicious pattern and the channel it is done through; the pattern is its AML rule name."""

JOURNEYS: dict[Channel, tuple[str, ...]] = {
    "counter": (*OPERATIONS["counter"], "structuring", "large_cash"),
    "kiosk": OPERATIONS["kiosk"],
    # "transfer": where lobby diversion sends a counter transfer to someone else.
    "online": (*OPERATIONS["online"], "transfer", "fan_in"),
}

PREMIUM_SEGMENTS = ("affluent", "private")
LARGE_CASH = 50_000
"""CNY: cash at or above it is reported; structuring stays from 80% of it to just under it."""
STRUCTURING_DEPOSITS = 3
FAN_IN_SOURCES = 6
"""Distinct payers into one account; the rule fires from `FAN_IN_RULE` within an hour."""
FAN_IN_RULE = 5
DAYS_BROWSED = 3
KIOSK_CASH_MAX = 5_000

SERVICE = {
    "cash_deposit": "cash",
    "cash_withdrawal": "cash",
    "transfer": "transfer",
    "loan_application": "loan",
    "wealth_order": "wealth",
    "fx_exchange": "fx",
    "enquiry": "enquiry",
    "complaint": "complaint",
    "structuring": "cash",
    "large_cash": "cash",
}
"""A counter operation's queue service type."""
SESSIONS = "/v1/sessions"
_WHO = ("teller", "kiosk", "online")
_TICKETS = "/v1/branches/{branch_id}/tickets"
KIOSK_TICKETS = ("cash", "transfer", "wealth", "fx", "enquiry", "account")
BOOKED_SERVICES = ("cash", "loan", "wealth", "fx", "account")
FX_QUOTED = ("USD", "EUR", "HKD", "JPY")
LOAN_PURPOSES = ("home renovation", "car", "education", "small business", "wedding")
SUBJECTS = {
    "enquiry": ("deposit rates", "card activation", "wealth product terms", "exchange rates"),
    "complaint": ("waiting time", "card fee charged twice", "kiosk kept my card", "rude service"),
}


@dataclass(frozen=True, slots=True)
class Tokens:
    """Bearer tokens of the channels the journeys use: the teller's acts for any customer, the
    kiosk's and online's only open a customer's session (and read what is public)."""

    teller: str
    kiosk: str
    online: str
    _headers: dict[str, dict[str, str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Built once: every request of a run sends one of three, and clients copy what they send.
        headers = {who: {"Authorization": f"Bearer {getattr(self, who)}"} for who in _WHO}
        object.__setattr__(self, "_headers", headers)

    def auth(self, who: str) -> dict[str, str]:
        """The header of `who`'s token; shared, so never change it: copy it to add headers."""
        return self._headers[who]


@dataclass(frozen=True, slots=True)
class Context:
    """What one simulated user's visits share: the target, credentials, and how to wait."""

    client: Client
    tokens: Tokens
    record: Recorder
    branches: Mapping[str, int]
    """Counters per branch (`fetch_branches`)."""
    sleep: Callable[[float], object] = time.sleep
    """Locust passes gevent.sleep; tests a fake that notes the delays."""
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], float] = time.time


# Not frozen: made once per visit, and a frozen dataclass is several times slower to make.
@dataclass(slots=True)
class Visit:
    channel: Channel
    operation: str
    """One of `JOURNEYS[channel]`."""
    customer: Customer
    rng: random.Random
    scheduled_at: float
    """Wall-clock time the visit was due to start."""
    counterparties: Sequence[Customer] = ()
    """A few other customers drawn by the caller, for transfers to someone else (a transfer
    needs one, fan-in `FAN_IN_SOURCES`)."""
    high_value: bool = False
    """Takes a priority ticket."""
    launch: bool = False
    """A wealth order goes to the new-launch product."""


@dataclass(frozen=True, slots=True)
class ExpectedAlert:
    rule: str
    customer_id: str
    account_id: str


@dataclass(slots=True)  # not frozen, as Visit
class VisitResult:
    channel: Channel
    journey: str
    ok: bool
    """False when a step failed after its retries and the visit was abandoned."""
    refused: bool
    """The customer met a business refusal (funds, sold out, no place left)."""
    failed_step: str | None = None
    expected_alert: ExpectedAlert | None = None
    """Ground truth of a suspicious visit: the alert its movements should have raised."""


class _GaveUp(Exception):
    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step


def fetch_branches(client: Client, tokens: Tokens) -> dict[str, int]:
    """Counters per branch, read once per user before its first visit."""
    response = client.request("GET", "/v1/branches", headers=tokens.auth("kiosk"))
    if response.status_code != 200:
        raise RuntimeError(f"GET /v1/branches answered {response.status_code}")
    return {branch["id"]: branch["counters"] for branch in orjson.loads(response.content or b"")}


def run_visit(visit: Visit, ctx: Context) -> VisitResult:
    """Perform one visit; raises ValueError only for a visit the journeys cannot do."""
    if visit.operation not in JOURNEYS.get(visit.channel, ()):
        raise ValueError(f"no {visit.operation!r} journey on the {visit.channel} channel")
    if not visit.customer.accounts.get("CNY"):
        raise ValueError(f"customer {visit.customer.customer_id} has no CNY account")
    needed = _COUNTERPARTIES.get(visit.operation, 0)
    if needed and len(_others(visit)) < needed:
        raise ValueError(
            f"a {visit.operation} visit needs {needed} counterparties with CNY accounts"
        )
    trip = _Trip(visit, ctx)
    try:
        if visit.channel == "counter":
            expected = _at_counter(trip, _COUNTER[visit.operation])
        else:
            if visit.operation not in _PAYERS_LOG_IN:
                trip.auth = trip.login(visit.customer)
            expected = (_KIOSK if visit.channel == "kiosk" else _ONLINE)[visit.operation](trip)
    except _GaveUp as gave_up:
        return VisitResult(visit.channel, visit.operation, False, trip.refused, gave_up.step)
    return VisitResult(visit.channel, visit.operation, True, trip.refused, None, expected)


class _Trip:
    """One visit in progress: its sender, its draws, and whether it met a refusal."""

    def __init__(self, visit: Visit, ctx: Context) -> None:
        self.visit, self.ctx, self.rng = visit, ctx, visit.rng
        self.customer = visit.customer
        self.branch = visit.customer.home_branch
        self.refused = False
        self.auth: dict[str, str] = ctx.tokens.auth("teller") if visit.channel == "counter" else {}
        """What the visit's requests are sent with: the teller's token at the counter, else the
        customer's session once `login` opened it."""
        self.sender = Sender(
            ctx.client,
            ctx.record,
            ctx.sleep,
            ctx.policy,
            visit.channel,
            visit.operation,
            visit.scheduled_at,
            visit.customer.customer_id,
            visit.rng.getrandbits(32),
            ctx.clock,
        )

    def call(
        self,
        step: str,
        method: str,
        name: str,
        json: Any = None,
        *,
        refusals: tuple[int, ...] = (),
        auth: dict[str, str] | None = None,
        query: str = "",
        keyed: bool = True,
        **ids: str,
    ) -> Any:
        """The 2xx body; None after a business refusal; `_GaveUp` when the step failed.

        `name` is the route template, filled from `ids`; `auth` is the Authorization header
        (default: the visit's, `self.auth`); `keyed`: see `Sender.send`.
        """
        path = (name.format(**ids) if ids else name) + query
        reply = self.sender.send(
            step,
            method,
            path,
            name=name,
            headers=self.auth if auth is None else auth,
            json=json,
            refusals=refusals,
            keyed=keyed,
        )
        if reply.outcome == "failed":
            raise _GaveUp(step)
        self.refused = self.refused or reply.outcome == "refused"
        return reply.body

    def login(self, customer: Customer) -> dict[str, str]:
        """Open `customer`'s session on the visit's channel (step `login`); its header, made
        once for the requests sent with it."""
        channel = self.visit.channel
        if channel == "kiosk":
            body = {"card_number": customer.card_number, "pin": customer.pin}
        else:
            body = {"customer_id": customer.customer_id, "password": customer.password}
        channel_token = self.ctx.tokens.auth(channel)
        opened = self.call("login", "POST", SESSIONS, body, auth=channel_token, keyed=False)
        return {"Authorization": f"Bearer {opened['session_token']}"}

    def account(self, currency: str = "CNY") -> str | None:
        held = self.customer.accounts.get(currency)
        return held[0] if held else None

    def open_account(self, currency: str, kind: str = "current") -> None:
        """Opened by a teller (a kiosk customer's second account was opened at a counter once)."""
        body = {"customer_id": self.customer.customer_id, "currency": currency, "kind": kind}
        teller = self.ctx.tokens.auth("teller")
        opened = self.call("open_account", "POST", "/v1/accounts", body, auth=teller)
        held = self.customer.accounts
        held[currency] = (*held.get(currency, ()), opened["id"])

    def cash(self, step: str, minor: int, operator: str) -> bool:
        """A deposit (step "deposit") or a withdrawal, into or from the first CNY account."""
        path = "/v1/cash/deposits" if step == "deposit" else "/v1/cash/withdrawals"
        body = {
            "account_id": self.account(),
            "amount": _money(minor),
            "currency": "CNY",
            "branch_id": self.branch,
            "operator_id": operator,
        }
        refusals = (422,) if step == "withdraw" else ()
        return self.call(step, "POST", path, body, refusals=refusals) is not None

    def transfer(
        self, source: str, target: str, minor: int, auth: dict[str, str] | None = None
    ) -> bool:
        """From `source`, on the visit's session or on `auth` (a fan-in payer's)."""
        body = {"from_account": source, "to_account": target, "amount": _money(minor)}
        sent = self.call("transfer", "POST", "/v1/transfers", body, refusals=(422,), auth=auth)
        return sent is not None


def _others(visit: Visit) -> list[Customer]:
    """The visit's counterparties with a CNY account, other than its customer, each once."""
    me = visit.customer.customer_id
    payable = {c.customer_id: c for c in visit.counterparties if c.accounts.get("CNY")}
    return [c for key, c in payable.items() if key != me]


def _money(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def _cny(rng: random.Random, low: int, high: int, step: int = 1) -> int:
    """Minor units of a whole-CNY amount from low to high in steps (banknotes: 100)."""
    return rng.randrange(low, high + 1, step) * 100


def _cents(rng: random.Random, low: int, high: int) -> int:
    return rng.randint(low * 100, high * 100)


# The counter -----------------------------------------------------------------------------------

CounterBusiness = Callable[[_Trip, str], ExpectedAlert | None]


def _at_counter(trip: _Trip, business: CounterBusiness) -> ExpectedAlert | None:
    visit, branch = trip.visit, trip.branch
    ticket = {
        "service_type": SERVICE[visit.operation],
        "customer_id": trip.customer.customer_id,
        "priority": visit.high_value,
    }
    trip.call("take_ticket", "POST", _TICKETS, ticket, branch_id=branch)
    counter = f"C{trip.rng.randint(1, trip.ctx.branches.get(branch, 1)):02d}"
    call_next = "/v1/branches/{branch_id}/counters/{counter_id}/call-next"
    reply = trip.call("call_next", "POST", call_next, branch_id=branch, counter_id=counter)
    called = reply["ticket"]
    try:
        expected = business(trip, f"T-{branch}-{counter}")
    except _GaveUp:
        if called is not None:
            with contextlib.suppress(_GaveUp):  # the business step's failure is the one reported
                _complete(trip, called["id"])
        raise
    if called is not None:
        _complete(trip, called["id"])
    return expected


def _complete(trip: _Trip, ticket_id: str) -> None:
    trip.call("complete", "POST", "/v1/tickets/{ticket_id}/complete", ticket_id=ticket_id)


def _deposit(trip: _Trip, operator: str) -> None:
    trip.cash("deposit", _cny(trip.rng, 100, 30_000, 100), operator)


def _withdraw(trip: _Trip, operator: str) -> None:
    trip.cash("withdraw", _cny(trip.rng, 100, 20_000, 100), operator)


def _counter_transfer(trip: _Trip, _: str) -> None:
    payee = trip.rng.choice(_others(trip.visit)).accounts["CNY"][0]
    trip.transfer(str(trip.account()), payee, _cents(trip.rng, 50, 10_000))


def _loan(trip: _Trip, _: str) -> None:
    rng = trip.rng
    body = {
        "customer_id": trip.customer.customer_id,
        "amount": _money(_cny(rng, 10_000, 500_000, 1_000)),
        "term_months": rng.choice((12, 24, 36, 60, 120, 240, 360)),
        "purpose": rng.choice(LOAN_PURPOSES),
    }
    loan = trip.call("apply", "POST", "/v1/loans", body)
    decision = {"decision": "approve" if rng.random() < 0.7 else "reject", "reason": "counter"}
    trip.call("decide", "POST", "/v1/loans/{loan_id}/decision", decision, loan_id=loan["id"])


def _wealth(trip: _Trip, _: str) -> None:
    rng, usd = trip.rng, trip.account("USD")
    if trip.visit.launch:
        product, account = "WP-LAUNCH", trip.account()
    elif trip.customer.segment in PREMIUM_SEGMENTS:
        product = rng.choice(("WP-BAL1Y", "WP-USD6M") if usd else ("WP-BAL1Y",))
        account = usd if product == "WP-USD6M" else trip.account()
    else:
        product, account = "WP-BOND90", trip.account()
    body = {
        "product_id": product,
        "customer_id": trip.customer.customer_id,
        "account_id": account,
        "units": rng.randint(1, 3),
    }
    trip.call("order", "POST", "/v1/wealth/orders", body, refusals=(409, 422))


def _fx_exchange(trip: _Trip, _: str) -> None:
    rng = trip.rng
    foreign = next((c for c, ids in trip.customer.accounts.items() if c != "CNY" and ids), None)
    if foreign is None:
        foreign, sell_foreign = "USD", False
        trip.open_account(foreign)
    else:
        sell_foreign = rng.random() < 0.3
    if sell_foreign:
        pair, amount = (foreign, "CNY"), _cny(rng, 50, 2_000, 50)
    else:
        pair, amount = ("CNY", foreign), _cny(rng, 500, 20_000, 100)
    body = {"sell_currency": pair[0], "buy_currency": pair[1], "sell_amount": _money(amount)}
    quote = trip.call("quote", "POST", "/v1/fx/quotes", body)
    exchange = {
        "quote_id": quote["quote_id"],
        "from_account": trip.account(pair[0]),
        "to_account": trip.account(pair[1]),
    }
    trip.call("exchange", "POST", "/v1/fx/exchanges", exchange, refusals=(422,))


def _enquiry(trip: _Trip, kind: str) -> None:
    body = {
        "customer_id": trip.customer.customer_id,
        "kind": kind,
        "channel": "counter",
        "subject": trip.rng.choice(SUBJECTS[kind]),
        "text": f"Customer raised a {kind} at the counter.",
    }
    enquiry = trip.call("open", "POST", "/v1/enquiries", body)["id"]
    answer = {"text": "Answered at the counter."}
    trip.call("answer", "POST", "/v1/enquiries/{enquiry_id}/answers", answer, enquiry_id=enquiry)
    if kind == "enquiry":  # an enquiry is settled on the spot; a complaint stays open
        trip.call("close", "POST", "/v1/enquiries/{enquiry_id}/close", enquiry_id=enquiry)


def _structuring(trip: _Trip, operator: str) -> ExpectedAlert | None:
    floor, deposits = LARGE_CASH * 8 // 10, trip.rng.randint(STRUCTURING_DEPOSITS, 4)
    amounts = [_cny(trip.rng, floor + 100, LARGE_CASH - 100, 100) for _ in range(deposits)]
    made = sum(trip.cash("deposit", amount, operator) for amount in amounts)
    return _expect(trip, "structuring", made >= STRUCTURING_DEPOSITS)


def _large_cash(trip: _Trip, operator: str) -> ExpectedAlert | None:
    amount = _cny(trip.rng, LARGE_CASH + 10_000, 3 * LARGE_CASH, 1_000)
    return _expect(trip, "large_cash", trip.cash("deposit", amount, operator))


def _expect(trip: _Trip, rule: str, done: bool, account: str | None = None) -> ExpectedAlert | None:
    """The alert a pattern should raise, only when enough of its movements went through."""
    if not done:
        return None
    return ExpectedAlert(rule, trip.customer.customer_id, account or str(trip.account()))


_COUNTERPARTIES = {"transfer": 1, "fan_in": FAN_IN_SOURCES}
"""Operations that pay other customers, and how many distinct ones they need."""

_AT_COUNTER = frozenset({"take_ticket", "call_next", "complete_ticket"})
_LOGGED_IN = frozenset({"open_session"})
_BOOKED = frozenset({"open_session", "browse_slots", "book"})
USES: dict[Channel, dict[str, frozenset[str]]] = {
    "counter": {
        journey: _AT_COUNTER | business
        for journey, business in {
            "cash_deposit": {"deposit"},
            "cash_withdrawal": {"withdraw"},
            "transfer": {"transfer"},
            "loan_application": {"apply_loan", "decide_loan"},
            "wealth_order": {"order_wealth"},
            "fx_exchange": {"open_account", "quote_fx", "exchange_fx"},
            "enquiry": {"open_enquiry", "answer_enquiry", "close_enquiry"},
            "complaint": {"open_enquiry", "answer_enquiry"},
            "structuring": {"deposit"},
            "large_cash": {"deposit"},
        }.items()
    },
    "kiosk": {
        journey: _LOGGED_IN | business
        for journey, business in {
            "balance": {"balance"},
            "statement": {"statement"},
            "cash_deposit": {"deposit"},
            "cash_withdrawal": {"withdraw"},
            "own_transfer": {"open_account", "transfer"},
            "fx_quote": {"quote_fx"},
            "ticket": {"take_ticket"},
        }.items()
    },
    "online": {
        "browse_slots": _LOGGED_IN | {"browse_slots"},
        "book": _BOOKED,
        "cancel": _BOOKED | {"cancel"},
        "check_in": _BOOKED | {"check_in"},
        "transfer": _LOGGED_IN | {"transfer"},
        "fan_in": _LOGGED_IN | {"transfer"},
    },
}
"""The binding operations (`surge.binding.OPERATIONS`) each journey may call."""


def journeys_of(profile: Profile) -> set[tuple[Channel, str]]:
    """The (channel, journey) pairs the profile's day may visit: its mixes' operations on the
    channels with arrivals, the suspicious patterns, and what lobby diversion sends elsewhere."""
    arriving = [c for c in CHANNELS if any(getattr(p.arrivals_per_hour, c) for p in profile.phases)]
    customers = profile.customers
    found: set[tuple[Channel, str]] = set()
    for channel in arriving:
        shares = getattr(profile.mix, channel).shares()
        found |= {(channel, op) for op, share in shares.items() if share > 0}
        if customers.suspicious_share > 0:
            found |= {(channel, p) for p, on in PATTERNS.items() if on == channel}
        if channel == "counter" and customers.diversion > 0:
            found |= {DIVERSION[op] for op in DIVERSION if shares.get(op, 0) > 0}
    return found


_COUNTER: dict[str, CounterBusiness] = {
    "cash_deposit": _deposit,
    "cash_withdrawal": _withdraw,
    "transfer": _counter_transfer,
    "loan_application": _loan,
    "wealth_order": _wealth,
    "fx_exchange": _fx_exchange,
    "enquiry": lambda trip, _: _enquiry(trip, "enquiry"),
    "complaint": lambda trip, _: _enquiry(trip, "complaint"),
    "structuring": _structuring,
    "large_cash": _large_cash,
}


# The kiosk -------------------------------------------------------------------------------------


def _kiosk_operator(trip: _Trip) -> str:
    return f"K-{trip.branch}-{trip.rng.randint(1, 4):02d}"


def _kiosk_deposit(trip: _Trip) -> None:
    trip.cash("deposit", _cny(trip.rng, 100, KIOSK_CASH_MAX, 100), _kiosk_operator(trip))


def _kiosk_withdraw(trip: _Trip) -> None:
    trip.cash("withdraw", _cny(trip.rng, 100, 3_000, 100), _kiosk_operator(trip))


def _balance(trip: _Trip) -> None:
    account = trip.rng.choice([a for ids in trip.customer.accounts.values() for a in ids])
    trip.call("balance", "GET", "/v1/accounts/{account_id}", account_id=account)


def _statement(trip: _Trip) -> None:
    statement = "/v1/accounts/{account_id}/statement"
    trip.call("statement", "GET", statement, query="?limit=20", account_id=str(trip.account()))


def _own_transfer(trip: _Trip) -> None:
    if len(trip.customer.accounts["CNY"]) < 2:  # a new savings account is empty: fill it first
        trip.open_account("CNY", "savings")
        source, target = trip.customer.accounts["CNY"][:2]
    else:
        source, target = trip.rng.sample(trip.customer.accounts["CNY"][:2], 2)
    trip.transfer(source, target, _cents(trip.rng, 10, 2_000))


def _fx_quote(trip: _Trip) -> None:
    body = {
        "sell_currency": "CNY",
        "buy_currency": trip.rng.choice(FX_QUOTED),
        "sell_amount": _money(_cny(trip.rng, 100, KIOSK_CASH_MAX, 100)),
    }
    trip.call("quote", "POST", "/v1/fx/quotes", body)


def _kiosk_ticket(trip: _Trip) -> None:
    body = {
        "service_type": trip.rng.choice(KIOSK_TICKETS),
        "customer_id": trip.customer.customer_id,
        "priority": trip.visit.high_value,
    }
    trip.call("take_ticket", "POST", _TICKETS, body, branch_id=trip.branch)


_KIOSK: dict[str, Callable[[_Trip], ExpectedAlert | None]] = {
    "balance": _balance,
    "statement": _statement,
    "cash_deposit": _kiosk_deposit,
    "cash_withdrawal": _kiosk_withdraw,
    "own_transfer": _own_transfer,
    "fx_quote": _fx_quote,
    "ticket": _kiosk_ticket,
}


# Online ----------------------------------------------------------------------------------------


def _find_slot(trip: _Trip) -> tuple[str, str] | None:
    """(day, window start) with a place left: tomorrow (UTC), else the next days; None if full."""
    today = dt.datetime.fromtimestamp(trip.ctx.clock(), dt.UTC).date()
    for ahead in range(1, DAYS_BROWSED + 1):
        day = (today + dt.timedelta(days=ahead)).isoformat()
        slots = "/v1/branches/{branch_id}/slots"
        listing = trip.call(
            "browse_slots", "GET", slots, query=f"?day={day}", branch_id=trip.branch
        )
        free = [slot["start"] for slot in listing["slots"] if slot["available"] > 0]
        if free:
            return day, trip.rng.choice(free)
    trip.refused = True  # no place left in the days a customer looks at
    return None


def _book(trip: _Trip) -> str | None:
    """The booked appointment's id, or None when no place was found or the slot filled first."""
    slot = _find_slot(trip)
    if slot is None:
        return None
    body = {
        "branch_id": trip.branch,
        "day": slot[0],
        "start": slot[1],
        "customer_id": trip.customer.customer_id,
        "service_type": trip.rng.choice(BOOKED_SERVICES),
    }
    booked = trip.call("book", "POST", "/v1/appointments", body, refusals=(409,))
    return None if booked is None else str(booked["id"])


def _browse(trip: _Trip) -> None:
    _find_slot(trip)


def _book_only(trip: _Trip) -> None:
    _book(trip)


def _then(step: str, action: str) -> Callable[[_Trip], None]:
    """Book, then `action` (cancel or check-in) the appointment booked."""

    def journey(trip: _Trip) -> None:
        appointment = _book(trip)
        if appointment is not None:
            name = f"/v1/appointments/{{appointment_id}}/{action}"
            trip.call(step, "POST", name, appointment_id=appointment)

    return journey


def _online_transfer(trip: _Trip) -> None:
    payee = trip.rng.choice(_others(trip.visit)).accounts["CNY"][0]
    trip.transfer(str(trip.account()), payee, _cents(trip.rng, 50, 20_000))


def _fan_in(trip: _Trip) -> ExpectedAlert | None:
    """Several distinct customers each log in and pay a small sum into the customer's account."""
    target = str(trip.account())
    paid = 0
    for payer in trip.rng.sample(_others(trip.visit), FAN_IN_SOURCES):
        session = trip.login(payer)
        paid += trip.transfer(payer.accounts["CNY"][0], target, _cents(trip.rng, 50, 300), session)
    return _expect(trip, "fan_in", paid >= FAN_IN_RULE, target)


_PAYERS_LOG_IN = frozenset({"fan_in"})
"""Online journeys whose payers log in, each on their own, rather than the visit's customer."""


_ONLINE: dict[str, Callable[[_Trip], ExpectedAlert | None]] = {
    "browse_slots": _browse,
    "book": _book_only,
    "cancel": _then("cancel", "cancel"),
    "check_in": _then("check_in", "check-in"),
    "transfer": _online_transfer,
    "fan_in": _fan_in,
}
