"""The double-entry ledger: accounts, journal entries and their postings.

A posting's `amount` is signed, debit positive and credit negative, and the legs of every entry sum
to zero per currency. An account's stored `balance` is in its natural sense (a customer deposit is
credit-normal, a branch vault debit-normal), so it reads as money held, and it always equals the
replay of its postings. Amounts are integer minor units.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import dataclass

from mock_core.identity import luhn_check_digit
from mock_core.money import to_wire
from mock_core.problems import Problem, not_found

CUSTOMER_KINDS = ("current", "savings")
ACCOUNT_PREFIX = "622202"
"""Customer account numbers: this prefix, 12 digits of sequence, a Luhn check digit (19 digits)."""

BANK_KINDS: dict[str, tuple[str, bool]] = {
    # kind: (normal side, may the balance go negative)
    "vault": ("debit", False),
    "capital": ("credit", True),
    "fx_position": ("debit", True),
    "fee_income": ("credit", False),
    "spread_income": ("credit", False),
    "loan_principal": ("debit", False),
    "wealth_custody": ("credit", False),
}


@dataclass(frozen=True, slots=True)
class Leg:
    account_id: str
    amount: int
    """Signed minor units: debit positive, credit negative."""


def debit_credit(debit_account: str, credit_account: str, amount: int) -> list[Leg]:
    """The two legs moving `amount` from `credit_account`'s side to `debit_account`'s."""
    return [Leg(debit_account, amount), Leg(credit_account, -amount)]


def bank_account_id(kind: str, currency: str, branch_id: str | None = None) -> str:
    """The bank's own accounts are named, e.g. VAULT-B001-CNY, FX_POSITION-USD."""
    parts = [kind.upper(), *([branch_id] if branch_id else []), currency]
    return "-".join(parts)


def open_bank_account(
    conn: sqlite3.Connection, kind: str, currency: str, at: float, branch_id: str | None = None
) -> str:
    normal, may_be_negative = BANK_KINDS[kind]
    account_id = bank_account_id(kind, currency, branch_id)
    conn.execute(
        "INSERT OR IGNORE INTO accounts (id, customer_n, kind, normal, currency, branch_id,"
        " may_be_negative, opened_at) VALUES (?, NULL, ?, ?, ?, ?, ?, ?)",
        (account_id, kind, normal, currency, branch_id, int(may_be_negative), at),
    )
    return account_id


def open_customer_account(
    conn: sqlite3.Connection, customer_n: int, kind: str, currency: str, branch_id: str, at: float
) -> str:
    (count,) = conn.execute("SELECT count(*) FROM accounts").fetchone()
    payload = f"{ACCOUNT_PREFIX}{count + 1:012d}"
    account_id = payload + luhn_check_digit(payload)
    conn.execute(
        "INSERT INTO accounts (id, customer_n, kind, normal, currency, branch_id,"
        " may_be_negative, opened_at) VALUES (?, ?, ?, 'credit', ?, ?, 0, ?)",
        (account_id, customer_n, kind, currency, branch_id, at),
    )
    return account_id


def customer_account(conn: sqlite3.Connection, account_id: str, field: str) -> sqlite3.Row:
    """The customer account `account_id`, or a 404 naming `field`."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT id, customer_n, kind, currency, branch_id, balance FROM accounts"
        " WHERE id = ? AND customer_n IS NOT NULL",
        (account_id,),
    ).fetchone()
    if row is None:
        raise not_found("account", account_id, field)
    return row


def post(
    conn: sqlite3.Connection,
    *,
    kind: str,
    legs: list[Leg],
    at: float,
    channel: str,
    key: str | None = None,
    caller: str | None = None,
    branch_id: str | None = None,
    operator_id: str | None = None,
    memo: str = "",
) -> int:
    """Record one balanced journal entry and apply it to the balances; returns the entry's number.

    `key` is the request's idempotency key and `caller` its owner (`idempotency.caller_of`).
    Refuses (422, nothing written) when a leg would take an account that may not go negative
    below zero: an overdrawn customer, a vault paying out cash it does not hold.
    """
    ids = sorted({leg.account_id for leg in legs})
    accounts = {
        row["id"]: row
        for row in conn.execute(
            "SELECT id, currency, normal, balance, may_be_negative FROM accounts"
            f" WHERE id IN ({','.join('?' * len(ids))})",
            ids,
        )
    }
    totals: dict[str, int] = defaultdict(int)
    changes: dict[str, int] = defaultdict(int)
    for leg in legs:
        account = accounts[leg.account_id]
        totals[account["currency"]] += leg.amount
        changes[leg.account_id] += leg.amount if account["normal"] == "debit" else -leg.amount
    if any(totals.values()):
        raise AssertionError(f"unbalanced {kind} entry: {dict(totals)}")
    for account_id, change in changes.items():
        account = accounts[account_id]
        if account["balance"] + change < 0 and not account["may_be_negative"]:
            raise Problem(
                422,
                "Insufficient funds",
                f"account {account_id} holds {to_wire(account['balance'])}"
                f" {account['currency']}, {to_wire(-change)} needed",
                field="amount",
            )
    journal_n = conn.execute(
        "INSERT INTO journal (kind, idempotency_key, caller, channel, branch_id, operator_id,"
        " created_at, memo) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (kind, key, caller, channel, branch_id, operator_id, at, memo),
    ).lastrowid
    assert journal_n is not None
    conn.executemany(
        "INSERT INTO postings (journal_n, account_id, currency, amount) VALUES (?, ?, ?, ?)",
        [
            (journal_n, leg.account_id, accounts[leg.account_id]["currency"], leg.amount)
            for leg in legs
        ],
    )
    conn.executemany(
        "UPDATE accounts SET balance = balance + ? WHERE id = ?",
        [(change, account_id) for account_id, change in changes.items()],
    )
    return journal_n
