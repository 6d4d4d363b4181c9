"""A capacity search's levels judged on their records (`reports.levels`), without running load:
synthetic run folders of the kiosk lane (a login and a balance enquiry a visit, a p95 objective
of 200 ms), their visits replayed from the levels' own schedule so that every one of them
started, with response times drawn as each test needs. Settling, the sequential decision, light
levels, a generator that was saturated or fell behind, and what the levels say together (the
crossing, the M/M/c guide)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from reports import levels as judged_levels
from reports.levels import Check, Judge, Judged
from reports.queueing import max_arrival_rate, response_time_tail
from surge import runfolder
from surge.day import levels
from surge.day.arrivals import schedule
from surge.day.profile import Profile, resolve
from surge.judge.saturation import MAX_LOOP_LAG_MS
from surge.run import capacity, rehearse
from surge.runfolder import LevelSpan, RequestTail, RunFolder, load
from surge.visit.wire import RequestRecord
from tests.load import KIOSK_LANE
from tests.runs import DAY_START, host_day, make

Response = Callable[[float, np.random.Generator], float]
"""A request's response time in seconds, by the run second it was sent at."""


@pytest.fixture(scope="module")
def phase(tmp_path_factory: pytest.TempPathFactory) -> Profile:
    folder = tmp_path_factory.mktemp("phase")
    chosen = capacity.search_of(
        rehearse.RehearsalOptions(str(KIOSK_LANE), out=folder),
        phase=None,
        low=1,
        high=256,
        precision=0.05,
        level_s=30,
    )
    path = folder / runfolder.LEVEL_PROFILE
    path.write_text(capacity.level_profile(chosen), encoding="utf-8")
    return resolve(str(path), levels.TIME_SCALE, 1.0)


def run_of(
    folder: Path,
    day: Profile,
    response: Response,
    *,
    started: Callable[[float], bool] = lambda t: True,
    late: Callable[[float], bool] = lambda t: False,
    stalled_at: int | None = None,
) -> RunFolder:
    """A run of `day`: each visit that `started` sends its login and its enquiry at once (1.5 s
    after it was due if it was `late`), each taking `response`; the generator's loop stalled in
    the second before `stalled_at`."""
    rng = np.random.default_rng(5)
    rows = []
    for arrival in schedule(day, day.seed):
        if not started(arrival.t):
            continue
        begin = DAY_START + arrival.t + (1.5 if late(arrival.t) else 0.002)
        for step in ("login", "balance"):
            took = response(begin - DAY_START, rng)
            rows.append(
                tuple(
                    RequestRecord(
                        "kiosk",
                        "balance",
                        step,
                        "GET",
                        "/v1/x",
                        200,
                        "",
                        0,
                        "ok",
                        begin,
                        begin + took,
                        DAY_START + arrival.t,
                        "C00000001",
                        "",
                    )
                )
            )
            begin += took
    changed = {} if stalled_at is None else {(stalled_at, 0): {"lag_max": 2 * MAX_LOOP_LAG_MS}}
    seconds = int(day.duration_s)
    make(
        folder,
        records=rows,
        profile=day,
        time_scale=levels.TIME_SCALE,
        seed=day.seed,
        generator=host_day(seconds=seconds, changed=changed),
        end=DAY_START + day.duration_s,
    )
    return load(folder)


def judge_of(phase: Profile, run: RunFolder) -> Judge:
    judge = Judge(phase, level_max_s=30.0)
    judge.add(RequestTail(run.path).take(), DAY_START)
    return judge


def exponential(mean_s: float) -> Response:
    return lambda t, rng: float(rng.exponential(mean_s))


def test_a_steady_level_well_within_its_budget_passes_surely_once_settled(
    phase: Profile, tmp_path: Path
) -> None:
    """40 visits a second, 80 requests, 50 ms each on average: about 2% beyond 200 ms."""
    day = levels.day(phase, [(80.0, 0.0)], 60.0)
    run = run_of(tmp_path, day, exponential(0.05))
    judged = judge_of(phase, run).level(LevelSpan(number=1, multiple=80, start=0.0), [], run, 40.0)
    assert judged.status == "pass"
    assert judged.sure
    assert judged.settle_end == pytest.approx(2.0, abs=0.1)  # 20 x 50 ms is under the floor
    assert judged.realized == pytest.approx(80, rel=0.1)
    check, errors = judged.checks
    assert check.name == "kiosk.p95_ms"
    assert errors.name == "kiosk.error_rate"  # 5%: the profile states none
    assert errors.status == "pass"
    assert check.high <= 0.05
    assert check.status == "pass"


