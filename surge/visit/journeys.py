"""What a customer does in one visit: at a counter, at a kiosk, or online. No Locust here.

A visit is one customer doing one piece of business (`Visit.journey`) through one channel. Each
step is asked of the binding (`surge.visit.binding`: the system's API is its business, none of it is
here). At the counter a teller serves them (the binding's staff actor). At a kiosk and online the
visit starts by opening the customer's session (step `login`: the kiosk's card number and PIN,
the online customer number and password) and does the rest as that session, which reaches that
customer's own accounts, tickets, appointments and quotes only; a kiosk that opens an account
still calls a teller (`_Trip.open_account`). Every request goes through the visit's `Wire`
(`surge.visit.wire`: keys, retries, one record per request); `run_visit` returns what happened. The
caller (a Locust user, a test) supplies the client, the binding, the customer, a `random.Random`
seeded for this visit (so a run replays: amounts, products, counters and slots all come from it)
and the visit's scheduled start.

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
fails after its retries leaves the visit unfinished (`VisitResult.failed_step`): the customer
could not complete their business; a login refused (a wrong
PIN, a locked card) is such a failure, since the harness gave the credentials the system holds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from surge.day.profile import CHANNELS, DIVERSION, MIX_JOURNEYS, Channel, Profile
from surge.visit.binding import STEPS, Binding
from surge.visit.values import Actor, Customer, Result
from surge.visit.wire import Client, Recorder, Renewal, RetryPolicy, Sender, Wire

T = TypeVar("T")

Pattern = Literal["structuring", "large_cash", "fan_in"]
PATTERNS: dict[Pattern, Channel] = {
    "structuring": "counter",
    "large_cash": "counter",
    "fan_in": "online",
}
"""Each suspicious pattern and the channel it is done through; the pattern is its AML rule name."""

JOURNEYS: dict[Channel, tuple[str, ...]] = {
    "counter": (*MIX_JOURNEYS["counter"], "structuring", "large_cash"),
    "kiosk": MIX_JOURNEYS["kiosk"],
    # "transfer": where lobby diversion sends a counter transfer to someone else.
    "online": (*MIX_JOURNEYS["online"], "transfer", "fan_in"),
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
STATEMENT_LINES = 20

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
KIOSK_TICKETS = ("cash", "transfer", "wealth", "fx", "enquiry", "account")
BOOKED_SERVICES = ("cash", "loan", "wealth", "fx", "account")
FX_QUOTED = ("USD", "EUR", "HKD", "JPY")
LOAN_PURPOSES = ("home renovation", "car", "education", "small business", "wedding")
SUBJECTS = {
    "enquiry": ("deposit rates", "card activation", "wealth product terms", "exchange rates"),
    "complaint": ("waiting time", "card fee charged twice", "kiosk kept my card", "rude service"),
}


@dataclass(frozen=True, slots=True)
class Context:
    """What one simulated user's visits share: the target, its binding, and how to wait."""

    client: Client
    binding: Binding
    record: Recorder
    branches: Mapping[str, int]
    """Counters per branch (`fetch_branches`)."""
    sleep: Callable[[float], object] = time.sleep
    """Locust passes gevent.sleep; tests a fake that notes the delays."""
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], float] = time.time
    renew: Renewal | None = None
    """The run's credentials' `renewed` (`Sender.renew`)."""


# Not frozen: made once per visit, and a frozen dataclass is several times slower to make.
@dataclass(slots=True)
class Visit:
    channel: Channel
    journey: str
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
    """False when a step failed after its retries: the visit is unfinished."""
    refused: bool
    """The customer met a business refusal (funds, sold out, no place left)."""
    failed_step: str | None = None
    expected_alert: ExpectedAlert | None = None
    """Ground truth of a suspicious visit: the alert its movements should have raised."""


class _GaveUp(Exception):
    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.step = step


