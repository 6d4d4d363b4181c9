"""The SQLite store: one connection, WAL mode, explicit transactions.

The service runs every transaction synchronously on the event loop thread, with no `await` between
BEGIN and COMMIT, so transactions never interleave: concurrent bookings of one slot or purchases of
one product's last unit are serialised by construction.

Durability: WAL with `synchronous=NORMAL`. A COMMIT has written its frames to the WAL file through
the kernel before it returns, so a process crash (`kill -9`) loses no acknowledged write: the
frames are in the OS page cache and reach the disk without the process. NORMAL fsyncs the WAL only
at checkpoints, so a power loss or OS crash may lose the transactions committed since the last
one, but never corrupts the database. OFF would skip the checkpoint fsyncs too, and a power loss
mid-checkpoint could then corrupt it; FULL would fsync every COMMIT, which a mock core does not
need.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mock_core.problems import Problem

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS branches (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, counters INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS customers (
    n INTEGER PRIMARY KEY, name TEXT NOT NULL, id_number TEXT NOT NULL UNIQUE,
    phone TEXT NOT NULL, segment TEXT NOT NULL, home_branch TEXT NOT NULL,
    created_at REAL NOT NULL, card_digest TEXT, salt BLOB, pin_hash BLOB, password_hash BLOB);
CREATE UNIQUE INDEX IF NOT EXISTS customers_card ON customers(card_digest);
CREATE TABLE IF NOT EXISTS login_failures (
    subject TEXT PRIMARY KEY, failures INTEGER NOT NULL, locked_until REAL, forget_at REAL)
    WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS login_failures_forget ON login_failures(forget_at);
CREATE TABLE IF NOT EXISTS session_ends (
    channel TEXT NOT NULL, customer_n INTEGER NOT NULL, ended_at REAL NOT NULL,
    forget_at REAL NOT NULL, PRIMARY KEY (channel, customer_n)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY, customer_n INTEGER REFERENCES customers(n), kind TEXT NOT NULL,
    normal TEXT NOT NULL CHECK (normal IN ('debit', 'credit')), currency TEXT NOT NULL,
    branch_id TEXT, balance INTEGER NOT NULL DEFAULT 0, may_be_negative INTEGER NOT NULL,
    opened_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS accounts_customer ON accounts(customer_n);
CREATE TABLE IF NOT EXISTS journal (
    n INTEGER PRIMARY KEY, kind TEXT NOT NULL, idempotency_key TEXT, channel TEXT NOT NULL,
    branch_id TEXT, operator_id TEXT, created_at REAL NOT NULL, memo TEXT NOT NULL DEFAULT '',
    caller TEXT);
CREATE TABLE IF NOT EXISTS postings (
    n INTEGER PRIMARY KEY, journal_n INTEGER NOT NULL REFERENCES journal(n),
    account_id TEXT NOT NULL REFERENCES accounts(id), currency TEXT NOT NULL,
    amount INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS postings_account ON postings(account_id, n);
CREATE TABLE IF NOT EXISTS cash_movements (
    journal_n INTEGER PRIMARY KEY REFERENCES journal(n), direction TEXT NOT NULL,
    currency TEXT NOT NULL, amount INTEGER NOT NULL, branch_id TEXT NOT NULL,
    account_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS idempotency (
    caller TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, status INTEGER NOT NULL,
    body BLOB NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (caller, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS loans (
    n INTEGER PRIMARY KEY, customer_n INTEGER NOT NULL REFERENCES customers(n),
    amount INTEGER NOT NULL, term_months INTEGER NOT NULL, purpose TEXT NOT NULL,
    status TEXT NOT NULL, account_id TEXT, applied_at REAL NOT NULL, decided_at REAL,
    disbursed_at REAL, journal_n INTEGER);
CREATE TABLE IF NOT EXISTS wealth_products (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, currency TEXT NOT NULL, unit_price INTEGER NOT NULL,
    quota_units INTEGER NOT NULL, sold_units INTEGER NOT NULL DEFAULT 0,
    risk_level INTEGER NOT NULL, min_segment TEXT NOT NULL DEFAULT 'mass');
CREATE TABLE IF NOT EXISTS wealth_orders (
    n INTEGER PRIMARY KEY, product_id TEXT NOT NULL REFERENCES wealth_products(id),
    customer_n INTEGER NOT NULL, account_id TEXT NOT NULL, units INTEGER NOT NULL,
    amount INTEGER NOT NULL, journal_n INTEGER NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS fx_quotes (
    n INTEGER PRIMARY KEY, sell_currency TEXT NOT NULL, buy_currency TEXT NOT NULL,
    sell_amount INTEGER NOT NULL, buy_amount INTEGER NOT NULL, rate TEXT NOT NULL,
    mid_rate TEXT NOT NULL, spread_cny INTEGER NOT NULL, created_at REAL NOT NULL,
    expires_at REAL NOT NULL, used_at REAL, journal_n INTEGER, customer_n INTEGER);
CREATE TABLE IF NOT EXISTS tickets (
    n INTEGER PRIMARY KEY, branch_id TEXT NOT NULL, number TEXT NOT NULL,
    service_type TEXT NOT NULL, priority INTEGER NOT NULL, customer_n INTEGER,
    appointment_n INTEGER, status TEXT NOT NULL, counter_id TEXT, issued_at REAL NOT NULL,
    called_at REAL, finished_at REAL);
CREATE INDEX IF NOT EXISTS tickets_queue ON tickets(branch_id, status, priority DESC, n);
CREATE INDEX IF NOT EXISTS tickets_finished ON tickets(branch_id, status, finished_at);
CREATE INDEX IF NOT EXISTS tickets_called ON tickets(branch_id, called_at);
CREATE INDEX IF NOT EXISTS tickets_branch ON tickets(branch_id, n);
CREATE INDEX IF NOT EXISTS tickets_customer ON tickets(customer_n, status);
CREATE TABLE IF NOT EXISTS slots (
    id TEXT PRIMARY KEY, branch_id TEXT NOT NULL, day TEXT NOT NULL, start TEXT NOT NULL,
    capacity INTEGER NOT NULL, booked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS appointments (
    n INTEGER PRIMARY KEY, slot_id TEXT NOT NULL REFERENCES slots(id),
    customer_n INTEGER NOT NULL, service_type TEXT NOT NULL, status TEXT NOT NULL,
    ticket_n INTEGER, created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS appointments_slot ON appointments(slot_id, status);
CREATE INDEX IF NOT EXISTS appointments_customer ON appointments(customer_n, status);
CREATE TABLE IF NOT EXISTS enquiries (
    n INTEGER PRIMARY KEY, customer_n INTEGER NOT NULL, kind TEXT NOT NULL, channel TEXT NOT NULL,
    subject TEXT NOT NULL, status TEXT NOT NULL, opened_at REAL NOT NULL,
    first_answer_at REAL, closed_at REAL);
CREATE TABLE IF NOT EXISTS enquiry_messages (
    n INTEGER PRIMARY KEY, enquiry_n INTEGER NOT NULL REFERENCES enquiries(n),
    author TEXT NOT NULL, text TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS aml_events (
    n INTEGER PRIMARY KEY, customer_n INTEGER NOT NULL, account_id TEXT NOT NULL,
    counterparty_n INTEGER, direction TEXT NOT NULL, kind TEXT NOT NULL,
    amount_cny INTEGER NOT NULL, journal_n INTEGER NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS aml_events_customer ON aml_events(customer_n, at);
CREATE INDEX IF NOT EXISTS aml_events_account ON aml_events(account_id, at);
CREATE TABLE IF NOT EXISTS aml_daily_cash (
    customer_n INTEGER NOT NULL, day REAL NOT NULL, amount_cny INTEGER NOT NULL,
    PRIMARY KEY (customer_n, day)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS aml_alerts (
    n INTEGER PRIMARY KEY, rule TEXT NOT NULL, customer_n INTEGER NOT NULL,
    account_id TEXT NOT NULL, journal_ns TEXT NOT NULL, detected_at REAL NOT NULL,
    detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS aml_alerts_rule ON aml_alerts(rule, account_id, detected_at);
CREATE TABLE IF NOT EXISTS faults (
    n INTEGER PRIMARY KEY, spec TEXT NOT NULL, start_at REAL NOT NULL, end_at REAL,
    removed INTEGER NOT NULL DEFAULT 0);
"""

