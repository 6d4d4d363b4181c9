"""Amounts: decimal strings with at most two places on the wire, integer minor units inside.

Integers inside keep every posting exact: a ledger that must balance to the fen cannot use floats.
On the wire an amount has one written form, `AMOUNT_PATTERN`, in a JSON string: a JSON number may
reach a client's parser as a binary float, and the lax forms `Decimal` reads (" 5.00 ", "+5",
".5", "1E2", Arabic-Indic or full-width digits) let two systems read one text two ways.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated

from pydantic import BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

MAX_WIRE_AMOUNT = Decimal("1000000000000")  # far above any configured limit, keeps digits bounded

AMOUNT_PATTERN = r"^(0|[1-9][0-9]{0,12})(\.[0-9]{1,2})?$"
"""ASCII digits without a sign or leading zeros, then up to two places: "5", "5.0", "1234.56"."""
_AMOUNT = re.compile(AMOUNT_PATTERN)


def _amount(value: object) -> Decimal:
    if not isinstance(value, str):
        raise PydanticCustomError("amount_type", 'an amount is a JSON string, e.g. "12.34"')
    if not _AMOUNT.fullmatch(value):
        raise PydanticCustomError(
            "amount_format", 'an amount is digits with up to two decimal places, e.g. "12.34"'
        )
    return Decimal(value)


Amount = Annotated[
    Decimal,
    BeforeValidator(_amount),
    Field(gt=0, le=MAX_WIRE_AMOUNT),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": AMOUNT_PATTERN,
            "description": f"a positive amount up to {MAX_WIRE_AMOUNT}, at most 2 places",
            "examples": ["12.34"],
        }
    ),
]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. CNY")]

_CENT = Decimal("0.01")


def to_minor(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value(rounding=ROUND_HALF_EVEN))


def to_wire(minor: int) -> str:
    """Minor units as the decimal string the API returns, e.g. 12345 -> "123.45"."""
    return str((Decimal(minor) / 100).quantize(_CENT))
