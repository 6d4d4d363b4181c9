"""The branch queue: tickets by service type, counters calling the next customer, queue status.

Priority tickets (high-value customers, appointments) are called before everyone else, then first
come first served. Estimates use the branch's own recent service times, so they track the surge.
"""

from __future__ import annotations

import math
import sqlite3
from typing import Annotated, Any, Literal

from fastapi import Depends, Path
from pydantic import BaseModel, Field, StrictBool

from mock_core.channels import CUSTOMER_CHANNELS, KIOSK, TELLER, Caller, allow
from mock_core.fields import RequestBody
from mock_core.idempotency import Write, write
from mock_core.ids import BRANCH_PATTERN, CustomerRef, TicketId, id_pattern, public_id, row_of
from mock_core.problems import Problem, not_found
from mock_core.routing import api_router
from mock_core.settings import Settings

router = api_router("/v1", "queue")

ServiceType = Literal["cash", "transfer", "loan", "wealth", "fx", "enquiry", "complaint", "account"]
LETTERS: dict[str, str] = {
    "cash": "A",
    "transfer": "B",
    "loan": "C",
    "wealth": "D",
    "fx": "E",
    "enquiry": "F",
    "complaint": "G",
    "account": "H",
}
PRIORITY_SEGMENTS = ("affluent", "private")
DAY_SECONDS = 86_400
IN_USE_WINDOW_SECONDS = 3_600

BranchId = Annotated[str, Path(pattern=BRANCH_PATTERN, description="branch id, e.g. B001")]
CounterId = Annotated[str, Path(pattern=id_pattern("C", 2), description="counter id, e.g. C01")]


class BranchOut(BaseModel):
    id: str
    name: str
    counters: int


class TicketIn(RequestBody):
    service_type: ServiceType
    customer_id: CustomerRef | None = None
    # Strict: a lax bool would turn 0 or "yes" into a priority the caller never asked for.
    priority: StrictBool = Field(
        False, description="also granted to affluent and private customers"
    )


class TicketOut(BaseModel):
    id: str
    branch_id: str
    number: str = Field(description="service letter and the branch's daily sequence, e.g. A012")
    service_type: ServiceType
    priority: bool
    customer_id: str | None
    appointment_id: str | None
    status: Literal["waiting", "called", "served", "no_show"]
    counter_id: str | None
    issued_at: float
    called_at: float | None
    finished_at: float | None
    position: int | None = Field(description="1 = next to be called; null once called")
    estimated_wait_seconds: int | None


class CalledOut(BaseModel):
    ticket: TicketOut | None


class QueueOut(BaseModel):
    branch_id: str
    waiting: int
    waiting_priority: int
    called: int
    served_today: int
    no_shows_today: int
    counters: int
    counters_in_use: int
    mean_service_seconds: float
    estimated_wait_seconds: int = Field(description="for a customer joining the queue now")


def day_start(at: float) -> float:
    """Midnight UTC of the day holding `at`."""
    return math.floor(at / DAY_SECONDS) * DAY_SECONDS


def branch_row(conn: sqlite3.Connection, branch_id: str, field: str = "branch_id") -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM branches WHERE id = ?", (branch_id,)
    ).fetchone()
    if row is None:
        raise not_found("branch", branch_id, field)
    return row


def _pace(
    conn: sqlite3.Connection, settings: Settings, branch: sqlite3.Row, at: float
) -> tuple[float, int]:
    """(mean service seconds today, counters in use) for the branch."""
    (mean,) = conn.execute(
        "SELECT avg(finished_at - called_at) FROM tickets"
        " WHERE branch_id = ? AND status = 'served' AND finished_at >= ?",
        (branch["id"], day_start(at)),
    ).fetchone()
    (in_use,) = conn.execute(
        "SELECT count(DISTINCT counter_id) FROM tickets WHERE branch_id = ? AND called_at >= ?",
        (branch["id"], at - IN_USE_WINDOW_SECONDS),
    ).fetchone()
    if mean is None:
        mean = settings.branch.default_service_minutes * 60
    return float(mean), min(max(in_use, 1), branch["counters"])


def _wait(ahead: int, mean: float, counters: int) -> int:
    return round(ahead * mean / counters)


