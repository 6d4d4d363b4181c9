"""A distributed run: `locust --master` and three `--worker` processes against a real mock core.

The workers share no disk with the master here in the way that matters: they are given no
`--results` and no profile file, so anything in the run folder reached the master as a message.
The master's `--csv` statistics are Locust's own count of requests, which must equal the
harness's rows (one per attempt; every attempt goes through Locust's session). With three
workers Locust deals each one user class only, so each worker's users also run the other
channels' visits of its share (`Dispatcher.take`).
"""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from surge.day.arrivals import Lateness, Schedule
from surge.day.profile import CHANNELS, load_profile
from surge.harness import distributed
from surge.harness.dispatch import SHRINK_TO, Dispatcher
from surge.harness.distributed import Fleet, Outbox, SharePlan
from surge.judge import saturation, verdict
from surge.visit.customers import Pool
from surge.visit.values import Customer
from surge.visit.wire import RequestRecord
from tests.load import (
    DISTRIBUTED,
    RUN_TIMEOUT_S,
    TIME_SCALE,
    WORKER_EXIT_S,
    WORKERS,
    busy_weekday,
    locust_count,
    master_and_workers,
    records,
    run_folder,
    unstarved,
    verdict_of,
    watched_the_whole_day,
)
from tests.runs import sample
from tests.shared import exclusive
from tests.support import serve

DAY = load_profile("weekday").scaled(1440)
CUSTOMERS = [
    Customer(f"C{n:08d}", "mass" if n % 3 else "private", "B001", {"CNY": (f"A{n}",)})
    for n in range(6)
]


def record(n: int) -> tuple[Any, ...]:
    """A record as a worker's outbox holds it (`RunState.keep`), started at `n`."""
    return tuple(
        RequestRecord(
            "counter",
            "deposit",
            "deposit",
            "POST",
            "/v1/cash/deposits",
            201,
            "",
            0,
            "ok",
            float(n),
            n + 0.1,
            float(n),
            "C00000001",
            f"key-{n}",
        )
    )


def dispatcher(worker: int = 0, workers: int = 1) -> Dispatcher:
    return Dispatcher(DAY, 7, Pool(CUSTOMERS), Lateness(), worker=worker, workers=workers)


def outbox(share: int, *records: tuple[Any, ...], numbered: int = 0) -> Outbox:
    return Outbox(share, records=list(records), numbered=numbered)


def starts(rows: Any) -> list[float]:
    return sorted(row[9] for row in rows)


def test_shares_number_workers_from_zero_whatever_gaps_locusts_indexes_have() -> None:
    assert distributed.shares({"b": 5, "a": 2, "c": 9}) == {"a": 0, "b": 1, "c": 2}


def test_a_plan_and_its_customers_survive_the_trip_as_plain_data() -> None:
    plan = SharePlan(
        1, 2, 100.0, {"name": "x"}, 7, {"B001": 3}, distributed.customers_to_data(CUSTOMERS)
    )
    again = SharePlan.from_data(plan.to_data())
    assert again == plan
    assert distributed.customers_from_data(again.customers) == CUSTOMERS


def test_each_batch_carries_only_the_records_made_since_the_last_and_is_numbered() -> None:
    box = outbox(1, record(0), record(1))
    keep = box.records.append  # a worker's run appends to this very list all along
    first = box.batch(dispatcher(), {"ok": 2})
    keep(record(2))
    last = box.batch(dispatcher(), {"ok": 3}, final=True)
    assert starts(first["records"]) == [0.0, 1.0]
    assert starts(last["records"]) == [2.0]
    assert box.records == []
    assert (first["number"], last["number"]) == (0, 1)
    assert (first["final"], last["final"], last["share"]) == (False, True, 1)


def test_a_share_is_complete_only_once_the_periodic_batch_its_final_overtook_arrives() -> None:
    box = outbox(0, record(0))
    periodic = box.batch(dispatcher(), {"ok": 1})
    box.records.append(record(1))
    final = box.batch(dispatcher(), {"ok": 2}, final=True)
    fleet = Fleet(DAY, day_start=0.0, workers=1)
    fleet.receive(final)  # the shipper was switched out inside its send: the final went first
    assert fleet.missing() == [0]
    fleet.receive(periodic)
    assert fleet.missing() == []
    assert starts(fleet.records) == [0.0, 1.0]
    assert fleet.total("visits") == {"ok": 2}  # the final's figures, the latest taken


