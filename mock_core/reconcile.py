"""The ledger's and the business's invariants, checked one by one with the figures behind each.

`/admin/reconcile` runs them; the concurrency and property tests assert that every check passes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from mock_core.money import to_wire

Check = dict[str, Any]


def _check(name: str, description: str, ok: bool, **figures: Any) -> Check:
    return {"name": name, "description": description, "ok": ok, "figures": figures}


def journal_balanced(conn: sqlite3.Connection) -> Check:
    bad = conn.execute(
        "SELECT journal_n, currency, sum(amount) AS off FROM postings"
        " GROUP BY journal_n, currency HAVING off != 0 LIMIT 10"
    ).fetchall()
    (entries,) = conn.execute("SELECT count(*) FROM journal").fetchone()
    (postings,) = conn.execute("SELECT count(*) FROM postings").fetchone()
    return _check(
        "journal_balanced",
        "every journal entry's postings sum to zero in each currency",
        not bad,
        entries=entries,
        postings=postings,
        unbalanced=[
            {"entry": r["journal_n"], "currency": r["currency"], "off": r["off"]} for r in bad
        ],
    )


def balances_match_postings(conn: sqlite3.Connection) -> Check:
    bad = conn.execute(
        "SELECT a.id, a.balance, coalesce(sum(p.amount), 0)"
        " * (CASE a.normal WHEN 'debit' THEN 1 ELSE -1 END) AS replayed"
        " FROM accounts a LEFT JOIN postings p ON p.account_id = a.id"
        " GROUP BY a.id HAVING a.balance != replayed LIMIT 10"
    ).fetchall()
    (accounts,) = conn.execute("SELECT count(*) FROM accounts").fetchone()
    return _check(
        "balances_match_postings",
        "every stored balance equals the replay of the account's postings",
        not bad,
        accounts=accounts,
        mismatched=[{"account": r["id"], "stored": r[1], "replayed": r["replayed"]} for r in bad],
    )


def money_conserved(conn: sqlite3.Connection) -> Check:
    """Money held (customer and bank accounts, vaults aside) equals the cash in the vaults, and
    that equals the opening cash plus cash deposited minus cash withdrawn, per currency."""
    held = dict(
        conn.execute(
            "SELECT currency, sum(CASE normal WHEN 'credit' THEN balance ELSE -balance END)"
            " FROM accounts WHERE kind != 'vault' GROUP BY currency"
        ).fetchall()
    )
    vaults = dict(
        conn.execute(
            "SELECT currency, sum(balance) FROM accounts WHERE kind = 'vault' GROUP BY currency"
        ).fetchall()
    )
    opening = dict(
        conn.execute(
            "SELECT p.currency, sum(p.amount) FROM postings p JOIN journal j ON j.n = p.journal_n"
            " JOIN accounts a ON a.id = p.account_id"
            " WHERE j.kind = 'opening' AND a.kind = 'vault' GROUP BY p.currency"
        ).fetchall()
    )
    flows = dict(
        conn.execute(
            "SELECT currency, sum(CASE direction WHEN 'in' THEN amount ELSE -amount END)"
            " FROM cash_movements GROUP BY currency"
        ).fetchall()
    )
    per_currency = {}
    ok = True
    for currency in sorted(set(held) | set(vaults)):
        expected = opening.get(currency, 0) + flows.get(currency, 0)
        row = {
            "held": to_wire(held.get(currency, 0)),
            "vault_cash": to_wire(vaults.get(currency, 0)),
            "opening_plus_cash_in_minus_out": to_wire(expected),
        }
        ok = ok and held.get(currency, 0) == vaults.get(currency, 0) == expected
        per_currency[currency] = row
    return _check(
        "money_conserved",
        "money held equals opening cash plus cash in minus cash out, per currency",
        ok,
        currencies=per_currency,
    )


def no_forbidden_negative(conn: sqlite3.Connection) -> Check:
    bad = conn.execute(
        "SELECT id, balance FROM accounts WHERE balance < 0 AND may_be_negative = 0 LIMIT 10"
    ).fetchall()
    return _check(
        "no_forbidden_negative",
        "no customer account, vault or income account below zero",
        not bad,
        negative=[{"account": r["id"], "balance": to_wire(r["balance"])} for r in bad],
    )


def one_posting_per_key(conn: sqlite3.Connection) -> Check:
    # Keys are the caller's (mock_core.idempotency.caller_of), recorded with each journal entry;
    # an entry from before customer sessions has only its channel, which was its caller then.
    # Two callers may each post once under one key.
    bad = conn.execute(
        "SELECT idempotency_key, coalesce(caller, channel) AS owner, count(*) AS entries"
        " FROM journal WHERE idempotency_key IS NOT NULL GROUP BY owner, idempotency_key"
        " HAVING entries > 1 LIMIT 10"
    ).fetchall()
    (keys,) = conn.execute("SELECT count(*) FROM idempotency").fetchone()
    orphans = conn.execute(
        "SELECT count(*) FROM journal j WHERE j.idempotency_key IS NOT NULL AND NOT EXISTS"
        " (SELECT 1 FROM idempotency i"
        " WHERE i.caller = coalesce(j.caller, j.channel) AND i.key = j.idempotency_key)"
    ).fetchone()[0]
    return _check(
        "one_posting_per_key",
        "at most one journal entry per caller's idempotency key, each with its stored response",
        not bad and orphans == 0,
        keys=keys,
        repeated=[{"key": r[0], "caller": r[1], "entries": r[2]} for r in bad],
        entries_without_response=orphans,
    )


def slots_within_capacity(conn: sqlite3.Connection) -> Check:
    bad = conn.execute(
        "SELECT s.id, s.capacity, s.booked, (SELECT count(*) FROM appointments a"
        " WHERE a.slot_id = s.id AND a.status != 'cancelled') AS held FROM slots s"
        " WHERE held > s.capacity OR held != s.booked LIMIT 10"
    ).fetchall()
    (slots,) = conn.execute("SELECT count(*) FROM slots").fetchone()
    return _check(
        "slots_within_capacity",
        "no appointment slot holds more bookings than its capacity",
        not bad,
        slots=slots,
        over=[{"slot": r["id"], "capacity": r["capacity"], "booked": r["held"]} for r in bad],
    )


def products_within_quota(conn: sqlite3.Connection) -> Check:
    bad = conn.execute(
        "SELECT p.id, p.quota_units, p.sold_units, coalesce((SELECT sum(o.units)"
        " FROM wealth_orders o WHERE o.product_id = p.id), 0) AS ordered FROM wealth_products p"
        " WHERE ordered > p.quota_units OR ordered != p.sold_units LIMIT 10"
    ).fetchall()
    (products,) = conn.execute("SELECT count(*) FROM wealth_products").fetchone()
    return _check(
        "products_within_quota",
        "no wealth product sold beyond its quota",
        not bad,
        products=products,
        over=[{"product": r["id"], "quota": r["quota_units"], "sold": r["ordered"]} for r in bad],
    )


CHECKS: list[Callable[[sqlite3.Connection], Check]] = [
    journal_balanced,
    balances_match_postings,
    money_conserved,
    no_forbidden_negative,
    one_posting_per_key,
    slots_within_capacity,
    products_within_quota,
]


def reconcile(conn: sqlite3.Connection) -> dict[str, Any]:
    """Run every check in one read transaction, so they all see the same state."""
    conn.execute("BEGIN")
    try:
        checks = [check(conn) for check in CHECKS]
    finally:
        conn.execute("COMMIT")
    return {"ok": all(c["ok"] for c in checks), "checks": checks}
