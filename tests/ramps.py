"""Run by tests/test_shape_ramps.py in a process of its own (Locust patches the standard
library with gevent when imported): Locust's local runner and its shape loop, with users that
spend 2.2 s on each visit as the harness's users do waiting for a visit or running one, and a
scripted shape whose answers go through the harness's `shape.steady`: six users, then two (a
ramp-down that waits for their visits to end), then five before that ramp-down is done. It
prints how many users Locust had at the shape's last tick. `--unsteady` gives Locust the
answers as they come. The environment has events of its own, whose init never fires: the
harness's listeners, which its init puts on an environment's events, stay out of it."""

from __future__ import annotations

import sys
import time

import gevent
from locust import LoadTestShape, User, constant, task
from locust.env import Environment
from locust.runners import STATE_STOPPED

from surge.harness.shape import Answer, steady

VISIT_S = 2.2
ANSWERS: list[Answer] = [(6, 100.0), (2, 100.0), (5, 100.0), (5, 100.0)]
BOUND_S = 30.0


class Customer(User):
    wait_time = constant(0)

    @task
    def visit(self) -> None:
        gevent.sleep(VISIT_S)


class Script(LoadTestShape):
    def __init__(self, steadily: bool) -> None:
        super().__init__()
        self.steadily = steadily
        self.ticks = 0
        self.users_at_end: int | None = None

    def tick(self) -> Answer | None:
        n, self.ticks = self.ticks, self.ticks + 1
        if n == len(ANSWERS):
            assert self.runner is not None
            self.users_at_end = self.runner.user_count
            return None
        return steady(self.runner, ANSWERS[n]) if self.steadily else ANSWERS[n]


def main() -> None:
    script = Script(steadily="--unsteady" not in sys.argv[1:])
    environment = Environment(user_classes=[Customer], shape_class=script, stop_timeout=5)
    runner = environment.create_local_runner()
    runner.start_shape()
    deadline = time.monotonic() + BOUND_S
    while runner.state != STATE_STOPPED and time.monotonic() < deadline:
        gevent.sleep(0.1)
    print(f"users at the end: {script.users_at_end}")
    runner.quit()


if __name__ == "__main__":
    main()
