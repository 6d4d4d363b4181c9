"""Channel tokens, customer sessions and scopes: who may call what, and for whom.

Each channel (teller, kiosk, online, admin) has one bearer token. The kiosk and online channels
also open customer sessions (`mock_core.sessions`), whose tokens stand for their channel and one
customer. A route names the channels it serves; the dependency returned by `allow` answers 401
without a known token, 403 for a channel outside the route's scope, and 401 when a kiosk or online
request to a customer's resource carries the bare channel token instead of a session. Staff
(teller, admin) act for any customer; a session sees only its own customer's resources, and
another's answer 404, as if they did not exist (`Caller.visible`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from fastapi import Request
from starlette.types import Scope

from mock_core import admission
from mock_core.core import Core
from mock_core.problems import Problem, not_found


class Channel(StrEnum):
    TELLER = "teller"
    KIOSK = "kiosk"
    ONLINE = "online"
    ADMIN = "admin"


TELLER, KIOSK, ONLINE, ADMIN = Channel.TELLER, Channel.KIOSK, Channel.ONLINE, Channel.ADMIN
CUSTOMER_CHANNELS = (TELLER, KIOSK, ONLINE)
SESSION_CHANNELS = frozenset((KIOSK, ONLINE))
"""The channels a customer uses on their own: their requests for a customer carry a session."""
STAFF = frozenset((TELLER, ADMIN))

SCOPE_ATTRIBUTE = "channels"
"""Set on every channel dependency: the OpenAPI document marks those routes as needing a token."""
SESSION_ATTRIBUTE = "sessions"
"""Set on every channel dependency: the channels of its scope that need a customer session."""
_IDENTITY = "mock_core.identity"
"""Where `identify` keeps a request's identity in its scope, so it is resolved once."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a bearer token stands for: a channel, and for a session its customer's row."""

    channel: Channel
    customer_n: int | None


@dataclass(frozen=True, slots=True)
class Caller:
    """The core, the channel a request came through, its route's tag (which picks its lane) and,
    for a customer session, whose it is (None for staff and for public reads)."""

    core: Core
    channel: Channel
    tag: str
    scope: Scope
    customer_n: int | None

    def may_see(self, customer_n: int | None) -> bool:
        """Whether this caller may see a resource of customer `customer_n`: staff may see all."""
        return self.channel in STAFF or (
            self.customer_n is not None and self.customer_n == customer_n
        )

    def visible(self, customer_n: int | None, what: str, ident: str, field: str) -> None:
        """404 for a resource this caller may not see, exactly as for one that does not exist."""
        if not self.may_see(customer_n):
            raise not_found(what, ident, field)


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def _unauthorised(detail: str) -> Problem:
    return Problem(
        401, "Unauthorized", detail, field="Authorization", headers={"WWW-Authenticate": "Bearer"}
    )


def identify(core: Core, scope: Scope) -> Identity:
    """Whom the request's bearer token stands for, or 401: a channel token or a live session
    this ledger signed. Resolved once per request, however many times it is asked."""
    known: Identity | None = scope.get(_IDENTITY)
    if known is not None:
        return known
    token = _bearer_token(scope)
    name = core.tokens.get(token) if token else None
    if name is not None:
        identity = Identity(Channel(name), None)
    else:
        session = core.signer.verify(token) if token else None
        if session is None:
            raise _unauthorised("a valid channel token or customer session is required")
        if session.expires_at <= core.clock():
            raise _unauthorised("the customer session has expired; log in again")
        if core.signer.ended(session):
            raise _unauthorised("the customer session has ended; log in again")
        identity = Identity(Channel(session.channel), session.customer_n)
    scope[_IDENTITY] = identity
    return identity


def authorise(*channels: Channel, public: bool = False) -> Callable[[Request], Caller]:
    """A check admitting only `channels`: 401 without a known token, 403 outside the scope, and
    401 for a kiosk or online channel token where a customer session is needed (unless
    `public`: a read of nobody's data, such as the branch list).

    A plain function called inside each route's one dependency, so a request costs one
    dependency resolution and no thread-pool hop.
    """
    allowed = frozenset(channels)
    names = ", ".join(sorted(allowed))
    sessions = frozenset() if public else allowed & SESSION_CHANNELS

    def check(request: Request) -> Caller:
        core: Core = request.app.state.core
        identity = identify(core, request.scope)
        if identity.channel not in allowed:
            raise Problem(
                403,
                "Forbidden",
                f"the {identity.channel} channel may not do this (only {names})",
                field="Authorization",
            )
        if identity.customer_n is None and identity.channel in sessions:
            raise _unauthorised("a customer session is required")
        tags = request.scope["route"].tags
        return Caller(
            core, identity.channel, tags[0] if tags else "", request.scope, identity.customer_n
        )

    mark(check, allowed, sessions)
    return check


def mark(dependency: object, channels: frozenset[Channel], sessions: frozenset[Channel]) -> None:
    """Record a dependency's scope on it, for the OpenAPI document and the route class."""
    setattr(dependency, SCOPE_ATTRIBUTE, channels)
    setattr(dependency, SESSION_ATTRIBUTE, sessions)


def allow(*channels: Channel, public: bool = False) -> Callable[[Request], Awaitable[Caller]]:
    """The dependency of a read open to `channels`: checks the caller, then admits the request."""
    check = authorise(*channels, public=public)

    async def reader(request: Request) -> Caller:
        caller = check(request)
        await admission.admit(caller)
        return caller

    mark(reader, getattr(check, SCOPE_ATTRIBUTE), getattr(check, SESSION_ATTRIBUTE))
    return reader
