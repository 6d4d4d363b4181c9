"""The USL fit gives back what made the data, copes with noise, and agrees with a published fit."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from reports.scalability import UslFit, fit_usl

LEVELS = np.array([1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128], dtype=float)

# Gunther's two data sets as the R package `usl` ships them (Stefan Möding, CRAN, v3.0.3;
# github.com/smoeding/usl, data/specsdm91.rda and data/raytracer.rda, decoded from R's format).
SPECSDM91_LOAD = [1, 18, 36, 72, 108, 144, 216]
SPECSDM91_THROUGHPUT = [64.9, 995.9, 1652.4, 1853.2, 1828.9, 1775.0, 1702.2]
RAYTRACER_PROCESSORS = [1, 4, 8, 12, 16, 20, 24, 28, 32, 48, 64]
RAYTRACER_THROUGHPUT = [20, 78, 130, 170, 190, 200, 210, 230, 260, 280, 310]


def usl(n: np.ndarray, sigma: float, kappa: float, gamma: float) -> np.ndarray:
    return gamma * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


@pytest.mark.parametrize(
    ("sigma", "kappa", "gamma", "levels"),
    [
        (0.03, 5e-4, 100.0, LEVELS),
        (0.2, 0.01, 2.5, LEVELS[:8]),
        (0.001, 1e-5, 20_000.0, LEVELS),
        (0.5, 0.05, 7.0, np.array([1.0, 3.0, 9.0])),
        (0.05, 2e-4, 40.0, np.array([2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 400.0])),
    ],
)
def test_noiseless_data_gives_back_the_parameters_that_made_it(
    sigma: float, kappa: float, gamma: float, levels: np.ndarray
) -> None:
    """Three levels are enough when nothing is noisy; starting away from 1 must not matter."""
    fit = fit_usl(levels, usl(levels, sigma, kappa, gamma))
    assert fit.sigma == pytest.approx(sigma, rel=1e-6)
    assert fit.kappa == pytest.approx(kappa, rel=1e-6)
    assert fit.gamma == pytest.approx(gamma, rel=1e-6)
    assert fit.peak_concurrency == pytest.approx(math.sqrt((1 - sigma) / kappa), rel=1e-6)
    assert fit.r_squared == pytest.approx(1.0, abs=1e-12)
    assert fit.points == len(levels)
    assert fit.concurrency_range == (levels.min(), levels.max())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_percent_noise_still_finds_the_peak_within_eight_percent(seed: int) -> None:
    """The tolerances are the worst case over 400 seeds, rounded up: sigma 0.0099 absolute,
    kappa 11%, gamma 7%, the peak 5.6%. The peak is firmer than its parts because a gamma fitted
    high comes with a sigma fitted high, and the two errors cancel where the curve turns.
    """
    sigma, kappa, gamma = 0.03, 5e-4, 100.0
    noise = 1 + 0.02 * np.random.default_rng(seed).standard_normal(len(LEVELS))
    fit = fit_usl(LEVELS, usl(LEVELS, sigma, kappa, gamma) * noise)
    assert fit.sigma == pytest.approx(sigma, abs=0.012)
    assert fit.kappa == pytest.approx(kappa, rel=0.15)
    assert fit.gamma == pytest.approx(gamma, rel=0.10)
    assert fit.peak_concurrency == pytest.approx(math.sqrt((1 - sigma) / kappa), rel=0.08)
    assert fit.r_squared > 0.99


@pytest.mark.parametrize("sigma", [0.0, 0.001, 0.05, 0.5])
def test_amdahl_data_has_no_peak(sigma: float) -> None:
    """kappa = 0 sits on the solver's bound, which it only approaches; 1e-12 would put a peak at
    1e6 where the data show none, so the fit must report exactly 0 and an infinite peak.
    """
    fit = fit_usl(LEVELS, usl(LEVELS, sigma, 0.0, 10.0))
    assert fit.kappa == 0.0
    assert fit.peak_concurrency == math.inf
    assert fit.sigma == pytest.approx(sigma, rel=1e-6, abs=1e-12)
    expected_ceiling = 10.0 / sigma if sigma else math.inf
    assert fit.peak_throughput == pytest.approx(expected_ceiling, rel=1e-6)


def test_linear_scaling_fits_with_neither_contention_nor_coherency() -> None:
    fit = fit_usl([1, 2, 4, 8], [3, 6, 12, 24])
    assert fit.sigma == 0.0
    assert fit.kappa == 0.0
    assert fit.gamma == pytest.approx(3.0, rel=1e-12)
    assert fit.peak_throughput == math.inf


def test_repeated_measurements_at_a_level_all_count() -> None:
    levels = np.repeat([1.0, 4.0, 16.0, 64.0], 3)
    throughput = usl(levels, 0.05, 1e-3, 50.0) * np.tile([0.99, 1.0, 1.01], 4)
    fit = fit_usl(levels, throughput)
    assert fit.points == 12
    assert fit.residual_std_error > 0
    assert fit.sigma == pytest.approx(0.05, rel=0.05)


def test_predict_takes_a_number_or_a_sequence() -> None:
    fit = UslFit(
        sigma=0.1,
        kappa=0.01,
        gamma=5.0,
        r_squared=1.0,
        residual_std_error=0.0,
        points=3,
        concurrency_range=(1.0, 3.0),
    )
    at_four = 5.0 * 4 / (1 + 0.1 * 3 + 0.01 * 12)
    assert isinstance(fit.predict(4), float)
    assert fit.predict(4) == pytest.approx(at_four)
    assert fit.predict(np.float64(4.0)) == pytest.approx(at_four)
    assert fit.predict([1, 4]) == pytest.approx([5.0, at_four])
    assert fit.predict(np.array([1.0, 4.0])) == pytest.approx([5.0, at_four])
    assert fit.peak_concurrency == pytest.approx(math.sqrt(0.9 / 0.01))
    assert fit.peak_throughput == pytest.approx(fit.predict(fit.peak_concurrency))


def test_a_fit_is_frozen_and_says_how_it_was_made_and_where_it_stops() -> None:
    fit = fit_usl([1, 2, 4], [1.0, 1.9, 3.4])
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.sigma = 0.5  # type: ignore[misc]
    assert "scipy.optimize.least_squares" in fit.method
    assert "at least 3 distinct concurrency levels" in fit.method
    assert "beyond the measured range it is a model" in fit.method
    # Three points leave three parameters no degree of freedom to estimate the scatter.
    assert math.isnan(fit.residual_std_error)


@pytest.mark.parametrize(
    ("concurrency", "throughput", "message"),
    [
        ([1, 2, 4], [1, 2], "differ in length: 3 and 2"),
        ([1, 1, 2, 2], [1, 1, 2, 2], "at least 3 distinct concurrency levels, got 2"),
        ([1, 2, math.nan], [1, 2, 3], "finite"),
        ([1, 2, 4], [1, 2, math.inf], "finite"),
        ([0, 2, 4], [0, 2, 4], "concurrency must be positive"),
        ([-1, 2, 4], [1, 2, 4], "concurrency must be positive"),
        ([1, 2, 4], [1, -2, 4], "throughput must not be negative"),
        ([1, 2, 4], [0, 0, 0], "zero everywhere"),
        ([[1, 2, 4]], [[1, 2, 4]], "flat sequences"),
        (["one", "two", "four"], [1, 2, 4], "sequences of numbers"),
        ([1, 2, None], [1, 2, 4], "finite"),
    ],
)
def test_input_no_fit_can_be_trusted_on_is_refused_in_one_line(
    concurrency: list[object], throughput: list[object], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        fit_usl(concurrency, throughput)  # type: ignore[arg-type]
    assert "\n" not in str(refused.value)


def test_specsdm91_matches_the_fit_published_with_the_r_package_usl() -> None:
    """Published: Stefan Möding and Neil J. Gunther, R package `usl` 3.0.3 (CRAN, 2022), file
    tests/summary.Rout.save: for `usl(throughput ~ load, specsdm91)`, alpha (our sigma)
    2.773e-02, beta (our kappa) 1.044e-04, gamma 9.000e+01, residual standard error 82.85,
    peak throughput 1884; tests/residuals.Rout.save prints the residuals to 0.01, and
    tests/peak-scalability.R and tests/limit-scalability.R pin the peak at 96.51956 users and the
    Amdahl ceiling gamma/alpha at 3245.589. The data set (a Sun SPARCcenter 2000 in SPEC SDM91,
    scripts per hour against simulated users) is, as the package cites it, from Gunther,
    "Guerrilla Capacity Planning", Springer 2007.

    R fits with nlsr::nlxb (Nash's Marquardt variant), we with scipy's trust region reflective;
    both minimise the same sum of squares under the same bounds, so they should land on the same
    point and differ only by rounding. Hence each figure is allowed one unit in its last printed
    digit: half a unit for the rounding, the other half for two solvers stopping on different
    convergence tests.
    """
    fit = fit_usl(SPECSDM91_LOAD, SPECSDM91_THROUGHPUT)
    assert fit.sigma == pytest.approx(2.773e-02, abs=1e-5)
    assert fit.kappa == pytest.approx(1.044e-04, abs=1e-7)
    assert fit.gamma == pytest.approx(90.00, abs=0.01)
    assert fit.residual_std_error == pytest.approx(82.85, abs=0.01)
    assert fit.peak_concurrency == pytest.approx(96.51956, abs=1e-5)
    assert fit.peak_throughput == pytest.approx(1884, abs=1)
    assert fit.gamma / fit.sigma == pytest.approx(3245.589, abs=1e-3)
    published_residuals = [-25.10, -81.66, 111.09, 3.05, -49.99, -46.60, 56.00]
    residuals = np.array(SPECSDM91_THROUGHPUT) - fit.predict(SPECSDM91_LOAD)
    assert residuals == pytest.approx(published_residuals, abs=0.01)


def test_the_ray_tracer_subset_matches_the_published_coefficients() -> None:
    """Published: R package `usl` 3.0.3, tests/confint.Rout.save: `raytracer[1:6, ]` (1 to 20
    processors of the BRL-CAD ray-tracing benchmark on an SGI Origin 2000, from Gunther's
    "Guerrilla Capacity Planning") fits alpha 0.02444, beta 0.00163, gamma 20.85605. One unit in
    the last printed digit, as for SPEC SDM91.
    """
    fit = fit_usl(RAYTRACER_PROCESSORS[:6], RAYTRACER_THROUGHPUT[:6])
    assert fit.sigma == pytest.approx(0.02444, abs=1e-5)
    assert fit.kappa == pytest.approx(0.00163, abs=1e-5)
    assert fit.gamma == pytest.approx(20.85605, abs=1e-5)


def test_the_whole_ray_tracer_benchmark_has_no_coherency_penalty() -> None:
    """Published: the vignette of the R package `usl` (vignettes/usl.Rnw, the ray-tracer section)
    says of the fit to all 64 processors: "With beta = 0 the model indicates no coherency penalty
    for the system", so throughput never peaks. The vignette prints sigma only through R code, so
    only kappa = 0 and the missing peak are pinned here.
    """
    fit = fit_usl(RAYTRACER_PROCESSORS, RAYTRACER_THROUGHPUT)
    assert fit.kappa == 0.0
    assert fit.peak_concurrency == math.inf