def ticket_out(
    conn: sqlite3.Connection, settings: Settings, row: sqlite3.Row, at: float
) -> dict[str, Any]:
    position = wait = None
    if row["status"] == "waiting":
        (ahead,) = conn.execute(
            "SELECT count(*) FROM tickets WHERE branch_id = ? AND status = 'waiting'"
            " AND (priority > ? OR (priority = ? AND n < ?))",
            (row["branch_id"], row["priority"], row["priority"], row["n"]),
        ).fetchone()
        mean, counters = _pace(conn, settings, branch_row(conn, row["branch_id"]), at)
        position, wait = ahead + 1, _wait(ahead, mean, counters)
    return {
        "id": public_id("T", row["n"]),
        "branch_id": row["branch_id"],
        "number": row["number"],
        "service_type": row["service_type"],
        "priority": bool(row["priority"]),
        "customer_id": public_id("C", row["customer_n"]) if row["customer_n"] else None,
        "appointment_id": public_id("AP", row["appointment_n"]) if row["appointment_n"] else None,
        "status": row["status"],
        "counter_id": row["counter_id"],
        "issued_at": row["issued_at"],
        "called_at": row["called_at"],
        "finished_at": row["finished_at"],
        "position": position,
        "estimated_wait_seconds": wait,
    }


def issue_ticket(
    conn: sqlite3.Connection,
    branch_id: str,
    service_type: str,
    at: float,
    *,
    priority: bool,
    customer_n: int | None = None,
    appointment_n: int | None = None,
) -> sqlite3.Row:
    """Insert a waiting ticket numbered from the branch's sequence, which restarts each UTC day."""
    last = conn.execute(
        "SELECT number, issued_at FROM tickets WHERE branch_id = ? ORDER BY n DESC LIMIT 1",
        (branch_id,),
    ).fetchone()
    sequence = 1
    if last is not None and last["issued_at"] >= day_start(at):
        sequence = int(last["number"][1:]) + 1
    n = conn.execute(
        "INSERT INTO tickets (branch_id, number, service_type, priority, customer_n,"
        " appointment_n, status, issued_at) VALUES (?, ?, ?, ?, ?, ?, 'waiting', ?)",
        (
            branch_id,
            f"{LETTERS[service_type]}{sequence:03d}",
            service_type,
            int(priority),
            customer_n,
            appointment_n,
            at,
        ),
    ).lastrowid
    row: sqlite3.Row = conn.execute("SELECT * FROM tickets WHERE n = ?", (n,)).fetchone()
    return row


def _ticket_row(conn: sqlite3.Connection, ticket_id: str) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM tickets WHERE n = ?", (row_of(ticket_id),)
    ).fetchone()
    if row is None:
        raise not_found("ticket", ticket_id, "ticket_id")
    return row


@router.get("/branches", response_model=list[BranchOut])
async def list_branches(caller: Caller = Depends(allow(*CUSTOMER_CHANNELS, public=True))) -> Any:
    rows = caller.core.conn.execute("SELECT id, name, counters FROM branches ORDER BY id")
    return [dict(r) for r in rows]