def run_visit(visit: Visit, ctx: Context) -> VisitResult:
    """Perform one visit; raises ValueError only for a visit the journeys cannot do."""
    if visit.journey not in JOURNEYS.get(visit.channel, ()):
        raise ValueError(f"no {visit.journey!r} journey on the {visit.channel} channel")
    if not visit.customer.accounts.get("CNY"):
        raise ValueError(f"customer {visit.customer.customer_id} has no CNY account")
    needed = _COUNTERPARTIES.get(visit.journey, 0)
    if needed and len(_others(visit)) < needed:
        raise ValueError(f"a {visit.journey} visit needs {needed} counterparties with CNY accounts")
    trip = _Trip(visit, ctx)
    try:
        if visit.channel == "counter":
            expected = _at_counter(trip, _COUNTER[visit.journey])
        else:
            if visit.journey not in _PAYERS_LOG_IN:
                trip.actor = trip.login(visit.customer)
            expected = (_KIOSK if visit.channel == "kiosk" else _ONLINE)[visit.journey](trip)
    except _GaveUp as gave_up:
        return VisitResult(visit.channel, visit.journey, False, trip.refused, gave_up.step)
    return VisitResult(visit.channel, visit.journey, True, trip.refused, None, expected)


class _Trip:
    """One visit in progress: its wire, its draws, and whether it met a refusal."""

    def __init__(self, visit: Visit, ctx: Context) -> None:
        self.visit, self.ctx, self.rng = visit, ctx, visit.rng
        self.binding = ctx.binding
        self.customer = visit.customer
        self.branch = visit.customer.home_branch
        self.refused = False
        self.actor: Actor = ctx.binding.staff()
        """Who the visit's steps act as: the teller at the counter, else the customer's session
        once `login` opened it."""
        self.wire = Wire(
            Sender(
                ctx.client,
                ctx.record,
                ctx.sleep,
                ctx.policy,
                visit.channel,
                visit.journey,
                visit.scheduled_at,
                visit.customer.customer_id,
                visit.rng.getrandbits(32),
                ctx.clock,
                ctx.renew,
            )
        )

    def settle(self, result: Result[T]) -> Result[T]:
        """`result`, noting a refusal; `_GaveUp` when the step failed."""
        outcome = result.outcome
        if outcome == "failed":
            raise _GaveUp(self.wire.failed_step or "")
        if outcome == "refused":
            self.refused = True
        return result

    def login(self, customer: Customer) -> Actor:
        """Open `customer`'s session on the visit's channel (step `login`); a login refused is
        a failure, since the harness gave the credentials the system holds."""
        opened = self.settle(self.binding.open_session(self.wire, self.visit.channel, customer))
        if opened.value is None:
            raise _GaveUp(STEPS["open_session"])
        return opened.value

    def account(self, currency: str = "CNY") -> str | None:
        held = self.customer.accounts.get(currency)
        return held[0] if held else None

    def open_account(self, currency: str, kind: str = "current") -> None:
        """Opened by a teller (a kiosk customer's second account was opened at a counter once)."""
        opened = self.settle(
            self.binding.open_account(
                self.wire, self.binding.staff(), self.customer.customer_id, currency, kind
            )
        )
        if opened.value is None:
            raise _GaveUp(STEPS["open_account"])
        held = self.customer.accounts
        held[currency] = (*held.get(currency, ()), opened.value)

    def cash(self, deposit: bool, minor: int, operator: str) -> bool:
        """A deposit or a withdrawal, into or from the first CNY account; whether it was done."""
        move = self.binding.deposit if deposit else self.binding.withdraw
        account = str(self.account())
        done = self.settle(
            move(self.wire, self.actor, account, minor, "CNY", self.branch, operator)
        )
        return done.outcome == "done"

    def transfer(self, source: str, target: str, minor: int, actor: Actor | None = None) -> bool:
        """From `source`, as the visit's actor or as `actor` (a fan-in payer's session)."""
        payer = self.actor if actor is None else actor
        sent = self.settle(self.binding.transfer(self.wire, payer, source, target, minor))
        return sent.outcome == "done"


def _others(visit: Visit) -> list[Customer]:
    """The visit's counterparties with a CNY account, other than its customer, each once."""
    me = visit.customer.customer_id
    payable = {c.customer_id: c for c in visit.counterparties if c.accounts.get("CNY")}
    return [c for key, c in payable.items() if key != me]


