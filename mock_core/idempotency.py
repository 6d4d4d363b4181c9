"""Idempotency keys: a retried write is answered from the record of the first, never applied twice.

The first request with a key runs its operation and stores its response in the same transaction as
the postings it made, so either both survive a crash or neither does. A repeat with the same payload
gets the stored response; with another payload, 422; while the first is still running, 409.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Depends, Header, Request
from pydantic import BaseModel
from starlette.responses import Response

from mock_core import admission
from mock_core.channels import Caller, Channel, authorise
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

    async def run(self, payload: BaseModel | None, operation: Operation) -> Response:
        """Apply `operation` once for this key and payload; answer repeats from the record."""
        fingerprint = self._fingerprint(payload)
        core, key = self.core, self.key
        if key in core.in_flight:
            raise Problem(
                409,
                "Request in flight",
                "a request with this Idempotency-Key is still being processed; retry later",
                field="Idempotency-Key",
                headers={"Retry-After": "1"},
            )
        stored = core.conn.execute(
            "SELECT fingerprint, status, body FROM idempotency WHERE key = ?", (key,)
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
        core.in_flight[key] = fingerprint
        try:
            await admission.admit(self)
            status, body = self._apply(operation, fingerprint)
        finally:
            del core.in_flight[key]
        return _response(status, body)

    def _apply(self, operation: Operation, fingerprint: str) -> tuple[int, bytes]:
        conn = self.core.conn
        with transaction(conn):
            conn.execute("SAVEPOINT operation")
            try:
                status, result = operation(conn)
                body = orjson.dumps(result)
            except Problem as problem:
                # A refused write keeps nothing of its own, but its answer is kept for repeats.
                conn.execute("ROLLBACK TO operation")
                status, body = problem.status, orjson.dumps(problem.body(self.path))
            conn.execute("RELEASE operation")
            conn.execute(
                "INSERT INTO idempotency (key, fingerprint, status, body, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (self.key, fingerprint, status, body, self.core.clock()),
            )
        return status, body

    def _fingerprint(self, payload: BaseModel | None) -> str:
        data = payload.model_dump(mode="json") if payload is not None else None
        raw = orjson.dumps([self.method, self.path, data], option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(raw).hexdigest()


def _response(status: int, body: bytes, headers: dict[str, str] | None = None) -> Response:
    media = PROBLEM_MEDIA_TYPE if status >= 400 else "application/json"
    return Response(body, status_code=status, media_type=media, headers=headers)


def write(*channels: Channel) -> Callable[..., Write]:
    """A dependency for a state-changing route open to `channels`."""
    caller_of = authorise(*channels)

    def writer(
        request: Request,
        idempotency_key: str = Header(
            ...,
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="unique per intended operation; repeats are answered, not applied",
        ),
        caller: Caller = Depends(caller_of),
    ) -> Write:
        return Write(
            caller.core,
            caller.channel,
            caller.tag,
            caller.scope,
            idempotency_key,
            request.method,
            request.url.path,
        )

    return writer
