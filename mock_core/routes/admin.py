"""Administration: ledger reconciliation, the ledger's idempotency keys, AML alerts and
reseeding. Admin token only."""

from __future__ import annotations

import json
import sqlite3
from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel, Field

from mock_core import reconcile, seed, sessions, store
from mock_core.channels import ADMIN, Caller, allow
from mock_core.fields import ASCII_DIGITS, RequestBody
from mock_core.idempotency import Write, write
from mock_core.ids import public_id
from mock_core.routes.paging import Page, page_query
from mock_core.routing import api_router
from mock_core.settings import SEED_MAX

router = api_router("/admin", "admin")


class CheckOut(BaseModel):
    name: str
    description: str
    ok: bool
    figures: dict[str, Any]


class ReconcileOut(BaseModel):
    ok: bool
    checks: list[CheckOut]


class AlertOut(BaseModel):
    id: str
    rule: str
    customer_id: str
    account_id: str
    transaction_ids: list[str]
    detected_at: float
    detail: str


class LedgerKeyOut(BaseModel):
    key: str
    answers: int = Field(description="stored answers with this key, whatever their caller")
    status: int | None = Field(description="the stored answer's status; null without one")
    entries: int = Field(description="journal entries posted under this key")


KEYS_PAGE_MAX = 5000
"""Keys per page of the ledger export: a long run writes tens of thousands."""


class ResetIn(RequestBody):
    seed: int | None = Field(None, ge=0, le=SEED_MAX, description="default: the current seed")
    customers: int | None = Field(None, ge=0, le=100_000)


class ResetOut(BaseModel):
    seed: int
    customers: int


@router.get("/reconcile", response_model=ReconcileOut)
async def reconcile_ledger(caller: Caller = Depends(allow(ADMIN))) -> Any:
    return reconcile.reconcile(caller.core.conn)


@router.get("/ledger/keys", response_model=Page[LedgerKeyOut])
async def ledger_keys(
    caller: Caller = Depends(allow(ADMIN)),
    cursor: Annotated[
        str | None, Query(min_length=1, max_length=255, description="from next_cursor")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=KEYS_PAGE_MAX), ASCII_DIGITS] = 1000,
) -> Any:
    """Every idempotency key the ledger holds, in key order: how many answers are stored for it
    and how many journal entries carry it. What a client checks its acknowledged writes
    against after a crash: each present once, none posted twice. Keys belong to their caller
    (mock_core.idempotency), so a key two callers used is counted for both."""
    rows = caller.core.conn.execute(
        "WITH answers AS (SELECT key, count(*) AS n, min(status) AS status FROM idempotency"
        " WHERE key > ? GROUP BY key),"
        " entries AS (SELECT idempotency_key AS key, count(*) AS n FROM journal"
        " WHERE idempotency_key > ? GROUP BY idempotency_key)"
        " SELECT a.key, a.n AS answers, a.status, coalesce(e.n, 0) AS entries"
        " FROM answers a LEFT JOIN entries e USING (key)"
        " UNION ALL SELECT e.key, 0, NULL, e.n FROM entries e"
        " WHERE e.key NOT IN (SELECT key FROM answers)"
        " ORDER BY 1 LIMIT ?",
        (cursor or "", cursor or "", limit),
    ).fetchall()
    items = [{"key": r[0], "answers": r[1], "status": r[2], "entries": r[3]} for r in rows]
    return {"items": items, "next_cursor": rows[-1][0] if len(rows) == limit else None}


@router.get("/alerts", response_model=Page[AlertOut])
async def alerts(
    paging: Annotated[tuple[int | None, int], Depends(page_query)],
    caller: Caller = Depends(allow(ADMIN)),
    rule: Annotated[str | None, Query(max_length=40)] = None,
) -> Any:
    after, limit = paging
    rows = caller.core.conn.execute(
        "SELECT * FROM aml_alerts WHERE n > ? AND (? IS NULL OR rule = ?) ORDER BY n LIMIT ?",
        (after or 0, rule, rule, limit),
    ).fetchall()
    items = [
        {
            "id": public_id("A", r["n"]),
            "rule": r["rule"],
            "customer_id": public_id("C", r["customer_n"]),
            "account_id": r["account_id"],
            "transaction_ids": [public_id("J", j) for j in json.loads(r["journal_ns"])],
            "detected_at": r["detected_at"],
            "detail": r["detail"],
        }
        for r in rows
    ]
    return {"items": items, "next_cursor": str(rows[-1]["n"]) if len(rows) == limit else None}


@router.post("/reset", response_model=ResetOut)
async def reset(body: ResetIn, w: Write = Depends(write(ADMIN))) -> Any:
    """Wipe every record and reseed, in one transaction. The new store keeps this request's key,
    so a repeat is answered from the record instead of wiping again. Sessions opened before are
    void: the reseeded ledger signs with a new secret (its customers are other people).

    Seeding 100,000 customers takes seconds, so it runs apart from the event loop
    (`Write.run(apart=True)`): the service goes on answering (its writes 503 until it is
    done), and takes the new secret and settings once the reseed has committed."""
    core = w.core
    settings = core.settings.model_copy(
        update={k: v for k, v in body.model_dump().items() if v is not None}
    )
    signers: list[sessions.Signer] = []

    def operation(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        store.wipe(conn)
        seed.seed(conn, settings, core.clock())
        signers.append(sessions.Signer(sessions.secret(conn), settings.sessions, conn))
        return 200, {"seed": settings.seed, "customers": settings.customers}

    answer = await w.run(body, operation, apart=True)
    if signers and answer.status_code == 200:
        core.signer, core.settings = signers[0], settings
    return answer
