"""Shared test helpers: channel headers, an API wrapper that adds keys, a real server process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

TOKENS = {
    "teller": "teller-local-token",
    "kiosk": "kiosk-local-token",
    "online": "online-local-token",
    "admin": "admin-local-token",
}


def auth(channel: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[channel]}"}


class Api:
    """Calls the service as a channel; writes get a fresh Idempotency-Key unless one is given."""

    def __init__(self, client: httpx.Client | Any) -> None:
        self.client = client

    def get(self, path: str, channel: str = "teller", **params: Any) -> httpx.Response:
        return self.client.get(path, headers=auth(channel), params=params or None)

    def post(
        self, path: str, body: Any = None, channel: str = "teller", key: str | None = None
    ) -> httpx.Response:
        headers = {**auth(channel), "Idempotency-Key": key or uuid.uuid4().hex}
        return self.client.post(path, json=body, headers=headers)

    def ok(self, response: httpx.Response, status: int = 201) -> dict[str, Any]:
        assert response.status_code == status, response.text
        body: dict[str, Any] = response.json()
        return body

    def customer_account(
        self, customer: str = "C00000001", currency: str = "CNY"
    ) -> dict[str, Any]:
        accounts = self.ok(self.get(f"/v1/customers/{customer}/accounts"), 200)
        return next(a for a in accounts if a["currency"] == currency)

    def reconcile(self) -> dict[str, Any]:
        return self.ok(self.get("/admin/reconcile", "admin"), 200)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(db: Path, *args: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run `python -m mock_core` on a free loopback port until the block ends."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_core", "--port", str(port), "--db", str(db), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"mock-core exited: {process.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("mock-core did not come up in 30 s")
            time.sleep(0.05)
        yield base, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(10)


@contextmanager
def serve_api(db: Path, *args: str) -> Iterator[Api]:
    """`serve`, with an `Api` on a client of the running server."""
    with serve(db, *args) as (base, _), httpx.Client(base_url=base, timeout=10) as client:
        yield Api(client)
