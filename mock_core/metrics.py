"""Prometheus metrics: requests by endpoint and status, latency, and the lanes' live state.

Request counts and latencies are recorded by a pure ASGI middleware: one counter increment and one
observation of the coarse per-route histogram per request, and one of the fine customer API
histogram per `/v1` request. Lane, fault and alert figures are read when `/metrics` is scraped, by
a collector, so they cost nothing per request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_core.core import Core

LATENCY_BUCKETS = tuple(float(f"{10 ** (k / 50 - 3):.4g}") for k in range(225))
"""The customer API histogram's bounds: 50 a decade from 1 ms to 30.2 s, 225 bounds each 1.047 to
1.048 times the one below (rounded to 4 significant figures; the nearest rounding tie is 2e-6 away,
so no platform's `pow` rounds one differently).

A quantile interpolated linearly within its bucket, as Prometheus' `histogram_quantile` does, shares
the bucket of the exact quantile, so it is off by less than the ratio minus one, 4.8%, whatever the
distribution, from 1 ms to 30 s. Coarser bounds fail where latencies are alike (a constant service
time, a latency or hang fault, a queue timing out at a lane's 5 s): one bucket holds them all and
its p95 is read 95% of the way up, 0.95 x (ratio - 1) high. Measured with 20 000 seeded draws per
case, p95 from 5 ms to 10 s: constant 4.5% (p95), 4.7% (p99); exponential and lognormal 0.6% and
1%, or 3.4% and 4.5% from 1 000 draws, whose tails are sparse. 20 a decade (91 series) would read
the smooth ones within 2.2% but a constant 11% high. tests/test_latency_histogram.py pins the
bound.
"""
ROUTE_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
"""Coarse, because every route multiplies them: with the fine bounds 35 routes make 8 000 series, a
700 kB exposition whose rendering holds the event loop about 100 ms at every scrape, delaying the
requests it measures. A quantile read from these can be 150% high (an exact p95 of 137 ms reads as
188): read quantiles from the customer API histogram."""
API_PREFIX = "/v1/"
"""The customer API's routes, what the harness drives: the fine histogram holds only these, so that
scrapes and admin calls do not skew a quiet run's quantiles."""
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _CoreCollector(Collector):
    def __init__(self, core: Core, metrics: Metrics) -> None:
        self.core = core
        self.metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        lanes = self.core.lanes.lanes.values()
        slots = GaugeMetricFamily("mock_core_lane_slots", "Slots in service", labels=["lane"])
        busy = GaugeMetricFamily("mock_core_lane_busy_slots", "Slots serving now", labels=["lane"])
        depth = GaugeMetricFamily("mock_core_lane_queue_depth", "Requests waiting", labels=["lane"])
        served = CounterMetricFamily("mock_core_lane_served", "Requests served", labels=["lane"])
        rejected = CounterMetricFamily(
            "mock_core_lane_rejections", "Requests refused by a lane", labels=["lane", "reason"]
        )
        for lane in lanes:
            slots.add_metric([lane.name], lane.slots)
            busy.add_metric([lane.name], lane.busy)
            depth.add_metric([lane.name], lane.waiting)
            served.add_metric([lane.name], lane.stats.served)
            rejected.add_metric([lane.name, "queue_full"], lane.stats.rejected_full)
            rejected.add_metric([lane.name, "timeout"], lane.stats.rejected_timeout)
            rejected.add_metric([lane.name, "down"], lane.stats.refused_down)
        yield from (slots, busy, depth, served, rejected)
        yield GaugeMetricFamily(
            "mock_core_in_flight_requests", "Requests being handled", self.metrics.in_flight
        )
        faults = GaugeMetricFamily("mock_core_active_faults", "Faults active now", labels=["kind"])
        for kind, count in sorted(self.core.faults.active_kinds().items()):
            faults.add_metric([kind], count)
        yield faults
        alerts = CounterMetricFamily("mock_core_aml_alerts", "AML alerts raised", labels=["rule"])
        for rule, count in self.core.conn.execute(
            "SELECT rule, count(*) FROM aml_alerts GROUP BY rule ORDER BY rule"
        ):
            alerts.add_metric([rule], count)
        yield alerts


class Metrics:
    """One registry per service instance (tests run several in one process)."""

    def __init__(self, core: Core) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mock_core_requests",
            "Requests answered",
            ["method", "endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mock_core_request_seconds",
            "Time from request to the end of the response, by route (coarse buckets)",
            ["endpoint"],
            buckets=ROUTE_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.api_latency = Histogram(
            "mock_core_api_request_seconds",
            "Time from request to the end of the response, every customer API request",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = 0
        self.registry.register(_CoreCollector(core, self))
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def record(self, method: str, endpoint: str, status: str, seconds: float) -> None:
        """Count one answered request; label children are cached, `labels()` takes a lock."""
        children = self._children.get((method, endpoint, status))
        if children is None:
            children = (
                self.requests.labels(method, endpoint, status),
                self.latency.labels(endpoint),
            )
            self._children[(method, endpoint, status)] = children
        children[0].inc()
        children[1].observe(seconds)
        if endpoint.startswith(API_PREFIX):
            self.api_latency.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RecordRequests:
    """Pure ASGI middleware counting every HTTP request by route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics = self.metrics
        metrics.in_flight += 1
        try:
            await self.app(scope, receive, recording_send)
        finally:
            metrics.in_flight -= 1
            endpoint = getattr(scope.get("route"), "path", "unmatched")
            elapsed = time.perf_counter() - started
            metrics.record(scope["method"], endpoint, str(status or "aborted"), elapsed)
