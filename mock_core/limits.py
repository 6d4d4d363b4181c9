"""A pure ASGI middleware that refuses request bodies over the configured size with a 413."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
    """Reads the whole body, up to the cap, before the app runs, and replays it.

    Counting inside the app's `receive` is not enough: FastAPI turns any error raised while it
    reads a body into a 400, so a chunked body past the cap (no Content-Length to refuse up front)
    came back as 400. Reading first costs at most `max_bytes` of memory per request, which the
    handler would have held anyway.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        has_body, length = _declares_body(scope["headers"])
        if not has_body:
            await self.app(scope, receive, send)
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
        # Connection: close, because the rest of the body is left unread on the connection.
        problem = Problem(
            413,
            "Body too large",
            f"request bodies are limited to {self.max_bytes} bytes (limits.max_body_bytes)",
            field="body",
            headers={"Connection": "close"},
        )
        await problem.response(scope.get("path"))(scope, receive, send)
