"""An overload drill against a running mock core: a lane of known capacity offered a multiple of
it, at a fixed rate, for a bounded time, then the load drops.

Shared by tests/test_overload.py (behaviour: statuses, answers, memory) and bench/overload.py
(speed: refusal and `/healthz` latency, recovery time). Three phases, all on loopback:

- reference: sequential reads of the lane, unloaded, and `/healthz`, for the normal latencies;
- overload: reads offered open-loop (each sent at its time, whatever the earlier ones got), with
  `/healthz` polled and the service's RSS sampled alongside;
- after: sequential reads again, timed from the moment the load stopped.

The load is open-loop because a closed loop (N clients, each waiting for its answer) offers less
as the service slows and more as it refuses fast: it would not hold the multiple asked for. It
goes over `Loopback`, a client cheap enough to keep the rate on a busy core.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

TELLER = {"Authorization": "Bearer teller-local-token"}
ADMIN = {"Authorization": "Bearer admin-local-token"}
LANE = "teller-core"
SMALL_LANE: dict[str, Any] = {
    "slots": 2,
    "queue": 4,
    "timeout": 5.0,
    "service": {"distribution": "constant", "mean": 0.05},
}
"""40 reads a second; a full queue drains in 0.1 s, far inside the timeout, so past capacity a
read is served or refused at once (503), never left to time out (504). Small, so that three
times it costs the client a fraction of a core."""
POLL_S = 0.1
"""How often `/healthz` is asked and the RSS read while the load is on."""


@dataclass(frozen=True, slots=True)
class Answer:
    at: float
    """Seconds from the phase's start to the request's sending."""
    seconds: float
    status: int | None
    """None: no HTTP answer (refused, reset, timed out)."""
    retry_after: str | None = None
    content_type: str | None = None


@dataclass
class Drill:
    capacity_per_s: float
    rate_per_s: float
    reference: list[Answer] = field(default_factory=list)
    reference_healthz: list[Answer] = field(default_factory=list)
    load: list[Answer] = field(default_factory=list)
    healthz: list[Answer] = field(default_factory=list)
    after: list[Answer] = field(default_factory=list)
    rss_start_kb: int = 0
    rss_kb: list[int] = field(default_factory=list)
    """VmRSS of the service process, every `POLL_S` while the load was on and after it."""
    lane: dict[str, Any] = field(default_factory=dict)
    """The lane as `GET /admin/capacity` shows it at the end (its counters)."""


def rss_kb(pid: int) -> int:
    """The process's resident set now, from /proc (Linux): what the kernel holds for it."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"process {pid} shows no VmRSS (it has ended)")


def small_lane(base: str) -> float:
    """Give the lane `SMALL_LANE`; returns its capacity, reads a second, as the core says."""
    answer = httpx.put(
        f"{base}/admin/capacity", json={"lanes": {LANE: SMALL_LANE}}, headers=ADMIN, timeout=10
    )
    answer.raise_for_status()
    return float(answer.json()["lanes"][LANE]["capacity_per_second"])


def account_path(base: str) -> str:
    """A read the teller lane serves: one seeded customer's first account."""
    answer = httpx.get(f"{base}/v1/customers/C00000001/accounts", headers=TELLER, timeout=10)
    answer.raise_for_status()
    return f"/v1/accounts/{answer.json()[0]['id']}"


