"""Amounts: decimals with at most two places on the wire, integer minor units (fen, cents) inside.

Integers inside keep every posting exact: a ledger that must balance to the fen cannot use floats.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated

from pydantic import Field

MAX_WIRE_AMOUNT = Decimal("1000000000000")  # far above any configured limit, keeps digits bounded

Amount = Annotated[
    Decimal,
    Field(gt=0, le=MAX_WIRE_AMOUNT, decimal_places=2, description="a positive amount, 2 places"),
]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. CNY")]

_CENT = Decimal("0.01")


def to_minor(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value(rounding=ROUND_HALF_EVEN))


def to_wire(minor: int) -> str:
    """Minor units as the decimal string the API returns, e.g. 12345 -> "123.45"."""
    return str((Decimal(minor) / 100).quantize(_CENT))
