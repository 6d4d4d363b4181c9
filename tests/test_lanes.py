"""Lanes saturate the way queueing theory says, pinned in virtual time (looptime).

Virtual time makes the figures exact and the runs fast: `asyncio.sleep` advances a fake clock, so
thousands of simulated seconds take a fraction of a real one and no figure depends on machine load.
"""

from __future__ import annotations

import asyncio
import random
import statistics
from collections.abc import Awaitable, Callable

import looptime
import pytest

from mock_core.lanes import Lane, mean_service
from mock_core.problems import Problem
from mock_core.settings import LaneSettings, ServiceTime
from reports.queueing import mean_wait


def lane(slots: int, service: ServiceTime, queue: int = 100_000, timeout: float = 3600) -> Lane:
    settings = LaneSettings(slots=slots, queue=queue, timeout=timeout, service=service)
    return Lane("test", settings, random.Random(1))


def run_virtual(main: Callable[[], Awaitable[object]]) -> object:
    loop = looptime.new_event_loop(noop_cycles=1)
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


async def outcome(target: Lane) -> int | float:
    try:
        return await target.serve()
    except Problem as problem:
        return problem.status


def test_overload_throughput_is_slots_over_service_time() -> None:
    target = lane(4, ServiceTime(distribution="constant", mean=0.05))

    async def main() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.gather(*(target.serve() for _ in range(400)))
        return 400 / (loop.time() - start)

    assert run_virtual(main) == pytest.approx(4 / 0.05, rel=1e-6)


@pytest.mark.slow
def test_overload_throughput_with_lognormal_service_is_within_3_percent() -> None:
    service = ServiceTime(median=0.04, p95=0.15)
    target = lane(8, service)

    async def main() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.gather(*(target.serve() for _ in range(20_000)))
        return 20_000 / (loop.time() - start)

    assert run_virtual(main) == pytest.approx(8 / mean_service(service), rel=0.03)


@pytest.mark.slow
@pytest.mark.parametrize(("slots", "utilisation"), [(1, 0.5), (16, 0.9)])
def test_mean_queueing_delay_matches_erlang_c_within_5_percent(
    slots: int, utilisation: float
) -> None:
    """Poisson arrivals, exponential service: M/M/c, whose mean wait Erlang C predicts. The two
    ends of what the lanes run: one slot at half load, many slots near saturation (each case is
    5 s of CPU: 60,000 arrivals, since 20,000 leave the mean within 6% only)."""
    service = 0.02
    rate = utilisation * slots / service
    target = lane(slots, ServiceTime(distribution="exponential", mean=service))
    arrivals = random.Random(2)

    async def main() -> list[float]:
        tasks = []
        for _ in range(60_000):
            await asyncio.sleep(arrivals.expovariate(rate))
            tasks.append(asyncio.ensure_future(target.serve()))
        return list(await asyncio.gather(*tasks))

    waits = run_virtual(main)
    assert isinstance(waits, list)
    assert statistics.fmean(waits[5_000:]) == pytest.approx(
        mean_wait(rate, service, slots), rel=0.05
    )


def test_a_full_queue_answers_503_with_retry_after() -> None:
    target = lane(2, ServiceTime(distribution="constant", mean=1.0), queue=3)

    async def main() -> list[int | float]:
        return list(await asyncio.gather(*(outcome(target) for _ in range(10))))

    results = run_virtual(main)
    assert isinstance(results, list)
    assert results.count(503) == 5
    assert target.stats.rejected_full == 5

    async def retry_after() -> str:
        blockers = [asyncio.ensure_future(target.serve()) for _ in range(5)]
        await asyncio.sleep(0)
        try:
            await target.serve()
        except Problem as problem:
            return problem.headers["Retry-After"]
        finally:
            await asyncio.gather(*blockers)
        raise AssertionError("expected a 503")

    assert int(run_virtual(retry_after)) >= 1


def test_a_wait_beyond_the_timeout_answers_504_and_frees_its_place() -> None:
    target = lane(1, ServiceTime(distribution="constant", mean=1.0), queue=10, timeout=2.5)

    async def main() -> list[int | float]:
        return list(await asyncio.gather(*(outcome(target) for _ in range(6))))

    results = run_virtual(main)
    assert isinstance(results, list)
    assert results.count(504) == 3
    assert target.waiting == 0
    assert target.busy == 0


def test_a_brownout_cuts_slots_and_a_restore_lets_the_queue_drain() -> None:
    target = lane(10, ServiceTime(distribution="constant", mean=1.0))
    target.configure(share=0.2)
    assert target.slots == 2

    async def main() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        work = asyncio.gather(*(target.serve() for _ in range(20)))
        await asyncio.sleep(2)
        target.configure(share=1.0)
        await work
        return loop.time() - start

    # 4 served in the first 2 s on 2 slots; the other 16 on 10 slots take 2 more rounds.
    assert run_virtual(main) == pytest.approx(4.0)


def test_a_lane_that_is_down_refuses_every_request() -> None:
    target = lane(4, ServiceTime(distribution="constant", mean=0.1))
    target.configure(share=0)

    async def main() -> list[int | float]:
        return list(await asyncio.gather(*(outcome(target) for _ in range(3))))

    assert run_virtual(main) == [503, 503, 503]
