"""One run, many levels: the schedule whose rates change while it runs (`surge.day.arrivals.Live`,
`Dispatcher.retarget`) and the day the levels make (`surge.day.levels`). What a live schedule gives
out must be exactly what the schedule of its final segments replays, or the run folder's census
of its visits (and every report of it) would describe another day than the one run."""

from __future__ import annotations

import random
import time

import gevent
import pytest

from surge import runfolder
from surge.day import levels
from surge.day.arrivals import Lateness, Schedule
from surge.day.profile import CHANNELS, Profile, Segment, resolve
from surge.harness.dispatch import Dispatcher
from surge.run import capacity, rehearse
from surge.visit.customers import Pool
from surge.visit.values import Customer
from tests.load import KIOSK_LANE

CUSTOMERS = [Customer(f"C{n:08d}", "mass", "B001", {"CNY": (f"A{n:08d}",)}) for n in range(1, 6)]


@pytest.fixture(scope="module")
def phase(tmp_path_factory: pytest.TempPathFactory) -> Profile:
    """The kiosk lane as a search's run replays it: its one phase at rate scale 1."""
    folder = tmp_path_factory.mktemp("phase")
    chosen = capacity.search_of(
        rehearse.RehearsalOptions(str(KIOSK_LANE), out=folder),
        phase=None,
        low=1,
        high=64,
        precision=0.05,
        level_s=30,
    )
    path = folder / runfolder.LEVEL_PROFILE
    path.write_text(capacity.level_profile(chosen), encoding="utf-8")
    return resolve(str(path), levels.TIME_SCALE, 1.0)


def segments(rates: list[float], starts: list[float], end: float) -> list[Segment]:
    return [Segment(s, e, r) for s, e, r in zip(starts, [*starts[1:], end], rates, strict=True)]


@pytest.mark.parametrize("workers", [1, 3])
def test_a_live_schedule_gives_out_what_its_final_segments_replay(workers: int) -> None:
    """Rates changed at random moments ahead of the clock, the day ended early once: every
    share gives out the visits (times, numbers, shares) of the replay, none more."""
    rng = random.Random(workers)
    for trial in range(40):
        rates = {"kiosk": [3.0], "counter": [1.5]}
        starts, end = [0.0], 100.0
        day = {c: segments(rates[c], starts, end) for c in rates}
        lives = [Schedule(day, trial, worker=w, workers=workers).live() for w in range(workers)]
        given: list[list] = [[] for _ in range(workers)]
        clock = 0.0
        while any(live.due() is not None for live in lives):
            clock += rng.uniform(0, 6)
            at = max(clock + rng.uniform(0.5, 3), starts[-1] + 0.1)
            if rng.random() < 0.4 and at < end == 100.0:
                starts.append(at)
                for channel in rates:
                    rates[channel].append(rng.uniform(0, 6))
                if rng.random() < 0.2:
                    end = min(100.0, at + rng.uniform(0.1, 20))
                changed = {c: segments(rates[c], starts, end) for c in rates}
                for live in lives:
                    live.retarget(changed, at)
            for share, live in enumerate(lives):
                while (due := live.due()) is not None and due <= clock:
                    arrival = live.take()
                    if arrival is not None:
                        given[share].append(arrival)
        final = {c: segments(rates[c], starts, end) for c in rates}
        for share in range(workers):
            assert given[share] == list(Schedule(final, trial, worker=share, workers=workers))


def test_a_change_that_would_rewrite_what_was_given_out_is_refused_whole() -> None:
    day = {"kiosk": [Segment(0, 100, 5.0)], "counter": [Segment(0, 100, 5.0)]}
    live = Schedule(day, 1).live()
    while (due := live.due()) is not None and due < 10:
        live.take()
    later = {c: segments([5.0, 1.0], [0.0, 20.0], 100.0) for c in day}
    with pytest.raises(ValueError, match="comes after the arrival taken"):
        live.retarget(later, 5.0)
    moved = {"kiosk": segments([5.0, 1.0], [0.0, 20.0], 100.0), "counter": [Segment(0, 100, 7.0)]}
    with pytest.raises(ValueError, match="the segments before 20 s changed"):
        live.retarget(moved, 20.0)
    due = live.due()  # unchanged: neither channel moved
    assert due is not None
    assert due < 12


