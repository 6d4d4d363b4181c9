"""Appointments: booking a time window at a branch spreads the surge; checking in joins the queue.

A slot row appears on its first booking, so empty days cost nothing. `slots.booked` is raised only
by a guarded UPDATE (`booked < capacity`) inside the write transaction: a slot is never overbooked,
however many bookings race for its last place.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from pydantic import BaseModel, Field

from mock_core.channels import KIOSK, ONLINE, TELLER, Caller, allow
from mock_core.fields import IsoDate, RequestBody
from mock_core.idempotency import Write, write
from mock_core.ids import AppointmentId, BranchRef, CustomerRef, public_id, row_of
from mock_core.problems import Problem, not_found
from mock_core.routes.queue import (
    BranchId,
    ServiceType,
    TicketOut,
    branch_row,
    issue_ticket,
    ticket_out,
)
from mock_core.routing import api_router
from mock_core.settings import Branching

router = api_router("/v1", "appointments")

ACTIVE = ("booked", "checked_in")


class SlotOut(BaseModel):
    id: str
    start: str
    end: str
    capacity: int
    booked: int
    available: int


class DayOut(BaseModel):
    branch_id: str
    day: dt.date
    slot_minutes: int
    slots: list[SlotOut]


class AppointmentIn(RequestBody):
    branch_id: BranchRef
    day: IsoDate
    start: str = Field(pattern=r"^[0-9]{2}:[0-9]{2}$", description="a window's start, HH:MM (UTC)")
    customer_id: CustomerRef
    service_type: ServiceType


class AppointmentOut(BaseModel):
    id: str
    slot_id: str
    branch_id: str
    day: dt.date
    start: str
    customer_id: str
    service_type: ServiceType
    status: Literal["booked", "cancelled", "checked_in"]
    ticket_id: str | None
    created_at: float


class CheckedInOut(AppointmentOut):
    ticket: TicketOut


def windows(settings: Branching) -> list[tuple[str, str]]:
    """(start, end) of every window from opening to closing, each slot_minutes long."""
    opening, closing = (_minutes(t) for t in (settings.opening, settings.closing))
    return [
        (_hhmm(m), _hhmm(m + settings.slot_minutes))
        for m in range(opening, closing - settings.slot_minutes + 1, settings.slot_minutes)
    ]


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def slot_id(branch_id: str, day: dt.date, start: str) -> str:
    return f"{branch_id}-{day.isoformat()}-{start.replace(':', '')}"


def _appointment_row(conn: sqlite3.Connection, appointment_id: str) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(
        "SELECT a.*, s.branch_id, s.day, s.start FROM appointments a"
        " JOIN slots s ON s.id = a.slot_id WHERE a.n = ?",
        (row_of(appointment_id),),
    ).fetchone()
    if row is None:
        raise not_found("appointment", appointment_id, "appointment_id")
    return row


def _visible_appointment(
    conn: sqlite3.Connection, caller: Caller, appointment_id: str
) -> sqlite3.Row:
    """The appointment, or the same 404 when it is another customer's."""
    row = _appointment_row(conn, appointment_id)
    caller.visible(row["customer_n"], "appointment", appointment_id, "appointment_id")
    return row


def _appointment_out(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": public_id("AP", row["n"]),
        "slot_id": row["slot_id"],
        "branch_id": row["branch_id"],
        "day": row["day"],
        "start": row["start"],
        "customer_id": public_id("C", row["customer_n"]),
        "service_type": row["service_type"],
        "status": row["status"],
        "ticket_id": public_id("T", row["ticket_n"]) if row["ticket_n"] else None,
        "created_at": row["created_at"],
    }


def _require_booked(row: sqlite3.Row, appointment_id: str, action: str) -> None:
    if row["status"] != "booked":
        raise Problem(
            409,
            "Appointment not booked",
            f"appointment {appointment_id} is {row['status']}; only a booked one can be {action}",
            field="appointment_id",
        )


@router.get("/branches/{branch_id}/slots", response_model=DayOut)
async def day_slots(
    branch_id: BranchId,
    day: Annotated[IsoDate, Query(description="YYYY-MM-DD (UTC)")],
    caller: Caller = Depends(allow(ONLINE, TELLER, public=True)),
) -> Any:
    conn, branching = caller.core.conn, caller.core.settings.branch
    branch_row(conn, branch_id)
    taken = {
        r["start"]: r
        for r in conn.execute(
            "SELECT start, capacity, booked FROM slots WHERE branch_id = ? AND day = ?",
            (branch_id, day.isoformat()),
        )
    }
    slots = []
    for start, end in windows(branching):
        row = taken.get(start)
        capacity = row["capacity"] if row else branching.slot_capacity
        booked = row["booked"] if row else 0
        slots.append(
            {
                "id": slot_id(branch_id, day, start),
                "start": start,
                "end": end,
                "capacity": capacity,
                "booked": booked,
                "available": max(capacity - booked, 0),
            }
        )
    return {
        "branch_id": branch_id,
        "day": day,
        "slot_minutes": branching.slot_minutes,
        "slots": slots,
    }


