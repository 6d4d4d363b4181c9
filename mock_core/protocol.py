"""The HTTP/1.1 protocol the service is served with: uvicorn's httptools one, with a capped head,
bounded waits and a bounded number of connections.

llhttp sets no limit on a request head, and httptools buffers a header value until its end, so a
100 MB header is read whole, in memory, before any ASGI code could look at it. Counting the bytes
here, before the parser sees them, stops reading at the cap. uvicorn's own way out of the parser
(an `HttpParserError`) can only answer 400, so the 431 is written here, as a problem document.

uvicorn's keep-alive timeout starts only after a response, so a connection that never sends a
request was kept for ever: silent sockets used up the process's open files until nothing else
could connect. Here a connection is closed when it stays silent `idle_timeout_s` before its
first request, and a request head that is not complete `head_timeout_s` after its first byte (a
slowloris, sending a byte now and then) is a 408. Past `max_connections` open at once, a new
connection is closed as soon as it is accepted.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from mock_core.problems import MEDIA_TYPE, Problem
from mock_core.settings import Limits


class HeadLimitedProtocol(HttpToolsProtocol):
    """Answers 431 and closes once a request head (request line and headers) passes the cap;
    closes a connection silent before its first request, answers 408 to a head that takes too
    long, and closes connections past the limit.

    The count is exact for a connection's first request. For a pipelined request whose head
    starts in the same read as the previous request's end, the bytes of that read are not counted,
    so such a head may pass the cap by at most one read (the event loop's buffer, 256 KiB).
    """

    limits: ClassVar[Limits] = Limits()

    @classmethod
    def configured(cls, limits: Limits) -> type[HeadLimitedProtocol]:
        """This protocol with these limits: uvicorn takes a class and builds it with its own
        args."""
        return type(cls.__name__, (cls,), {"limits": limits})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes: int | None = 0
        """Bytes of the current request head so far; None while its body is read."""
        self._deadline: asyncio.TimerHandle | None = None
        """Ends the wait for a first request, or for the rest of a head."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            transport.abort()  # its file descriptor back at once, before any byte is read
            return
        self._deadline = self.loop.call_later(self.limits.idle_timeout_s, self._silent)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _silent(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def _head_too_slow(self) -> None:
        self._deadline = None
        self._answer_and_close(
            Problem(
                408,
                "Request timeout",
                f"the request head was not complete {self.limits.head_timeout_s:g} s after its"
                " first byte (limits.head_timeout_s)",
                field="headers",
            )
        )

    def data_received(self, data: bytes) -> None:
        if self._head_bytes == 0 and self._deadline is not None:
            self._cancel_deadline()  # a first request begins: the wait for it is over
        # Feed the head in pieces no longer than the room left, so the parser never holds more
        # than the cap and a head that ends before it is never refused for the body behind it.
        while data and self._head_bytes is not None:
            room = self.limits.max_header_bytes - self._head_bytes
            if room <= 0:
                self._refuse_head()
                return
            piece, data = data[:room], data[room:]
            self._head_bytes += len(piece)
            super().data_received(piece)
            if self.transport.is_closing():
                return
        if data:
            super().data_received(data)
        elif self._head_bytes and self._deadline is None:
            # A head begun and not ended with this read (most arrive whole, and cost no timer):
            # it has `head_timeout_s` from now, about its first byte, to end.
            self._deadline = self.loop.call_later(self.limits.head_timeout_s, self._head_too_slow)

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        self._cancel_deadline()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_bytes = 0

    def _refuse_head(self) -> None:
        self._answer_and_close(
            Problem(
                431,
                "Headers too large",
                "request heads (request line and headers) are limited to"
                f" {self.limits.max_header_bytes} bytes (limits.max_header_bytes)",
                field="headers",
            )
        )

    def _answer_and_close(self, problem: Problem) -> None:
        """Write `problem` as the response and close, outside the ASGI app (no request to hand
        it yet)."""
        self._cancel_deadline()
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head behind a response still being sent: an answer now would be
            # written into the middle of that response, so the connection just ends.
            self.transport.close()
            return
        body = problem.encoded()
        content = [STATUS_LINE[problem.status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: " + MEDIA_TYPE.encode() + b"\r\n",
                b"content-length: " + str(len(body)).encode() + b"\r\n",
                b"connection: close\r\n\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
