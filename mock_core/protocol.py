"""The HTTP/1.1 protocol the service is served with: uvicorn's httptools one, with a capped head.

llhttp sets no limit on a request head, and httptools buffers a header value until its end, so a
100 MB header is read whole, in memory, before any ASGI code could look at it. Counting the bytes
here, before the parser sees them, stops reading at the cap. uvicorn's own way out of the parser
(an `HttpParserError`) can only answer 400, so the 431 is written here, as a problem document.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from mock_core.problems import MEDIA_TYPE, Problem

DEFAULT_MAX_HEAD_BYTES = 16 * 1024


class HeadLimitedProtocol(HttpToolsProtocol):
    """Answers 431 and closes once a request head (request line and headers) passes the cap.

    The count is exact for a connection's first request. For a pipelined request whose head
    starts in the same read as the previous request's end, the bytes of that read are not counted,
    so such a head may pass the cap by at most one read (the event loop's buffer, 256 KiB).
    """

    max_head_bytes: ClassVar[int] = DEFAULT_MAX_HEAD_BYTES

    @classmethod
    def capped(cls, max_head_bytes: int) -> type[HeadLimitedProtocol]:
        """This protocol with another cap: uvicorn takes a class and builds it with its own args."""
        return type(cls.__name__, (cls,), {"max_head_bytes": max_head_bytes})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes: int | None = 0
        """Bytes of the current request head so far; None while its body is read."""

    def data_received(self, data: bytes) -> None:
        # Feed the head in pieces no longer than the room left, so the parser never holds more
        # than the cap and a head that ends before it is never refused for the body behind it.
        while data and self._head_bytes is not None:
            room = self.max_head_bytes - self._head_bytes
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

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_bytes = 0

    def _refuse_head(self) -> None:
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head behind a response still being sent: a 431 now would be written
            # into the middle of that response, so the connection just ends.
            self.transport.close()
            return
        problem = Problem(
            431,
            "Headers too large",
            f"request heads (request line and headers) are limited to {self.max_head_bytes}"
            " bytes (limits.max_header_bytes)",
            field="headers",
        )
        body = orjson.dumps(problem.body())
        content = [STATUS_LINE[431]]
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