def test_a_level_below_an_overloaded_one_settles_only_after_its_backlog_drained(
    phase: Profile, tmp_path: Path
) -> None:
    """The first 6 s of the second level answer in about a second (the queue the first one
    left), then in 50 ms: it settles 20 x 50 ms after the drain, and is judged from there."""
    day = levels.day(phase, [(160.0, 0.0), (40.0, 10.0)], 50.0)

    def backlog(t: float, rng: np.random.Generator) -> float:
        return float(rng.exponential(1.0 if t < 16 else 0.05))

    run = run_of(tmp_path, day, backlog)
    judge = judge_of(phase, run)
    first = judge.level(LevelSpan(number=1, multiple=160, start=0.0, end=10.0), [], run, 45.0)
    assert first.status == "fail"
    assert first.sure
    span = LevelSpan(number=2, multiple=40, start=10.0, end=None)
    second = judge.level(span, [first], run, 45.0)
    assert second.settle_end is not None
    assert 17.0 <= second.settle_end <= 22.0
    assert second.checks[0].share is not None
    assert second.checks[0].share < 0.05


def test_a_level_below_the_one_before_whose_backlog_does_not_drain_fails_unsettled(
    phase: Profile, tmp_path: Path
) -> None:
    """Below an overloaded level but still past the target's capacity: the queue it inherited
    only grows, so it would never settle (a multiple of its seconds-long responses); it fails
    on what it shows instead of waiting out the run."""
    day = levels.day(phase, [(240.0, 0.0), (160.0, 10.0)], 60.0)

    def overloaded(t: float, rng: np.random.Generator) -> float:
        return float(rng.exponential(0.05 + 0.25 * t if t < 10 else 2.5 + 0.05 * (t - 10)))

    run = run_of(tmp_path, day, overloaded)
    judge = judge_of(phase, run)
    lighter = Judged(**{**_passed(20.0), "light": True})
    first = judge.level(
        LevelSpan(number=1, multiple=240, start=0.0, end=10.0), [lighter], run, 45.0
    )
    assert first.status == "fail"
    span = LevelSpan(number=2, multiple=160, start=10.0)
    assert judge.level(span, [lighter, first], run, 16.0).status == "unclear"  # too soon to say
    second = judge.level(span, [lighter, first], run, 30.0)
    assert second.settle_end is None
    assert second.status == "fail"
    assert second.sure


def test_a_level_above_the_one_before_fails_before_it_settles(
    phase: Profile, tmp_path: Path
) -> None:
    """Its queue only grows towards its steady state: a failure on the way is a failure."""
    day = levels.day(phase, [(20.0, 0.0), (200.0, 10.0)], 60.0)

    def growing(t: float, rng: np.random.Generator) -> float:
        return float(rng.exponential(0.05 if t < 10 else 0.05 + 0.2 * (t - 10)))

    run = run_of(tmp_path, day, growing)
    judge = judge_of(phase, run)
    first = Judged(**{**_passed(20.0), "light": True})
    second = judge.level(LevelSpan(number=2, multiple=200, start=10.0), [first], run, 26.0)
    assert second.settle_end is None  # still growing
    assert second.status == "fail"
    assert second.sure
    assert "kiosk.p95_ms broke" in second.why


def test_the_first_levels_are_light_until_their_queue_shows(phase: Profile, tmp_path: Path) -> None:
    day = levels.day(phase, [(4.0, 0.0), (16.0, 20.0), (64.0, 30.0)], 60.0)

    def queueing(t: float, rng: np.random.Generator) -> float:
        return float(rng.exponential(0.04 if t < 30 else 0.12))

    run = run_of(tmp_path, day, queueing)
    judge = judge_of(phase, run)
    first = judge.level(LevelSpan(number=1, multiple=4, start=0.0, end=20.0), [], run, 30.0)
    assert first.status == "pass"
    assert first.light
    assert not first.sure
    second = judge.level(LevelSpan(number=2, multiple=16, start=20.0, end=30.0), [first], run, 45.0)
    assert second.light
    third = judge.level(LevelSpan(number=3, multiple=64, start=30.0), [first, second], run, 45.0)
    assert not third.light  # three times slower: it must be decided


def test_light_levels_are_held_to_the_idle_lanes_mean_not_to_a_reference_that_creeps_up(
    phase: Profile, tmp_path: Path
) -> None:
    """The idle lane is the levels with under one request in flight: a level that queued a
    little (x64, 20% slower, still light) does not raise the reference, or the next, 33% slower
    than idle, would read as light against the two together (it did: a lane past where its p95
    broke was climbed over as light)."""
    day = levels.day(phase, [(16.0, 0.0), (64.0, 20.0), (102.0, 30.0)], 60.0)

    def creeping(t: float, rng: np.random.Generator) -> float:
        return float(rng.exponential(0.04 if t < 20 else 0.048 if t < 30 else 0.052))

    run = run_of(tmp_path, day, creeping)
    judge = judge_of(phase, run)
    first = judge.level(LevelSpan(number=1, multiple=16, start=0.0, end=20.0), [], run, 30.0)
    second = judge.level(LevelSpan(number=2, multiple=64, start=20.0, end=30.0), [first], run, 45.0)
    assert first.light
    assert second.light
    third = judge.level(LevelSpan(number=3, multiple=102, start=30.0), [first, second], run, 45.0)
    assert not third.light


