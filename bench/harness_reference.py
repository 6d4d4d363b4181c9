"""The reference for bench/harness_overhead.py: a bare FastHttpUser loop over recorded visits.

Each user replays the visits bench/harness_overhead.py generated with the harness's own journeys
(same methods, paths, route names, headers and JSON bodies, already serialised), one visit per
task, starting at its own offset. Nothing else happens per request: no scheduling, no records,
no data generation, no retries. A sampler greenlet reads Locust's own request count after the
warm-up and at the end of the window, so the figure excludes spawning and costs nothing per
request.

Environment: HARNESS_REQUESTS (the JSON list of visits), HARNESS_WINDOW ("warm,measure" seconds),
HARNESS_OUT (where the window's counts are written as JSON).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, constant, events, task
from locust.env import Environment

Request = tuple[str, str, str, dict[str, str], bytes | None]


def _load() -> list[list[Request]]:
    path = os.environ.get("HARNESS_REQUESTS")
    if not path:
        return []
    visits = json.loads(Path(path).read_text(encoding="utf-8"))
    return [
        [
            (method, url, name, headers, None if body is None else body.encode())
            for method, url, name, headers, body in visit
        ]
        for visit in visits
    ]


VISITS = _load()


class BareUser(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        start = random.randrange(len(VISITS))
        self.visits = itertools.cycle(VISITS[start:] + VISITS[:start])

    @task
    def visit(self) -> None:
        request = self.client.request
        for method, url, name, headers, body in next(self.visits):
            request(method, url, name=name, data=body, headers=headers)


def _sample(environment: Environment, warm: float, measure: float, out: Path) -> None:
    gevent.sleep(warm)
    stats = environment.stats.total
    first = (time.time(), stats.num_requests, stats.num_failures)
    gevent.sleep(measure)
    last = (time.time(), stats.num_requests, stats.num_failures)
    counts: dict[str, Any] = {
        "start": first[0],
        "end": last[0],
        "seconds": last[0] - first[0],
        "requests": last[1] - first[1],
        "failures": last[2] - first[2],
        "users": environment.runner.user_count if environment.runner else 0,
    }
    out.write_text(json.dumps(counts), encoding="utf-8")


@events.test_start.add_listener
def start_sampler(environment: Environment, **_: Any) -> None:
    window, out = os.environ.get("HARNESS_WINDOW"), os.environ.get("HARNESS_OUT")
    if window and out:
        warm, measure = (float(s) for s in window.split(","))
        gevent.spawn(_sample, environment, warm, measure, Path(out))
