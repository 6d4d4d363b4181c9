"""Loans at the counter: application, a decision, then one disbursement into the borrower's account.

A loan moves pending -> approved | rejected, and approved -> disbursed. The disbursement lends the
bank's money: Dr LOAN_PRINCIPAL-CNY (the bank's claim on the borrower) / Cr the customer's account.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Literal

from fastapi import Depends
from pydantic import BaseModel, Field

from mock_core import ledger
from mock_core.channels import TELLER, Caller, allow
from mock_core.checks import require_currency, require_sane_amount
from mock_core.fields import Line, RequestBody
from mock_core.idempotency import Write, write
from mock_core.ids import AccountRef, CustomerRef, LoanId, public_id, row_of
from mock_core.money import Amount, to_minor, to_wire
from mock_core.problems import Problem, not_found
from mock_core.routes.customers import customer_row
from mock_core.routing import api_router

router = api_router("/v1/loans", "loans")

LOAN_CURRENCY = "CNY"
LoanStatus = Literal["pending", "approved", "rejected", "disbursed"]


class LoanIn(RequestBody):
    customer_id: CustomerRef
    amount: Amount = Field(description="principal in CNY")
    term_months: int = Field(ge=1, le=360)
    purpose: Line = Field(min_length=1, max_length=140)


class DecisionIn(RequestBody):
    decision: Literal["approve", "reject"]
    reason: Line = Field(default="", max_length=280)


class DisbursementIn(RequestBody):
    account_id: AccountRef = Field(description="a CNY account of the borrower")


class LoanOut(BaseModel):
    id: str
    customer_id: str
    amount: str
    currency: str
    term_months: int
    purpose: str
    status: LoanStatus
    account_id: str | None
    transaction_id: str | None = Field(description="the disbursement's journal entry")
    applied_at: float
    decided_at: float | None
    disbursed_at: float | None


class DecisionOut(LoanOut):
    reason: str = Field(description="as given with the decision; answered, not stored on the loan")


def _loan_out(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": public_id("L", row["n"]),
        "customer_id": public_id("C", row["customer_n"]),
        "amount": to_wire(row["amount"]),
        "currency": LOAN_CURRENCY,
        "term_months": row["term_months"],
        "purpose": row["purpose"],
        "status": row["status"],
        "account_id": row["account_id"],
        "transaction_id": public_id("J", row["journal_n"]) if row["journal_n"] else None,
        "applied_at": row["applied_at"],
        "decided_at": row["decided_at"],
        "disbursed_at": row["disbursed_at"],
    }


def _loan_row(conn: sqlite3.Connection, loan_id: str) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM loans WHERE n = ?", (row_of(loan_id),)
    ).fetchone()
    if row is None:
        raise not_found("loan", loan_id, "loan_id")
    return row


@router.post("", status_code=201, response_model=LoanOut)
async def apply(body: LoanIn, w: Write = Depends(write(TELLER))) -> Any:
    """Record an application; nothing is posted until the loan is disbursed."""

    def operation(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        require_sane_amount(w.core.settings, body.amount)
        customer = customer_row(conn, body.customer_id, "customer_id")
        n = conn.execute(
            "INSERT INTO loans (customer_n, amount, term_months, purpose, status, applied_at)"
            " VALUES (?, ?, ?, ?, 'pending', ?)",
            (customer["n"], to_minor(body.amount), body.term_months, body.purpose, w.core.clock()),
        ).lastrowid
        return 201, _loan_out(conn.execute("SELECT * FROM loans WHERE n = ?", (n,)).fetchone())

    return await w.run(body, operation)


@router.get("/{loan_id}", response_model=LoanOut)
async def get_loan(loan_id: LoanId, caller: Caller = Depends(allow(TELLER))) -> Any:
    return _loan_out(_loan_row(caller.core.conn, loan_id))


@router.post("/{loan_id}/decision", response_model=DecisionOut)
async def decide(loan_id: LoanId, body: DecisionIn, w: Write = Depends(write(TELLER))) -> Any:
    """Approve or reject a pending loan; a decided loan is a 409."""

    def operation(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        loan = _loan_row(conn, loan_id)
        if loan["status"] != "pending":
            raise Problem(
                409, "Already decided", f"loan {loan_id} is {loan['status']}", field="loan_id"
            )
        status = "approved" if body.decision == "approve" else "rejected"
        conn.execute(
            "UPDATE loans SET status = ?, decided_at = ? WHERE n = ?",
            (status, w.core.clock(), loan["n"]),
        )
        return 200, {**_loan_out(_loan_row(conn, loan_id)), "reason": body.reason}

    return await w.run(body, operation)


@router.post("/{loan_id}/disbursement", response_model=LoanOut)
async def disburse(loan_id: LoanId, body: DisbursementIn, w: Write = Depends(write(TELLER))) -> Any:
    """Pay an approved loan, once, into one of the borrower's own CNY accounts."""

    def operation(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        at = w.core.clock()
        loan = _loan_row(conn, loan_id)
        if loan["status"] != "approved":
            title = "Already disbursed" if loan["status"] == "disbursed" else "Not approved"
            raise Problem(409, title, f"loan {loan_id} is {loan['status']}", field="loan_id")
        account = ledger.customer_account(conn, body.account_id, "account_id")
        if account["customer_n"] != loan["customer_n"]:
            raise Problem(
                422,
                "Not the borrower's account",
                f"account {body.account_id} does not belong to the borrower"
                f" {public_id('C', loan['customer_n'])}",
                field="account_id",
            )
        require_currency(account, LOAN_CURRENCY, "account_id")
        journal_n = ledger.post(
            conn,
            kind="loan_disbursement",
            legs=ledger.debit_credit(
                ledger.bank_account_id("loan_principal", LOAN_CURRENCY),
                account["id"],
                loan["amount"],
            ),
            at=at,
            channel=w.channel,
            key=w.key,
            caller=w.caller,
            branch_id=account["branch_id"],
            memo=loan_id,
        )
        conn.execute(
            "UPDATE loans SET status = 'disbursed', account_id = ?, disbursed_at = ?,"
            " journal_n = ? WHERE n = ?",
            (account["id"], at, journal_n, loan["n"]),
        )
        return 200, _loan_out(_loan_row(conn, loan_id))

    return await w.run(body, operation)