class Loopback:
    """HTTP/1.1 GETs over keep-alive connections to one loopback server, built on asyncio streams.

    httpx spends a millisecond or two of CPU a request: on two busy cores that is enough for the
    client to fall behind the rate it is asked for, and its own lag then reads as the service's.
    These exchanges cost tens of microseconds. A connection is reused once its answer is read in
    full; one the server closed while idle is replaced (the GET is safe to send again)."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        assert parts.hostname
        assert parts.port
        self._address = (parts.hostname, parts.port)
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._open: set[asyncio.StreamWriter] = set()

    async def get(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        lines = [f"GET {path} HTTP/1.1", f"Host: {self._address[0]}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        reused = bool(self._idle)
        reader, writer = self._idle.pop() if reused else await self._connect()
        try:
            answer = await self._exchange(reader, writer, request)
        except (ConnectionError, asyncio.IncompleteReadError):
            self._close(writer)
            if not reused:
                raise
            reader, writer = await self._connect()
            answer = await self._exchange(reader, writer, request)
        self._idle.append((reader, writer))
        return answer

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(*self._address)
        self._open.add(writer)
        return reader, writer

    @staticmethod
    async def _exchange(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
    ) -> tuple[int, dict[str, str]]:
        writer.write(request)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        fields = (line.partition(":") for line in head[1:] if line)
        headers = {name.strip().lower(): value.strip() for name, _, value in fields}
        await reader.readexactly(int(headers.get("content-length", "0")))
        return int(head[0].split()[1]), headers

    def _close(self, writer: asyncio.StreamWriter) -> None:
        self._open.discard(writer)
        writer.close()

    async def aclose(self) -> None:
        for writer in list(self._open):
            self._close(writer)
        self._idle.clear()


async def _send(client: Loopback, path: str, headers: dict[str, str], t0: float) -> Answer:
    sent = time.monotonic()
    try:
        status, answer = await client.get(path, headers)
    except (OSError, asyncio.IncompleteReadError):
        return Answer(sent - t0, time.monotonic() - sent, None)
    return Answer(
        sent - t0,
        time.monotonic() - sent,
        status,
        answer.get("retry-after"),
        answer.get("content-type"),
    )


async def sequential(
    client: Loopback, path: str, headers: dict[str, str], seconds: float, t0: float
) -> list[Answer]:
    """One request after another for `seconds`: each sees the service as a lone customer does."""
    answers = []
    while time.monotonic() - t0 < seconds:
        answers.append(await _send(client, path, headers, t0))
    return answers


async def offer(
    client: Loopback, path: str, rate: float, seconds: float, t0: float
) -> list[Answer]:
    """`rate` requests a second for `seconds`, each sent at its time: bounded, it stops itself."""
    tasks = []
    for n in range(round(rate * seconds)):
        # Yield even when behind: the requests already made must be sent, not piled up.
        await asyncio.sleep(max(0.0, t0 + n / rate - time.monotonic()))
        tasks.append(asyncio.create_task(_send(client, path, TELLER, t0)))
    return list(await asyncio.gather(*tasks))


async def _watch(client: Loopback, pid: int, drill: Drill, stop: asyncio.Event, t0: float) -> None:
    """`/healthz` and the RSS every `POLL_S` until `stop`: the service's state beside the load."""
    while not stop.is_set():
        drill.healthz.append(await _send(client, "/healthz", {}, t0))
        drill.rss_kb.append(rss_kb(pid))
        with contextlib.suppress(TimeoutError):  # the next poll is due
            await asyncio.wait_for(stop.wait(), POLL_S)


async def _drill(
    base: str, pid: int, multiple: float, seconds: float, reference_s: float, after_s: float
) -> Drill:
    capacity = small_lane(base)
    path = account_path(base)
    drill = Drill(capacity_per_s=capacity, rate_per_s=multiple * capacity)
    load, probe = Loopback(base), Loopback(base)
    try:
        drill.reference = await sequential(probe, path, TELLER, reference_s, time.monotonic())
        t0 = time.monotonic()
        drill.reference_healthz = await sequential(probe, "/healthz", {}, reference_s / 2, t0)
        drill.rss_start_kb = rss_kb(pid)
        stop = asyncio.Event()
        t0 = time.monotonic()
        watcher = asyncio.create_task(_watch(probe, pid, drill, stop, t0))
        drill.load = await offer(load, path, drill.rate_per_s, seconds, t0)
        stop.set()
        await watcher
        # The load has dropped: a lone customer again, timed from the last request of the load.
        drill.after = await sequential(probe, path, TELLER, after_s, t0 + seconds)
        drill.rss_kb.append(rss_kb(pid))
    finally:
        await load.aclose()
        await probe.aclose()
    lanes = httpx.get(f"{base}/admin/capacity", headers=ADMIN, timeout=10).json()["lanes"]
    drill.lane = lanes[LANE]
    return drill


def run_drill(
    base: str, pid: int, multiple: float, seconds: float, reference_s: float, after_s: float
) -> Drill:
    """The three phases against the core at `base` (process `pid`), its teller lane made small."""
    return asyncio.run(_drill(base, pid, multiple, seconds, reference_s, after_s))
