"""Customers: onboarding and lookup. Personal data leaves the service masked, always."""

from __future__ import annotations

import sqlite3
from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from pydantic import BaseModel, Field, field_validator

from mock_core import ledger, sessions
from mock_core.channels import CUSTOMER_CHANNELS, TELLER, Caller, allow
from mock_core.fields import Line, RequestBody
from mock_core.idempotency import Write, write
from mock_core.identity import resident_id_problem
from mock_core.ids import BranchRef, CustomerId, public_id, row_of
from mock_core.masking import mask_card, mask_id_number, mask_name, mask_phone
from mock_core.money import Currency
from mock_core.problems import Problem, not_found
from mock_core.routes.accounts import AccountOut, account_out
from mock_core.routes.paging import Page, page_query
from mock_core.routes.sessions import CardNumber, Password, Pin
from mock_core.routing import api_router

router = api_router("/v1/customers", "customers")

Segment = Literal["mass", "affluent", "private"]


class CustomerIn(RequestBody):
    name: Line = Field(min_length=1, max_length=60)
    id_number: str = Field(description="18-digit PRC resident ID number with a valid check digit")
    phone: str = Field(pattern=r"^\+?[0-9][0-9 -]{5,19}$")
    segment: Segment = "mass"
    home_branch: BranchRef
    open_accounts: list[Currency] = Field(
        default_factory=lambda: ["CNY"], max_length=5, description="current accounts to open"
    )
    card_number: CardNumber | None = Field(None, description="the card issued for the kiosk")
    # Secrets stay out of the idempotency fingerprint (`model_dump`): only their salted hashes
    # are kept (mock_core.sessions).
    pin: Pin | None = Field(None, exclude=True, description="the card's 6-digit PIN")
    password: Password | None = Field(None, exclude=True, description="for online banking")

    @field_validator("id_number")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        problem = resident_id_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class CustomerOut(BaseModel):
    id: str
    name: str
    id_number: str
    phone: str
    segment: Segment
    home_branch: str
    card_number: str | None = Field(None, description="masked; only in the onboarding answer")
    accounts: list[AccountOut] | None = None


def customer_out(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": public_id("C", row["n"]),
        "name": mask_name(row["name"]),
        "id_number": mask_id_number(row["id_number"]),
        "phone": mask_phone(row["phone"]),
        "segment": row["segment"],
        "home_branch": row["home_branch"],
    }


def customer_row(conn: sqlite3.Connection, customer_id: str, field: str) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM customers WHERE n = ?", (row_of(customer_id),)
    ).fetchone()
    if row is None:
        raise not_found("customer", customer_id, field)
    return row


def _accounts(conn: sqlite3.Connection, customer_n: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT * FROM accounts WHERE customer_n = ? ORDER BY opened_at, id", (customer_n,)
    )
    return [account_out(r) for r in rows]


@router.post("", status_code=201, response_model=CustomerOut)
async def onboard(body: CustomerIn, w: Write = Depends(write(TELLER))) -> Any:
    """The credentials given (card and PIN, password) are stored as salted hashes and never
    answered: the answer shows the card number masked."""
    settings = w.core.settings

    def operation(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        at = w.core.clock()
        if (
            conn.execute("SELECT 1 FROM branches WHERE id = ?", (body.home_branch,)).fetchone()
            is None
        ):
            raise Problem(
                422, "Unknown branch", f"no branch {body.home_branch}", field="home_branch"
            )
        unknown = sorted(set(body.open_accounts) - {"CNY", *settings.fx_rates})
        if unknown:
            raise Problem(
                422,
                "Unknown currency",
                f"no accounts in {', '.join(unknown)}",
                field="open_accounts",
            )
        existing = conn.execute(
            "SELECT n FROM customers WHERE id_number = ?", (body.id_number,)
        ).fetchone()
        if existing is not None:
            raise Problem(
                409,
                "Customer exists",
                f"this ID number already belongs to customer {public_id('C', existing['n'])}",
                field="id_number",
            )
        if (body.card_number is None) != (body.pin is None):
            missing = "pin" if body.pin is None else "card_number"
            raise Problem(
                422, "Invalid request", f"{missing}: a card and its PIN go together", field=missing
            )
        stored = sessions.stored(body.card_number, body.pin, body.password)
        if (
            stored[0] is not None
            and conn.execute(
                "SELECT 1 FROM customers WHERE card_digest = ?", (stored[0],)
            ).fetchone()
            is not None
        ):
            raise Problem(
                409,
                "Card issued",
                "this card number belongs to another customer",
                field="card_number",
            )
        n = conn.execute(
            "INSERT INTO customers (name, id_number, phone, segment, home_branch, created_at,"
            " card_digest, salt, pin_hash, password_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (body.name, body.id_number, body.phone, body.segment, body.home_branch, at, *stored),
        ).lastrowid
        assert n is not None
        for currency in dict.fromkeys(body.open_accounts):
            ledger.open_customer_account(conn, n, "current", currency, body.home_branch, at)
        row = conn.execute("SELECT * FROM customers WHERE n = ?", (n,)).fetchone()
        card = mask_card(body.card_number) if body.card_number else None
        return 201, {**customer_out(row), "card_number": card, "accounts": _accounts(conn, n)}

    return await w.run(body, operation)


@router.get("", response_model=Page[CustomerOut])
async def list_customers(
    paging: Annotated[tuple[int | None, int], Depends(page_query)],
    caller: Caller = Depends(allow(TELLER)),
) -> Any:
    after, limit = paging
    rows = caller.core.conn.execute(
        "SELECT * FROM customers WHERE n > ? ORDER BY n LIMIT ?", (after or 0, limit)
    ).fetchall()
    items = [customer_out(r) for r in rows]
    return {"items": items, "next_cursor": str(rows[-1]["n"]) if len(rows) == limit else None}


@router.get("/{customer_id}", response_model=CustomerOut)
async def get_customer(customer_id: CustomerId, caller: Caller = Depends(allow(TELLER))) -> Any:
    conn = caller.core.conn
    row = customer_row(conn, customer_id, "customer_id")
    return {**customer_out(row), "accounts": _accounts(conn, row["n"])}


@router.get("/{customer_id}/accounts", response_model=list[AccountOut])
async def customer_accounts(
    customer_id: CustomerId,
    caller: Caller = Depends(allow(*CUSTOMER_CHANNELS)),
    kind: Annotated[Literal["current", "savings"] | None, Query()] = None,
) -> Any:
    conn = caller.core.conn
    caller.visible(row_of(customer_id), "customer", customer_id, "customer_id")
    row = customer_row(conn, customer_id, "customer_id")
    return [a for a in _accounts(conn, row["n"]) if kind is None or a["kind"] == kind]
