"""The one shape's answer: as many users as the visits in flight need, until the day is done.

`loadtests/surge_shape.py` holds the `LoadTestShape` itself (Locust picks the first shape class
it finds, so there is exactly one) and asks `tick` here. The shape runs on the master, or on
the local runner: it reads the day through `surge.harness.dispatch.DayProgress`, the local
`Dispatcher` or the master's `Fleet`.
"""

from __future__ import annotations

import time

from locust import LoadTestShape
from locust.runners import STATE_SPAWNING, MasterRunner, Runner

from surge.day.profile import CHANNELS
from surge.harness import levels, lifecycle
from surge.harness.dispatch import DayProgress, finishes_within, next_pool, pool_size
from surge.harness.state import RunState, current
from surge.judge.saturation import MAX_CPU

SPAWN_RATE = 100.0
"""Users started per second: Locust warns above 100; a surge needs users within a second."""
DRAIN_S = 30.0
"""After the day's end, how long queued and running visits may take before the run stops."""

TICK_S = 1.0
"""How often Locust asks the shape (`Runner.shape_worker`): the day's last tick waits for its
end (`surge.harness.dispatch.finishes_within`), so that the run ends then, not up to a tick
later: a second of every run, and of the target left idle."""

Answer = tuple[int, float]
"""Users and the rate to start or stop them at: what a shape's tick gives Locust."""


def tick(shape: LoadTestShape) -> Answer | None:
    """Users needed now (`surge.harness.dispatch.pool_size`), or None when the day is done.

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
    day: DayProgress | None = run.fleet or run.dispatcher
    if day is None:
        return None  # the run could not start
    if finishes_within(day, TICK_S) or day.elapsed() > day.profile.duration_s + DRAIN_S:
        return None
    if run.stopped is not None:  # its error budget is spent
        return None
    if levels.follow(run, runner) and runner is not None:  # a capacity search's next level
        lifecycle.write_run(run, runner.environment)
    need, most = pool_size(day.users_needed()), run.settings.max_users
    # Past `MAX_CPU` of a core the generator itself is the bottleneck: more users would only
    # slow every visit and ask for more users.
    if runner is not None and _generator_busy(run, runner) >= MAX_CPU:
        run.needs.clear()  # hold the pool: neither grow it nor go back to an earlier larger need
        most = min(most, runner.user_count)
    run.needs.append(max(least, min(most, need)))
    last = None if runner is None or runner.shape_last_tick is None else runner.shape_last_tick[0]
    return steady(runner, (next_pool(max(run.needs), last, most), SPAWN_RATE))


def steady(runner: Runner | None, answer: Answer) -> Answer:
    """`answer`, or the last one while Locust is still stopping users for it and the users
    alive can meet `answer`.

    Locust's shape loop was written for a `start` that returns once the users are started or
    stopped; the local runner's returns at once (a master's once its workers have their counts),
    and a new answer kills the ramp under way (a worker's, at the master's next count). A
    ramp-down waits for each user it stopped to end its visit: killed midway, the users it had
    stopped end later unseen, and one ending in the same turn of the event loop as Locust's next
    look at its users is the "user that didn't have proper args" error (a dead greenlet still in
    the users' group). So a count the users alive can meet waits until the ramp-down is done:
    the shrinking pool at a day's end, tick after tick. A count above them (a surge coming back
    after a fault) is given at once, since late visits matter more than Locust's bookkeeping;
    and the end of the run (no answer) is not held: Locust's stop waits for every user itself.
    """
    last = None if runner is None else runner.shape_last_tick
    if runner is None or last is None or runner.state != STATE_SPAWNING:
        return answer
    ramping_down = runner.user_count > last[0]  # users stopped for it are still running
    if ramping_down and answer[0] <= runner.user_count:
        return last[:2]  # Locust's type allows user classes too, which `tick` never names
    return answer


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
