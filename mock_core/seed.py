"""Deterministic seeding: the same seed and settings give the same branches, customers, accounts
and opening balances, generated with Faker (Chinese locale by default)."""

from __future__ import annotations

import hashlib
import math
import random
import sqlite3
from dataclasses import dataclass

from faker import Faker

from mock_core import ledger, sessions
from mock_core.identity import luhn_check_digit
from mock_core.settings import Settings

CURRENCY_HOME = "CNY"
VAULT_FLOAT = {"CNY": 5_000_000_00}
FOREIGN_VAULT_FLOAT = 500_000_00
SEGMENTS = (("mass", 0.80), ("affluent", 0.15), ("private", 0.05))
WEALTH_CATALOGUE = (
    # id, name, currency, unit price, quota units, risk level, lowest segment allowed
    ("WP-CASH", "Daily liquidity fund", "CNY", 1, 50_000_000, 1, "mass"),
    ("WP-BOND90", "90-day bond plan", "CNY", 1_000, 200_000, 2, "mass"),
    ("WP-BAL1Y", "One-year balanced plan", "CNY", 10_000, 20_000, 3, "affluent"),
    ("WP-USD6M", "USD six-month note", "USD", 1_000, 5_000, 2, "affluent"),
    ("WP-LAUNCH", "New-launch structured deposit", "CNY", 10_000, 500, 3, "mass"),
)


CARD_PREFIX = "621700"
_SERIAL_HALF = 10**6
"""A card's 12-digit serial, between the prefix and the check digit, as two halves of 6 digits."""
_FEISTEL_ROUNDS = 4


@dataclass(frozen=True, slots=True)
class Credentials:
    """How a customer logs in: card number and PIN at a kiosk, password online."""

    card_number: str
    pin: str
    password: str


def card_serial(seed: int, n: int) -> int:
    """Customer `n`'s card serial: a permutation of the 10^12 serials keyed by the seed (a
    Feistel network of four rounds on the two halves), so cards are distinct, do not follow one
    another (serials in a row let anyone name, and lock, every card), and one card tells nothing
    of another's without the seed."""
    left, right = divmod(n, _SERIAL_HALF)
    for round_ in range(_FEISTEL_ROUNDS):
        key = hashlib.sha256(f"{seed}:card:{round_}:{right}".encode()).digest()
        left, right = right, (left + int.from_bytes(key[:8], "big")) % _SERIAL_HALF
    return left * _SERIAL_HALF + right


def credentials(seed: int, n: int) -> Credentials:
    """The credentials of seeded customer `n` (C0000000n) under `seed`, as docs/mock-core.md
    spells them out."""
    payload = f"{CARD_PREFIX}{card_serial(seed, n):012d}"

    def digest(what: str) -> str:
        return hashlib.sha256(f"{seed}:{n}:{what}".encode()).hexdigest()

    return Credentials(
        card_number=payload + luhn_check_digit(payload),
        pin=f"{int(digest('pin'), 16) % 1_000_000:06d}",
        password=f"pw-{digest('password')[:12]}",
    )


def currencies(settings: Settings) -> list[str]:
    return [CURRENCY_HOME, *sorted(settings.fx_rates)]


def branch_ids(settings: Settings) -> list[str]:
    return [f"B{i:03d}" for i in range(1, settings.branch.branches + 1)]


def seed(conn: sqlite3.Connection, settings: Settings, at: float) -> None:
    """Fill an empty store: branches, the bank's own accounts, customers with opening balances.

    Runs inside the caller's transaction, so a reseed and its wipe commit (or fail) together.
    """
    fake = Faker(settings.locale)
    fake.seed_instance(settings.seed)
    ids = Faker("zh_CN")  # resident ID numbers are Chinese whatever the names' locale
    ids.seed_instance(settings.seed)
    rng = random.Random(settings.seed)
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)",
        [("seed", str(settings.seed)), ("customers", str(settings.customers))],
    )
    branches = branch_ids(settings)
    conn.executemany(
        "INSERT INTO branches (id, name, counters) VALUES (?, ?, ?)",
        [(b, f"{fake.city()} {b}", settings.branch.counters) for b in branches],
    )
    _open_bank_accounts(conn, settings, branches, at)
    conn.executemany(
        "INSERT INTO wealth_products (id, name, currency, unit_price, quota_units, risk_level,"
        " min_segment) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(p, n, c, u * 100, q, r, s) for p, n, c, u, q, r, s in WEALTH_CATALOGUE],
    )
    seen: set[str] = set()
    for n in range(1, settings.customers + 1):
        id_number = ids.ssn()
        while id_number in seen:
            id_number = ids.ssn()
        seen.add(id_number)
        branch = rng.choice(branches)
        segment = rng.choices([s for s, _ in SEGMENTS], [w for _, w in SEGMENTS])[0]
        given = credentials(settings.seed, n)
        conn.execute(
            "INSERT INTO customers (n, name, id_number, phone, segment, home_branch,"
            " created_at, card_digest, salt, pin_hash, password_hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                n,
                fake.name(),
                id_number,
                fake.phone_number(),
                segment,
                branch,
                at,
                *sessions.stored(given.card_number, given.pin, given.password),
            ),
        )
        _open_customer_accounts(conn, rng, n, segment, branch, at)


def _open_bank_accounts(
    conn: sqlite3.Connection, settings: Settings, branches: list[str], at: float
) -> None:
    for currency in currencies(settings):
        for kind in ("capital", "fx_position", "fee_income", "wealth_custody"):
            ledger.open_bank_account(conn, kind, currency, at)
        capital = ledger.bank_account_id("capital", currency)
        for branch in branches:
            vault = ledger.open_bank_account(conn, "vault", currency, at, branch)
            opening = VAULT_FLOAT.get(currency, FOREIGN_VAULT_FLOAT)
            ledger.post(
                conn,
                kind="opening",
                legs=ledger.debit_credit(vault, capital, opening),
                at=at,
                channel="seed",
                branch_id=branch,
            )
    ledger.open_bank_account(conn, "spread_income", CURRENCY_HOME, at)
    ledger.open_bank_account(conn, "loan_principal", CURRENCY_HOME, at)


def _opening_balance(rng: random.Random, segment: str) -> int:
    """Lognormal around the segment's median, capped at fifty times it; minor units."""
    median = {"mass": 8_000, "affluent": 300_000, "private": 3_000_000}[segment]
    return round(min(rng.lognormvariate(math.log(median), 1.0), median * 50) * 100)


def _open_customer_accounts(
    conn: sqlite3.Connection, rng: random.Random, n: int, segment: str, branch: str, at: float
) -> None:
    wanted = [("current", CURRENCY_HOME)]
    if rng.random() < 0.4:
        wanted.append(("savings", CURRENCY_HOME))
    if segment != "mass" or rng.random() < 0.1:
        wanted.append(("current", "USD"))
    for kind, currency in wanted:
        account = ledger.open_customer_account(conn, n, kind, currency, branch, at)
        amount = _opening_balance(rng, segment)
        if currency != CURRENCY_HOME:
            amount //= 7
        vault = ledger.bank_account_id("vault", currency, branch)
        ledger.post(
            conn,
            kind="opening",
            legs=ledger.debit_credit(vault, account, amount),
            at=at,
            channel="seed",
            branch_id=branch,
        )
