"""A pure ASGI middleware that reads a request body only for a caller with a valid token, and
refuses one over the configured size with a 413."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_core.channels import identify
from mock_core.core import Core
from mock_core.problems import Problem


def _declares_body(headers: list[tuple[bytes, bytes]]) -> tuple[bool, int | None]:
    """Whether the request has a body, and its declared length (None when chunked)."""
    length: int | None = None
    chunked = False
    for name, value in headers:
        if name == b"content-length" and value.isdigit():
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = True
    return chunked or bool(length), None if chunked else length


class BodyLimit:
    """Checks the bearer token, then reads the whole body, up to the cap, before the app runs,
    and replays it.

    Every route that takes a body needs a token, so a request with a body and no valid token is
    a 401 before a byte of its body is read (an oversized one too: 401, not 413). Otherwise
    anyone could make the service hold `max_bytes` per connection for as long as they upload.

    Counting inside the app's `receive` is not enough: FastAPI turns any error raised while it
    reads a body into a 400, so a chunked body past the cap (no Content-Length to refuse up front)
    came back as 400. Reading first costs at most `max_bytes` of memory per request, which the
    handler would have held anyway.
    """

    def __init__(self, app: ASGIApp, core: Core, max_bytes: int) -> None:
        self.app = app
        self.core = core
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        has_body, length = _declares_body(scope["headers"])
        if not has_body:
            await self.app(scope, receive, send)
            return
        try:
            identify(self.core, scope)
        except Problem as problem:
            await _close_with(problem, scope, receive, send)
            return
        if length is not None and length > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left while uploading: nobody to answer
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = Problem(
            413,
            "Body too large",
            f"request bodies are limited to {self.max_bytes} bytes (limits.max_body_bytes)",
            field="body",
        )
        await _close_with(problem, scope, receive, send)


async def _close_with(problem: Problem, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer `problem` and close the connection: the rest of the body is left unread on it."""
    problem.headers = {**problem.headers, "Connection": "close"}
    await problem.response(scope.get("path"))(scope, receive, send)