def test_a_level_not_decided_in_its_longest_is_unsure_and_leans_as_its_estimates_do(
    phase: Profile, tmp_path: Path
) -> None:
    """Exactly at the budget: about 5% of the requests beyond 200 ms."""
    day = levels.day(phase, [(30.0, 0.0)], 60.0)
    at_budget = 0.2 / np.log(20)  # an exponential's 95th percentile at 200 ms
    run = run_of(tmp_path, day, exponential(at_budget))
    before = [Judged(**{**_passed(10.0), "light": True})]
    judge = judge_of(phase, run)
    early = judge.level(LevelSpan(number=2, multiple=30, start=0.0), before, run, 20.0)
    assert early.status == "unclear"
    late = judge.level(LevelSpan(number=2, multiple=30, start=0.0), before, run, 40.0)
    assert late.status in ("pass", "fail")
    assert not late.sure
    assert late.why.startswith("unsure: not decided at 95% confidence in")


def test_the_requests_of_a_stretch_when_the_generator_was_saturated_are_left_out(
    phase: Profile, tmp_path: Path
) -> None:
    """Its loop stalled: the requests of that second are the harness's own, so they are not
    counted, and the level says so."""
    day = levels.day(phase, [(40.0, 0.0)], 40.0)

    def stalled(t: float, rng: np.random.Generator) -> float:  # slow, not a queue's drain
        return 0.25 if 19 <= t < 20 else float(rng.uniform(0.05, 0.15))

    run = run_of(tmp_path, day, stalled, stalled_at=20)
    judged = judge_of(phase, run).level(LevelSpan(number=1, multiple=40, start=0.0), [], run, 38.0)
    assert judged.generator_saturated
    assert judged.saturated_s == pytest.approx(1.0)
    assert "the generator was saturated for 1.0 s of it" in judged.why
    assert judged.checks[0].bad == 0
    assert judged.status == "pass"


def test_a_level_whose_visits_did_not_start_is_the_generator_falling_behind(
    phase: Profile, tmp_path: Path
) -> None:
    day = levels.day(phase, [(40.0, 0.0)], 40.0)
    run = run_of(tmp_path, day, exponential(0.03), started=lambda t: t % 1 < 0.7)
    judged = judge_of(phase, run).level(LevelSpan(number=1, multiple=40, start=0.0), [], run, 38.0)
    assert judged.status == "behind"
    assert judged.sure
    assert judged.late_share == pytest.approx(0.3, abs=0.05)
    assert "the generator fell behind its schedule" in judged.why


def test_one_stall_of_the_generator_early_in_a_level_is_not_its_falling_behind(
    phase: Profile, tmp_path: Path
) -> None:
    """Its visits due in one second started 1.5 s late (a host busy for a moment, or records
    landing late): 14% of the visits judged 5 s in, a point estimate past the 10% limit, but one
    block of lateness among blocks on time decides nothing. The level runs on, and once the stall
    weighs less than the limit it is the light first level it was."""
    day = levels.day(phase, [(20.0, 0.0)], 40.0)
    run = run_of(tmp_path, day, exponential(0.02), late=lambda t: 3 <= t < 4)
    judge = judge_of(phase, run)
    early = judge.level(LevelSpan(number=1, multiple=20, start=0.0), [], run, 9.0)
    assert early.late_share is not None
    assert early.late_share > 0.1
    assert early.status == "unclear"
    assert "not decided yet" in early.why
    later = judge.level(LevelSpan(number=1, multiple=20, start=0.0), [], run, 24.0)
    assert later.status == "pass"
    assert later.light


