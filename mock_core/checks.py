"""Business checks shared by the routes; each failure is a 4xx problem naming its field."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from mock_core.money import to_wire
from mock_core.problems import Problem
from mock_core.settings import Settings


def require_branch(conn: sqlite3.Connection, branch_id: str, field: str = "branch_id") -> None:
    if conn.execute("SELECT 1 FROM branches WHERE id = ?", (branch_id,)).fetchone() is None:
        raise Problem(422, "Unknown branch", f"no branch {branch_id}", field=field)


def require_sane_amount(settings: Settings, amount: Decimal, field: str = "amount") -> None:
    if amount > settings.limits.max_amount:
        raise Problem(
            422,
            "Amount too large",
            f"{amount} is above the single-operation limit {settings.limits.max_amount}",
            field=field,
        )


def require_currency(account: sqlite3.Row, currency: str, field: str = "currency") -> None:
    if account["currency"] != currency:
        raise Problem(
            422,
            "Currency mismatch",
            f"account {account['id']} is in {account['currency']}, not {currency}",
            field=field,
        )


def require_funds(account: sqlite3.Row, needed: int, field: str = "amount") -> None:
    """A friendlier refusal than the ledger's own guard, naming the customer's field."""
    if account["balance"] < needed:
        raise Problem(
            422,
            "Insufficient funds",
            f"account {account['id']} holds {to_wire(account['balance'])} {account['currency']},"
            f" {to_wire(needed)} needed",
            field=field,
        )
