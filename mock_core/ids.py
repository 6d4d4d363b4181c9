"""Public identifiers: a letter for the kind of thing, then its row number, e.g. C00000042."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

WIDTH = 8


def public_id(prefix: str, n: int) -> str:
    return f"{prefix}{n:0{WIDTH}d}"


def row_of(value: str) -> int:
    """The row number inside an id already checked by its path pattern."""
    return int(value.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))


def _path_id(prefix: str, what: str) -> type[str]:
    return Annotated[  # type: ignore[return-value]
        str,
        Path(pattern=rf"^{prefix}\d{{{WIDTH}}}$", description=f"{what} id, e.g. {prefix}00000001"),
    ]


CustomerId = _path_id("C", "customer")
LoanId = _path_id("L", "loan")
TicketId = _path_id("T", "ticket")
AppointmentId = _path_id("AP", "appointment")
EnquiryId = _path_id("E", "enquiry")
AccountNumber = Annotated[str, Path(pattern=r"^[0-9A-Z_-]{4,40}$", description="account number")]