@router.post("/branches/{branch_id}/tickets", status_code=201, response_model=TicketOut)
async def take_ticket(
    branch_id: BranchId, body: TicketIn, w: Write = Depends(write(TELLER, KIOSK))
) -> Any:
    settings = w.core.settings

    def operation(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        at = w.core.clock()
        branch_row(conn, branch_id)
        priority, customer_n = body.priority, None
        customer_id = body.customer_id
        if customer_id is None and w.customer_n is not None:
            customer_id = public_id("C", w.customer_n)  # a session's ticket is its customer's
        if customer_id is not None:
            w.visible(row_of(customer_id), "customer", customer_id, "customer_id")
            customer = conn.execute(
                "SELECT n, segment FROM customers WHERE n = ?", (row_of(customer_id),)
            ).fetchone()
            if customer is None:
                raise not_found("customer", customer_id, "customer_id")
            customer_n = customer["n"]
            entitled = customer["segment"] in PRIORITY_SEGMENTS
            if w.customer_n is not None:
                _self_service(
                    conn, settings, customer_id, customer_n, wants=priority and not entitled
                )
            priority = priority or entitled
        row = issue_ticket(
            conn, branch_id, body.service_type, at, priority=priority, customer_n=customer_n
        )
        return 201, ticket_out(conn, settings, row, at)

    return await w.run(body, operation)


def _self_service(
    conn: sqlite3.Connection, settings: Settings, customer_id: str, customer_n: int, *, wants: bool
) -> None:
    """What a branch allows a customer taking their own ticket (a kiosk session): priority only
    when they are entitled to it, and a few tickets waiting at once. A teller may do either."""
    if wants:
        raise Problem(
            422,
            "Priority not granted",
            "priority goes to affluent and private customers and to appointments; a teller may"
            " grant it",
            field="priority",
        )
    (waiting,) = conn.execute(
        "SELECT count(*) FROM tickets WHERE customer_n = ? AND status = 'waiting'", (customer_n,)
    ).fetchone()
    if waiting >= settings.branch.tickets_per_customer:
        raise Problem(
            409,
            "Too many tickets",
            f"customer {customer_id} already holds {waiting} waiting tickets"
            f" (branch.tickets_per_customer)",
            field="customer_id",
        )


@router.post("/branches/{branch_id}/counters/{counter_id}/call-next", response_model=CalledOut)
async def call_next(
    branch_id: BranchId, counter_id: CounterId, w: Write = Depends(write(TELLER))
) -> Any:
    """`{"ticket": null}` when nobody is waiting: an idle counter is normal, not an error."""
    settings = w.core.settings

    def operation(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        at = w.core.clock()
        branch = branch_row(conn, branch_id)
        if not 1 <= int(counter_id[1:]) <= branch["counters"]:
            raise Problem(
                422,
                "Unknown counter",
                f"branch {branch_id} has counters C01 to C{branch['counters']:02d}",
                field="counter_id",
            )
        nxt = conn.execute(
            "SELECT n FROM tickets WHERE branch_id = ? AND status = 'waiting'"
            " ORDER BY priority DESC, n LIMIT 1",
            (branch_id,),
        ).fetchone()
        if nxt is None:
            return 200, {"ticket": None}
        conn.execute(
            "UPDATE tickets SET status = 'called', counter_id = ?, called_at = ? WHERE n = ?",
            (counter_id, at, nxt["n"]),
        )
        row = conn.execute("SELECT * FROM tickets WHERE n = ?", (nxt["n"],)).fetchone()
        return 200, {"ticket": ticket_out(conn, settings, row, at)}

    return await w.run(None, operation)


def _finish(w: Write, ticket_id: str, status: Literal["served", "no_show"]) -> Any:
    settings = w.core.settings

    def operation(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        at = w.core.clock()
        row = _ticket_row(conn, ticket_id)
        if row["status"] != "called":
            raise Problem(
                409,
                "Ticket not called",
                f"ticket {ticket_id} is {row['status']}; only a called ticket can be finished",
                field="ticket_id",
            )
        conn.execute(
            "UPDATE tickets SET status = ?, finished_at = ? WHERE n = ?", (status, at, row["n"])
        )
        row = _ticket_row(conn, ticket_id)
        return 200, ticket_out(conn, settings, row, at)

    return w.run(None, operation)


@router.post("/tickets/{ticket_id}/complete", response_model=TicketOut)
async def complete(ticket_id: TicketId, w: Write = Depends(write(TELLER))) -> Any:
    return await _finish(w, ticket_id, "served")


@router.post("/tickets/{ticket_id}/no-show", response_model=TicketOut)
async def no_show(ticket_id: TicketId, w: Write = Depends(write(TELLER))) -> Any:
    return await _finish(w, ticket_id, "no_show")


@router.get("/tickets/{ticket_id}", response_model=TicketOut)
async def get_ticket(ticket_id: TicketId, caller: Caller = Depends(allow(TELLER, KIOSK))) -> Any:
    core = caller.core
    row = _ticket_row(core.conn, ticket_id)
    caller.visible(row["customer_n"], "ticket", ticket_id, "ticket_id")
    return ticket_out(core.conn, core.settings, row, core.clock())


@router.get("/branches/{branch_id}/queue", response_model=QueueOut)
async def queue_status(
    branch_id: BranchId, caller: Caller = Depends(allow(*CUSTOMER_CHANNELS, public=True))
) -> Any:
    core = caller.core
    conn, at = core.conn, core.clock()
    branch = branch_row(conn, branch_id)
    counts = conn.execute(
        "SELECT"
        " count(*) FILTER (WHERE status = 'waiting'),"
        " count(*) FILTER (WHERE status = 'waiting' AND priority),"
        " count(*) FILTER (WHERE status = 'called'),"
        " count(*) FILTER (WHERE status = 'served' AND finished_at >= :today),"
        " count(*) FILTER (WHERE status = 'no_show' AND finished_at >= :today)"
        " FROM tickets WHERE branch_id = :branch",
        {"branch": branch_id, "today": day_start(at)},
    ).fetchone()
    waiting, waiting_priority, called, served, no_shows = counts
    mean, in_use = _pace(conn, core.settings, branch, at)
    return {
        "branch_id": branch_id,
        "waiting": waiting,
        "waiting_priority": waiting_priority,
        "called": called,
        "served_today": served,
        "no_shows_today": no_shows,
        "counters": branch["counters"],
        "counters_in_use": in_use,
        "mean_service_seconds": round(mean, 3),
        "estimated_wait_seconds": _wait(waiting, mean, in_use),
    }
