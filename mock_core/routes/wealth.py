"""Wealth products: a catalogue with limited quotas, and orders that buy units of them.

An order debits the customer and credits WEALTH_CUSTODY in the product's currency, and raises the
product's `sold_units` in the same transaction. The raise is conditional on the quota, so a launch
that sells out sells its last unit once: a later order is a 409, never an oversale.
A customer below the product's lowest segment is refused with 422 (a business rule about the
customer, not a matter of the channel's scope, which is what 403 means here).
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from typing import Annotated, Any, get_args

from fastapi import Depends, Path
from pydantic import BaseModel, Field

from mock_core import ledger
from mock_core.channels import ONLINE, TELLER, Caller, allow
from mock_core.checks import require_currency, require_funds, require_sane_amount
from mock_core.fields import RequestBody
from mock_core.idempotency import Write, write
from mock_core.ids import AccountRef, CustomerRef, public_id
from mock_core.money import to_wire
from mock_core.problems import Problem, not_found
from mock_core.routes.customers import Segment, customer_row
from mock_core.routing import api_router

router = api_router("/v1/wealth", "wealth")

SEGMENT_RANK = {segment: rank for rank, segment in enumerate(get_args(Segment))}
"""mass < affluent < private."""
PRODUCT_PATTERN = r"^WP-[A-Z0-9]{1,20}$"
ProductId = Annotated[str, Path(pattern=PRODUCT_PATTERN, description="e.g. WP-LAUNCH")]


class ProductOut(BaseModel):
    id: str
    name: str
    currency: str
    unit_price: str
    quota_units: int
    sold_units: int
    remaining_units: int
    risk_level: int
    min_segment: Segment


class OrderIn(RequestBody):
    product_id: str = Field(pattern=PRODUCT_PATTERN)
    customer_id: CustomerRef
    account_id: AccountRef = Field(description="the customer's account in the product currency")
    units: int = Field(ge=1, le=100_000_000)


class OrderOut(BaseModel):
    id: str
    transaction_id: str
    product_id: str
    customer_id: str
    account_id: str
    units: int
    amount: str
    currency: str
    balance: str = Field(description="the paying account's balance after the order")
    remaining_units: int = Field(description="the product's quota left after the order")


def _product_out(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "currency": row["currency"],
        "unit_price": to_wire(row["unit_price"]),
        "quota_units": row["quota_units"],
        "sold_units": row["sold_units"],
        "remaining_units": row["quota_units"] - row["sold_units"],
        "risk_level": row["risk_level"],
        "min_segment": row["min_segment"],
    }


def _product_row(conn: sqlite3.Connection, product_id: str, field: str) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM wealth_products WHERE id = ?", (product_id,)
    ).fetchone()
    if row is None:
        raise not_found("wealth product", product_id, field)
    return row


@router.get("/products", response_model=list[ProductOut])
async def catalogue(caller: Caller = Depends(allow(TELLER, ONLINE, public=True))) -> Any:
    rows = caller.core.conn.execute("SELECT * FROM wealth_products ORDER BY id").fetchall()
    return [_product_out(r) for r in rows]


@router.get("/products/{product_id}", response_model=ProductOut)
async def product(
    product_id: ProductId, caller: Caller = Depends(allow(TELLER, ONLINE, public=True))
) -> Any:
    return _product_out(_product_row(caller.core.conn, product_id, "product_id"))


@router.post("/orders", status_code=201, response_model=OrderOut)
async def order(body: OrderIn, w: Write = Depends(write(TELLER))) -> Any:
    def operation(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        at = w.core.clock()
        product = _product_row(conn, body.product_id, "product_id")
        customer = customer_row(conn, body.customer_id, "customer_id")
        account = ledger.customer_account(conn, body.account_id, "account_id")
        if account["customer_n"] != customer["n"]:
            raise Problem(
                422,
                "Not the customer's account",
                f"account {body.account_id} does not belong to {body.customer_id}",
                field="account_id",
            )
        require_currency(account, product["currency"], "account_id")
        if SEGMENT_RANK[customer["segment"]] < SEGMENT_RANK[product["min_segment"]]:
            raise Problem(
                422,
                "Segment not eligible",
                f"{product['id']} is sold to {product['min_segment']} customers and above;"
                f" {body.customer_id} is {customer['segment']}",
                field="customer_id",
            )
        amount = body.units * product["unit_price"]
        require_sane_amount(w.core.settings, Decimal(to_wire(amount)), "units")
        sold = conn.execute(
            "UPDATE wealth_products SET sold_units = sold_units + ?"
            " WHERE id = ? AND sold_units + ? <= quota_units",
            (body.units, product["id"], body.units),
        ).rowcount
        if not sold:
            remaining = product["quota_units"] - product["sold_units"]
            raise Problem(
                409,
                "Sold out" if remaining == 0 else "Quota exceeded",
                f"{product['id']} has {remaining} units left, {body.units} ordered",
                field="units",
            )
        require_funds(account, amount, "units")
        journal_n = ledger.post(
            conn,
            kind="wealth_order",
            legs=ledger.debit_credit(
                account["id"], ledger.bank_account_id("wealth_custody", product["currency"]), amount
            ),
            at=at,
            channel=w.channel,
            key=w.key,
            caller=w.caller,
            memo=product["id"],
        )
        n = conn.execute(
            "INSERT INTO wealth_orders (product_id, customer_n, account_id, units, amount,"
            " journal_n, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (product["id"], customer["n"], account["id"], body.units, amount, journal_n, at),
        ).lastrowid
        assert n is not None
        return 201, {
            "id": public_id("WO", n),
            "transaction_id": public_id("J", journal_n),
            "product_id": product["id"],
            "customer_id": body.customer_id,
            "account_id": account["id"],
            "units": body.units,
            "amount": to_wire(amount),
            "currency": product["currency"],
            "balance": to_wire(account["balance"] - amount),
            "remaining_units": product["quota_units"] - product["sold_units"] - body.units,
        }

    return await w.run(body, operation)
