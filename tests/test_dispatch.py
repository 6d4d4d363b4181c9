"""The dispatcher inside one process: visits reach a free user, and dropped ones cost little."""

from __future__ import annotations

import time
from itertools import pairwise

import gevent
import pytest

from surge.day.arrivals import Arrival, Lateness
from surge.day.profile import load_profile
from surge.harness.dispatch import LOOKAHEAD_S, Dispatcher, expected_rate, finishes_within
from surge.visit.customers import Pool
from surge.visit.values import Customer

CUSTOMERS = [Customer(f"C{n:08d}", "mass", "B001", {"CNY": (f"A{n:08d}",)}) for n in range(1, 6)]


class Due:
    """A schedule (`surge.day.arrivals.Live`'s face) of one visit, due at once."""

    def __init__(self, arrival: Arrival) -> None:
        self.arrival: Arrival | None = arrival

    def due(self) -> float | None:
        return None if self.arrival is None else self.arrival.t

    def take(self) -> Arrival | None:
        taken, self.arrival = self.arrival, None
        return taken


@pytest.fixture
def dispatcher() -> Dispatcher:
    dispatcher = Dispatcher(load_profile("weekday").scaled(1440), 7, Pool(CUSTOMERS), Lateness())
    dispatcher.t0 = dispatcher.clock()
    return dispatcher


def test_a_user_whose_channel_has_nothing_waiting_serves_another_channels_visit(
    dispatcher: Dispatcher,
) -> None:
    waiting = Arrival(0.0, "kiosk", 0)
    dispatcher.queues["kiosk"].put(waiting)
    assert dispatcher.take("counter", timeout=0.01) == waiting
    assert dispatcher.take("counter", timeout=0.01) is None


def test_a_visit_due_while_only_another_channels_user_waits_goes_to_that_user_at_once(
    dispatcher: Dispatcher,
) -> None:
    kiosk_user = gevent.spawn(dispatcher.take, "kiosk", 5.0)
    gevent.sleep(0)  # the kiosk user now waits on its queue
    due = Arrival(0.0, "counter", 0)
    scheduler = gevent.spawn(dispatcher._run, Due(due))
    assert kiosk_user.get(timeout=1.0) == due  # not left on the counter queue to wait
    scheduler.join(timeout=1.0)
    assert dispatcher.backlog() == 0
    assert dispatcher.scheduled["counter"] == 1


def test_a_visit_due_while_its_own_channels_user_waits_stays_on_its_channel(
    dispatcher: Dispatcher,
) -> None:
    counter_user = gevent.spawn(dispatcher.take, "counter", 5.0)
    kiosk_user = gevent.spawn(dispatcher.take, "kiosk", 0.2)
    gevent.sleep(0)
    due = Arrival(0.0, "counter", 0)
    gevent.spawn(dispatcher._run, Due(due)).join(timeout=1.0)
    assert counter_user.get(timeout=1.0) == due
    assert kiosk_user.get(timeout=1.0) is None


def test_the_users_needed_count_each_channels_visits_waiting_and_running(
    dispatcher: Dispatcher,
) -> None:
    for number in range(7):
        dispatcher.queues["counter"].put(Arrival(0.0, "counter", number))
    dispatcher.in_flight["kiosk"] = 4
    need = dispatcher.users_needed()
    assert need["counter"] >= 7
    assert need["kiosk"] >= 4
    assert need["online"] >= 1


def test_a_journey_is_drawn_only_from_its_arrival_so_any_user_may_run_it(
    dispatcher: Dispatcher,
) -> None:
    arrival = Arrival(12.5, "counter", 41)
    first, again = dispatcher.journey(arrival), dispatcher.journey(arrival)
    assert (first.journey, first.customer, first.scheduled_at) == (
        again.journey,
        again.customer,
        again.scheduled_at,
    )
    assert first.rng.random() == again.rng.random()


def test_the_pool_is_sized_for_a_rise_in_arrivals_before_it_comes() -> None:
    profile = load_profile("weekday").scaled(1440)
    segments = profile.segments("counter")
    rise = next(b for a, b in pairwise(segments) if b.per_second > a.per_second)
    just_before = rise.start_s - LOOKAHEAD_S / 2
    assert profile.rate("counter", just_before) < rise.per_second
    assert expected_rate(profile, "counter", just_before) == rise.per_second
    assert expected_rate(profile, "counter", -5.0) == profile.rate("counter", 0.0)


def test_taking_with_no_timeout_answers_at_once_own_channel_first(
    dispatcher: Dispatcher,
) -> None:
    assert dispatcher.take("online", timeout=0) is None
    assert dispatcher.idle["online"] == 0
    mine, other = Arrival(1.0, "online", 0), Arrival(0.5, "kiosk", 0)
    dispatcher.queues["kiosk"].put(other)
    dispatcher.queues["online"].put(mine)
    assert dispatcher.take("online", timeout=0) == mine
    assert dispatcher.take("online", timeout=0) == other


def test_closing_lets_every_waiting_user_go_at_once_and_hands_out_nothing_more(
    dispatcher: Dispatcher,
) -> None:
    """Locust stops a user only once its task returns: a user left waiting out its timeout
    would hold the run's end up by that much."""
    waiting = [gevent.spawn(dispatcher.take, channel, 30.0) for channel in ("counter", "kiosk")]
    gevent.sleep(0)
    dispatcher.close()
    assert [user.get(timeout=5.0) for user in waiting] == [None, None]
    dispatcher.queues["online"].put(Arrival(0.0, "online", 0))
    assert dispatcher.take("online", timeout=30.0) is None
    assert dispatcher.take("counter", timeout=30.0) is None
    dispatcher.stop()  # the visit left on its queue counts as dropped; no wake-up is left over
    assert dispatcher.backlog() == 0


class LastSecond:
    """A day (`DayProgress`'s face) whose end is `left_s` away and whose last visit ends then."""

    def __init__(self, left_s: float) -> None:
        self.profile = load_profile("weekday").scaled(1440)
        self.end = time.monotonic() + left_s

    def elapsed(self) -> float:
        return self.profile.duration_s - (self.end - time.monotonic())

    def users_needed(self) -> dict[str, int]:
        return {}

    def finished_day(self) -> bool:
        return time.monotonic() >= self.end


def test_the_days_last_tick_ends_it_when_its_last_visit_does_not_a_tick_later() -> None:
    """Locust asks the shape once a second (`surge.harness.shape.TICK_S`)."""
    assert finishes_within(LastSecond(0.3), 1.0)
    assert not finishes_within(LastSecond(5.0), 1.0)  # the next tick comes first
