"""Change points (surge/history/changes.py): planted shifts found at the run they start, in the
direction and size planted; stationary runs left alone (docs/history.md states the rates)."""

from __future__ import annotations

import numpy as np
import pytest

from surge.history.changes import MIN_MAGNITUDE, change_points

NOISE = 0.02
"""Run-to-run noise of the planted series, a share of the level (a capacity search's answer or
a p95 of the default rehearsal wobble about this much)."""


def planted(seed: int, n: int, shifts: dict[int, float], noise: float = NOISE) -> np.ndarray:
    """`n` runs about 100 with `noise`, each of `shifts` (run: factor) applied from its run on."""
    rng = np.random.default_rng(seed)
    values = rng.normal(100.0, 100.0 * noise, n)
    for at, factor in shifts.items():
        values[at:] *= factor
    return values


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_planted_shifts_are_found_at_the_runs_they_start(seed: int) -> None:
    values = planted(seed, 600, {200: 0.92, 450: 1.08})
    found = change_points(values)
    assert [point.index for point in found] == [200, 450]
    assert found[0].relative == pytest.approx(-0.08, abs=0.01)
    assert found[1].relative == pytest.approx(0.08 / 0.92, abs=0.01)
    assert all(point.pvalue < 0.001 for point in found)


def test_a_shift_in_a_long_history_is_found_across_the_windows() -> None:
    values = planted(7, 5_000, {3_217: 1.08})
    assert [point.index for point in change_points(values)] == [3_217]


def test_stationary_runs_show_no_change_in_twenty_seeds() -> None:
    """The issue's standard: 200 runs, 20 seeds, at most one false change point; at twice the
    noise too."""
    for noise in (NOISE, 2 * NOISE):
        false = sum(
            len(change_points(np.random.default_rng(seed).normal(100.0, 100.0 * noise, 200)))
            for seed in range(20)
        )
        assert false <= 1, noise


def test_a_significant_change_smaller_than_the_minimum_is_not_reported() -> None:
    values = planted(4, 400, {200: 1 + MIN_MAGNITUDE / 2}, noise=0.005)  # 2.5%: five sigmas
    assert change_points(values) == []
    assert [p.index for p in change_points(values, min_magnitude=0.01)] == [200]


def test_a_lone_outlier_is_no_change_and_a_short_series_has_none() -> None:
    """A slow run, last or amid the others, is the gate's to judge (outside the plausible
    range), not a change: a change needs three runs on each side."""
    for seed in range(10):
        values = planted(seed, 60, {})
        values[-1] *= 1.15  # seven sigmas
        values[30] *= 1.15
        assert change_points(values) == [], seed
    assert change_points([1.0, 2.0, 3.0, 4.0, 5.0]) == []


def test_an_error_share_needs_its_absolute_rise_too() -> None:
    """From no errors to a few in a hundred thousand is infinitely many times more, and still no
    change worth a failure: `min_absolute` (the gate's 0.1 point) decides."""
    rng = np.random.default_rng(6)
    shares = np.concatenate([np.zeros(30), rng.uniform(0.0, 0.0002, 30)])
    assert change_points(shares, min_absolute=0.001) == []
    shares[30:] += 0.01
    assert [p.index for p in change_points(shares, min_absolute=0.001)] == [30]