def test_a_batch_delivered_twice_adds_its_rows_once() -> None:
    final = outbox(0, record(0)).batch(dispatcher(), {"ok": 1}, final=True, generator=[sample(1)])
    fleet = Fleet(DAY, day_start=0.0, workers=1)
    fleet.receive(final)
    fleet.receive(final)
    assert len(fleet.records) == 1
    assert fleet.requests == {0: 1}
    assert len(fleet.generator) == 1


def test_a_batch_carries_the_workers_host_samples_marked_with_its_process_by_the_master() -> None:
    fleet = Fleet(DAY, day_start=0.0, workers=2)
    first = outbox(1).batch(dispatcher(1, 2), {}, generator=[sample(1, 0), sample(2, 0)])
    assert first["generator"] == [list(sample(1, 0)), list(sample(2, 0))]  # plain data
    fleet.receive(first)
    fleet.receive(outbox(0).batch(dispatcher(0, 2), {}, final=True, generator=[sample(1, 7)]))
    assert fleet.generator == [sample(1, 2), sample(2, 2), sample(1, 1)]


@given(st.data())
def test_in_any_order_with_repeats_and_a_second_final_every_record_arrives_once(
    data: st.DataObject,
) -> None:
    """A worker's batches (records made between them; a final, maybe a second one when FINISH
    was asked twice) reach the master in any order, some twice."""
    made = data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=6), label="records made")
    finals = min(len(made), data.draw(st.integers(1, 2), label="finals"))
    mine, box, batches, total = dispatcher(), outbox(0), [], 0
    for n, count in enumerate(made):
        box.records.extend(record(total + i) for i in range(count))
        total += count
        final = n >= len(made) - finals
        batches.append(box.batch(mine, {"ok": total}, final=final))
    repeats = data.draw(st.lists(st.sampled_from(batches), max_size=3), label="repeats")
    fleet = Fleet(DAY, day_start=0.0, workers=1)
    held: set[int] = set()
    for batch in data.draw(st.permutations(batches + repeats), label="arrivals"):
        fleet.receive(batch)
        held.add(batch["number"])
        whole = any(held == set(range(b["number"] + 1)) for b in batches if b["final"])
        assert fleet.missing() == ([] if whole else [0])
    assert starts(fleet.records) == [float(n) for n in range(total)]
    assert fleet.requests.get(0, 0) == total
    assert fleet.total("visits") == {"ok": total}


def test_a_worker_locust_lost_is_no_longer_awaited_and_the_day_ends_without_it() -> None:
    now = DAY.duration_s
    fleet = Fleet(DAY, day_start=0.0, workers=2, clients={"a": 0, "b": 1}, clock=lambda: now)
    fleet.receive(outbox(0, record(0)).batch(dispatcher(0, 2), {"ok": 1}))
    stuck = outbox(1, record(1)).batch(dispatcher(1, 2), {"ok": 1})
    stuck["scheduling"], stuck["in_flight"] = True, {**stuck["in_flight"], "counter": 9}
    fleet.receive(stuck)  # its last batch before it died
    assert not fleet.finished_day()
    assert fleet.users_needed()["counter"] >= 9
    fleet.note_present(["a"])  # Locust's heartbeats say "b" is missing
    assert fleet.awaited() == [0]
    assert fleet.finished_day()
    assert fleet.users_needed()["counter"] < 9
    fleet.receive(outbox(0, numbered=1).batch(dispatcher(0, 2), {"ok": 1}, True))
    assert (fleet.awaited(), fleet.missing()) == ([], [1])
    assert len(fleet.records) == 2  # what the lost worker shipped before it died stays


class Distributed:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.profile = busy_weekday(tmp, "spread")
        self.results = tmp / "results"
        options = [
            *("--profile", str(self.profile), "--time-scale", str(TIME_SCALE)),
            *("--results", str(self.results), "--csv", str(tmp / "locust")),
        ]
        with (
            serve(tmp / "core.db", "--unlimited", "--customers", "20") as (host, _),
            master_and_workers(tmp, host, options) as (master, workers),
        ):
            self.returncode = master.wait(timeout=RUN_TIMEOUT_S)
            self.worker_returncodes = [worker.wait(timeout=WORKER_EXIT_S) for worker in workers]
        self.log = (tmp / "master.log").read_text(encoding="utf-8", errors="replace")
        self.read = run_folder(self.results)
        self.folder = self.read.path
        assert self.read.visits is not None
        self.visits = self.read.visits
        self.records = records(self.read)


@pytest.fixture(scope="module")
def spread(tmp_path_factory: pytest.TempPathFactory) -> Distributed:
    def attempt(_: int) -> Distributed:
        with exclusive(tmp_path_factory, DISTRIBUTED):
            return Distributed(tmp_path_factory.mktemp("distributed"))

    return unstarved(attempt, lambda run: (run.returncode, run.log))


