"""Transfers between accounts of one currency; counter transfers to another customer pay a fee."""

from __future__ import annotations

import sqlite3
from typing import Any

from fastapi import Depends
from pydantic import BaseModel, Field

from mock_core import aml, ledger
from mock_core.channels import KIOSK, ONLINE, TELLER
from mock_core.checks import require_currency, require_funds, require_sane_amount
from mock_core.fields import Line, RequestBody
from mock_core.idempotency import Write, write
from mock_core.ids import AccountRef, public_id
from mock_core.money import Amount, Currency, to_minor, to_wire
from mock_core.problems import Problem, not_found
from mock_core.routing import api_router

router = api_router("/v1/transfers", "transfers")


class TransferIn(RequestBody):
    from_account: AccountRef
    to_account: AccountRef
    amount: Amount
    currency: Currency = "CNY"
    reference: Line = Field("", max_length=140)


class TransferOut(BaseModel):
    transaction_id: str
    from_account: str
    to_account: str
    amount: str
    fee: str
    currency: str
    balance: str = Field(description="the paying account's balance after the transfer")


@router.post("", status_code=201, response_model=TransferOut)
async def transfer(body: TransferIn, w: Write = Depends(write(TELLER, KIOSK, ONLINE))) -> Any:
    settings = w.core.settings

    def operation(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        at = w.core.clock()
        require_sane_amount(settings, body.amount)
        if body.from_account == body.to_account:
            raise Problem(
                422, "Same account", "cannot transfer to the paying account", field="to_account"
            )
        payer = ledger.customer_account(conn, body.from_account, "from_account")
        w.visible(payer["customer_n"], "account", body.from_account, "from_account")
        payee = ledger.customer_account(conn, body.to_account, "to_account")
        own = payer["customer_n"] == payee["customer_n"]
        if w.channel == KIOSK and not own:
            # A kiosk pays only between its customer's own accounts: another customer's is as
            # unknown to it as one that does not exist (the same 404), or the answer would tell
            # which account numbers exist.
            raise not_found("account", body.to_account, "to_account")
        require_currency(payer, body.currency)
        require_currency(payee, body.currency, "to_account")
        amount = to_minor(body.amount)
        fee = 0 if own or w.channel != TELLER else to_minor(settings.limits.transfer_fee)
        require_funds(payer, amount + fee)
        legs = [
            ledger.Leg(payer["id"], amount + fee),
            ledger.Leg(payee["id"], -amount),
        ]
        if fee:
            legs.append(ledger.Leg(ledger.bank_account_id("fee_income", body.currency), -fee))
        journal_n = ledger.post(
            conn,
            kind="transfer",
            legs=legs,
            at=at,
            channel=w.channel,
            key=w.key,
            caller=w.caller,
            memo=body.reference,
        )
        aml.screen(
            conn,
            settings,
            [
                aml.Movement(
                    payer["customer_n"],
                    payer["id"],
                    "out",
                    "transfer",
                    amount,
                    body.currency,
                    journal_n,
                    at,
                    payee["customer_n"],
                ),
                aml.Movement(
                    payee["customer_n"],
                    payee["id"],
                    "in",
                    "transfer",
                    amount,
                    body.currency,
                    journal_n,
                    at,
                    payer["customer_n"],
                ),
            ],
        )
        return 201, {
            "transaction_id": public_id("J", journal_n),
            "from_account": payer["id"],
            "to_account": payee["id"],
            "amount": to_wire(amount),
            "fee": to_wire(fee),
            "currency": body.currency,
            "balance": to_wire(payer["balance"] - amount - fee),
        }

    return await w.run(body, operation)
