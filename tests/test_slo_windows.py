"""The SLO judgement's error rates, on synthetic days of the default rehearsal (payday's eight
hours in 60 s, about 24,000 independent requests, tests/runs.py): a day whose every objective
spends four fifths of its budget never breaches, over 200 seeds; one at its budget exactly
breaches no window and fails its whole run rarely (100 seeds); a real 10-minute burst always breaches, and
never before it began. docs/report.md states the rates these pin."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports import frames, slo
from reports.timeline import Span
from surge import runfolder
from surge.day.profile import Profile
from tests.runs import PAYDAY, Burst, steady_day, write_day

SEEDS = range(200)
NOON = 3 * 3600 / PAYDAY.time_scale
"""12:00 on payday's clock, in run seconds."""
TEN_MINUTES = 600 / PAYDAY.time_scale


@pytest.mark.slow
def test_a_day_at_four_fifths_of_every_budget_never_breaches_over_200_seeds() -> None:
    found = []
    for seed in SEEDS:
        judged = slo.judge(steady_day(seed, share_of_budget=0.8), PAYDAY)
        found += [
            (seed, j.objective.name)
            for j in judged.judgements
            if j.breaches or j.warnings or j.passed is not True
        ]
    assert found == []


@pytest.mark.slow
def test_a_day_at_its_budgets_breaches_no_window_and_rarely_fails_its_whole_run() -> None:
    """At the budget exactly the whole run's exact bound is wrong at most 1 in 1,000 per
    objective (1 in 2,200 judgements of these 100 days is, by the draw); windows, held to twice
    or four times the budget, never."""
    breached, failed, judged = [], 0, 0
    for seed in SEEDS[:100]:
        for judgement in slo.judge(steady_day(seed, share_of_budget=1.0), PAYDAY).judgements:
            breached += [(seed, judgement.objective.name)] if judgement.breaches else []
            failed += judgement.passed is False
            judged += 1
    assert breached == []
    assert failed <= judged / 200


def kiosk_only() -> Profile:
    """Payday with the kiosk's objectives alone: what a kiosk burst is judged against."""
    slos = PAYDAY.to_dict()["slo"] | {"counter": None, "online": None}
    slos["operations"] = {"balance": slos["operations"]["balance"]}
    return Profile.from_dict(PAYDAY.to_dict() | {"slo": slos})


@pytest.mark.slow
def test_a_ten_minute_burst_always_breaches_and_never_before_it_began() -> None:
    """From 12:00, half the kiosk's requests slower than every objective covering them (its lane
    saturated) for 10 minutes of the day: 1.25 s of the run."""
    profile = kiosk_only()
    burst = Burst("kiosk", NOON, NOON + TEN_MINUTES, slow=0.5)
    short = slo.RULES[0].short_day_s / PAYDAY.time_scale
    missed, early, late = [], [], []
    for seed in SEEDS:
        judged = {
            j.objective.name: j
            for j in slo.judge(steady_day(seed, burst=burst), profile).judgements
        }
        for name in ("kiosk.p95_ms", "kiosk.p99_ms"):
            first = judged[name].first_breach
            if first is None:
                missed.append((seed, name))
            elif first.end <= burst.start:
                early.append((seed, name, first.end))
            elif first.end > burst.end + short:
                late.append((seed, name, first.end))
    assert (missed, early, late) == ([], [], [])


@pytest.mark.slow
def test_a_run_folder_is_judged_as_its_frames_are(tmp_path: Path) -> None:
    """The synthetic days skip the folder; one goes through it (the writer, `runfolder.load`,
    `frames.frames`) and is judged the same."""
    day = steady_day(7, share_of_budget=0.8, burst=Burst("kiosk", NOON, NOON + TEN_MINUTES, 0.5))
    read = runfolder.load(write_day(tmp_path / "run", day, PAYDAY))
    on_disk = slo.judge(frames.frames(read), read.profile)
    in_memory = slo.judge(day, PAYDAY)
    for a, b in zip(on_disk.judgements, in_memory.judgements, strict=True):
        assert (a.whole.requests, a.whole.bad) == (b.whole.requests, b.whole.bad)
        assert [w.end for w in a.breaches] == pytest.approx([w.end for w in b.breaches])
        assert a.passed == b.passed


def test_a_burst_while_the_load_generator_was_saturated_is_marked_not_counted() -> None:
    """The same burst, the generator saturated through it: its breaches are marked, not
    counted (the harness timed those answers late); one an hour later still counts."""
    burst = Burst("kiosk", NOON, NOON + TEN_MINUTES, slow=0.5)
    strained = [Span("the local runner: loop 40 ms late", NOON - 0.5, NOON + TEN_MINUTES)]
    day = steady_day(3, burst=burst)
    marked = {
        j.objective.name: j for j in slo.judge(day, kiosk_only(), saturated=strained).judgements
    }
    assert marked["kiosk.p95_ms"].breaches == ()
    assert marked["kiosk.p95_ms"].while_saturated > 0
    later = [Span("the local runner: CPU 97%", NOON + 7.5, NOON + 8.0)]
    counted = {
        j.objective.name: j for j in slo.judge(day, kiosk_only(), saturated=later).judgements
    }
    assert counted["kiosk.p95_ms"].breaches != ()
    assert counted["kiosk.p95_ms"].while_saturated == 0
