"""The load generator's host, watched while a run goes (`generator.csv`, docs/run-folder.md).

Every Locust process of a run (the local runner, or the master and each worker) watches its own
host from its test start to its test stop: about once a second, a `GeneratorSample` of the
host's idle share of CPU (every core), the CPU this process used (a share of one core), and how
late its event loop woke from short sleeps. A slow response measured while the generator was
starved of CPU is the harness's own, not the target's: the reports mark those stretches
(`surge.saturation`).

One greenlet does it all, sleeping `TICK_S` at a time and measuring each wake-up's overshoot,
which is exactly the delay every other greenlet (a visit due, an answer waiting to be read)
suffered at that moment. Each second costs a few dozen timer wake-ups and two reads of the
kernel's counters: docs/run-folder.md gives the measured cost.
"""

from __future__ import annotations

import time

import gevent
import psutil

from surge.runfolder import GENERATOR_SAMPLE_S, GeneratorSample

TICK_S = 0.02
"""The probe's sleep: a stall longer than this is always caught, a shorter one in proportion
to its length."""


def _idle_and_total() -> tuple[float, float]:
    """The host's CPU seconds since boot, every core: idle (waiting for I/O included: the CPU
    was free) and in all (guest time is already inside user time)."""
    times = psutil.cpu_times()
    total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    return times.idle + getattr(times, "iowait", 0.0), total


class HostWatch:
    """Samples the host while the run goes; `take` hands over the samples made so far."""

    def __init__(self, process: int = 0) -> None:
        self.process = process
        self._samples: list[GeneratorSample] = []
        self._greenlet = gevent.spawn(self._loop)

    def _loop(self) -> None:
        wall, cpu, (idle, total) = time.perf_counter(), time.process_time(), _idle_and_total()
        worst = lagged = 0.0
        ticks = 0
        while True:
            before = time.perf_counter()
            gevent.sleep(TICK_S)
            now = time.perf_counter()
            lag = max(0.0, now - before - TICK_S)
            worst, lagged, ticks = max(worst, lag), lagged + lag, ticks + 1
            if now - wall < GENERATOR_SAMPLE_S:
                continue
            stamp, cpu_now, (idle_now, total_now) = (
                time.time(),
                time.process_time(),
                _idle_and_total(),
            )
            spent = total_now - total
            self._samples.append(
                GeneratorSample(
                    time=stamp,
                    process=self.process,
                    interval_s=now - wall,
                    host_idle=(idle_now - idle) / spent if spent > 0 else 1.0,
                    cpu=(cpu_now - cpu) / (now - wall),
                    loop_lag_max_ms=worst * 1000.0,
                    loop_lag_mean_ms=lagged / ticks * 1000.0,
                )
            )
            wall, cpu, idle, total = now, cpu_now, idle_now, total_now
            worst = lagged = 0.0
            ticks = 0

    def take(self) -> list[GeneratorSample]:
        """The samples made since the last `take` (it never yields: nothing is taken twice)."""
        samples, self._samples = self._samples, []
        return samples

    def stop(self) -> None:
        """Stop sampling (the greenlet only sleeps and reads clocks: killing it loses nothing
        but the second under way)."""
        self._greenlet.kill()
