"""The one shape's answer: as many users as the visits in flight need, until the day is done.

`loadtests/surge_shape.py` holds the `LoadTestShape` itself (Locust picks the first shape class
it finds, so there is exactly one) and asks `tick` here. The shape runs on the master, or on
the local runner: it reads the day through `surge.dispatch.Progress`, the local `Dispatcher` or
the master's `Fleet`.
"""

from __future__ import annotations

import time

from locust import LoadTestShape
from locust.runners import MasterRunner, Runner

from surge.dispatch import pool_size
from surge.harness.state import RunState, current
from surge.profile import CHANNELS
from surge.saturation import MAX_CPU

SPAWN_RATE = 100.0
"""Users started per second: Locust warns above 100; a surge needs users within a second."""
DRAIN_S = 30.0
"""After the day's end, how long queued and running visits may take before the run stops."""


def tick(shape: LoadTestShape) -> tuple[int, float] | None:
    """Users needed now (`surge.dispatch.pool_size`), or None when the day is done.

    Locust splits a user count evenly across the three classes (equal weights), and users help
    the other channels when their own has nothing waiting (`Dispatcher.take`), so the count is
    what the channels need together.
    """
    runner = shape.runner
    environment = runner.environment if runner else None
    run = None if environment is None else current(environment)
    # Locust deals users to workers class by class in turn: with at least channels × workers
    # users, every worker has users (who serve every channel's visits, `Dispatcher.take`).
    least = len(CHANNELS) * (runner.worker_count if isinstance(runner, MasterRunner) else 1)
    if run is None or (run.dispatcher is None and run.fleet is None and run.error is None):
        return least, SPAWN_RATE  # the same answer until ready: Locust restarts on change
    day = run.fleet or run.dispatcher
    if day is None:
        return None  # the run could not start
    if day.finished_day() or day.elapsed() > day.profile.duration_s + DRAIN_S:
        return None
    if run.stopped is not None:  # its error budget is spent
        return None
    need = pool_size(day.users_needed())
    # Past `MAX_CPU` of a core the generator itself is the bottleneck: more users would only
    # slow every visit and ask for more users.
    if runner is not None and _generator_busy(run, runner) >= MAX_CPU:
        run.needs.clear()  # hold the pool: neither grow it nor go back to an earlier larger need
        need = min(need, runner.user_count)
    run.needs.append(max(least, min(run.settings.max_users, need)))
    return max(run.needs), SPAWN_RATE


def _generator_busy(run: RunState, runner: Runner) -> float:
    """The share of a core the generator used lately: this process's since the last tick, or
    the busiest worker's as Locust last heard it."""
    if isinstance(runner, MasterRunner):
        return max((c.cpu_usage for c in runner.clients.values()), default=0) / 100
    now = (time.monotonic(), time.process_time())
    last, run.cpu_mark = run.cpu_mark, now
    if last is None or now[0] <= last[0]:
        return 0.0
    return (now[1] - last[1]) / (now[0] - last[0])
