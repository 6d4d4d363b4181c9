"""A locustfile the distributed test adds to its workers (`-f loadtests,tests/stalls.py`): each
worker's event loop is held up once, `STALL_S` of busy CPU a few seconds into its share of the
day, as a generator starved of its core would be. The host's watch (`surge.harness.host`) must
see it, and the master's closing line say the generator was saturated."""

from __future__ import annotations

import time
from typing import Any

import gevent
from locust import events
from locust.env import Environment

STALL_S = 0.25
"""Well past `surge.judge.saturation.MAX_LOOP_LAG_MS`, and far from making a visit late."""
AFTER_S = 5.0
"""After the worker's test start (about a second before the day's): inside the 20 s day."""


@events.test_start.add_listener
def stall_later(environment: Environment, **_: Any) -> None:
    if environment.parsed_options is not None and environment.parsed_options.worker:
        gevent.spawn_later(AFTER_S, _hold)


def _hold() -> None:
    """Busy, never yielding: no other greenlet of the process runs meanwhile."""
    end = time.perf_counter() + STALL_S
    while time.perf_counter() < end:
        pass
