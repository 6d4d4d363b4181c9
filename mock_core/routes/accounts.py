"""Accounts: opening, balance, and the statement with cursor paging."""

from __future__ import annotations

import sqlite3
from typing import Annotated, Any, Literal

from fastapi import Depends
from pydantic import BaseModel, Field

from mock_core import ledger
from mock_core.channels import CUSTOMER_CHANNELS, KIOSK, TELLER, Caller, allow
from mock_core.fields import RequestBody
from mock_core.idempotency import Write, write
from mock_core.ids import AccountNumber, CustomerRef, public_id, row_of
from mock_core.money import Currency, to_wire
from mock_core.problems import Problem, not_found
from mock_core.routes.paging import Page, page_query
from mock_core.routing import api_router

router = api_router("/v1/accounts", "accounts")


class AccountIn(RequestBody):
    customer_id: CustomerRef
    currency: Currency = "CNY"
    kind: Literal["current", "savings"] = "current"


class AccountOut(BaseModel):
    id: str
    customer_id: str
    kind: str
    currency: str
    branch_id: str
    balance: str


class StatementLine(BaseModel):
    id: str
    transaction_id: str
    kind: str
    amount: str = Field(description="signed: money in is positive")
    at: float


def account_out(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "customer_id": public_id("C", row["customer_n"]),
        "kind": row["kind"],
        "currency": row["currency"],
        "branch_id": row["branch_id"],
        "balance": to_wire(row["balance"]),
    }


@router.post("", status_code=201, response_model=AccountOut)
async def open_account(body: AccountIn, w: Write = Depends(write(TELLER))) -> Any:
    def operation(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        customer = conn.execute(
            "SELECT n, home_branch FROM customers WHERE n = ?", (row_of(body.customer_id),)
        ).fetchone()
        if customer is None:
            raise not_found("customer", body.customer_id, "customer_id")
        if body.currency != "CNY" and body.currency not in w.core.settings.fx_rates:
            raise Problem(
                422, "Unknown currency", f"no accounts in {body.currency}", field="currency"
            )
        account_id = ledger.open_customer_account(
            conn, customer["n"], body.kind, body.currency, customer["home_branch"], w.core.clock()
        )
        row = conn.execute("SELECT * FROM accounts WHERE id = ?", (account_id,)).fetchone()
        return 201, account_out(row)

    return await w.run(body, operation)


@router.get("/{account_id}", response_model=AccountOut)
async def balance(
    account_id: AccountNumber, caller: Caller = Depends(allow(*CUSTOMER_CHANNELS))
) -> Any:
    row = caller.core.conn.execute(
        "SELECT * FROM accounts WHERE id = ? AND customer_n IS NOT NULL", (account_id,)
    ).fetchone()
    if row is None:
        raise not_found("account", account_id, "account_id")
    caller.visible(row["customer_n"], "account", account_id, "account_id")
    return account_out(row)


@router.get("/{account_id}/statement", response_model=Page[StatementLine])
async def statement(
    account_id: AccountNumber,
    paging: Annotated[tuple[int | None, int], Depends(page_query)],
    caller: Caller = Depends(allow(TELLER, KIOSK)),
) -> Any:
    """Newest first; `next_cursor` continues with older lines."""
    conn = caller.core.conn
    account = ledger.customer_account(conn, account_id, "account_id")
    caller.visible(account["customer_n"], "account", account_id, "account_id")
    before, limit = paging
    rows = conn.execute(
        "SELECT p.n, p.journal_n, p.amount, j.kind, j.created_at FROM postings p"
        " JOIN journal j ON j.n = p.journal_n WHERE p.account_id = ? AND p.n < ?"
        " ORDER BY p.n DESC LIMIT ?",
        (account_id, before if before is not None else 2**62, limit),
    ).fetchall()
    items = [
        {
            "id": str(r["n"]),
            "transaction_id": public_id("J", r["journal_n"]),
            "kind": r["kind"],
            "amount": to_wire(-r["amount"]),
            "at": r["created_at"],
        }
        for r in rows
    ]
    return {"items": items, "next_cursor": str(rows[-1]["n"]) if len(rows) == limit else None}
