"""Request heads and bodies past the configured caps are refused (431, 413), and silent or slow
connections and too many of them are closed, by a real server.

Raw sockets, not httpx: the point is what the server does with bytes a well-behaved client would
never send (a head with no end in sight, a chunked body with no length up front, nothing at all).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support import TOKENS, auth, serve

HEADER_CAP = 8 * 1024
BODY_CAP = 16 * 1024
IDLE_S = 1.0
HEAD_S = 1.0
CONNECTIONS = 24


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("limits")
    config = folder / "limits.toml"
    config.write_text(
        f"[limits]\nmax_header_bytes = {HEADER_CAP}\nmax_body_bytes = {BODY_CAP}\n"
        f"idle_timeout_s = {IDLE_S}\nhead_timeout_s = {HEAD_S}\nmax_connections = {CONNECTIONS}\n",
        encoding="utf-8",
    )
    with serve(folder / "ledger.sqlite", "--config", str(config), "--customers", "5") as (url, _):
        yield url


def _address(base: str) -> tuple[str, int]:
    parts = urlsplit(base)
    assert parts.hostname
    assert parts.port
    return parts.hostname, parts.port


def exchange(base: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `raw` on a fresh connection and read the one response, until the server closes."""
    with socket.create_connection(_address(base), timeout=10) as sock:
        # Refused part-way, the sender may see a broken pipe: the answer is on its way back.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def _request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _chunked(body: bytes, size: int = 4096) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def _writing(token: str = TOKENS["teller"]) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Idempotency-Key": uuid.uuid4().hex,
        "Content-Type": "application/json",
    }


