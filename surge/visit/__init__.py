"""One visit of one customer, without Locust: the values it passes (`values`), its transport
(`wire`: the day's `Wire`, which records every request, and the `PlainWire` for the binding's
requests outside the day), the binding protocol a system's API is spoken through
(`binding`), what each channel's customer does (`journeys`), the customers themselves
(`customers`), and how the target is reached and authenticated (`credentials`, `target`).

This package's names are the surface for binding authors (docs/bindings.md): a binding imports
everything it needs from `surge.visit`.
"""

from surge.exits import BadInput
from surge.visit import credentials
from surge.visit.binding import OPERATIONS, STEPS, Binding, BindingOptions, result
from surge.visit.values import (
    DONE,
    FAILED,
    REFUSED,
    Actor,
    Check,
    Customer,
    Person,
    PoolError,
    Result,
    StepOutcome,
    Tokens,
)
from surge.visit.wire import PlainResponse, PlainWire, Reply, Wire
from surge.visit.wire import renamed as _renamed

__all__ = [
    "DONE",
    "FAILED",
    "OPERATIONS",
    "REFUSED",
    "STEPS",
    "Actor",
    "BadInput",
    "Binding",
    "BindingOptions",
    "Check",
    "Customer",
    "Person",
    "PlainResponse",
    "PlainWire",
    "PoolError",
    "Reply",
    "Result",
    "StepOutcome",
    "Tokens",
    "Wire",
    "credentials",
    "result",
]


def __getattr__(name: str) -> object:
    """The names a binding imported before they were renamed (`surge.visit.wire.RENAMED`)."""
    return _renamed(name, __name__)
