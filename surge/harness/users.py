"""The channel users: each takes the next due visit (its channel's, or another's rather than
idle) and runs its journey.

Requests go through Locust's `FastHttpSession` (`surge.harness.session`), so Locust's own statistics
count every attempt and a business refusal is not a failure there either. What the run folder
and the verdict use are the harness's own records (`RunState.keep`), one per attempt.
"""

from __future__ import annotations

import time

import gevent
from locust import FastHttpUser, constant, task
from locust.env import Environment

from surge.day import arrivals
from surge.day.arrivals import Timeliness
from surge.harness import lifecycle  # noqa: F401 - the run's listeners, which start the users' day
from surge.harness.dispatch import Dispatcher
from surge.harness.session import Session
from surge.harness.state import RunState, current, warn
from surge.visit import credentials, journeys

IDLE_WAIT_S = 1.0
"""How long an idle user waits for a visit before its task returns, so that Locust can retire it
when the shape shrinks the pool (a task is never interrupted)."""


class SurgeUser(FastHttpUser):
    """A channel's customers, one visit at a time: take the next due visit and run it."""

    abstract = True
    channel: str = ""
    wait_time = constant(0)
    _context: tuple[RunState, journeys.Context] | None = None
    """The run this user's context was built for, and the context (built once, not per visit)."""

    def __init__(self, environment: Environment) -> None:
        # The bank's TLS settings reach Locust's client through its own option; with them the
        # target's certificate and name are checked (Locust's default checks neither).
        factory = credentials.from_environment().ssl_context_factory()
        if factory is not None:
            self.ssl_context_factory = factory
            self.insecure = False
        super().__init__(environment)

    @task
    def next_visit(self) -> None:
        run = current(self.environment)
        dispatcher = None if run is None else run.dispatcher
        if run is None or dispatcher is None:
            gevent.sleep(0.2)  # preparing, or the run could not start
            return
        arrival = dispatcher.take(self.channel, timeout=IDLE_WAIT_S)
        # A generator behind its schedule skips the dropped visits here, not one task each.
        while arrival is not None and _dropped(dispatcher, arrival):
            arrival = dispatcher.take(self.channel, timeout=0)
        if arrival is None:
            return
        channel = arrival.channel
        dispatcher.in_flight[channel] += 1
        began = time.monotonic()
        try:
            visit = dispatcher.journey(arrival)
            result = journeys.run_visit(visit, self._context_for(run))
        except Exception as error:  # a journey bug must not end the user: count it, go on
            run.visits["error"] += 1
            warn(f"{channel} visit {arrival.number} raised {error!r}")
            return
        finally:
            dispatcher.in_flight[channel] -= 1
            dispatcher.finished(channel, time.monotonic() - began)
        run.visits["ok" if result.ok else "unfinished"] += 1
        if result.expected_alert is not None:
            alert = result.expected_alert
            run.expected_alerts.append(
                {"rule": alert.rule, "customer_id": alert.customer_id, "account": alert.account_id}
            )

    def _context_for(self, run: RunState) -> journeys.Context:
        if self._context is None or self._context[0] is not run:
            assert run.binding is not None  # made before the dispatcher that hands out visits
            context = journeys.Context(
                Session(self.client),
                run.binding,
                run.keep,
                run.branches,
                gevent.sleep,
                renew=run.settings.credentials.renewed,
            )
            self._context = (run, context)
        return self._context[1]


def _dropped(dispatcher: Dispatcher, arrival: arrivals.Arrival) -> bool:
    """Count the visit's lateness as it starts now; True when it is too late to start."""
    lag = dispatcher.lateness.record(arrival.channel, arrival.t, dispatcher.elapsed())
    return lag is Timeliness.DROPPED
