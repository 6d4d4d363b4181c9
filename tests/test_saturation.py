"""When the generator was saturated (`surge.judge.saturation`), on samples given by hand: which
seconds count, how they join into stretches across processes, what the day leaves out, and the
line the closing lines print."""

from __future__ import annotations

from pathlib import Path

import pytest

from surge import runfolder
from surge.judge import saturation, verdict
from surge.judge.saturation import MAX_CPU, MAX_LOOP_LAG_MEAN_MS, MAX_LOOP_LAG_MS
from surge.run import rehearse
from tests.runs import DAY_START, host_day, make

LATE = {"lag_mean": MAX_LOOP_LAG_MEAN_MS + 1}
STALL = {"lag_max": MAX_LOOP_LAG_MS}
BUSY = {"cpu": MAX_CPU}


def spans(samples: list[runfolder.GeneratorSample]) -> list[tuple[float, float]]:
    """The stretches in run seconds."""
    found = saturation.stretches(samples, DAY_START)
    return [(s.start - DAY_START, s.end - DAY_START) for s in found]


def test_a_healthy_day_has_no_saturated_stretch() -> None:
    assert spans(host_day(processes=3)) == []


def test_a_lone_second_late_on_average_is_a_blip_and_two_in_a_row_are_a_stretch() -> None:
    assert spans(host_day(changed={(5, 0): LATE})) == []
    assert spans(host_day(changed={(5, 0): LATE, (6, 0): LATE})) == [(4.0, 6.0)]
    assert spans(host_day(changed={(5, 0): BUSY, (6, 0): BUSY, (7, 0): BUSY})) == [(4.0, 7.0)]


def test_a_stall_counts_alone() -> None:
    assert spans(host_day(changed={(5, 0): STALL})) == [(4.0, 5.0)]


def test_the_host_being_busy_alone_is_not_the_generator_saturated() -> None:
    """Two shared cores ran whole default rehearsals at 0% idle with the generator on time."""
    idle = {(t, 0): {"idle": 0.0} for t in range(22)}
    assert spans(host_day(changed=idle)) == []


def test_a_second_just_below_every_threshold_is_not_saturated() -> None:
    below = {"cpu": MAX_CPU - 0.01, "lag_mean": MAX_LOOP_LAG_MEAN_MS - 0.1, "lag_max": 99.0}
    assert spans(host_day(changed={(t, 0): below for t in range(22)})) == []


def test_processes_saturated_at_once_join_into_one_stretch_named_for_the_worst() -> None:
    changed = {
        (5, 1): LATE,
        (6, 1): LATE,
        (6, 2): {"lag_max": 3 * MAX_LOOP_LAG_MS},
        (9, 0): STALL,
    }
    found = saturation.stretches(host_day(processes=3, changed=changed), DAY_START)
    assert [(s.start - DAY_START, s.end - DAY_START) for s in found] == [(4.0, 6.0), (8.0, 9.0)]
    assert (found[0].process, found[0].why) == (2, "event loop stalled 300 ms")
    assert (found[1].process, found[1].why) == (0, "event loop stalled 100 ms")


def test_the_preparation_is_not_judged_and_the_drain_after_the_day_is() -> None:
    """Onboarding before the day stalls the loop (the watch starts at the day's start, but a
    folder may hold a sample from before); the visits drained after it are real load."""
    changed = {(0, 0): STALL, (21, 0): STALL}
    assert spans(host_day(changed=changed)) == [(20.0, 21.0)]


def test_each_process_has_its_figures_over_the_day() -> None:
    changed = {(5, 1): {"cpu": 0.95, "idle": 0.05}, (6, 1): {"cpu": 0.97, "lag_max": 40.0}}
    figures = saturation.figures(host_day(processes=2, changed=changed), DAY_START, 2)
    assert [(f.process, f.name) for f in figures] == [
        (0, "the master"),
        (1, "the worker of share 0"),
    ]
    master, worker = figures
    assert master.samples == worker.samples == 21
    assert (master.saturated_s, worker.saturated_s) == (0.0, 2.0)
    assert (worker.peak_cpu, worker.lowest_host_idle, worker.worst_loop_lag_ms) == (0.97, 0.05, 40)
    assert master.mean_loop_lag_ms == pytest.approx(1.0)


def test_the_closing_line_says_how_long_and_names_the_worst(tmp_path: Path) -> None:
    changed = {(5, 2): BUSY, (6, 2): {"cpu": 0.98}, (6, 1): LATE}
    run = runfolder.load(
        make(tmp_path / "hot", workers=3, generator=host_day(processes=3, changed=changed))
    )
    assert saturation.line(run) == (
        "saturated for 2.0 s of the run (the worker of share 1: CPU 98%)"
    )
    healthy = runfolder.load(make(tmp_path / "cool", generator=host_day()))
    assert saturation.line(healthy) is None
    assert saturation.line(runfolder.load(make(tmp_path / "old"))) is None


def test_surge_rehearses_closing_lines_carry_it_beside_the_verdict(tmp_path: Path) -> None:
    changed = {(3, 0): STALL}
    run = runfolder.load(make(tmp_path / "run", generator=host_day(changed=changed)))
    lines = rehearse.outcome(run, verdict.judge(run), "the embedded mock core").splitlines()
    assert "  generator saturated for 1.0 s of the run (Locust: event loop stalled 100 ms)" in lines
    calm = runfolder.load(make(tmp_path / "calm", generator=host_day()))
    assert not any("generator" in line for line in rehearse.outcome(calm, verdict.judge(calm), "x"))
