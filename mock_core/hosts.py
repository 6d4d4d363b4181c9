"""A pure ASGI middleware that answers only requests addressed to the service itself (`Host`).

A page open in a browser on the same machine can make its own domain name resolve to 127.0.0.1
(DNS rebinding) and then reach the service with the browser's requests; those carry the page's
domain as their `Host`. Only the address the connection arrived at (its IP address, or
localhost, whatever the port) and the names `[server] allowed_hosts` lists are answered; any
other `Host` is a 421 before the request goes further (docs/mock-core.md, "Channels and
scopes").
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from mock_core.problems import Problem

ANY_HOST = "*"


def _served_names(server: tuple[str, int | None] | None) -> frozenset[bytes]:
    """The names of the address a connection arrived at: its IP address, and localhost."""
    if server is None:
        return frozenset()
    host = server[0]
    return frozenset({b"localhost", (f"[{host}]" if ":" in host else host).encode()})


def _name(host: bytes) -> bytes:
    """The name in a `Host` value, without its port: `127.0.0.1`, `[::1]`, `example.com`."""
    if host.startswith(b"["):
        return host.partition(b"]")[0] + b"]"
    return host.rpartition(b":")[0] if host.count(b":") == 1 else host


class HostCheck:
    """Refuses a request whose `Host` names neither the address served nor an allowed host."""

    def __init__(self, app: ASGIApp, allowed: Sequence[str]) -> None:
        self.app = app
        self.any = ANY_HOST in allowed
        self.allowed = frozenset(host.lower().encode() for host in allowed)
        self._served: dict[tuple[str, int | None] | None, frozenset[bytes]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.any:
            await self.app(scope, receive, send)
            return
        host = next((value for name, value in scope["headers"] if name == b"host"), None)
        if host is None:  # HTTP/1.0 may leave it out; a browser never does
            await self.app(scope, receive, send)
            return
        server = scope.get("server")
        if server is not None:
            server = (server[0], server[1])  # a list under some servers: a key needs a tuple
        served = self._served.get(server)
        if served is None:
            served = self._served[server] = _served_names(server)
        host = host.lower()
        if _name(host) in served or host in self.allowed or _name(host) in self.allowed:
            await self.app(scope, receive, send)
            return
        names = sorted(name.decode() for name in served) or ["its own address"]
        problem = Problem(
            421,
            "Misdirected request",
            f"this service answers to {names[0]}, not to {host.decode('latin-1')!r}; name it in"
            " server.allowed_hosts to allow it",
            field="Host",
            headers={"Connection": "close"},
        )
        await problem.response(scope.get("path"))(scope, receive, send)
