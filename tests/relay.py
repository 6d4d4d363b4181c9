"""A tiny loopback relay in front of a real mock core: it passes every request through, counts
them by method and path, and can answer `/openapi.json` as another system (so the harness takes
it for a target that is not the mock core) or hold chosen requests back for a while (a slow
admin API)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


class Relay:
    """Forwards to `upstream`; `title` answers `/openapi.json` itself, naming another system;
    `hold` delays the requests it names, `(method, path)`, by its seconds before forwarding."""

    def __init__(
        self,
        upstream: str,
        *,
        title: str | None = None,
        hold: Mapping[tuple[str, str], float] | None = None,
    ) -> None:
        self.sent: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._client = httpx.Client(base_url=upstream, timeout=30)
        held = dict(hold or {})
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                path = self.path.split("?")[0]
                with relay._lock:
                    relay.sent[(self.command, path)] += 1
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if title is not None and path == "/openapi.json":
                    status, data = 200, b'{"info": {"title": "%s"}}' % title.encode()
                    kind = "application/json"
                else:
                    time.sleep(held.get((self.command, path), 0.0))
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    answer = relay._client.request(
                        self.command, self.path, content=body, headers=headers
                    )
                    status, data = answer.status_code, answer.content
                    kind = answer.headers.get("content-type", "application/json")
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def writes(self) -> int:
        return sum(n for (method, _), n in self.sent.items() if method != "GET")

    def __enter__(self) -> Relay:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._client.close()
