"""One visit of one customer, without Locust: the values it passes (`values`), its one
send-retry-record transport (`wire`), the binding protocol a system's API is spoken through
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
from surge.visit.wire import OnboardingResponse, OnboardingWire, Reply, Wire

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
    "OnboardingResponse",
    "OnboardingWire",
    "Person",
    "PoolError",
    "Reply",
    "Result",
    "StepOutcome",
    "Tokens",
    "Wire",
    "credentials",
    "result",
]
