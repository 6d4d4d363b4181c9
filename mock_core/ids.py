"""Public identifiers: a letter for the kind of thing, then its row number, e.g. C00000042."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, params
from pydantic import Field

WIDTH = 8


def id_pattern(prefix: str, width: int = WIDTH) -> str:
    """ASCII digits: `\\d` also matches Arabic-Indic and full-width digits, which `row_of` reads as
    the same number, so "C٠٠٠٠٠٠٠١" named customer 1."""
    return rf"^{prefix}[0-9]{{{width}}}$"


def public_id(prefix: str, n: int) -> str:
    return f"{prefix}{n:0{WIDTH}d}"


def row_of(value: str) -> int:
    """The row number inside an id already checked by its path pattern."""
    return int(value.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))


def _path_id(prefix: str, what: str) -> params.Path:
    """The checks and the documentation of a path parameter holding the id of a `what`."""
    # fastapi.Path is declared to return Any so that it can stand as a parameter's default value;
    # what it builds is a params.Path.
    checks: params.Path = Path(
        pattern=id_pattern(prefix), description=f"{what} id, e.g. {prefix}00000001"
    )
    return checks


CustomerId = Annotated[str, _path_id("C", "customer")]
LoanId = Annotated[str, _path_id("L", "loan")]
TicketId = Annotated[str, _path_id("T", "ticket")]
AppointmentId = Annotated[str, _path_id("AP", "appointment")]
EnquiryId = Annotated[str, _path_id("E", "enquiry")]
ACCOUNT_PATTERN = r"^[0-9A-Z_-]{4,40}$"
BRANCH_PATTERN = id_pattern("B", 3)
AccountNumber = Annotated[str, Path(pattern=ACCOUNT_PATTERN, description="account number")]

CustomerRef = Annotated[str, Field(pattern=id_pattern("C"), description="e.g. C00000001")]
"""A customer named in a body; the path parameters above are their `Path` twins."""
BranchRef = Annotated[str, Field(pattern=BRANCH_PATTERN, description="e.g. B001")]
AccountRef = Annotated[str, Field(pattern=ACCOUNT_PATTERN, description="an account number")]
