"""The seam between the journeys and a system's API: a `Binding` does each business step.

The journeys (`surge.visit.journeys`) decide what a visit does and in what order; a binding says how
each step is asked of one system: its paths, bodies, tokens and statuses. The mock core's binding
(`surge.bindings.mock_core:MockCore`) is the default and the reference; `--binding
package.module:Name` names another (`load`). Every request still goes through the visit's one
send-retry-record path (`Wire`, over `surge.visit.wire.Sender`), so keys, retries, records, the
report and the gate work the same whatever the binding. docs/architecture.md draws the boundary.

A step method takes the visit's `Wire`, then the `Actor` it acts as where it acts for someone,
then business arguments (amounts in integer minor units: the binding formats them for its API),
and returns a `Result`: done, refused by a business rule (the customer meets it), or failed (the
step gave up after its retries), with the value the next step needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol, TypeVar

from surge.visit.credentials import Credentials
from surge.visit.values import DONE, FAILED, REFUSED, Actor, Check, Customer, Person, Result, Tokens
from surge.visit.wire import PlainWire, Reply, Wire

T = TypeVar("T")

OPERATIONS: frozenset[str] = frozenset(
    {
        "open_session",
        "take_ticket",
        "call_next",
        "complete_ticket",
        "open_account",
        "deposit",
        "withdraw",
        "transfer",
        "balance",
        "statement",
        "apply_loan",
        "decide_loan",
        "order_wealth",
        "quote_fx",
        "exchange_fx",
        "open_enquiry",
        "answer_enquiry",
        "close_enquiry",
        "browse_slots",
        "book",
        "check_in",
        "cancel",
        "onboard",
        "branches",
    }
)
"""Every business operation a binding may support (`Binding.operations`)."""

STEPS: dict[str, str] = {
    "open_session": "login",
    "take_ticket": "take_ticket",
    "call_next": "call_next",
    "complete_ticket": "complete",
    "open_account": "open_account",
    "deposit": "deposit",
    "withdraw": "withdraw",
    "transfer": "transfer",
    "balance": "balance",
    "statement": "statement",
    "apply_loan": "apply",
    "decide_loan": "decide",
    "order_wealth": "order",
    "quote_fx": "quote",
    "exchange_fx": "exchange",
    "open_enquiry": "open",
    "answer_enquiry": "answer",
    "close_enquiry": "close",
    "browse_slots": "browse_slots",
    "book": "book",
    "check_in": "check_in",
    "cancel": "cancel",
}
"""The step name a visit's operation is recorded under (`RequestRecord.step`): the report and the
gate group by it, so a binding records its requests under these whatever its API calls them."""


def result(reply: Reply, value: T | None = None) -> Result[T]:
    """A settled request's `Result`, with `value` when it was done."""
    if reply.outcome == "ok":
        return DONE if value is None else Result("done", value)
    return REFUSED if reply.outcome == "refused" else FAILED


@dataclass(frozen=True, slots=True)
class BindingOptions:
    """What a binding is made with, once per harness process."""

    host: str
    """The target's base URL."""
    tokens: Tokens
    """The channel tokens (the mock core's own by default, docs/mock-core.md)."""
    credentials: Credentials | None = None
    """How the target authenticates the harness (`surge.visit.credentials`); None: the tokens."""


class Binding(Protocol):
    """The business steps of one system's API. Made once per harness process with
    `Binding(options)`; methods of operations it lacks are never called (`missing`)."""

    operations: ClassVar[frozenset[str]]
    """The operations of `OPERATIONS` it supports."""

    def __init__(self, options: BindingOptions) -> None: ...

    def staff(self) -> Actor:
        """The teller the counter's steps (and a kiosk's account opening) act as."""
        ...

    def open_session(self, wire: Wire, channel: str, customer: Customer) -> Result[Actor]:
        """Log `customer` in on `channel` ("kiosk": card and PIN, "online": password)."""
        ...

    def take_ticket(
        self, wire: Wire, actor: Actor, branch: str, service: str, customer_id: str, priority: bool
    ) -> Result[str]:
        """A queue ticket at `branch`; value: the ticket id."""
        ...

    def call_next(self, wire: Wire, actor: Actor, branch: str, counter: str) -> Result[str]:
        """The next ticket `counter` serves; value: its id, None when nobody waits."""
        ...

    def complete_ticket(self, wire: Wire, actor: Actor, ticket_id: str) -> Result[None]: ...

    def open_account(
        self, wire: Wire, actor: Actor, customer_id: str, currency: str, kind: str
    ) -> Result[str]:
        """value: the new account's id."""
        ...

    def deposit(
        self,
        wire: Wire,
        actor: Actor,
        account_id: str,
        minor: int,
        currency: str,
        branch: str,
        operator: str,
    ) -> Result[None]: ...

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
        """Refused: insufficient funds or over a limit."""
        ...

    def transfer(
        self, wire: Wire, actor: Actor, source: str, target: str, minor: int
    ) -> Result[None]:
        """Refused: insufficient funds or over a limit."""
        ...

    def balance(self, wire: Wire, actor: Actor, account_id: str) -> Result[None]: ...

    def statement(self, wire: Wire, actor: Actor, account_id: str, limit: int) -> Result[None]: ...

    def apply_loan(
        self, wire: Wire, actor: Actor, customer_id: str, minor: int, term_months: int, purpose: str
    ) -> Result[str]:
        """value: the application's id."""
        ...

    def decide_loan(
        self, wire: Wire, actor: Actor, loan_id: str, approve: bool, reason: str
    ) -> Result[None]: ...

    def order_wealth(
        self, wire: Wire, actor: Actor, product: str, customer_id: str, account_id: str, units: int
    ) -> Result[None]:
        """Refused: sold out, or the account cannot pay."""
        ...

    def quote_fx(
        self, wire: Wire, actor: Actor, sell: str, buy: str, sell_minor: int
    ) -> Result[str]:
        """value: the quote's id."""
        ...

    def exchange_fx(
        self, wire: Wire, actor: Actor, quote_id: str, source: str, target: str
    ) -> Result[None]:
        """Refused: insufficient funds, or the quote expired."""
        ...

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
        """value: the enquiry's id."""
        ...

    def answer_enquiry(
        self, wire: Wire, actor: Actor, enquiry_id: str, text: str
    ) -> Result[None]: ...

    def close_enquiry(self, wire: Wire, actor: Actor, enquiry_id: str) -> Result[None]: ...

    def browse_slots(
        self, wire: Wire, actor: Actor, branch: str, day: str
    ) -> Result[Sequence[str]]:
        """value: the starts of the slots of `day` (ISO date) with a place left."""
        ...

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
        """Refused: the slot filled first; value: the appointment's id."""
        ...

    def check_in(self, wire: Wire, actor: Actor, appointment_id: str) -> Result[None]: ...

    def cancel(self, wire: Wire, actor: Actor, appointment_id: str) -> Result[None]: ...

    def branches(self, wire: PlainWire) -> dict[str, int]:
        """Counters per branch, read once before the load; raises RuntimeError or `PoolError`
        (one line) when the target does not answer them."""
        ...

    def onboard(
        self, wire: PlainWire, person: Person, key: str, opening: Mapping[str, int]
    ) -> Customer:
        """`person` as a customer of the system with an account per currency of `opening`,
        paid in (minor units); `key` is the person's own, the same in every run of a seed, so
        a repeat finds the customer instead of making another. Raises `PoolError`."""
        ...

    def reconcile(self, wire: PlainWire) -> list[Check] | None:
        """The binding's own check of the target's ledger, or None: it has none."""
        ...