TABLES = [
    line.split()[5] for line in SCHEMA.splitlines() if line.startswith("CREATE TABLE IF NOT EXISTS")
]
KEPT_BY_RESET = frozenset({"faults"})
"""The drill's injected faults belong to the service, not to the seeded data: a reseed keeps
them (and the numbers given)."""


OWNER_ONLY = 0o600
"""The mode of the ledger and its -wal and -shm files: they hold the session-signing secret,
credential hashes and personal data, for no other user of the machine to read."""
_SIDE_FILES = ("-wal", "-shm", "-journal")


def owner_only(path: Path) -> None:
    """Create the ledger file owner-only, or make an existing one (and its side files) so.
    SQLite gives the -wal and -shm files it creates the database file's mode."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, OWNER_ONLY))
    for name in (path, *(path.with_name(path.name + side) for side in _SIDE_FILES)):
        with contextlib.suppress(FileNotFoundError):
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, OWNER_ONLY)


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed, owner-only) the ledger database at `path`."""
    owner_only(path)
    # No busy wait: the event loop must never sleep on a lock. The only other writer is a reset
    # (`apart`), and a write meanwhile is refused at once (`Busy`).
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=0)
    conn.row_factory = sqlite3.Row
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode != "wal":
        # NORMAL keeps acknowledged writes through a process crash only in WAL mode; a file
        # system that refuses WAL would silently weaken that, so refuse to serve on it.
        conn.close()
        raise sqlite3.OperationalError(f"{path}: journal_mode is {mode!r}, not WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    _set_aside_unscoped_keys(conn)
    _add_columns(conn)
    conn.executescript(SCHEMA)
    _scope_unscoped_keys(conn)
    # Counts kept before they could be forgotten: a lock until it runs out, the rest now.
    conn.execute(
        "UPDATE login_failures SET forget_at = coalesce(locked_until, 0) WHERE forget_at IS NULL"
    )
    return conn


_UNSCOPED = "idempotency_unscoped"
_ADDED_COLUMNS = (
    ("customers", "card_digest", "TEXT"),
    ("customers", "salt", "BLOB"),
    ("customers", "pin_hash", "BLOB"),
    ("customers", "password_hash", "BLOB"),
    ("fx_quotes", "customer_n", "INTEGER"),
    ("journal", "caller", "TEXT"),
    ("login_failures", "forget_at", "REAL"),
)
"""Columns added since the first ledgers, in SCHEMA for new ones (customer sessions)."""


def _add_columns(conn: sqlite3.Connection) -> None:
    # A ledger written before customer sessions lacks these columns; SCHEMA's CREATE TABLE IF NOT
    # EXISTS leaves its tables as they are, and the index on card_digest needs the column. Its
    # customers get no credentials: they cannot log in at a kiosk or online until reseeded.
    for table, column, kind in _ADDED_COLUMNS:
        columns = {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}
        if columns and column not in columns:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def _set_aside_unscoped_keys(conn: sqlite3.Connection) -> None:
    # A ledger written before keys were scoped by caller has a `key`-only primary key, which SQLite
    # cannot alter: move it aside so SCHEMA creates the scoped table, then copy it over.
    columns = {row["name"] for row in conn.execute("PRAGMA table_info(idempotency)")}
    if columns and "caller" not in columns:
        conn.execute(f"ALTER TABLE idempotency RENAME TO {_UNSCOPED}")


def _scope_unscoped_keys(conn: sqlite3.Connection) -> None:
    # A separate step, so a crash after the rename finishes the copy on the next open. A key that
    # posted is given the channel of its journal entry, so a replay from that channel is still
    # not applied twice (its fingerprint predates parsed comparison: the replay is 422, not a
    # second posting). A refusal posted nothing and has no channel to go by; it is dropped.
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (_UNSCOPED,)
    ).fetchone()
    if found is None:
        return
    with transaction(conn):
        conn.execute(
            "INSERT OR IGNORE INTO idempotency (caller, key, fingerprint, status, body, created_at)"
            " SELECT j.channel, u.key, u.fingerprint, u.status, u.body, u.created_at"
            f" FROM {_UNSCOPED} u JOIN journal j ON j.idempotency_key = u.key"
        )
        conn.execute(f"DROP TABLE {_UNSCOPED}")


APART_BUSY_TIMEOUT_S = 30.0
"""How long a connection `apart` waits for the service's own transaction to end (milliseconds,
in practice: those never wait on anything)."""


def apart(path: Path) -> sqlite3.Connection:
    """A second connection to the ledger at `path`, for one long transaction in a worker thread
    (a reset): while it writes, the service's connection still reads the ledger as it was."""
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=APART_BUSY_TIMEOUT_S
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class Busy(Problem):
    """The ledger is being rewritten by a transaction `apart`: retry shortly."""

    def __init__(self) -> None:
        super().__init__(
            503,
            "Busy",
            "the ledger is being reset; retry shortly",
            headers={"Retry-After": "1"},
        )


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any exception; `Busy` while another connection
    holds the write lock."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        if "locked" not in str(error):
            raise
        raise Busy() from None
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def wipe(conn: sqlite3.Connection) -> None:
    """Empty every table for a reseed, inside the caller's transaction; the schema stays."""
    for table in reversed(TABLES):  # children before the rows they reference
        if table not in KEPT_BY_RESET:
            conn.execute(f"DELETE FROM {table}")