def _cny(rng: random.Random, low: int, high: int, step: int = 1) -> int:
    """Minor units of a whole-CNY amount from low to high in steps (banknotes: 100)."""
    return rng.randrange(low, high + 1, step) * 100


def _cents(rng: random.Random, low: int, high: int) -> int:
    return rng.randint(low * 100, high * 100)


# The counter -----------------------------------------------------------------------------------

CounterBusiness = Callable[[_Trip, str], ExpectedAlert | None]


def _at_counter(trip: _Trip, business: CounterBusiness) -> ExpectedAlert | None:
    visit, branch, binding, wire, teller = (
        trip.visit,
        trip.branch,
        trip.binding,
        trip.wire,
        trip.actor,
    )
    service, customer = SERVICE[visit.journey], trip.customer.customer_id
    trip.settle(binding.take_ticket(wire, teller, branch, service, customer, visit.high_value))
    counter = f"C{trip.rng.randint(1, trip.ctx.branches.get(branch, 1)):02d}"
    called = trip.settle(binding.call_next(wire, teller, branch, counter)).value
    try:
        expected = business(trip, f"T-{branch}-{counter}")
    except _GaveUp:
        if called is not None:
            with contextlib.suppress(_GaveUp):  # the business step's failure is the one reported
                _complete(trip, called)
        raise
    if called is not None:
        _complete(trip, called)
    return expected


def _complete(trip: _Trip, ticket_id: str) -> None:
    trip.settle(trip.binding.complete_ticket(trip.wire, trip.actor, ticket_id))


def _deposit(trip: _Trip, operator: str) -> None:
    trip.cash(True, _cny(trip.rng, 100, 30_000, 100), operator)


def _withdraw(trip: _Trip, operator: str) -> None:
    trip.cash(False, _cny(trip.rng, 100, 20_000, 100), operator)


def _counter_transfer(trip: _Trip, _: str) -> None:
    payee = trip.rng.choice(_others(trip.visit)).accounts["CNY"][0]
    trip.transfer(str(trip.account()), payee, _cents(trip.rng, 50, 10_000))


def _loan(trip: _Trip, _: str) -> None:
    rng, binding, wire, teller = trip.rng, trip.binding, trip.wire, trip.actor
    amount = _cny(rng, 10_000, 500_000, 1_000)
    term = rng.choice((12, 24, 36, 60, 120, 240, 360))
    purpose = rng.choice(LOAN_PURPOSES)
    customer = trip.customer.customer_id
    loan = trip.settle(binding.apply_loan(wire, teller, customer, amount, term, purpose)).value
    approve = rng.random() < 0.7
    if loan is not None:
        trip.settle(binding.decide_loan(wire, teller, loan, approve, "counter"))


def _wealth(trip: _Trip, _: str) -> None:
    rng, usd = trip.rng, trip.account("USD")
    if trip.visit.launch:
        product, account = "WP-LAUNCH", trip.account()
    elif trip.customer.segment in PREMIUM_SEGMENTS:
        product = rng.choice(("WP-BAL1Y", "WP-USD6M") if usd else ("WP-BAL1Y",))
        account = usd if product == "WP-USD6M" else trip.account()
    else:
        product, account = "WP-BOND90", trip.account()
    units, customer = rng.randint(1, 3), trip.customer.customer_id
    order = trip.binding.order_wealth(trip.wire, trip.actor, product, customer, str(account), units)
    trip.settle(order)


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
    binding, wire, teller = trip.binding, trip.wire, trip.actor
    quote = trip.settle(binding.quote_fx(wire, teller, pair[0], pair[1], amount)).value
    if quote is not None:
        source, target = str(trip.account(pair[0])), str(trip.account(pair[1]))
        trip.settle(binding.exchange_fx(wire, teller, quote, source, target))


def _enquiry(trip: _Trip, kind: str) -> None:
    binding, wire, teller = trip.binding, trip.wire, trip.actor
    subject = trip.rng.choice(SUBJECTS[kind])
    text = f"Customer raised a {kind} at the counter."
    customer = trip.customer.customer_id
    opened = binding.open_enquiry(wire, teller, customer, kind, "counter", subject, text)
    enquiry = trip.settle(opened).value
    if enquiry is None:
        return
    trip.settle(binding.answer_enquiry(wire, teller, enquiry, "Answered at the counter."))
    if kind == "enquiry":  # an enquiry is settled on the spot; a complaint stays open
        trip.settle(binding.close_enquiry(wire, teller, enquiry))