@router.post("/appointments", status_code=201, response_model=AppointmentOut)
async def book(body: AppointmentIn, w: Write = Depends(write(ONLINE))) -> Any:
    branching = w.core.settings.branch

    def operation(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        at = w.core.clock()
        today = dt.datetime.fromtimestamp(at, dt.UTC).date()
        last = today + dt.timedelta(days=branching.booking_days)
        if not today <= body.day <= last:
            raise Problem(
                422,
                "Day out of range",
                f"appointments can be booked from {today} to {last}",
                field="day",
            )
        if body.start not in {start for start, _ in windows(branching)}:
            raise Problem(
                422,
                "Not a window",
                f"{body.start} does not start a {branching.slot_minutes}-minute window between"
                f" {branching.opening} and {branching.closing}",
                field="start",
            )
        branch_row(conn, body.branch_id)
        customer_n = row_of(body.customer_id)
        w.visible(customer_n, "customer", body.customer_id, "customer_id")
        if conn.execute("SELECT 1 FROM customers WHERE n = ?", (customer_n,)).fetchone() is None:
            raise not_found("customer", body.customer_id, "customer_id")
        (held_count,) = conn.execute(
            "SELECT count(*) FROM appointments a JOIN slots s ON s.id = a.slot_id"
            " WHERE a.customer_n = ? AND a.status = 'booked' AND s.day >= ?",
            (customer_n, today.isoformat()),
        ).fetchone()
        if held_count >= branching.appointments_per_customer:
            raise Problem(
                409,
                "Too many appointments",
                f"customer {body.customer_id} already holds {held_count} booked appointments"
                " (branch.appointments_per_customer)",
                field="customer_id",
            )
        slot = slot_id(body.branch_id, body.day, body.start)
        conn.execute(
            "INSERT OR IGNORE INTO slots (id, branch_id, day, start, capacity)"
            " VALUES (?, ?, ?, ?, ?)",
            (slot, body.branch_id, body.day.isoformat(), body.start, branching.slot_capacity),
        )
        held = conn.execute(
            "SELECT n FROM appointments WHERE slot_id = ? AND customer_n = ? AND status IN (?, ?)",
            (slot, customer_n, *ACTIVE),
        ).fetchone()
        if held is not None:
            raise Problem(
                409,
                "Already booked",
                f"customer {body.customer_id} already holds appointment"
                f" {public_id('AP', held['n'])} in slot {slot}",
                field="customer_id",
            )
        placed = conn.execute(
            "UPDATE slots SET booked = booked + 1 WHERE id = ? AND booked < capacity", (slot,)
        ).rowcount
        if not placed:
            raise Problem(409, "Slot full", f"slot {slot} has no place left", field="start")
        n = conn.execute(
            "INSERT INTO appointments (slot_id, customer_n, service_type, status, created_at)"
            " VALUES (?, ?, ?, 'booked', ?)",
            (slot, customer_n, body.service_type, at),
        ).lastrowid
        assert n is not None
        return 201, _appointment_out(_appointment_row(conn, public_id("AP", n)))

    return await w.run(body, operation)


@router.post("/appointments/{appointment_id}/cancel", response_model=AppointmentOut)
async def cancel(appointment_id: AppointmentId, w: Write = Depends(write(ONLINE))) -> Any:
    def operation(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        row = _visible_appointment(conn, w, appointment_id)
        _require_booked(row, appointment_id, "cancelled")
        conn.execute("UPDATE appointments SET status = 'cancelled' WHERE n = ?", (row["n"],))
        conn.execute("UPDATE slots SET booked = booked - 1 WHERE id = ?", (row["slot_id"],))
        return 200, _appointment_out(_appointment_row(conn, appointment_id))

    return await w.run(None, operation)


@router.post("/appointments/{appointment_id}/check-in", response_model=CheckedInOut)
async def check_in(
    appointment_id: AppointmentId, w: Write = Depends(write(ONLINE, KIOSK, TELLER))
) -> Any:
    settings = w.core.settings

    def operation(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        at = w.core.clock()
        row = _visible_appointment(conn, w, appointment_id)
        _require_booked(row, appointment_id, "checked in")
        ticket = issue_ticket(
            conn,
            row["branch_id"],
            row["service_type"],
            at,
            priority=True,
            customer_n=row["customer_n"],
            appointment_n=row["n"],
        )
        conn.execute(
            "UPDATE appointments SET status = 'checked_in', ticket_n = ? WHERE n = ?",
            (ticket["n"], row["n"]),
        )
        return 200, {
            **_appointment_out(_appointment_row(conn, appointment_id)),
            "ticket": ticket_out(conn, settings, ticket, at),
        }

    return await w.run(None, operation)


@router.get("/appointments/{appointment_id}", response_model=AppointmentOut)
async def get_appointment(
    appointment_id: AppointmentId, caller: Caller = Depends(allow(ONLINE, TELLER))
) -> Any:
    return _appointment_out(_visible_appointment(caller.core.conn, caller, appointment_id))