def _passed(realized: float, **check: float) -> dict[str, object]:
    """A decided level's figures, for the levels judged before the one under test."""
    shares = {"requests": 1000, "bad": 20, "mean_ms": 40.0, "per_s": realized} | check
    return {
        "multiple": realized,
        "status": "pass",
        "sure": False,
        "light": False,
        "why": "",
        "settle_end": 2.0,
        "judged_s": 20.0,
        "realized": realized,
        "offered_per_s": {"kiosk": realized / 2},
        "started_per_s": {"kiosk": realized / 2},
        "requests_per_s": realized,
        "p95_ms": 100.0,
        "mean_ms": shares["mean_ms"],
        "checks": [
            Check(
                "kiosk.p95_ms",
                200.0,
                0.05,
                int(shares["requests"]),
                int(shares["bad"]),
                1.0,
                0.0,
                1.0,
                "pass",
                shares["mean_ms"],
                shares["per_s"],
            )
        ],
        "broke": None,
        "late_share": 0.0,
        "generator_saturated": False,
        "saturated_s": 0.0,
    }


def mmc_level(rate: float, mean_s: float, slots: int, requests: int) -> Judged:
    """A level of an M/M/c lane (its requests a second `rate`, one a multiple) whose share beyond
    200 ms and mean response time are exactly the model's."""
    tail = response_time_tail(rate, mean_s, slots, 0.2)
    wait = judged_levels.queueing.mean_wait(rate, mean_s, slots)
    figures = _passed(rate, requests=requests, bad=round(tail * requests))
    figures["checks"][0] = Check(  # type: ignore[index]
        "kiosk.p95_ms",
        200.0,
        0.05,
        requests,
        round(tail * requests),
        2.0,
        0.0,
        1.0,
        "pass",
        (mean_s + wait) * 1000,
        rate,
    )
    figures["mean_ms"] = (mean_s + wait) * 1000
    figures["status"] = "fail" if tail > 0.05 else "pass"
    return Judged(**figures)  # type: ignore[arg-type]


def test_the_levels_either_side_of_the_budget_put_the_crossing_near_the_knee(
    phase: Profile,
) -> None:
    """8 slots of 50 ms under 200 ms: Erlang C's limit at 136.8 requests a second. Levels at
    0.7, 0.9, 1.05 and 1.2 of it, 4,000 requests each: the crossing lands within 3%, its
    interval around the limit; a straight line through the two nearest would put it lower."""
    limit = max_arrival_rate(0.05, 8, 0.2)
    found = [mmc_level(f * limit, 0.05, 8, 4000) for f in (0.7, 0.9, 1.05, 1.2)]
    crossing = Judge(phase, 30.0).crossing(found)
    assert crossing is not None
    assert crossing.objective == "kiosk.p95_ms"
    assert crossing.multiple == pytest.approx(limit, rel=0.03)
    assert crossing.low is not None
    assert crossing.high is not None
    assert crossing.low < limit < crossing.high
    assert Judge(phase, 30.0).crossing(found[:2]) is None  # both below: nothing to cross
    # A light level (explored on the climb, not decided) still counts, by its requests.
    climbed = [replace(found[0], light=True, sure=False), *found[1:]]
    again = Judge(phase, 30.0).crossing(climbed)
    assert again is not None
    assert again.multiple == pytest.approx(crossing.multiple)


def test_the_guide_predicts_the_knee_from_the_queueing_the_levels_show(phase: Profile) -> None:
    """Levels at 0.3 and 0.85 of the limit, their mean response times Erlang C's: the
    lane's slots come out of the queueing at the busier one, and the guide lands near the limit
    (never past it: it takes the fewest slots the queueing allows)."""
    limit = max_arrival_rate(0.05, 8, 0.2)
    found = [mmc_level(f * limit, 0.05, 8, 3000) for f in (0.3, 0.85)]
    guide = Judge(phase, 30.0).guide(found)
    assert guide is not None
    assert 0.8 * limit <= guide <= 1.02 * limit
    flat = [mmc_level(f * limit, 0.05, 8, 3000) for f in (0.05, 0.1)]
    assert Judge(phase, 30.0).guide(flat) is None  # no queueing shows yet


def test_a_failure_on_errors_is_the_targets_even_while_the_generator_was_saturated() -> None:
    """A saturated generator slows its own timing, not the target's answers: a level 94% refused
    (503s) failed as the target's doing, and a target refusing everything was read as the
    generator's limit (exit 3, not 1)."""
    slow = Check("kiosk.p95_ms", 200.0, 0.05, 500, 400, 1.0, 0.7, 0.9, "fail", 900.0, 50.0)
    refused = Check("kiosk.error_rate", 0.05, 0.05, 500, 470, 1.0, 0.9, 0.97, "fail", 20.0, 50.0)
    held = Check("kiosk.p95_ms", 200.0, 0.05, 500, 2, 1.0, 0.0, 0.02, "pass", 20.0, 50.0)
    saturated = {**_passed(50.0), "status": "fail", "sure": True, "generator_saturated": True}
    assert Judged(**{**saturated, "checks": [slow, refused]}).failed_on_time
    assert not Judged(**{**saturated, "checks": [held, refused]}).failed_on_time
