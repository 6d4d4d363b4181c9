"""Channel tokens and scopes: who may call what.

Each channel (teller, kiosk, online, admin) has one bearer token. A route names the channels it
serves; the dependency returned by `allow` answers 401 without a known token and 403 for a channel
outside the route's scope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from fastapi import Request
from starlette.types import Scope

from mock_core import admission
from mock_core.core import Core
from mock_core.problems import Problem


class Channel(StrEnum):
    TELLER = "teller"
    KIOSK = "kiosk"
    ONLINE = "online"
    ADMIN = "admin"


TELLER, KIOSK, ONLINE, ADMIN = Channel.TELLER, Channel.KIOSK, Channel.ONLINE, Channel.ADMIN
CUSTOMER_CHANNELS = (TELLER, KIOSK, ONLINE)

SCOPE_ATTRIBUTE = "channels"
"""Set on every channel dependency: the OpenAPI document marks those routes as needing a token."""


@dataclass(frozen=True, slots=True)
class Caller:
    """The core, the channel a request came through, and its route's tag (which picks its lane)."""

    core: Core
    channel: Channel
    tag: str
    scope: Scope


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def authorise(*channels: Channel) -> Callable[[Request], Caller]:
    """A check admitting only `channels`: 401 without a known token, 403 outside the scope.

    A plain function called inside each route's one dependency, so a request costs one
    dependency resolution and no thread-pool hop.
    """
    allowed = frozenset(channels)
    names = ", ".join(sorted(allowed))

    def check(request: Request) -> Caller:
        core: Core = request.app.state.core
        token = _bearer_token(request.scope)
        name = core.tokens.get(token) if token else None
        if name is None:
            raise Problem(
                401,
                "Unauthorized",
                "a valid channel bearer token is required",
                field="Authorization",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if name not in allowed:
            raise Problem(
                403,
                "Forbidden",
                f"the {name} channel may not do this (only {names})",
                field="Authorization",
            )
        tags = request.scope["route"].tags
        return Caller(core, Channel(name), tags[0] if tags else "", request.scope)

    setattr(check, SCOPE_ATTRIBUTE, allowed)
    return check


def allow(*channels: Channel) -> Callable[[Request], Awaitable[Caller]]:
    """The dependency of a read open to `channels`: checks the caller, then admits the request."""
    check = authorise(*channels)

    async def reader(request: Request) -> Caller:
        caller = check(request)
        await admission.admit(caller)
        return caller

    setattr(reader, SCOPE_ATTRIBUTE, frozenset(channels))
    return reader
