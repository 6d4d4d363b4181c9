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
    """Issues and verifies the session tokens of one ledger."""

    def __init__(self, key: bytes, settings: SessionSettings) -> None:
        self._key = key
        self._settings = settings

    def _signature(self, claims: str) -> str:
        digest = hmac.new(self._key, claims.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def issue(self, channel: str, customer_n: int, now: float) -> Session:
        ttl = self._settings.kiosk_ttl_s if channel == "kiosk" else self._settings.online_ttl_s
        expires_ms = round((now + ttl) * 1000)
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
    that one does. A success clears the count; a lock that has run out starts a fresh count.
    """

    def __init__(self, settings: SessionSettings) -> None:
        self._settings = settings

    def standing(self, conn: sqlite3.Connection, subject: str, now: float) -> tuple[int, float]:
        """(failures counted, seconds the subject stays locked, 0 when it is not)."""
        row = conn.execute(
            "SELECT failures, locked_until FROM login_failures WHERE subject = ?", (subject,)
        ).fetchone()
        if row is None:
            return 0, 0.0
        if row["locked_until"] is None:
            return row["failures"], 0.0
        return row["failures"], max(row["locked_until"] - now, 0.0)

    def failed(self, conn: sqlite3.Connection, subject: str, now: float) -> None:
        """Count a failure (inside the caller's transaction); the last allowed one locks."""
        row = conn.execute(
            "SELECT failures, locked_until FROM login_failures WHERE subject = ?", (subject,)
        ).fetchone()
        fresh = row is None or (row["locked_until"] is not None and row["locked_until"] <= now)
        failures = 1 if fresh else row["failures"] + 1
        locked_until = (
            now + self._settings.lock_s if failures >= self._settings.max_failures else None
        )
        conn.execute(
            "INSERT OR REPLACE INTO login_failures (subject, failures, locked_until)"
            " VALUES (?, ?, ?)",
            (subject, failures, locked_until),
        )

    def succeeded(self, conn: sqlite3.Connection, subject: str) -> None:
        conn.execute("DELETE FROM login_failures WHERE subject = ?", (subject,))
