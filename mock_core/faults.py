"""Injected faults: the emergency drills of a surge plan, switched on and off at run time.

A fault targets a lane (`lane:fx`), an endpoint pattern (`path:/v1/cash/*`) or everything (`*`),
fires with a probability, and may start later and last a while. Each fault draws from its own
seeded generator, so a drill replays exactly. Faults act at three points:

- before the operation runs (added latency, an error status, a hang): a refused write posts nothing;
- on the lane (down, brownout): fewer or no slots while the fault lasts;
- on the response (connection reset, empty or malformed body, slow body): the operation has run and
  a write is kept, exactly like an acknowledgement lost on the way; a retry with the same
  Idempotency-Key gets the stored answer.
"""

from __future__ import annotations

import asyncio
import fnmatch
import itertools
import random
import socket
import sqlite3
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_core.lanes import Lanes, sampler
from mock_core.problems import Problem
from mock_core.settings import ServiceTime
from mock_core.store import transaction

FaultKind = Literal[
    "latency", "error", "reset", "empty", "malformed", "hang", "slow_body", "lane_down", "brownout"
]
_BEFORE = {"latency", "error", "hang"}
_RESPONSE = {"reset", "empty", "malformed", "slow_body"}
_LANE = {"lane_down", "brownout"}
SCOPE_KEY = "mock_core.response_faults"


class FaultIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    kind: FaultKind
    target: str = Field(
        default="*",
        pattern=r"^(\*|lane:[A-Za-z0-9_-]+|path:/\S*)$",
        description="*, lane:NAME or path:GLOB",
    )
    probability: float = Field(default=1.0, ge=0, le=1)
    start_in: float = Field(default=0, ge=0, le=86_400, description="seconds from now")
    duration: float | None = Field(
        default=None, gt=0, le=86_400, description="seconds; none: until removed"
    )
    latency: ServiceTime | None = Field(default=None, description="for kind latency")
    status: int = Field(default=500, ge=400, le=599, description="for kind error")
    seconds: float = Field(
        default=30, gt=0, le=600, description="hang length, or how long a slow body takes"
    )
    share: float = Field(default=0.25, gt=0, lt=1, description="for kind brownout: the slots kept")

    @model_validator(mode="after")
    def _fits_kind(self) -> FaultIn:
        if self.kind == "latency" and self.latency is None:
            raise ValueError("a latency fault needs latency (a service-time distribution)")
        if self.kind in _LANE and not self.target.startswith("lane:"):
            raise ValueError(f"a {self.kind} fault targets a lane: target must be lane:NAME")
        return self


@dataclass
class Fault:
    id: str
    spec: FaultIn
    start_at: float
    end_at: float | None
    rng: random.Random
    fired: int = 0
    _delay: Callable[[], float] | None = None

    def __post_init__(self) -> None:
        if self.spec.latency is not None:
            self._delay = sampler(self.spec.latency, self.rng)

    def state(self, now: float) -> str:
        if now < self.start_at:
            return "scheduled"
        if self.end_at is not None and now >= self.end_at:
            return "expired"
        return "active"

    def matches(self, lane: str | None, path: str) -> bool:
        target = self.spec.target
        if target == "*":
            return True
        if target.startswith("lane:"):
            return lane == target[5:]
        return fnmatch.fnmatchcase(path, target[5:])

    def describe(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            **self.spec.model_dump(mode="json"),
            "state": self.state(now),
            "start_at": self.start_at,
            "end_at": self.end_at,
            "fired": self.fired,
        }


