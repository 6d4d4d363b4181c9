"""Cash deposits and withdrawals at a counter or a kiosk, each screened for money laundering."""

from __future__ import annotations

import sqlite3
from typing import Any, Literal

from fastapi import Depends
from pydantic import BaseModel, Field

from mock_core import aml, ledger
from mock_core.channels import KIOSK, TELLER
from mock_core.checks import require_branch, require_currency, require_funds, require_sane_amount
from mock_core.fields import Line, RequestBody
from mock_core.idempotency import Write, write
from mock_core.ids import AccountRef, BranchRef, CustomerRef, public_id, row_of
from mock_core.money import Amount, Currency, to_minor, to_wire
from mock_core.problems import Problem, not_found
from mock_core.routing import api_router

router = api_router("/v1/cash", "cash")


class CashOut(RequestBody):
    account_id: AccountRef
    amount: Amount
    currency: Currency = "CNY"
    branch_id: BranchRef
    operator_id: Line = Field(min_length=1, max_length=40, description="teller or kiosk id")


class CashIn(CashOut):
    depositor_id: CustomerRef | None = Field(
        default=None, description="who brought the cash, when not the account holder"
    )


class CashReceipt(BaseModel):
    transaction_id: str
    account_id: str
    direction: Literal["in", "out"]
    amount: str
    currency: str
    balance: str
    branch_id: str


def _move_cash(w: Write, body: CashIn | CashOut, direction: Literal["in", "out"]) -> Any:
    settings = w.core.settings

    def operation(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        at = w.core.clock()
        require_sane_amount(settings, body.amount)
        require_branch(conn, body.branch_id)
        account = ledger.customer_account(conn, body.account_id, "account_id")
        w.visible(account["customer_n"], "account", body.account_id, "account_id")
        require_currency(account, body.currency)
        if w.channel == KIOSK and (
            body.currency != "CNY" or body.amount > settings.limits.kiosk_cash_max
        ):
            raise Problem(
                422,
                "Over the kiosk limit",
                f"kiosks handle CNY cash up to {settings.limits.kiosk_cash_max}; go to a counter",
                field="amount",
            )
        amount = to_minor(body.amount)
        counterparty = None
        if isinstance(body, CashIn) and body.depositor_id is not None:
            counterparty = row_of(body.depositor_id)
            w.visible(counterparty, "customer", body.depositor_id, "depositor_id")
            if (
                conn.execute("SELECT 1 FROM customers WHERE n = ?", (counterparty,)).fetchone()
                is None
            ):
                raise not_found("customer", body.depositor_id, "depositor_id")
        vault = ledger.bank_account_id("vault", body.currency, body.branch_id)
        if direction == "in":
            legs = ledger.debit_credit(vault, account["id"], amount)
        else:
            require_funds(account, amount)
            legs = ledger.debit_credit(account["id"], vault, amount)
        journal_n = ledger.post(
            conn,
            kind=f"cash_{direction}",
            legs=legs,
            at=at,
            channel=w.channel,
            key=w.key,
            caller=w.caller,
            branch_id=body.branch_id,
            operator_id=body.operator_id,
        )
        conn.execute(
            "INSERT INTO cash_movements (journal_n, direction, currency, amount, branch_id,"
            " account_id) VALUES (?, ?, ?, ?, ?, ?)",
            (journal_n, direction, body.currency, amount, body.branch_id, account["id"]),
        )
        aml.screen(
            conn,
            settings,
            [
                aml.Movement(
                    account["customer_n"],
                    account["id"],
                    direction,
                    "cash",
                    amount,
                    body.currency,
                    journal_n,
                    at,
                    counterparty,
                )
            ],
        )
        balance = account["balance"] + (amount if direction == "in" else -amount)
        return 201, {
            "transaction_id": public_id("J", journal_n),
            "account_id": account["id"],
            "direction": direction,
            "amount": to_wire(amount),
            "currency": body.currency,
            "balance": to_wire(balance),
            "branch_id": body.branch_id,
        }

    return w.run(body, operation)


@router.post("/deposits", status_code=201, response_model=CashReceipt)
async def deposit(body: CashIn, w: Write = Depends(write(TELLER, KIOSK))) -> Any:
    return await _move_cash(w, body, "in")


@router.post("/withdrawals", status_code=201, response_model=CashReceipt)
async def withdraw(body: CashOut, w: Write = Depends(write(TELLER, KIOSK))) -> Any:
    return await _move_cash(w, body, "out")