@pytest.mark.slow
def test_the_master_writes_one_run_folder_for_three_workers(spread: Distributed) -> None:
    assert spread.returncode == 0, verdict_of(spread.log)
    assert spread.worker_returncodes == [0] * WORKERS  # a worker's share is no verdict of its own
    assert [p.name for p in spread.results.iterdir()] == [spread.folder.name]
    assert spread.read.info.workers == WORKERS
    assert [share.share for share in spread.visits.shares] == list(range(WORKERS))
    assert spread.visits.missing_shares == []
    assert verdict.judge(spread.read).valid
    assert f"Run folder: {spread.folder}" in spread.log


@pytest.mark.slow
def test_the_workers_shares_add_up_to_the_whole_schedule(spread: Distributed) -> None:
    profile = load_profile(str(spread.profile)).scaled(TIME_SCALE)
    channels = {channel: profile.segments(channel) for channel in CHANNELS}
    expected = sum(1 for _ in Schedule(channels, profile.seed))
    total = spread.visits.total
    assert total.planned == expected
    assert total.dropped == total.lost == total.not_reached == 0
    for channel in CHANNELS:  # each worker has one channel's users: they serve every channel
        mine = spread.visits.channels[channel]
        assert mine.started == mine.planned > 0, channel
    assert spread.read.lateness is not None
    assert spread.read.lateness.counts().total == expected  # every worker's lateness, merged


@pytest.mark.slow
def test_requests_come_from_every_worker_and_match_locusts_count(spread: Distributed) -> None:
    assert len(spread.records) == spread.read.request_count > 0
    assert {r["channel"] for r in spread.records} == set(CHANNELS)
    by_worker = [share.requests for share in spread.visits.shares]
    assert len(by_worker) == WORKERS
    assert all(n > 0 for n in by_worker)
    assert sum(by_worker) == len(spread.records)
    assert locust_count(spread.tmp / "locust") == len(spread.records)
    logs = [(spread.tmp / f"worker{n}.log").read_text(encoding="utf-8") for n in range(WORKERS)]
    assert all("no plan from the master" not in log for log in logs)


@pytest.mark.slow
def test_the_master_scrapes_the_lane_gauges_into_the_run_folder(spread: Distributed) -> None:
    metrics = spread.read.metrics()
    assert metrics is not None
    samples = metrics.to_pylist()
    assert {s["metric"] for s in samples} >= {
        "mock_core_lane_busy_slots",
        "mock_core_lane_queue_depth",
    }
    assert len({s["time"] for s in samples}) >= 5  # a 20 s day, a scrape every 2 s


@pytest.mark.slow
def test_every_process_watched_its_host_and_the_workers_samples_reached_the_master(
    spread: Distributed,
) -> None:
    assert {s.process for s in spread.read.generator() or []} == set(range(WORKERS + 1))
    for process in range(WORKERS + 1):
        watched_the_whole_day(spread.read, process)


@pytest.mark.slow
def test_a_workers_stalled_event_loop_is_seen_and_the_generator_said_saturated(
    spread: Distributed,
) -> None:
    """Each worker held its loop up once inside the day, well past the rule's threshold
    (`tests/stalls.py`)."""
    day_start = spread.read.info.day_start
    assert day_start is not None
    day_end = day_start + spread.read.profile.duration_s
    samples = spread.read.generator() or []
    for worker in range(1, WORKERS + 1):
        stalled = [
            s
            for s in samples
            if s.process == worker and s.loop_lag_max_ms >= saturation.MAX_LOOP_LAG_MS
        ]
        assert any(day_start < s.time <= day_end for s in stalled), worker
    found = saturation.stretches(samples, day_start)
    assert {s.process for s in found} & set(range(1, WORKERS + 1))
    line = saturation.line(spread.read)
    assert line is not None
    assert f"The generator was {line}" in spread.log


@pytest.mark.slow
def test_the_master_sheds_users_only_a_quarter_or_more_at_a_time(spread: Distributed) -> None:
    """Each new count is a spawn message that holds every worker's loop for half a CPU-second
    (`surge.harness.dispatch.next_pool`): the falling need at the day's end came as one a second,
    and on a busy host workers went missing."""
    counts = [int(n) for n in re.findall(r"Shape test updating to (\d+) users", spread.log)]
    assert len(counts) >= 2, spread.log[-3000:]
    shrinks = [(a, b) for a, b in pairwise(counts) if b < a]
    assert all(b <= SHRINK_TO * a for a, b in shrinks), counts