@dataclass
class Faults:
    """The fault registry. `before` runs for every request; it costs nothing when empty.

    Faults are kept in the ledger (`faults`) as well as here: a fault is added in the
    transaction that stores its request's idempotent answer, so after a `kill -9` the fault the
    answer names is still there, and numbers go on from the last one ever given.
    """

    lanes: Lanes
    seed: int
    clock: Callable[[], float]
    conn: sqlite3.Connection
    items: dict[str, Fault] = field(default_factory=dict)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        (last,) = self.conn.execute("SELECT coalesce(max(n), 0) FROM faults").fetchone()
        self._numbers = itertools.count(last + 1)
        for row in self.conn.execute("SELECT * FROM faults WHERE NOT removed ORDER BY n"):
            spec = FaultIn.model_validate_json(row["spec"])
            fault = self._fault(row["n"], spec, row["start_at"], row["end_at"])
            self.items[fault.id] = fault
        self.refresh()

    def _fault(self, number: int, spec: FaultIn, start_at: float, end_at: float | None) -> Fault:
        rng = random.Random(f"{self.seed}:fault:{number}")
        return Fault(id=f"F{number:04d}", spec=spec, start_at=start_at, end_at=end_at, rng=rng)

    def add(self, spec: FaultIn) -> Fault:
        """Add a fault; its row is written in the caller's transaction."""
        if spec.target.startswith("lane:") and spec.target[5:] not in self.lanes.lanes:
            raise Problem(422, "Unknown lane", f"no lane {spec.target[5:]}", field="target")
        number = next(self._numbers)
        now = self.clock()
        start_at = now + spec.start_in
        end_at = start_at + spec.duration if spec.duration else None
        fault = self._fault(number, spec, start_at, end_at)
        self.conn.execute(
            "INSERT INTO faults (n, spec, start_at, end_at) VALUES (?, ?, ?, ?)",
            (number, spec.model_dump_json(), start_at, end_at),
        )
        self.items[fault.id] = fault
        self.refresh()
        return fault

    def remove(self, fault_id: str) -> Fault:
        fault = self.items.pop(fault_id, None)
        if fault is None:
            raise Problem(404, "Not found", f"no fault {fault_id}", field="fault_id")
        with transaction(self.conn):
            self.conn.execute(
                "UPDATE faults SET removed = 1 WHERE n = ?", (int(fault_id.removeprefix("F")),)
            )
        self.refresh()
        return fault

    def clear(self) -> None:
        with transaction(self.conn):
            self.conn.execute("UPDATE faults SET removed = 1 WHERE NOT removed")
        self.items.clear()
        self.refresh()

    def active_kinds(self) -> dict[str, int]:
        now = self.clock()
        counts: dict[str, int] = {}
        for fault in self.items.values():
            if fault.state(now) == "active":
                counts[fault.spec.kind] = counts.get(fault.spec.kind, 0) + 1
        return counts

    def refresh(self) -> None:
        """Set each lane's share of slots from the lane faults active now."""
        now = self.clock()
        shares = {name: 1.0 for name in self.lanes.lanes}
        for fault in self.items.values():
            if fault.spec.kind in _LANE and fault.state(now) == "active":
                name = fault.spec.target[5:]
                share = 0.0 if fault.spec.kind == "lane_down" else fault.spec.share
                shares[name] = min(shares[name], share)
        for name, share in shares.items():
            lane = self.lanes.lanes[name]
            if lane.share != share:
                lane.configure(share=share)

    async def before(self, lane: str | None, path: str, scope: Scope) -> None:
        """Apply the faults that fire for this request before it runs; stash the response ones."""
        if not self.items:
            return
        self.refresh()
        now = self.clock()
        for fault in list(self.items.values()):
            kind = fault.spec.kind
            if kind in _LANE or fault.state(now) != "active" or not fault.matches(lane, path):
                continue
            if fault.rng.random() >= fault.spec.probability:
                continue
            fault.fired += 1
            if kind in _RESPONSE:
                scope.setdefault(SCOPE_KEY, []).append(fault)
            elif kind == "latency":
                assert fault._delay is not None
                await asyncio.sleep(fault._delay())
            elif kind == "error":
                raise Problem(
                    fault.spec.status,
                    "Injected fault",
                    f"fault {fault.id} answered {fault.spec.status}",
                    headers={"Retry-After": "1"} if fault.spec.status in (429, 503) else None,
                )
            elif kind == "hang":
                await asyncio.sleep(fault.spec.seconds)
                raise Problem(
                    504, "Injected hang", f"fault {fault.id} hung {fault.spec.seconds:g} s"
                )


class FaultyResponses:
    """Pure ASGI middleware that spoils a response when a response fault fired for its request."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.faults.items:
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def spoiling_send(message: Message) -> None:
            faults: list[Fault] = scope.get(SCOPE_KEY, [])
            if not faults:
                await send(message)
                return
            held.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                await _spoil(faults[0], held, receive, send)

        await self.app(scope, receive, spoiling_send)


async def _spoil(fault: Fault, held: list[Message], receive: Receive, send: Send) -> None:
    start = held[0]
    body = b"".join(m.get("body", b"") for m in held[1:])
    kind = fault.spec.kind
    if kind == "reset":
        _reset(receive)
        return
    if kind == "empty":
        body = b""
    elif kind == "malformed":
        body = body[: max(1, len(body) // 2)] + b"\x00<<garbled"
    headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({**start, "headers": headers})
    if kind != "slow_body" or len(body) < 2:
        await send({"type": "http.response.body", "body": body})
        return
    pieces = min(len(body), 20)
    step = -(-len(body) // pieces)
    pause = fault.spec.seconds / pieces
    for i in range(0, len(body), step):
        await asyncio.sleep(pause)
        await send({"type": "http.response.body", "body": body[i : i + step], "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def _reset(receive: Receive) -> None:
    """Abort the TCP connection with a RST, as a crashed load balancer would.

    Under uvicorn, `receive` is bound to the connection's request cycle, which holds the transport;
    SO_LINGER with a zero timeout turns the close into a reset.
    """
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is None:
        raise ConnectionResetError("injected reset (no transport to abort here)")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
