"""Customer sessions: a kiosk card and PIN, or an online login, open a token bound to a customer.

A session token is `s1.<channel>.<customer row>.<expiry, ms>.<signature>`, the signature an
HMAC-SHA256 of the rest under a secret kept in the ledger's `meta` table: a core restarted on the
same database honours the sessions it opened, and a token forged or altered anywhere is refused.
Verifying one costs a split and an HMAC, no database read, so the kiosk and online requests that
carry it cost what a channel token did.

Credentials are stored as salted hashes, one SHA-256 round of a per-customer salt and the PIN or
password. A bank would use a slow key-derivation function (or keep PINs in an HSM); this mock's
credentials guard synthetic money, and the login is one request of every kiosk and online visit,
so it keeps the hash cheap. Card numbers are kept only as a SHA-256 digest, enough to find the
card's customer; a digest of a 16-digit number can be reversed by trying them all, acceptable here.

A session ends when it expires, when its customer logs out (`DELETE /v1/sessions/current`), or
when a lock-out locks its card or online login: `Signer.end` records the moment, and every
session of that customer on that channel opened until then is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import sqlite3
from dataclasses import dataclass

from mock_core.settings import SessionSettings

SECRET_KEY = "session_secret"
"""The `meta` row holding the signing secret."""
_VERSION = "s1"
SALT_BYTES = 16


@dataclass(frozen=True, slots=True)
class Session:
    """What a verified token says: who opened it, through which channel, until when."""

    channel: str
    customer_n: int
    expires_at: float


def secret(conn: sqlite3.Connection) -> bytes:
    """The ledger's signing secret, created on first use (inside the caller's transaction)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (SECRET_KEY,)).fetchone()
    if row is not None:
        return bytes.fromhex(row["value"])
    value = secrets.token_bytes(32)
    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (SECRET_KEY, value.hex()))
    return value


