"""Foreign exchange: a quote fixes the rate for a short while; an exchange spends the quote once.

A quote made in a customer session belongs to that customer: another customer's session, or an
exchange paying from another customer's account, finds no such quote (404).

Every rate is CNY per one unit of the foreign currency. The customer's rate carries the spread
against the customer (they buy foreign currency at mid * (1 + spread) and sell it at
mid * (1 - spread)), and the amount they receive is rounded down to the cent.

An exchange posts one entry that balances in each currency:
- sell currency: the customer's account pays `sell_amount` into FX_POSITION of that currency;
- buy currency: FX_POSITION of that currency pays `buy_amount` into the customer's account;
- CNY: FX_POSITION-CNY carries the mid-rate value of the foreign amount, and the difference from
  the customer's CNY amount is SPREAD_INCOME-CNY.
An expired quote is refused with 422 (the quote still exists, so not 410); a used one with 409.
"""

from __future__ import annotations

import sqlite3
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any

from fastapi import Depends
from pydantic import BaseModel, Field

from mock_core import ledger
from mock_core.channels import KIOSK, TELLER
from mock_core.checks import require_currency, require_funds, require_sane_amount
from mock_core.fields import RequestBody
from mock_core.idempotency import Write, write
from mock_core.ids import AccountRef, id_pattern, public_id, row_of
from mock_core.money import Amount, Currency, to_minor, to_wire
from mock_core.problems import Problem, not_found
from mock_core.routing import api_router

router = api_router("/v1/fx", "fx")

HOME = "CNY"
RATE_PLACES = Decimal("0.000001")


class QuoteIn(RequestBody):
    sell_currency: Currency
    buy_currency: Currency
    sell_amount: Amount


class QuoteOut(BaseModel):
    quote_id: str
    sell_currency: str
    buy_currency: str
    sell_amount: str
    buy_amount: str
    rate: str = Field(description="the customer's rate, CNY per unit of the foreign currency")
    mid_rate: str = Field(description="the mid rate, CNY per unit of the foreign currency")
    spread: str = Field(description="the margin applied to the mid rate, e.g. 0.005")
    expires_at: float


class ExchangeIn(RequestBody):
    quote_id: str = Field(pattern=id_pattern("Q"))
    from_account: AccountRef = Field(description="in the sell currency")
    to_account: AccountRef = Field(description="in the buy currency")


class ExchangeOut(BaseModel):
    transaction_id: str
    quote_id: str
    from_account: str
    to_account: str
    sell_currency: str
    sell_amount: str
    buy_currency: str
    buy_amount: str
    rate: str
    balance: str = Field(description="the paying account's balance after the exchange")


def _price(
    mid: Decimal, spread: Decimal, sell_currency: str, sell: int
) -> tuple[Decimal, int, int]:
    """(customer rate, buy amount, spread income in CNY); the rate and the buy amount round in
    the bank's favour, the mid value (what FX_POSITION-CNY carries) to the nearest fen."""
    if sell_currency == HOME:
        rate = (mid * (1 + spread)).quantize(RATE_PLACES, rounding=ROUND_CEILING)
        buy = int((Decimal(sell) / rate).to_integral_value(rounding=ROUND_FLOOR))
        mid_value = int((buy * mid).to_integral_value(rounding=ROUND_HALF_EVEN))
        return rate, buy, sell - mid_value
    rate = (mid * (1 - spread)).quantize(RATE_PLACES, rounding=ROUND_FLOOR)
    buy = int((sell * rate).to_integral_value(rounding=ROUND_FLOOR))
    mid_value = int((sell * mid).to_integral_value(rounding=ROUND_HALF_EVEN))
    return rate, buy, mid_value - buy


def _exchange_legs(quote: sqlite3.Row, payer: str, payee: str) -> list[ledger.Leg]:
    """Signed legs (debit +): each currency sums to zero, the spread goes to SPREAD_INCOME-CNY."""
    sell, buy, spread = quote["sell_amount"], quote["buy_amount"], quote["spread_cny"]
    cny_position = ledger.bank_account_id("fx_position", HOME)
    income = ledger.Leg(ledger.bank_account_id("spread_income", HOME), -spread)
    if quote["sell_currency"] == HOME:
        position = ledger.bank_account_id("fx_position", quote["buy_currency"])
        legs = [
            ledger.Leg(payer, sell),
            ledger.Leg(cny_position, -(sell - spread)),
            income,
            *ledger.debit_credit(position, payee, buy),
        ]
    else:
        position = ledger.bank_account_id("fx_position", quote["sell_currency"])
        legs = [
            *ledger.debit_credit(payer, position, sell),
            ledger.Leg(cny_position, buy + spread),
            ledger.Leg(payee, -buy),
            income,
        ]
    return [leg for leg in legs if leg.amount]


