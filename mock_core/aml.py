"""Anti-money-laundering screening of every cash movement and transfer.

Each movement is recorded as an event (customer, account, counterparty, direction, CNY amount);
the rules then look back over the events and raise alerts, listed at `/admin/alerts`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from decimal import Decimal

from mock_core.settings import Settings


@dataclass(frozen=True, slots=True)
class Movement:
    customer_n: int
    account_id: str
    direction: str
    """'in' or 'out' of the account."""
    kind: str
    """'cash' or 'transfer'."""
    amount: int
    currency: str
    journal_n: int
    at: float
    counterparty_n: int | None = None


def to_cny(settings: Settings, amount: int, currency: str) -> int:
    if currency == "CNY":
        return amount
    return int(Decimal(amount) * settings.fx_rates[currency])


def screen(conn: sqlite3.Connection, settings: Settings, movements: list[Movement]) -> None:
    """Record `movements` and raise the alerts they trigger (inside the caller's transaction)."""
    conn.executemany(
        "INSERT INTO aml_events (customer_n, account_id, counterparty_n, direction, kind,"
        " amount_cny, journal_n, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                m.customer_n,
                m.account_id,
                m.counterparty_n,
                m.direction,
                m.kind,
                to_cny(settings, m.amount, m.currency),
                m.journal_n,
                m.at,
            )
            for m in movements
        ],
    )