def test_a_dispatcher_before_its_day_starts_has_the_day_ahead_of_it() -> None:
    """The shape ticks while a run is prepared (its faults posted): a day not started must not
    read as over, which had ended rehearsals at once with every visit never due."""
    dispatcher = Dispatcher(resolve("weekday", 1440), 7, Pool(CUSTOMERS), Lateness())
    assert dispatcher.elapsed() < 0
    assert not dispatcher.finished_day()


@pytest.mark.slow  # seconds of real time
def test_a_dispatcher_moved_to_another_rate_schedules_the_new_days_visits(phase: Profile) -> None:
    """In real time, a second: a level of 20 visits a second from 0.3 s on, over a first of
    none, puts on the queues exactly the visits the new day's schedule has by then."""
    quiet = levels.day(phase, [(1e-6, 0.0)], 10.0)
    dispatcher = Dispatcher(quiet, 3, Pool(CUSTOMERS), Lateness())
    dispatcher.start()
    busy = levels.day(phase, [(1e-6, 0.0), (40.0, 1.0)], 10.0)
    dispatcher.retarget(busy, 1.0)
    gevent.sleep(2.0 - dispatcher.elapsed())
    expected = [a for a in Schedule({c: busy.segments(c) for c in CHANNELS}, 3) if a.t < 1.9]
    assert dispatcher.scheduled["kiosk"] >= len(expected) >= 15
    assert dispatcher.profile is busy
    dispatcher.stop()
    assert time.time() > dispatcher.t0


@pytest.mark.slow  # seconds of real time
def test_a_level_below_the_one_before_starts_without_its_waiting_visits(phase: Profile) -> None:
    """In real time, a second and a half: nobody takes the visits of a level of 20 a second, so
    they wait; moving down drops them (counted as dropped, never started), where moving up kept
    them: an overloaded level's backlog would otherwise hold the next level's queue up.

    The drop is counted against every kiosk visit scheduled, not the backlog read just before:
    on a busy host the scheduler, already due, may queue one more visit before the retarget
    stops it, and that one is dropped too."""
    lateness = Lateness()
    busy = levels.day(phase, [(40.0, 0.0)], 10.0)
    dispatcher = Dispatcher(busy, 3, Pool(CUSTOMERS), lateness)
    dispatcher.start()
    gevent.sleep(0.6 - dispatcher.elapsed())
    dispatcher.retarget(levels.day(phase, [(40.0, 0.0), (80.0, 1.0)], 10.0), 1.0)
    kept = dispatcher.backlog("kiosk")
    assert kept >= 5  # moving up drops nothing
    gevent.sleep(1.5 - dispatcher.elapsed())
    waiting = dispatcher.backlog("kiosk")
    assert waiting > kept
    down = levels.day(phase, [(40.0, 0.0), (80.0, 1.0), (1e-6, 2.0)], 10.0)
    dispatcher.retarget(down, 2.0, drop=True)
    assert dispatcher.backlog("kiosk") == 0
    counts = lateness.counts("kiosk")
    assert counts.dropped == dispatcher.scheduled["kiosk"] >= waiting
    assert counts.on_time == counts.late == 0
    dispatcher.stop()


def test_the_levels_day_is_a_profile_whose_phases_are_the_levels(phase: Profile) -> None:
    day = levels.day(phase, [(1.0, 0.0), (4.0, 12.0), (2.5, 30.0)], 45.0)
    assert [p.name for p in day.phases] == ["01-x1", "02-x4", "03-x2.5"]
    assert [p.start for p in day.phases] == ["00:00", "00:12", "00:30"]
    assert [p.duration for p in day.phases] == [12.0, 18.0, 15.0]
    assert day.rate("kiosk", 13.0) == pytest.approx(4 * 0.5)
    assert day.duration_s == 45.0
    assert day.rate_scale == 4.0
    with pytest.raises(ValueError, match=r"level 2: from 12\.5 s"):
        levels.day(phase, [(1.0, 0.0), (4.0, 12.5)], 45.0)


def test_a_profile_no_search_is_made_of_is_refused() -> None:
    """The harness says so in one line, `--levels: …` (`surge.harness.options`)."""
    with pytest.raises(ValueError, match="a capacity search's day has one phase, not 5"):
        levels.day(resolve("payday", levels.TIME_SCALE, 1.0), [(2.0, 0.0)], 60.0)
