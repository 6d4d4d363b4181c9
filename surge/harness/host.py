"""The load generator's host, watched while a run's day goes (`generator.csv`,
docs/run-folder.md).

Every Locust process of a run (the local runner, or the master and each worker) watches its own
host from the day's start until its test starts stopping: about once a second, a
`GeneratorSample` of the host's idle share of CPU (every core), the share of the time some
task on the host waited for a CPU, the CPU this process used (a share of one core), and how
late its event loop woke from short sleeps. A slow response
measured while the generator was starved of CPU is the harness's own, not the target's: the
reports mark those stretches (`surge.judge.saturation`). The preparation before the day (onboarding,
the collector's settling) and Locust's stopping of its users after it are not the day's load,
so they are not sampled: a stall of theirs would otherwise spill into the day's first or last
second.

One greenlet does it all, sleeping `TICK_S` at a time and measuring each wake-up's overshoot,
which is exactly the delay every other greenlet (a visit due, an answer waiting to be read)
suffered at that moment. Each second costs a few dozen timer wake-ups and one read each of the
kernel's CPU and pressure counters: docs/run-folder.md gives the measured cost.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

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


CPU_PRESSURE = Path("/proc/pressure/cpu")


def _cpu_waited() -> float:
    """Seconds since boot in which some task on the host waited for a CPU (the kernel's
    pressure stall information, `some total=` in microseconds); NaN where the kernel does not
    keep it (not Linux, or a kernel without PSI)."""
    try:
        some = CPU_PRESSURE.read_text(encoding="ascii").splitlines()[0]
        return int(some.rpartition("total=")[2]) / 1e6
    except (OSError, IndexError, ValueError):
        return math.nan


def _counters() -> tuple[float, float, float, float]:
    """This process's CPU time, and the host's idle, total and waited-for CPU time, now."""
    idle, total = _idle_and_total()
    return time.process_time(), idle, total, _cpu_waited()


def _share(part: float, whole: float) -> float:
    """`part` of `whole` (PSI's counter and the wall clock are read apart, so a share can pass 1
    by a hair), NaN staying NaN."""
    return part / whole if math.isnan(part) else min(1.0, part / whole)


class HostWatch:
    """Samples the host from `start_at` (epoch seconds; now if past) until `stop`; `take` hands
    over the samples made so far."""

    def __init__(self, start_at: float, process: int = 0) -> None:
        self.process = process
        self._samples: list[GeneratorSample] = []
        self._began = 0.0
        """The sample under way: when it began (`time.perf_counter`), the process's CPU time
        and the host's idle, total and waited-for CPU time then, the worst and summed lateness
        and the sleeps so far."""
        self._cpu = self._idle = self._total = self._waited = 0.0
        self._worst = self._lagged = 0.0
        self._ticks = 0
        self._greenlet = gevent.spawn(self._loop, start_at)

    def _begin(self, now: float, counters: tuple[float, float, float, float]) -> None:
        """Begin a sample at `now` from `counters` (`_counters`): the one before ended there."""
        self._began = now
        self._cpu, self._idle, self._total, self._waited = counters
        self._worst = self._lagged = 0.0
        self._ticks = 0

    def _loop(self, start_at: float) -> None:
        gevent.sleep(max(0.0, start_at - time.time()))
        self._begin(time.perf_counter(), _counters())
        while True:
            before = time.perf_counter()
            gevent.sleep(TICK_S)
            now = time.perf_counter()
            lag = max(0.0, now - before - TICK_S)
            self._worst, self._lagged = max(self._worst, lag), self._lagged + lag
            self._ticks += 1
            if now - self._began >= GENERATOR_SAMPLE_S:
                self._sample(now)

    def _sample(self, now: float) -> None:
        """Close the sample under way at `now` and begin the next."""
        stamp, counters = time.time(), _counters()
        cpu, idle, total, waited = counters
        spent, lasted = total - self._total, now - self._began
        self._samples.append(
            GeneratorSample(
                time=stamp,
                process=self.process,
                interval_s=lasted,
                host_idle=(idle - self._idle) / spent if spent > 0 else 1.0,
                cpu=(cpu - self._cpu) / lasted,
                loop_lag_max_ms=self._worst * 1000.0,
                loop_lag_mean_ms=self._lagged / self._ticks * 1000.0,
                host_cpu_wait=_share(waited - self._waited, lasted),
            )
        )
        self._begin(now, counters)

    def take(self) -> list[GeneratorSample]:
        """The samples made since the last `take` (it never yields: nothing is taken twice)."""
        samples, self._samples = self._samples, []
        return samples

    def stop(self) -> None:
        """Stop sampling, closing the sample under way (shorter than a second) when it has a
        wake-up in it; asked again, nothing more. The greenlet only sleeps and reads clocks:
        killing it loses nothing."""
        if self._greenlet.dead:
            return
        self._greenlet.kill()
        if self._ticks:
            self._sample(time.perf_counter())
