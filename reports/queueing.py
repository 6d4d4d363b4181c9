"""Erlang C: waiting in an M/M/c queue, the model behind branch staffing and lane sizing.

Rates and times may be in any one consistent unit. Everything is computed through the Erlang B
recursion, which stays finite for thousands of servers (no `a**c / c!`).
"""

from __future__ import annotations

import math


def _erlang_b(offered_load: float, servers: int) -> float:
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = offered_load * blocking / (k + offered_load * blocking)
    return blocking


def erlang_c(offered_load: float, servers: int) -> float:
    """Probability that an arrival waits, with `offered_load` = arrival rate x mean service time.

    1.0 when the load reaches the servers (the queue grows without bound).
    """
    if servers < 1:
        raise ValueError("servers must be at least 1")
    if offered_load < 0:
        raise ValueError("offered_load must not be negative")
    if offered_load >= servers:
        return 1.0
    blocking = _erlang_b(offered_load, servers)
    return servers * blocking / (servers - offered_load * (1 - blocking))


def mean_wait(arrival_rate: float, mean_service: float, servers: int) -> float:
    """Mean time in the queue before service (infinite when the load reaches the servers)."""
    load = arrival_rate * mean_service
    if load >= servers:
        return math.inf
    return erlang_c(load, servers) * mean_service / (servers - load)


def service_level(
    arrival_rate: float, mean_service: float, servers: int, target_wait: float
) -> float:
    """Share of arrivals that wait no longer than `target_wait`."""
    load = arrival_rate * mean_service
    if load >= servers:
        return 0.0
    waiting = erlang_c(load, servers)
    return 1.0 - waiting * math.exp(-(servers - load) * target_wait / mean_service)


def servers_needed(
    arrival_rate: float, mean_service: float, target_wait: float, target_level: float
) -> int:
    """Fewest servers for which at least `target_level` of arrivals wait <= `target_wait`."""
    if not 0 < target_level < 1:
        raise ValueError("target_level must be between 0 and 1")
    servers = max(1, math.floor(arrival_rate * mean_service) + 1)
    while service_level(arrival_rate, mean_service, servers, target_wait) < target_level:
        servers += 1
    return servers


def response_time_tail(
    arrival_rate: float, mean_service: float, servers: int, response_time: float
) -> float:
    """Share of arrivals whose wait plus service (first come, first served; exponential service)
    exceeds `response_time`: what a p95 response-time SLO is judged on.

    The wait is 0 with probability 1 - C and otherwise exponential of rate c/S - λ
    (C = `erlang_c`), so the response time is a mixture of the service time and of the sum of
    two exponentials (Kleinrock vol. 1, §3.5); 1.0 when the load reaches the servers.
    """
    service_rate = 1.0 / mean_service
    drain = servers * service_rate - arrival_rate
    if drain <= 0:
        return 1.0
    waiting = erlang_c(arrival_rate * mean_service, servers)
    served = math.exp(-service_rate * response_time)
    if math.isclose(drain, service_rate, rel_tol=1e-9):
        queued = served * (1.0 + service_rate * response_time)
    else:
        queued = (drain * served - service_rate * math.exp(-drain * response_time)) / (
            drain - service_rate
        )
    return (1.0 - waiting) * served + waiting * queued


def max_arrival_rate(
    mean_service: float, servers: int, response_time: float, quantile: float = 0.95
) -> float:
    """Highest arrival rate at which the `quantile` of the response time stays within
    `response_time` (0.0 when the service time alone exceeds it): the M/M/c prediction the
    capacity search is checked against (docs/capacity.md)."""
    if not 0 < quantile < 1:
        raise ValueError("quantile must be between 0 and 1")
    low, high = 0.0, servers / mean_service
    if response_time_tail(low, mean_service, servers, response_time) > 1 - quantile:
        return 0.0
    while high - low > high * 1e-9:
        middle = (low + high) / 2
        if response_time_tail(middle, mean_service, servers, response_time) <= 1 - quantile:
            low = middle
        else:
            high = middle
    return low
