"""Prometheus metrics: requests by endpoint and status, latency, and the lanes' live state.

Request counts and latencies are recorded by a pure ASGI middleware (one counter increment and one
histogram observation per request). Lane, fault and alert figures are read when `/metrics` is
scraped, by a collector, so they cost nothing per request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_core.core import Core

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _CoreCollector(Collector):
    def __init__(self, core: Core) -> None:
        self.core = core

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
            "Time from request to the end of the response",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "mock_core_in_flight_requests", "Requests being handled", registry=self.registry
        )
        self.registry.register(_CoreCollector(core))

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
        metrics.in_flight.inc()
        try:
            await self.app(scope, receive, recording_send)
        finally:
            metrics.in_flight.dec()
            route = scope.get("route")
            endpoint = getattr(route, "path", "unmatched")
            metrics.requests.labels(scope["method"], endpoint, str(status or "aborted")).inc()
            metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
