"""Erlang C as staffing references print it, checked again by routes that share no code with it.

`reports.queueing` goes through the Erlang B recursion; the checks here go the textbook way, with
a^c / c! in exact rationals for small c and in logarithms for thousands of servers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import pytest
from scipy.integrate import quad

from reports.queueing import (
    erlang_c,
    max_arrival_rate,
    mean_wait,
    response_time_tail,
    servers_needed,
    service_level,
)


def exact_erlang_c(load: Fraction, servers: int) -> Fraction:
    """Erlang's C formula as printed (Kleinrock, "Queueing Systems" vol. 1, 1975, M/M/m)."""
    last = load**servers / math.factorial(servers) * servers / (servers - load)
    below = sum(load**k / math.factorial(k) for k in range(servers))
    return last / (below + last)


def exact_mean_wait(arrival_rate: Fraction, mean_service: Fraction, servers: int) -> Fraction:
    """Lq from the empty-system probability P0, then Little's law: no Erlang C on the way."""
    load = arrival_rate * mean_service
    rho = load / servers
    idle = 1 / (
        sum(load**k / math.factorial(k) for k in range(servers))
        + load**servers / (math.factorial(servers) * (1 - rho))
    )
    queue_length = idle * load**servers * rho / (math.factorial(servers) * (1 - rho) ** 2)
    return queue_length / arrival_rate


def log_space_erlang_c(load: float, servers: int) -> float:
    """The same formula with every term as a logarithm, so a^c / c! never overflows."""
    logs = [k * math.log(load) - math.lgamma(k + 1) for k in range(servers)]
    last = (
        servers * math.log(load) - math.lgamma(servers + 1) + math.log(servers / (servers - load))
    )
    top = max([*logs, last])
    total = top + math.log(sum(math.exp(term - top) for term in [*logs, last]))
    return math.exp(last - total)


def test_the_pyworkforce_worked_example_staffs_14_agents_at_the_published_figures() -> None:
    """Published: pyworkforce (Rodrigo Arenas), docs/guide/erlangc.md and README.md, github.com/
    rodrigo-arenas/pyworkforce: 100 calls in 30 minutes, 3 minutes handling time, 80% answered
    within 20 seconds -> raw_positions 14, waiting_probability 0.1741319335950498,
    service_level 0.8883500191794669 (full precision in the guide, 4 places in the README).
    pyworkforce gets there by a recursion much like ours, so the exact rational formula confirms
    the published figures by a route of its own. Its tests also pin 15 agents at service level
    0.941 and waiting probability 0.102 (pyworkforce/queuing/tests/test_erlang.py, 3 places).
    Minutes throughout: arrivals 100/30 a minute, service 3 minutes, target 1/3 minute.
    """
    rate, service, target = 100 / 30, 3.0, 20 / 60
    assert servers_needed(rate, service, target, 0.8) == 14
    assert erlang_c(rate * service, 14) == pytest.approx(0.1741319335950498, rel=1e-12)
    assert float(exact_erlang_c(Fraction(10), 14)) == pytest.approx(0.1741319335950498, rel=1e-12)
    assert service_level(rate, service, 14, target) == pytest.approx(0.8883500191794669, rel=1e-12)
    assert erlang_c(rate * service, 15) == pytest.approx(0.102, abs=5e-4)
    assert service_level(rate, service, 15, target) == pytest.approx(0.941, abs=5e-4)
    # The average speed of answer has no published figure here; it is checked the P0 way.
    expected_wait = exact_mean_wait(Fraction(100, 30), Fraction(3), 14)
    assert mean_wait(rate, service, 14) == pytest.approx(float(expected_wait), rel=1e-12)