def _problem(status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    assert headers["content-type"] == "application/problem+json", (status, headers, body)
    document: dict[str, Any] = json.loads(body)
    assert document["status"] == status
    return document


def _healthz_answers_quickly(base: str) -> None:
    started = time.monotonic()
    assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    assert time.monotonic() - started < 1


def test_a_header_past_the_cap_is_431_and_the_service_answers_right_after(base: str) -> None:
    raw = _request("GET", "/healthz", {"X-Pad": "x" * (HEADER_CAP + 1000)})
    status, headers, body = exchange(base, raw)
    assert status == 431
    problem = _problem(431, headers, body)
    assert str(HEADER_CAP) in problem["detail"]
    assert "limits.max_header_bytes" in problem["detail"]
    assert problem["field"] == "headers"
    assert headers["connection"] == "close"
    _healthz_answers_quickly(base)


def test_many_small_headers_past_the_cap_in_total_are_431(base: str) -> None:
    pads = {f"X-Pad-{i}": "y" * 90 for i in range(HEADER_CAP // 100 + 10)}
    status, _, _ = exchange(base, _request("GET", "/healthz", pads))
    assert status == 431


def test_a_huge_header_is_cut_off_at_the_cap_not_read_to_its_end(base: str) -> None:
    """The reported 100 MB header: the server stops reading instead of buffering all of it."""
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: "
    piece = b"z" * (1024 * 1024)
    sent = 0
    with socket.create_connection(_address(base), timeout=10) as sock:
        sock.sendall(head)
        with pytest.raises((BrokenPipeError, ConnectionResetError)):  # noqa: PT012
            for _ in range(100):
                sock.sendall(piece)
                sent += len(piece)
    assert sent < 50 * len(piece)
    _healthz_answers_quickly(base)


def test_a_head_under_the_cap_is_served_as_before(base: str) -> None:
    status, _, body = exchange(
        base, _request("GET", "/healthz", {"X-Pad": "x" * (HEADER_CAP - 1000)})
    )
    assert status == 200
    assert json.loads(body) == {"status": "ok"}


def test_a_body_past_the_cap_is_413_naming_the_limit(base: str) -> None:
    body = b'{"pad": "' + b"x" * BODY_CAP + b'"}'
    headers = {**_writing(), "Content-Length": str(len(body))}
    status, response_headers, response = exchange(
        base, _request("POST", "/v1/cash/deposits", headers, body)
    )
    problem = _problem(413, response_headers, response)
    assert status == 413
    assert problem["field"] == "body"
    assert str(BODY_CAP) in problem["detail"]
    assert "limits.max_body_bytes" in problem["detail"]


def test_a_chunked_body_past_the_cap_is_413(base: str) -> None:
    body = b'{"pad": "' + b"x" * BODY_CAP + b'"}'
    headers = {**_writing(), "Transfer-Encoding": "chunked"}
    status, response_headers, response = exchange(
        base, _request("POST", "/v1/cash/deposits", headers, _chunked(body))
    )
    assert status == 413
    assert "limits.max_body_bytes" in _problem(413, response_headers, response)["detail"]
    _healthz_answers_quickly(base)


def test_a_chunked_body_past_the_cap_on_an_unknown_route_is_413_too(base: str) -> None:
    body = b"x" * (BODY_CAP + 1)
    headers = {**_writing(), "Transfer-Encoding": "chunked"}
    status, _, _ = exchange(base, _request("POST", "/v1/nowhere", headers, _chunked(body)))
    assert status == 413


def _deposit(base: str) -> dict[str, Any]:
    with httpx.Client(base_url=base, timeout=10) as client:
        accounts = client.get("/v1/customers/C00000001/accounts", headers=auth("teller")).json()
    account = next(a for a in accounts if a["currency"] == "CNY")
    return {"account_id": account["id"], "amount": "5.00", "branch_id": "B001", "operator_id": "T"}


def test_bodies_under_the_cap_are_served_as_before_chunked_or_not(base: str) -> None:
    payload = json.dumps(_deposit(base)).encode()

    def pieces() -> Iterator[bytes]:
        yield payload[:10]
        yield payload[10:]

    with httpx.Client(base_url=base, timeout=10) as client:
        plain = client.post("/v1/cash/deposits", content=payload, headers=_writing())
        chunked = client.post("/v1/cash/deposits", content=pieces(), headers=_writing())
    assert plain.status_code == 201, plain.text
    assert chunked.status_code == 201, chunked.text
    assert chunked.request.headers["transfer-encoding"] == "chunked"


def test_a_body_of_exactly_the_cap_is_read_whole(base: str) -> None:
    """At the cap, not past it: the body reaches the handler, which judges it (422 here)."""
    filler = b'{"pad": "' + b"x" * (BODY_CAP - 11) + b'"}'
    assert len(filler) == BODY_CAP
    headers = {**_writing(), "Transfer-Encoding": "chunked"}
    status, _, _ = exchange(base, _request("POST", "/v1/cash/deposits", headers, _chunked(filler)))
    assert status == 422


def test_the_caps_hold_under_concurrent_oversized_heads(base: str) -> None:
    statuses: list[int] = []

    def oversized() -> None:
        raw = _request("GET", "/healthz", {"X-Pad": "x" * (HEADER_CAP * 4)})
        statuses.append(exchange(base, raw)[0])

    threads = [threading.Thread(target=oversized) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [431] * 8
    _healthz_answers_quickly(base)


def test_the_default_caps_are_documented_settings() -> None:
    from mock_core.settings import Settings

    limits = Settings().limits
    assert limits.max_header_bytes == 16 * 1024
    assert limits.max_body_bytes == 64 * 1024


def _closed_within(sock: socket.socket, seconds: float) -> bytes | None:
    """What the server sent before closing `sock` within `seconds`; None if it kept it open."""
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return received


def test_a_connection_silent_before_its_first_request_is_closed(base: str) -> None:
    """Issue 21: nothing bounded a connection before its first request, so silent sockets used
    up the open files until even /healthz failed."""
    with socket.create_connection(_address(base), timeout=10) as sock:
        assert _closed_within(sock, IDLE_S + 5) == b""
    _healthz_answers_quickly(base)


def test_a_head_that_trickles_in_is_408_once_its_time_is_up(base: str) -> None:
    """A slowloris: a byte of head now and then, each well within the idle timeout."""
    head = _request("GET", "/healthz", {"X-Slow": "y" * 200})
    answer = None
    with socket.create_connection(_address(base), timeout=10) as sock:
        for byte in head[:-4]:
            sock.sendall(bytes([byte]))
            answer = _closed_within(sock, 0.05)
            if answer is not None:
                break
    assert answer is not None, "the head was sent whole, a byte every 50 ms, and never refused"
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"408"
    document = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert (document["status"], document["field"]) == (408, "headers")
    assert "limits.head_timeout_s" in document["detail"]
    _healthz_answers_quickly(base)


def test_connections_past_the_limit_are_closed_and_the_service_answers_once_they_go(
    base: str,
) -> None:
    held = [socket.create_connection(_address(base), timeout=10) for _ in range(CONNECTIONS)]
    try:
        # One more, while the limit's worth are open: closed, not served.
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{base}/healthz", timeout=5)
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 10
    while True:  # the server learns of the closes as its loop gets to them
        try:
            if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_a_body_without_a_token_is_401_before_any_of_it_is_read(base: str) -> None:
    """Issue 21: bodies were buffered before the token was checked, so uploads that stalled held
    the service's memory for as long as their senders liked."""
    declared = BODY_CAP - 100
    head = _request(
        "POST",
        "/v1/cash/deposits",
        {"Content-Type": "application/json", "Content-Length": str(declared)},
    )
    with socket.create_connection(_address(base), timeout=10) as sock:
        sock.sendall(head + b'{"amount": ')
        answer = _closed_within(sock, 5)
    assert answer is not None, "the server waited for the rest of the body"
    assert answer.split(b"\r\n", 1)[0].split()[1] == b"401"


def test_an_oversized_body_without_a_token_is_401_not_413(base: str) -> None:
    body = b"x" * (BODY_CAP + 1)
    raw = _request("POST", "/v1/cash/deposits", {"Content-Length": str(len(body))}, body)
    status, headers, response = exchange(base, raw)
    assert (status, _problem(401, headers, response)["field"]) == (401, "Authorization")
