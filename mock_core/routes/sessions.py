"""Customer sessions: the kiosk logs in with a card and PIN, online banking with a password.

The bearer of `POST /v1/sessions` is the kiosk's or the app's channel token; the answer is a
session token bound to the customer, which that channel's requests for the customer then carry.
A wrong credential and an unknown card or customer get the same 401. Failures are throttled per
source first (429 with Retry-After, before any card or login is tried), and repeated failures
lock the card (or the customer's online login) for a while: 423 with Retry-After, which also
ends the customer's sessions on that channel. `DELETE /v1/sessions/current` logs out.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from fastapi import Depends
from pydantic import AfterValidator, BaseModel, Field, StringConstraints
from starlette.responses import Response

from mock_core import sessions
from mock_core.channels import KIOSK, ONLINE, Caller, Channel, allow
from mock_core.fields import Line, RequestBody
from mock_core.identity import luhn_valid
from mock_core.ids import CustomerRef, public_id, row_of
from mock_core.problems import Problem, ProblemDocument
from mock_core.routing import api_router
from mock_core.store import transaction

router = api_router("/v1/sessions", "sessions")

_FIELDS = {KIOSK: ("card_number", "pin"), ONLINE: ("customer_id", "password")}


def _luhn(value: str) -> str:
    if not luhn_valid(value):
        raise ValueError("not a card number (Luhn check digit)")
    return value


CardNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]{16,19}$"), AfterValidator(_luhn)]
"""16-19 digits with a Luhn check digit: the card a kiosk reads, and the one onboarding issues."""
Pin = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]
Password = Annotated[Line, StringConstraints(min_length=8, max_length=64)]


class SessionIn(RequestBody):
    card_number: CardNumber | None = Field(default=None, description="kiosk: the inserted card")
    pin: Pin | None = Field(default=None, description="kiosk: the card's 6-digit PIN")
    customer_id: CustomerRef | None = Field(default=None, description="online: the customer number")
    password: Password | None = Field(default=None, description="online: the customer's password")


class SessionOut(BaseModel):
    session_token: str
    customer_id: str
    channel: Literal["kiosk", "online"]
    expires_at: float


_REFUSED: dict[int | str, dict[str, Any]] = {
    423: {"model": ProblemDocument, "description": "locked after repeated failures"},
    429: {"model": ProblemDocument, "description": "too many failed logins from this source"},
}


def _credentials(channel: Channel, body: SessionIn) -> tuple[str, str]:
    """The channel's own two fields (who, and the secret), and none of the other channel's."""
    given = body.model_dump(exclude_none=True)
    own = _FIELDS[channel]
    for field in given.keys() - own:
        raise Problem(
            422,
            "Invalid request",
            f"{field}: the {channel} channel logs in with {' and '.join(own)}",
            field=field,
        )
    for field in own:
        if field not in given:
            raise Problem(422, "Invalid request", f"{field}: Field required", field=field)
    return given[own[0]], given[own[1]]


def _source(caller: Caller) -> str:
    """Where a login comes from: the client's address (the device, or the gateway before it)."""
    client = caller.scope.get("client")
    return client[0] if client else ""


@router.post("", status_code=201, response_model=SessionOut, responses=_REFUSED)
async def open_session(
    body: SessionIn, caller: Caller = Depends(allow(KIOSK, ONLINE, public=True))
) -> Any:
    """Opens a customer session. No Idempotency-Key: logging in moves no money."""
    core = caller.core
    conn, now = core.conn, core.clock()
    who, given = _credentials(caller.channel, body)
    secret_field = _FIELDS[caller.channel][1]
    source = _source(caller)
    wait = core.throttle.wait(source, now)
    if wait:
        raise Problem(
            429,
            "Too many failed logins",
            f"this source made too many failed logins; try again in {math.ceil(wait)} s",
            field=secret_field,
            headers={"Retry-After": str(math.ceil(wait))},
        )
    if caller.channel == KIOSK:
        digest = sessions.card_digest(who)
        subject, lock_field = f"card:{digest}", "card_number"
        row = conn.execute(
            "SELECT n, salt, pin_hash AS hash FROM customers WHERE card_digest = ?", (digest,)
        ).fetchone()
    else:
        subject, lock_field = f"online:{who}", "customer_id"
        row = conn.execute(
            "SELECT n, salt, password_hash AS hash FROM customers WHERE n = ?", (row_of(who),)
        ).fetchone()
    lockout = sessions.Lockout(core.settings.sessions)
    failures, locked_for = lockout.standing(conn, subject, now)
    if locked_for:
        raise Problem(
            423,
            "Locked",
            f"too many failed logins; try again in {math.ceil(locked_for)} s",
            field=lock_field,
            headers={"Retry-After": str(math.ceil(locked_for))},
        )
    if row is None or not sessions.matches(row["salt"], row["hash"], given):
        core.throttle.failed(source, now)
        with transaction(conn):
            if lockout.failed(conn, subject, now) and row is not None:
                core.signer.end(conn, caller.channel, row["n"], now)
        raise Problem(
            401,
            "Login failed",
            f"wrong {lock_field.replace('_', ' ')} or {secret_field}",
            field=secret_field,
        )
    if failures:
        with transaction(conn):
            lockout.succeeded(conn, subject)
    session = core.signer.issue(caller.channel, row["n"], now)
    return {
        "session_token": core.signer.token(session),
        "customer_id": public_id("C", row["n"]),
        "channel": session.channel,
        "expires_at": session.expires_at,
    }


@router.delete("/current", status_code=204, response_class=Response)
async def log_out(caller: Caller = Depends(allow(KIOSK, ONLINE))) -> Response:
    """Ends the customer's sessions on this channel (this one, and any other opened until now).
    No Idempotency-Key: a repeat ends nothing more (a 401, the session having ended)."""
    core = caller.core
    assert caller.customer_n is not None  # `allow` admits only a session on these channels
    with transaction(core.conn):
        core.signer.end(core.conn, caller.channel, caller.customer_n, core.clock())
    return Response(status_code=204)
