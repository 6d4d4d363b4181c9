"""Enquiries and complaints: opened, answered, closed; the time to the first answer is recorded,
because how fast the bank answers is a service level the surge report measures."""

from __future__ import annotations

import sqlite3
from typing import Any, Literal

from fastapi import Depends
from pydantic import BaseModel, Field

from mock_core.channels import TELLER, Caller, allow
from mock_core.fields import Line, RequestBody, Text
from mock_core.idempotency import Write, write
from mock_core.ids import CustomerRef, EnquiryId, public_id, row_of
from mock_core.problems import Problem, not_found
from mock_core.routing import api_router

router = api_router("/v1/enquiries", "enquiries")

Kind = Literal["enquiry", "complaint"]
Via = Literal["counter", "kiosk", "online", "phone"]


class EnquiryIn(RequestBody):
    customer_id: CustomerRef
    kind: Kind
    channel: Via = Field(description="where the customer raised it")
    subject: Line = Field(min_length=1, max_length=200)
    text: Text = Field(min_length=1, max_length=4000)


class AnswerIn(RequestBody):
    text: Text = Field(min_length=1, max_length=4000)


class MessageOut(BaseModel):
    author: Literal["customer", "bank"]
    text: str
    created_at: float


class EnquiryOut(BaseModel):
    id: str
    customer_id: str
    kind: Kind
    channel: Via
    subject: str
    status: Literal["open", "answered", "closed"]
    opened_at: float
    first_answer_at: float | None
    closed_at: float | None
    seconds_to_first_answer: float | None
    messages: list[MessageOut]


def _enquiry_row(conn: sqlite3.Connection, enquiry_id: str) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM enquiries WHERE n = ?", (row_of(enquiry_id),)
    ).fetchone()
    if row is None:
        raise not_found("enquiry", enquiry_id, "enquiry_id")
    return row


def _enquiry_out(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    messages = conn.execute(
        "SELECT author, text, created_at FROM enquiry_messages WHERE enquiry_n = ? ORDER BY n",
        (row["n"],),
    )
    first = row["first_answer_at"]
    return {
        "id": public_id("E", row["n"]),
        "customer_id": public_id("C", row["customer_n"]),
        "kind": row["kind"],
        "channel": row["channel"],
        "subject": row["subject"],
        "status": row["status"],
        "opened_at": row["opened_at"],
        "first_answer_at": first,
        "closed_at": row["closed_at"],
        "seconds_to_first_answer": None if first is None else first - row["opened_at"],
        "messages": [dict(m) for m in messages],
    }


def _add_message(conn: sqlite3.Connection, n: int, author: str, text: str, at: float) -> None:
    conn.execute(
        "INSERT INTO enquiry_messages (enquiry_n, author, text, created_at) VALUES (?, ?, ?, ?)",
        (n, author, text, at),
    )


def _require_open(row: sqlite3.Row, enquiry_id: str) -> None:
    if row["status"] == "closed":
        raise Problem(409, "Enquiry closed", f"enquiry {enquiry_id} is closed", field="enquiry_id")


@router.post("", status_code=201, response_model=EnquiryOut)
async def open_enquiry(body: EnquiryIn, w: Write = Depends(write(TELLER))) -> Any:
    def operation(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        at = w.core.clock()
        customer_n = row_of(body.customer_id)
        if conn.execute("SELECT 1 FROM customers WHERE n = ?", (customer_n,)).fetchone() is None:
            raise not_found("customer", body.customer_id, "customer_id")
        n = conn.execute(
            "INSERT INTO enquiries (customer_n, kind, channel, subject, status, opened_at)"
            " VALUES (?, ?, ?, ?, 'open', ?)",
            (customer_n, body.kind, body.channel, body.subject, at),
        ).lastrowid
        assert n is not None
        _add_message(conn, n, "customer", body.text, at)
        return 201, _enquiry_out(conn, _enquiry_row(conn, public_id("E", n)))

    return await w.run(body, operation)


@router.post("/{enquiry_id}/answers", response_model=EnquiryOut)
async def answer(enquiry_id: EnquiryId, body: AnswerIn, w: Write = Depends(write(TELLER))) -> Any:
    def operation(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        at = w.core.clock()
        row = _enquiry_row(conn, enquiry_id)
        _require_open(row, enquiry_id)
        _add_message(conn, row["n"], "bank", body.text, at)
        conn.execute(
            "UPDATE enquiries SET status = 'answered',"
            " first_answer_at = coalesce(first_answer_at, ?) WHERE n = ?",
            (at, row["n"]),
        )
        return 200, _enquiry_out(conn, _enquiry_row(conn, enquiry_id))

    return await w.run(body, operation)


@router.post("/{enquiry_id}/close", response_model=EnquiryOut)
async def close(enquiry_id: EnquiryId, w: Write = Depends(write(TELLER))) -> Any:
    def operation(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        row = _enquiry_row(conn, enquiry_id)
        _require_open(row, enquiry_id)
        conn.execute(
            "UPDATE enquiries SET status = 'closed', closed_at = ? WHERE n = ?",
            (w.core.clock(), row["n"]),
        )
        return 200, _enquiry_out(conn, _enquiry_row(conn, enquiry_id))

    return await w.run(None, operation)


@router.get("/{enquiry_id}", response_model=EnquiryOut)
async def get_enquiry(enquiry_id: EnquiryId, caller: Caller = Depends(allow(TELLER))) -> Any:
    conn = caller.core.conn
    return _enquiry_out(conn, _enquiry_row(conn, enquiry_id))