@pytest.mark.parametrize(
    ("doctors", "probability_of_waiting", "hours_waiting"),
    [(1, Fraction(2, 3), Fraction(2, 3)), (2, Fraction(1, 6), Fraction(1, 24))],
)
def test_hillier_liebermans_emergency_room_gets_its_second_doctor_right(
    doctors: int, probability_of_waiting: Fraction, hours_waiting: Fraction
) -> None:
    """Published: Hillier and Lieberman, "Introduction to Operations Research" (McGraw-Hill),
    queueing chapter, the County Hospital emergency room: patients arrive at 2 an hour, a doctor
    takes 20 minutes on average (mu = 3 an hour). One doctor: P(Wq > 0) = 2/3, Wq = 2/3 hour;
    two doctors: P(Wq > 0) = 1/6, Wq = 1/24 hour. The figures are exact fractions, and the
    P0 route (`exact_mean_wait`) derives them again.
    """
    assert erlang_c(2 / 3, doctors) == pytest.approx(float(probability_of_waiting), rel=1e-12)
    assert mean_wait(2.0, 1 / 3, doctors) == pytest.approx(float(hours_waiting), rel=1e-12)
    assert exact_mean_wait(Fraction(2), Fraction(1, 3), doctors) == hours_waiting


@pytest.mark.parametrize("utilisation", [0.1, 0.5, 0.8, 0.95, 0.999])
def test_one_and_two_servers_match_kleinrocks_closed_forms(utilisation: float) -> None:
    """Kleinrock, "Queueing Systems" vol. 1 (1975), M/M/1 and M/M/2: with rho = lambda/(m mu),
    P(wait) is rho for one server and 2 rho^2 / (1 + rho) for two; M/M/1 waits rho/(mu - lambda).
    """
    assert erlang_c(utilisation, 1) == pytest.approx(utilisation, rel=1e-12)
    assert erlang_c(2 * utilisation, 2) == pytest.approx(
        2 * utilisation**2 / (1 + utilisation), rel=1e-12
    )
    service = 0.25
    rate = utilisation / service
    expected = utilisation / (1 / service - rate)
    assert mean_wait(rate, service, 1) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("servers", [1, 2, 3, 5, 8, 13, 21, 34, 55])
@pytest.mark.parametrize("utilisation", [0.1, 0.5, 0.8, 0.95, 0.999])
def test_erlang_c_matches_the_textbook_formula_in_exact_arithmetic(
    servers: int, utilisation: float
) -> None:
    load = utilisation * servers
    expected = exact_erlang_c(Fraction(load), servers)
    assert erlang_c(load, servers) == pytest.approx(float(expected), rel=1e-12)
    expected_wait = exact_mean_wait(Fraction(load), Fraction(1), servers)
    assert mean_wait(load, 1.0, servers) == pytest.approx(float(expected_wait), rel=1e-11)


@pytest.mark.parametrize(("load", "servers"), [(10.0, 14), (48.0, 55), (90.0, 100)])
def test_the_service_level_curve_integrates_to_the_mean_wait(load: float, servers: int) -> None:
    """The mean of a waiting time is the integral of P(wait > t): a check that ties the two
    functions to each other without either formula."""
    service = 2.0
    rate = load / service
    area, _ = quad(lambda t: 1 - service_level(rate, service, servers, t), 0, math.inf)
    assert area == pytest.approx(mean_wait(rate, service, servers), rel=1e-8)


@pytest.mark.parametrize(
    ("rate", "service", "target", "level"),
    [
        (100 / 30, 3.0, 1 / 3, 0.8),
        (2.0, 1 / 3, 0.1, 0.95),
        (50.0, 0.2, 0.05, 0.9),
        (1.0, 1.0, 0.0, 0.5),
    ],
)
def test_servers_needed_is_the_fewest_that_meet_the_target(
    rate: float, service: float, target: float, level: float
) -> None:
    servers = servers_needed(rate, service, target, level)
    assert service_level(rate, service, servers, target) >= level
    assert service_level(rate, service, servers - 1, target) < level


