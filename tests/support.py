"""Shared test helpers: channel headers, customer sessions, an API wrapper that adds keys, a real
server process."""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from mock_core.identity import resident_id_check_digit
from mock_core.ids import row_of
from mock_core.seed import Credentials, credentials

TOKENS = {
    "teller": "teller-local-token",
    "kiosk": "kiosk-local-token",
    "online": "online-local-token",
    "admin": "admin-local-token",
}


SEED = 7
"""The seed of the `settings` and `live` fixtures, whose customers' credentials `login` knows."""
VALID_ID = "11010519491231002" + resident_id_check_digit("11010519491231002")
"""A resident ID number with its check digit right."""


@dataclass(frozen=True, slots=True)
class Session:
    """A kiosk or online customer session: what those channels' customer requests carry."""

    channel: str
    customer_id: str
    token: str


Who = str | Session
"""A channel name (its channel token) or a customer session."""


def auth(who: Who) -> dict[str, str]:
    token = who.token if isinstance(who, Session) else TOKENS[who]
    return {"Authorization": f"Bearer {token}"}


def login_body(channel: str, customer_id: str, given: Credentials) -> dict[str, str]:
    if channel == "kiosk":
        return {"card_number": given.card_number, "pin": given.pin}
    return {"customer_id": customer_id, "password": given.password}


class Api:
    """Calls the service as a channel or a customer session; writes get a fresh Idempotency-Key
    unless one is given."""

    def __init__(self, client: httpx.Client | Any) -> None:
        self.client = client

    def get(self, path: str, channel: Who = "teller", **params: Any) -> httpx.Response:
        return self.client.get(path, headers=auth(channel), params=params or None)

    def post(
        self, path: str, body: Any = None, channel: Who = "teller", key: str | None = None
    ) -> httpx.Response:
        headers = {**auth(channel), "Idempotency-Key": key or uuid.uuid4().hex}
        return self.client.post(path, json=body, headers=headers)

    def login(
        self,
        channel: str,
        customer_id: str = "C00000001",
        given: Credentials | None = None,
        seed: int = SEED,
    ) -> Session:
        """A session of `customer_id` on `channel`: a seeded customer's credentials unless
        `given` (an onboarded customer's)."""
        given = given or credentials(seed, row_of(customer_id))
        body = login_body(channel, customer_id, given)
        response = self.client.post("/v1/sessions", json=body, headers=auth(channel))
        return Session(channel, customer_id, self.ok(response)["session_token"])

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
def serve(
    db: Path, *args: str, admin_token: str | None = TOKENS["admin"]
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run `python -m mock_core` on a free loopback port until the block ends. The admin token
    is set as an operator would (`admin_token`); left unset (None), the core makes its own."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MOCK_CORE_ADMIN_TOKEN"}
    if admin_token is not None:
        env["MOCK_CORE_ADMIN_TOKEN"] = admin_token
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_core", "--port", str(port), "--db", str(db), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**env, "PYTHONUNBUFFERED": "1"},
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


def surge_in_process(*args: str) -> subprocess.CompletedProcess[str]:
    """`surge ARGS` run in this process, for commands that start no process of their own (bad
    input, `gate`, `report`, `profiles`): what the command prints and returns, without a Python
    start-up (a second of CPU each, on a suite that is CPU-bound). A traceback would still fail
    the test: it escapes as an exception here."""
    from surge import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(args))
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else 1
    return subprocess.CompletedProcess(["surge", *args], code, out.getvalue(), err.getvalue())


IN_PROCESS = frozenset({"gate", "report", "profiles"})
"""Commands that start no process: run in this one (`surge_in_process`)."""


def surge(
    *args: str, env: dict[str, str] | None = None, timeout: float = 150
) -> subprocess.CompletedProcess[str]:
    """`surge ARGS` as a user runs it: its own process, bounded by `timeout`; in this one for
    `IN_PROCESS` commands without an environment of their own."""
    if env is None and args[0] in IN_PROCESS:
        return surge_in_process(*args)
    return subprocess.run(
        [sys.executable, "-m", "surge", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def assert_one_line_refusal(result: subprocess.CompletedProcess[str], message: str) -> None:
    """Bad input: exit 2, `message` on one line of stderr, nothing on stdout, no traceback."""
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("surge: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def cases(junit: Path) -> dict[str, str]:
    """Each test case's name in a JUnit file and its result: passed, failure or skipped."""
    found = {}
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        kind = next((child.tag for child in case if child.tag in ("failure", "skipped")), None)
        found[case.get("name", "")] = kind or "passed"
    return found
