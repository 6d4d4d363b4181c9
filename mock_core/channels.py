"""Channel tokens and scopes: who may call what.

Each channel (teller, kiosk, online, admin) has one bearer token. A route names the channels it
serves; the dependency returned by `allow` answers 401 without a known token and 403 for a channel
outside the route's scope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import Scope

from mock_core import admission
from mock_core.core import Core, core_of
from mock_core.problems import Problem


class Channel(StrEnum):
    TELLER = "teller"
    KIOSK = "kiosk"
    ONLINE = "online"
    ADMIN = "admin"


TELLER, KIOSK, ONLINE, ADMIN = Channel.TELLER, Channel.KIOSK, Channel.ONLINE, Channel.ADMIN
CUSTOMER_CHANNELS = (TELLER, KIOSK, ONLINE)

_bearer = HTTPBearer(auto_error=False, description="one token per channel")


@dataclass(frozen=True, slots=True)
class Caller:
    """The core, the channel a request came through, and its route's tag (which picks its lane)."""

    core: Core
    channel: Channel
    tag: str
    scope: Scope


def authorise(*channels: Channel) -> Callable[..., Caller]:
    """A dependency admitting only `channels`; its result is the `Caller`. Takes no lane."""
    allowed = frozenset(channels)
    names = ", ".join(sorted(allowed))

    def caller(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> Caller:
        core = core_of(request)
        name = core.tokens.get(credentials.credentials) if credentials else None
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

    return caller


def allow(*channels: Channel) -> Callable[..., Awaitable[Caller]]:
    """A dependency for a read open to `channels`: admits the caller, then holds its lane."""
    authorised = authorise(*channels)

    async def reader(caller: Caller = Depends(authorised)) -> Caller:
        await admission.admit(caller)
        return caller

    return reader
