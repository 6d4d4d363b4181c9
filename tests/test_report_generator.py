"""The generator's host in the reports (`reports.generator`) on run folders written with samples
given by hand: the saturated stretches on the day's clock, summary.json's figures, and the
report's section, in both languages."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports import analysis, generator, render
from reports.timeline import Span
from surge import runfolder
from surge.judge.saturation import MAX_LOOP_LAG_MEAN_MS, MAX_LOOP_LAG_MS
from tests.runs import DAY_START, host_day, make

HOT = {
    (5, 2): {"cpu": 0.97, "idle": 0.02},
    (6, 2): {"cpu": 0.98},
    (6, 1): {"lag_mean": MAX_LOOP_LAG_MEAN_MS + 0.2},
    (7, 1): {"lag_mean": MAX_LOOP_LAG_MEAN_MS + 0.2},
    (12, 0): {"lag_max": 2 * MAX_LOOP_LAG_MS},
}
"""Share 1's worker at full CPU from 4 s to 6 s, share 0's worker late from 5 s to 7 s, the
master stalled in the second before 12 s. Share 1's CPU went furthest past its threshold
(0.98 / 0.9 against 5.2 ms / 5 ms)."""


@pytest.fixture
def hot(tmp_path: Path) -> runfolder.RunFolder:
    samples = host_day(processes=3, changed=HOT)
    return runfolder.load(make(tmp_path / "hot", workers=3, generator=samples))


def test_the_saturated_stretches_are_on_the_days_clock_named_for_the_worst(
    hot: runfolder.RunFolder,
) -> None:
    assert generator.saturated(hot, DAY_START) == [
        Span("the worker of share 1: CPU 98%", 4.0, 7.0),
        Span("the master: event loop stalled 200 ms", 11.0, 12.0),
    ]
    assert generator.overlap(generator.saturated(hot, DAY_START), 6.5, 11.5) == 1.0


def test_a_folder_from_before_the_host_was_watched_has_no_stretch_and_no_figures(
    tmp_path: Path,
) -> None:
    old = runfolder.load(make(tmp_path / "old"))
    assert generator.saturated(old, DAY_START) == []
    assert generator.generator(old, DAY_START, 1.0) is None
    assert analysis.summary(analysis.analyse(old))["generator"] is None


def test_summary_json_gives_each_processs_figures_and_the_stretches(
    hot: runfolder.RunFolder,
) -> None:
    figures = analysis.summary(analysis.analyse(hot))["generator"]
    assert figures["thresholds"] == {"cpu": 0.9, "loop_lag_mean_ms": 5.0, "loop_lag_max_ms": 100.0}
    assert figures["saturated_s"] == 4.0
    assert figures["saturated"][1] == {
        "name": "the master: event loop stalled 200 ms",
        "start": 11.0,
        "end": 12.0,
    }
    master, late, busy = figures["processes"]
    assert [p["name"] for p in (master, late, busy)] == [
        "the master",
        "the worker of share 0",
        "the worker of share 1",
    ]
    assert (busy["peak_cpu"], busy["lowest_host_idle"], busy["saturated_s"]) == (0.98, 0.02, 2.0)
    assert (master["worst_loop_lag_ms"], master["saturated_s"]) == (200.0, 1.0)
    assert late["mean_loop_lag_ms"] == pytest.approx(1.0 + 2 * (MAX_LOOP_LAG_MEAN_MS - 0.8) / 21)
    assert late["samples"] == 21


def test_the_windows_hold_each_processs_worst_of_the_day(hot: runfolder.RunFolder) -> None:
    watched = generator.generator(hot, DAY_START, 2.0)
    assert watched is not None
    windows = watched.windows.set_index(["t", "process"])
    assert sorted({t for t, _ in windows.index}) == [float(t) for t in range(0, 22, 2)]
    assert windows.loc[(4.0, 2), "cpu"] == 0.98  # the most of the samples from 4 s to 6 s
    assert windows.loc[(4.0, 2), "host_idle"] == 0.02  # the least
    assert windows.loc[(10.0, 0), "loop_lag_max_ms"] == 2 * MAX_LOOP_LAG_MS


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "The generator was saturated for 4.0 s of the run"),
        ("zh_CN", "负载生成器在本次运行中有 4.0 秒 处于饱和"),
    ],
)
def test_the_report_shows_the_generators_host_and_says_it_was_saturated(
    hot: runfolder.RunFolder, language: str, said: str
) -> None:
    page = render.html(analysis.analyse(hot), language)
    assert 'id="chart-generator"' in page
    assert said in page


def test_a_report_without_samples_has_no_generator_section(tmp_path: Path) -> None:
    page = render.html(analysis.analyse(runfolder.load(make(tmp_path / "old"))), "en")
    assert "section-generator" not in page