@router.post("/quotes", status_code=201, response_model=QuoteOut)
async def quote(body: QuoteIn, w: Write = Depends(write(TELLER, KIOSK))) -> Any:
    settings = w.core.settings

    def operation(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        at = w.core.clock()
        require_sane_amount(settings, body.sell_amount, "sell_amount")
        if (body.sell_currency == HOME) == (body.buy_currency == HOME):
            raise Problem(
                422,
                "Unsupported pair",
                "one side of an exchange must be CNY and the other a foreign currency",
                field="buy_currency",
            )
        foreign, field = (
            (body.buy_currency, "buy_currency")
            if body.sell_currency == HOME
            else (body.sell_currency, "sell_currency")
        )
        if foreign not in settings.fx_rates:
            raise Problem(
                422,
                "Unknown currency",
                f"no rate for {foreign}; quoted: {', '.join(sorted(settings.fx_rates))}",
                field=field,
            )
        mid = settings.fx_rates[foreign]
        sell = to_minor(body.sell_amount)
        rate, buy, spread = _price(mid, settings.limits.fx_spread, body.sell_currency, sell)
        if buy <= 0:
            raise Problem(
                422,
                "Amount too small",
                f"{body.sell_amount} {body.sell_currency} buys less than 0.01 {body.buy_currency}",
                field="sell_amount",
            )
        expires_at = at + settings.limits.fx_quote_seconds
        n = conn.execute(
            "INSERT INTO fx_quotes (sell_currency, buy_currency, sell_amount, buy_amount, rate,"
            " mid_rate, spread_cny, created_at, expires_at, customer_n)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                body.sell_currency,
                body.buy_currency,
                sell,
                buy,
                str(rate),
                str(mid),
                spread,
                at,
                expires_at,
                w.customer_n,
            ),
        ).lastrowid
        assert n is not None
        return 201, {
            "quote_id": public_id("Q", n),
            "sell_currency": body.sell_currency,
            "buy_currency": body.buy_currency,
            "sell_amount": to_wire(sell),
            "buy_amount": to_wire(buy),
            "rate": str(rate),
            "mid_rate": str(mid),
            "spread": str(settings.limits.fx_spread),
            "expires_at": expires_at,
        }

    return await w.run(body, operation)


@router.post("/exchanges", status_code=201, response_model=ExchangeOut)
async def exchange(body: ExchangeIn, w: Write = Depends(write(TELLER))) -> Any:
    def operation(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        at = w.core.clock()
        quote = conn.execute(
            "SELECT * FROM fx_quotes WHERE n = ?", (row_of(body.quote_id),)
        ).fetchone()
        if quote is None:
            raise not_found("quote", body.quote_id, "quote_id")
        payer = ledger.customer_account(conn, body.from_account, "from_account")
        w.visible(payer["customer_n"], "account", body.from_account, "from_account")
        owner = quote["customer_n"]
        w.visible(owner, "quote", body.quote_id, "quote_id")
        if owner is not None and owner != payer["customer_n"]:
            raise not_found("quote", body.quote_id, "quote_id")
        if quote["used_at"] is not None:
            raise Problem(
                409,
                "Quote used",
                f"quote {body.quote_id} was spent by {public_id('J', quote['journal_n'])}",
                field="quote_id",
            )
        if at > quote["expires_at"]:
            raise Problem(
                422,
                "Quote expired",
                f"quote {body.quote_id} expired {at - quote['expires_at']:.0f} s ago",
                field="quote_id",
            )
        payee = ledger.customer_account(conn, body.to_account, "to_account")
        require_currency(payer, quote["sell_currency"], "from_account")
        require_currency(payee, quote["buy_currency"], "to_account")
        if payer["customer_n"] != payee["customer_n"]:
            raise Problem(
                422,
                "Not the same customer",
                "an exchange moves money between one customer's own accounts",
                field="to_account",
            )
        require_funds(payer, quote["sell_amount"], "from_account")
        journal_n = ledger.post(
            conn,
            kind="fx_exchange",
            legs=_exchange_legs(quote, payer["id"], payee["id"]),
            at=at,
            channel=w.channel,
            key=w.key,
            caller=w.caller,
            memo=body.quote_id,
        )
        conn.execute(
            "UPDATE fx_quotes SET used_at = ?, journal_n = ? WHERE n = ?",
            (at, journal_n, quote["n"]),
        )
        return 201, {
            "transaction_id": public_id("J", journal_n),
            "quote_id": body.quote_id,
            "from_account": payer["id"],
            "to_account": payee["id"],
            "sell_currency": quote["sell_currency"],
            "sell_amount": to_wire(quote["sell_amount"]),
            "buy_currency": quote["buy_currency"],
            "buy_amount": to_wire(quote["buy_amount"]),
            "rate": quote["rate"],
            "balance": to_wire(payer["balance"] - quote["sell_amount"]),
        }

    return await w.run(body, operation)