def _structuring(trip: _Trip, operator: str) -> ExpectedAlert | None:
    floor, deposits = LARGE_CASH * 8 // 10, trip.rng.randint(STRUCTURING_DEPOSITS, 4)
    amounts = [_cny(trip.rng, floor + 100, LARGE_CASH - 100, 100) for _ in range(deposits)]
    made = sum(trip.cash(True, amount, operator) for amount in amounts)
    return _expect(trip, "structuring", made >= STRUCTURING_DEPOSITS)


def _large_cash(trip: _Trip, operator: str) -> ExpectedAlert | None:
    amount = _cny(trip.rng, LARGE_CASH + 10_000, 3 * LARGE_CASH, 1_000)
    return _expect(trip, "large_cash", trip.cash(True, amount, operator))


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
"""The binding operations (`surge.visit.binding.OPERATIONS`) each journey may call."""


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
    trip.cash(True, _cny(trip.rng, 100, KIOSK_CASH_MAX, 100), _kiosk_operator(trip))


def _kiosk_withdraw(trip: _Trip) -> None:
    trip.cash(False, _cny(trip.rng, 100, 3_000, 100), _kiosk_operator(trip))


def _balance(trip: _Trip) -> None:
    account = trip.rng.choice([a for ids in trip.customer.accounts.values() for a in ids])
    trip.settle(trip.binding.balance(trip.wire, trip.actor, account))


def _statement(trip: _Trip) -> None:
    trip.settle(trip.binding.statement(trip.wire, trip.actor, str(trip.account()), STATEMENT_LINES))


def _own_transfer(trip: _Trip) -> None:
    if len(trip.customer.accounts["CNY"]) < 2:  # a new savings account is empty: fill it first
        trip.open_account("CNY", "savings")
        source, target = trip.customer.accounts["CNY"][:2]
    else:
        source, target = trip.rng.sample(trip.customer.accounts["CNY"][:2], 2)
    trip.transfer(source, target, _cents(trip.rng, 10, 2_000))


def _fx_quote(trip: _Trip) -> None:
    buy = trip.rng.choice(FX_QUOTED)
    amount = _cny(trip.rng, 100, KIOSK_CASH_MAX, 100)
    trip.settle(trip.binding.quote_fx(trip.wire, trip.actor, "CNY", buy, amount))


def _kiosk_ticket(trip: _Trip) -> None:
    service, customer = trip.rng.choice(KIOSK_TICKETS), trip.customer.customer_id
    ticket = trip.binding.take_ticket(
        trip.wire, trip.actor, trip.branch, service, customer, trip.visit.high_value
    )
    trip.settle(ticket)


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
        free = trip.settle(trip.binding.browse_slots(trip.wire, trip.actor, trip.branch, day))
        if free.value:
            return day, trip.rng.choice(free.value)
    trip.refused = True  # no place left in the days a customer looks at
    return None


def _book(trip: _Trip) -> str | None:
    """The booked appointment's id, or None when no place was found or the slot filled first."""
    slot = _find_slot(trip)
    if slot is None:
        return None
    service, customer = trip.rng.choice(BOOKED_SERVICES), trip.customer.customer_id
    booked = trip.binding.book(
        trip.wire, trip.actor, trip.branch, slot[0], slot[1], customer, service
    )
    return trip.settle(booked).value


def _browse(trip: _Trip) -> None:
    _find_slot(trip)


def _book_only(trip: _Trip) -> None:
    _book(trip)


def _check_in(trip: _Trip) -> None:
    appointment = _book(trip)
    if appointment is not None:
        trip.settle(trip.binding.check_in(trip.wire, trip.actor, appointment))


def _cancel(trip: _Trip) -> None:
    appointment = _book(trip)
    if appointment is not None:
        trip.settle(trip.binding.cancel(trip.wire, trip.actor, appointment))


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
    "cancel": _cancel,
    "check_in": _check_in,
    "transfer": _online_transfer,
    "fan_in": _fan_in,
}