def test_five_thousand_servers_at_95_percent_stay_finite_and_exact() -> None:
    """a^c / c! overflows a float long before 5000 servers (171! already does); the recursion
    must not, and must still agree with the log-space formula."""
    load, servers = 4750.0, 5000
    waiting = erlang_c(load, servers)
    assert 0 < waiting < 1
    assert waiting == pytest.approx(log_space_erlang_c(load, servers), rel=1e-9)
    wait = mean_wait(load, 1.0, servers)
    assert wait == pytest.approx(waiting / (servers - load), rel=1e-12)
    assert 0 < service_level(load, 1.0, servers, 0.0) < 1
    needed = servers_needed(load, 1.0, 0.02, 0.8)
    assert load < needed < servers
    assert (
        service_level(load, 1.0, needed, 0.02) >= 0.8 > service_level(load, 1.0, needed - 1, 0.02)
    )


@pytest.mark.parametrize("load", [5.0, 5.5, 50.0])
def test_a_load_at_or_over_the_servers_never_drains(load: float) -> None:
    assert erlang_c(load, 5) == 1.0
    assert mean_wait(load, 1.0, 5) == math.inf
    assert service_level(load, 1.0, 5, 10.0) == 0.0


def test_no_load_means_no_wait() -> None:
    assert erlang_c(0.0, 3) == 0.0
    assert mean_wait(0.0, 1.0, 3) == 0.0
    assert service_level(0.0, 1.0, 3, 0.0) == 1.0
    assert servers_needed(0.0, 1.0, 0.0, 0.99) == 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: erlang_c(1.0, 0), "servers must be at least 1"),
        (lambda: erlang_c(-1.0, 3), "offered_load must not be negative"),
        (lambda: servers_needed(1.0, 1.0, 1.0, 0.0), "target_level must be between 0 and 1"),
        (lambda: servers_needed(1.0, 1.0, 1.0, 1.0), "target_level must be between 0 and 1"),
    ],
)
def test_impossible_questions_are_refused(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    ("arrival_rate", "mean_service", "servers", "response_time"),
    [(90.0, 0.04, 5, 0.15), (88.0, 0.1, 10, 0.4), (2.0, 1.0, 3, 2.5), (7.5, 1.0, 10, 1.0)],
)
def test_response_time_tail_is_the_wait_convolved_with_the_service(
    arrival_rate: float, mean_service: float, servers: int, response_time: float
) -> None:
    """P(W + S > t) by integrating over the service time: the wait's tail is C e^{-θw}."""
    mu, drain = 1 / mean_service, servers / mean_service - arrival_rate
    waiting = exact_erlang_c(Fraction(arrival_rate * mean_service), servers)

    def wait_longer(s: float) -> float:
        return float(waiting) * math.exp(-drain * (response_time - s))

    inside, _ = quad(lambda s: wait_longer(s) * mu * math.exp(-mu * s), 0, response_time)
    expected = inside + math.exp(-mu * response_time)
    got = response_time_tail(arrival_rate, mean_service, servers, response_time)
    assert got == pytest.approx(expected, rel=1e-9)


def test_max_arrival_rate_matches_the_lanes_measured_in_the_capacity_issue() -> None:
    """Erlang C's figures quoted beside the open-loop measurements of today's lanes: 5 slots at
    40 ms under a p95 of 150 ms carry 94 requests/s, 8 slots at 25 ms under 100 ms 274/s."""
    assert max_arrival_rate(0.04, 5, 0.15) == pytest.approx(93.8, abs=0.05)
    assert max_arrival_rate(0.025, 8, 0.10) == pytest.approx(273.6, abs=0.05)


def test_max_arrival_rate_is_zero_when_service_alone_breaks_the_objective() -> None:
    """An exponential service of 200 ms has a p95 of 600 ms: no load meets 500 ms."""
    assert max_arrival_rate(0.2, 20, 0.5) == 0.0
    assert response_time_tail(200.0, 0.1, 20, 0.5) == 1.0