class Signer:
    """Issues and verifies the session tokens of one ledger, and remembers the sessions ended
    before they expired (a logout, a lock), which it loads from the ledger's `session_ends`."""

    def __init__(self, key: bytes, settings: SessionSettings, conn: sqlite3.Connection) -> None:
        self._key = key
        self._settings = settings
        self._ended: dict[tuple[str, int], float] = {
            (row["channel"], row["customer_n"]): row["ended_at"]
            for row in conn.execute("SELECT channel, customer_n, ended_at FROM session_ends")
        }

    def _ttl(self, channel: str) -> float:
        return self._settings.kiosk_ttl_s if channel == "kiosk" else self._settings.online_ttl_s

    def ended(self, session: Session) -> bool:
        """Whether a logout or a lock ended `session` (one dictionary look-up, no database)."""
        if not self._ended:
            return False
        at = self._ended.get((session.channel, session.customer_n))
        return at is not None and session.expires_at - self._ttl(session.channel) <= at

    def end(self, conn: sqlite3.Connection, channel: str, customer_n: int, now: float) -> None:
        """End every session of customer `customer_n` on `channel` opened until `now` (inside the
        caller's transaction). Rows whose sessions have all expired are dropped on the way."""
        forget_at = now + self._ttl(channel)
        conn.execute("DELETE FROM session_ends WHERE forget_at <= ?", (now,))
        conn.execute(
            "INSERT OR REPLACE INTO session_ends (channel, customer_n, ended_at, forget_at)"
            " VALUES (?, ?, ?, ?)",
            (channel, customer_n, now, forget_at),
        )
        self._ended = {k: v for k, v in self._ended.items() if v + self._ttl(k[0]) > now}
        self._ended[(channel, customer_n)] = now

    def _signature(self, claims: str) -> str:
        digest = hmac.new(self._key, claims.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def issue(self, channel: str, customer_n: int, now: float) -> Session:
        expires_ms = round((now + self._ttl(channel)) * 1000)
        return Session(channel, customer_n, expires_ms / 1000)

    def token(self, session: Session) -> str:
        claims = (
            f"{_VERSION}.{session.channel}.{session.customer_n}.{round(session.expires_at * 1000)}"
        )
        return f"{claims}.{self._signature(claims)}"

    def verify(self, token: str) -> Session | None:
        """The session `token` stands for, expired or not; None unless this ledger signed it."""
        claims, _, signature = token.rpartition(".")
        if not hmac.compare_digest(signature.encode(), self._signature(claims).encode()):
            return None
        version, channel, customer, expires_ms = claims.split(".")
        if version != _VERSION:
            return None
        return Session(channel, int(customer), int(expires_ms) / 1000)


def new_salt() -> bytes:
    return os.urandom(SALT_BYTES)


def hash_secret(salt: bytes, value: str) -> bytes:
    """The stored form of a PIN or password (cheap on purpose; see the module docstring)."""
    return hashlib.sha256(salt + value.encode()).digest()


def matches(salt: bytes | None, stored: bytes | None, given: str) -> bool:
    """Whether `given` is the credential stored as `stored`; False when none is stored."""
    if salt is None or stored is None:
        return False
    return hmac.compare_digest(hash_secret(salt, given), stored)


def card_digest(card_number: str) -> str:
    """How a card number is stored and looked up: never the number itself."""
    return hashlib.sha256(f"card:{card_number}".encode()).hexdigest()


def stored(
    card_number: str | None, pin: str | None, password: str | None
) -> tuple[str | None, bytes, bytes | None, bytes | None]:
    """(card digest, salt, PIN hash, password hash): the customer columns credentials fill."""
    salt = new_salt()
    return (
        card_digest(card_number) if card_number else None,
        salt,
        hash_secret(salt, pin) if pin else None,
        hash_secret(salt, password) if password else None,
    )


class Lockout:
    """Consecutive failed logins per card (kiosk) or per customer (online), kept in the ledger.

    A subject is counted whether or not the card or customer exists, so a lock never confirms
    that one does. A success clears the count; a lock that has run out, or a count not added to
    for `lock_s`, starts a fresh count. Rows are forgotten once they lock nothing
    (`forget_at`), and at most `max_failure_rows` are kept, so failures for made-up cards cannot
    fill the ledger.
    """

    def __init__(self, settings: SessionSettings) -> None:
        self._settings = settings

    def standing(self, conn: sqlite3.Connection, subject: str, now: float) -> tuple[int, float]:
        """(failures counted, seconds the subject stays locked, 0 when it is not)."""
        row = conn.execute(
            "SELECT failures, locked_until FROM login_failures WHERE subject = ? AND forget_at > ?",
            (subject, now),
        ).fetchone()
        if row is None:
            return 0, 0.0
        if row["locked_until"] is None:
            return row["failures"], 0.0
        return row["failures"], max(row["locked_until"] - now, 0.0)

    def failed(self, conn: sqlite3.Connection, subject: str, now: float) -> bool:
        """Count a failure (inside the caller's transaction); the last allowed one locks. True
        when this failure locked the subject."""
        # A lock is forgotten when it runs out (`forget_at` is its end), so this count is fresh.
        failures = self.standing(conn, subject, now)[0] + 1
        locks = failures >= self._settings.max_failures
        locked_until = now + self._settings.lock_s if locks else None
        conn.execute("DELETE FROM login_failures WHERE forget_at <= ?", (now,))
        conn.execute(
            "INSERT OR REPLACE INTO login_failures (subject, failures, locked_until, forget_at)"
            " VALUES (?, ?, ?, ?)",
            (subject, failures, locked_until, now + self._settings.lock_s),
        )
        (kept,) = conn.execute("SELECT count(*) FROM login_failures").fetchone()
        excess = kept - self._settings.max_failure_rows
        if excess > 0:
            conn.execute(
                "DELETE FROM login_failures WHERE subject IN (SELECT subject FROM login_failures"
                " WHERE locked_until IS NULL ORDER BY forget_at LIMIT ?)",
                (excess,),
            )
        return locks

    def succeeded(self, conn: sqlite3.Connection, subject: str) -> None:
        conn.execute("DELETE FROM login_failures WHERE subject = ?", (subject,))


class SourceThrottle:
    """Failed logins per source (the client's address), counted in memory before any card or
    login is tried: a source past `source_max_failures` in `source_window_s` is refused until
    the window has room again. A lock-out alone let one source lock every card it could name
    in a second; a branch's devices and gateways throttle failures per source first.

    Each source has a bucket of `source_max_failures` that refills over the window. Only
    sources with failures in the window are kept, at most `MAX_SOURCES`.
    """

    MAX_SOURCES = 100_000

    def __init__(self, settings: SessionSettings) -> None:
        self._size = settings.source_max_failures
        self._rate = settings.source_max_failures / settings.source_window_s
        self._buckets: dict[str, tuple[float, float]] = {}
        """Source -> (failures still allowed, when counted)."""

    def _room(self, source: str, now: float) -> float:
        left, at = self._buckets.get(source, (self._size, now))
        return min(self._size, left + (now - at) * self._rate)

    def wait(self, source: str, now: float) -> float:
        """Seconds before `source` may try a login again; 0 when it may now."""
        room = self._room(source, now)
        return 0.0 if room >= 1 else (1 - room) / self._rate

    def failed(self, source: str, now: float) -> None:
        self._buckets[source] = (self._room(source, now) - 1, now)
        if len(self._buckets) > self.MAX_SOURCES:
            self._buckets = {
                s: (left, at)
                for s, (left, at) in self._buckets.items()
                if left + (now - at) * self._rate < self._size
            }
