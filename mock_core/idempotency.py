"""Idempotency keys: a retried write is answered from the record of the first, never applied twice.

Keys belong to their caller, as a payment API's belong to an account: the same key from another
caller is that caller's own first use, never a replay of someone else's answer. The first request
with a key runs its operation and stores its response in the same transaction as the postings it
made, so either both survive a crash or neither does. A repeat with the same parsed request gets
the stored response; with another request, 422; while the first is still running, 409.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from fastapi import Request
from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from starlette.responses import Response
from starlette.types import Scope

from mock_core import admission, store
from mock_core.channels import SCOPE_ATTRIBUTE, SESSION_ATTRIBUTE, Caller, Channel, authorise, mark
from mock_core.ids import public_id
from mock_core.problems import MEDIA_TYPE as PROBLEM_MEDIA_TYPE
from mock_core.problems import Problem
from mock_core.store import transaction

Operation = Callable[[sqlite3.Connection], tuple[int, dict[str, Any]]]
"""Runs inside the write transaction; returns (status, body) or raises `Problem`."""

REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True, slots=True)
class Write(Caller):
    """A state-changing request: its caller, its idempotency key, and where it was sent."""

    key: str
    method: str
    path: str
    caller: str
    """Whose keys these are; see `caller_of`."""

    async def run(
        self, payload: BaseModel | None, operation: Operation, *, apart: bool = False
    ) -> Response:
        """Apply `operation` once for this key and payload; answer repeats from the record.

        `apart`: run the operation's transaction in a worker thread on a connection of its own
        (`store.apart`), for an operation too long to hold the event loop (a reset of 100,000
        customers takes seconds): the service answers meanwhile, its reads seeing the ledger
        as it was and its writes refused with `store.Busy` until the operation commits."""
        fingerprint = self._fingerprint(payload)
        core, key = self.core, self.key
        owned = (self.caller, key)
        if owned in core.in_flight:
            raise Problem(
                409,
                "Request in flight",
                "a request with this Idempotency-Key is still being processed; retry later",
                field="Idempotency-Key",
                headers={"Retry-After": "1"},
            )
        stored = core.conn.execute(
            "SELECT fingerprint, status, body FROM idempotency WHERE caller = ? AND key = ?", owned
        ).fetchone()
        if stored is not None:
            if stored["fingerprint"] != fingerprint:
                raise Problem(
                    422,
                    "Idempotency key reused",
                    "this Idempotency-Key was used for a different request",
                    field="Idempotency-Key",
                )
            return _response(stored["status"], stored["body"], {REPLAYED_HEADER: "true"})
        core.in_flight.add(owned)
        try:
            await admission.admit(self)
            if apart:
                status, body = await asyncio.to_thread(self._apply_apart, operation, fingerprint)
            else:
                status, body = self._apply(self.core.conn, operation, fingerprint)
        finally:
            core.in_flight.discard(owned)
        return _response(status, body)

    def _apply_apart(self, operation: Operation, fingerprint: str) -> tuple[int, bytes]:
        conn = store.apart(self.core.db_path)
        try:
            return self._apply(conn, operation, fingerprint)
        finally:
            conn.close()

    def _apply(
        self, conn: sqlite3.Connection, operation: Operation, fingerprint: str
    ) -> tuple[int, bytes]:
        try:
            with transaction(conn):
                status, result = operation(conn)
                body = orjson.dumps(result)
                self._record(conn, fingerprint, status, body)
        except store.Busy:
            raise  # nothing was decided: the same request may be sent again
        except Problem as problem:
            # A refused write keeps nothing of its own, but its answer is kept for repeats.
            status, body = problem.status, problem.encoded(self.path)
            with transaction(conn):
                self._record(conn, fingerprint, status, body)
        return status, body

    def _record(self, conn: sqlite3.Connection, fingerprint: str, status: int, body: bytes) -> None:
        conn.execute(
            "INSERT INTO idempotency (caller, key, fingerprint, status, body, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (self.caller, self.key, fingerprint, status, body, self.core.clock()),
        )

    def _fingerprint(self, payload: BaseModel | None) -> str:
        # The parsed request, not its text: defaults filled in, keys sorted, and decimals by
        # value, so "0.2" and "0.20" are one request and a retry that reformats is no reuse.
        data = payload.model_dump() if payload is not None else None
        raw = orjson.dumps(
            [self.method, self.path, data], default=_canonical, option=orjson.OPT_SORT_KEYS
        )
        return hashlib.sha256(raw).hexdigest()


def _canonical(value: object) -> Any:
    if isinstance(value, Decimal):
        # Fixed-point, so 20000 and 20000.00 agree (normalize alone would print 2E+4 for one).
        return format(value.normalize(), "f")
    return to_jsonable_python(value)


def caller_of(caller: Caller) -> str:
    """The owner of a request's idempotency keys: its channel, and for a customer session its
    customer on that channel (`online:C00000001`), so two customers of one channel cannot
    replay each other's answers."""
    if caller.customer_n is None:
        return caller.channel.value
    return f"{caller.channel.value}:{public_id('C', caller.customer_n)}"


def _response(status: int, body: bytes, headers: dict[str, str] | None = None) -> Response:
    media = PROBLEM_MEDIA_TYPE if status >= 400 else "application/json"
    return Response(body, status_code=status, media_type=media, headers=headers)


KEY_HEADER = "Idempotency-Key"
KEY_ATTRIBUTE = "idempotent"
"""Set on every write dependency: the OpenAPI document lists the key header for those routes."""
_KEY_NAME = KEY_HEADER.lower().encode()
_KEY_MAX = 255


def _key(scope: Scope) -> str:
    headers: Iterable[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == _KEY_NAME:
            key = value.decode("latin-1").strip()
            if 0 < len(key) <= _KEY_MAX:
                return key
            raise Problem(
                400,
                "Idempotency key required",
                f"{KEY_HEADER} must be 1 to {_KEY_MAX} characters",
                field=KEY_HEADER,
            )
    raise Problem(
        400,
        "Idempotency key required",
        f"every state-changing request needs an {KEY_HEADER} header",
        field=KEY_HEADER,
    )


def write(*channels: Channel) -> Callable[[Request], Awaitable[Write]]:
    """The dependency of a state-changing route open to `channels`; the caller is checked first."""
    check = authorise(*channels)

    async def writer(request: Request) -> Write:
        caller = check(request)
        scope = request.scope
        return Write(
            caller.core,
            caller.channel,
            caller.tag,
            scope,
            caller.customer_n,
            _key(scope),
            scope["method"],
            scope["path"],
            caller_of(caller),
        )

    mark(writer, getattr(check, SCOPE_ATTRIBUTE), getattr(check, SESSION_ATTRIBUTE))
    setattr(writer, KEY_ATTRIBUTE, True)
    return writer
