"""The values a visit's steps pass between the journeys and a binding: who the customers are,
whom a step acts as, what a step gave, and a check of the books. No behaviour here but the
values' own, so every stage of a visit (the binding protocol, the journeys, the customers, a
binding) can name them without importing one another (docs/architecture.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Literal, NamedTuple, TypeVar, get_args

T = TypeVar("T")

CustomerSegment = Literal["mass", "affluent", "private"]
SEGMENTS: tuple[CustomerSegment, ...] = get_args(CustomerSegment)
HIGH_VALUE: frozenset[str] = frozenset({"affluent", "private"})


class PoolError(Exception):
    """A problem with the run's customers, worded as one line: their data (for a CSV: `file:
    line N: column: reason`), or a request of the binding's outside the day that could not reach
    the target (`wire.PlainWire`: reading the branches, onboarding, the ledger check)."""


@dataclass(frozen=True, slots=True)
class Person:
    """Someone to onboard. Personal data stays in the harness; the API answers it masked."""

    name: str
    id_number: str
    phone: str
    card_number: str = field(repr=False)
    segment: CustomerSegment
    home_branch: str
    pin: str = field(default="", repr=False)
    password: str = field(default="", repr=False)

    @property
    def high_value(self) -> bool:
        return self.segment in HIGH_VALUE

    def customer(
        self,
        customer_id: str,
        accounts: dict[str, tuple[str, ...]],
        segment: str | None = None,
        home_branch: str | None = None,
    ) -> Customer:
        """This person as the customer the system knows, with the credentials they were
        onboarded with (the person's segment and home branch unless the system says others)."""
        return Customer(
            customer_id,
            segment or self.segment,
            home_branch or self.home_branch,
            accounts,
            self.card_number,
            self.pin,
            self.password,
        )


@dataclass(frozen=True, slots=True)
class Customer:
    """A customer the system knows, with its account ids by currency (each tuple non-empty).

    The first CNY account is the one a journey uses by default, and every customer has one. A
    journey that opens an account adds it to `accounts` in place, so the customer's next visit
    finds it instead of opening another.
    """

    customer_id: str
    segment: str
    home_branch: str
    accounts: dict[str, tuple[str, ...]] = field(hash=False)
    card_number: str = field(default="", repr=False)
    """The kiosk's login with `pin` ("" when the customer has no card the harness knows)."""
    pin: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    """The online login with `customer_id` ("" when unknown)."""

    @property
    def high_value(self) -> bool:
        return self.segment in HIGH_VALUE


StepOutcome = Literal["done", "refused", "failed"]
"""A business step's outcome: done, refused by a business rule (the customer meets it), or
failed (the step gave up after its retries)."""


class Result(NamedTuple, Generic[T]):
    """A business step's outcome and what the next step needs of it (None unless done)."""

    outcome: StepOutcome
    value: T | None = None


DONE: Result[Any] = Result("done")
REFUSED: Result[Any] = Result("refused")
FAILED: Result[Any] = Result("failed")
"""Shared results of steps that give the next step nothing: made once, not per step."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who a step acts as: the staff (a teller, for any customer) or a customer's session (their
    own accounts only). `headers` are what the binding sends for them; the journeys never read
    them."""

    who: str
    """"staff", or the channel of a customer's session ("kiosk", "online")."""
    headers: dict[str, str]
    """Shared by every request sent as this actor: copy it to add headers."""
    customer_id: str = ""
    """The session's customer ("" for the staff)."""


@dataclass(frozen=True, slots=True)
class Tokens:
    """Bearer tokens of the channels the mock core knows: the teller's acts for any customer, the
    kiosk's and online's only open a customer's session (and read what is public)."""

    teller: str
    kiosk: str
    online: str


@dataclass(frozen=True, slots=True)
class Check:
    """One check of the books, with the figures it rests on."""

    name: str
    description: str
    ok: bool
    figures: dict[str, Any]

    def line(self) -> str:
        """The check in one line, as the verdict and the gate word it."""
        figures = ", ".join(f"{value} {name}" for name, value in self.figures.items())
        return f"{self.description}: {'ok' if self.ok else 'FAILED'} ({figures})"
