"""Gunther's Universal Scalability Law (USL): where more load stops paying, and where it hurts.

The USL models throughput X at concurrency N (users, workers, in-flight requests) as

    X(N) = gamma * N / (1 + sigma * (N - 1) + kappa * N * (N - 1))

- `gamma` is the throughput one unit of concurrency would get alone: the slope of ideal scaling.
- `sigma` is contention, the share of the work that serialises (a lock, a single connection pool,
  one busy core). It alone caps throughput at gamma / sigma, which is Amdahl's law.
- `kappa` is coherency, the price of keeping shared state consistent between every pair of
  workers (cache invalidation, lock hand-offs, chatty replication). It makes throughput peak at
  N* = sqrt((1 - sigma) / kappa) and fall beyond it. With kappa = 0 throughput only flattens.

Why here: the capacity search steps the load up and measures throughput at each step. Fitting the
USL over those steps turns a handful of points into the two figures an engineer can act on, how
much the branch system pays for contention and for coherency, and from them where more load stops
paying (throughput near its ceiling) and where throughput starts to fall (past the peak).

A fit is a model, not a measurement: three parameters, from as few as three concurrency levels.
Inside the measured range it interpolates; beyond it, it extrapolates, and `UslFit.method` says so
wherever the fit is shown.

References: Neil J. Gunther, "Guerrilla Capacity Planning", Springer 2007 (the USL and how to fit
it to measurements); Neil J. Gunther, "A General Theory of Computational Scalability Based on
Rational Functions", arXiv:0808.1431 (2008).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import least_squares

METHOD = (
    "nonlinear least squares (scipy.optimize.least_squares, trust region reflective) on "
    "throughput, bounds 0<=sigma<=1, 0<=kappa<=1, gamma>=0; needs at least 3 distinct "
    "concurrency levels; a fit is an interpolation: beyond the measured range it is a model, "
    "not a measurement"
)

Values = Sequence[float] | NDArray[np.floating]

# Bounds on (sigma, kappa, gamma).
_LOWER = np.array([0.0, 0.0, 0.0])
_UPPER = np.array([1.0, 1.0, np.inf])


def _usl(n: NDArray[np.float64], sigma: float, kappa: float, gamma: float) -> NDArray[np.float64]:
    return gamma * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


@dataclass(frozen=True)
class UslFit:
    """The USL fitted to measured throughput, with what it takes to judge the fit.

    `r_squared` is the share of the throughput's variance the curve explains (NaN when throughput
    does not vary: there is nothing to explain). For a nonlinear fit it describes, it does not
    test. `residual_std_error` is the typical miss in throughput units, sqrt(SSE / (points - 3)),
    NaN with exactly three points, where three parameters leave no degree of freedom.
    """

    sigma: float
    kappa: float
    gamma: float
    r_squared: float
    residual_std_error: float
    points: int
    concurrency_range: tuple[float, float]
    method: str = METHOD

    @property
    def peak_concurrency(self) -> float:
        """Where throughput peaks: infinite when kappa is 0, below 1 if it falls from the start."""
        if self.kappa == 0:
            return math.inf
        return math.sqrt((1 - self.sigma) / self.kappa)

    @property
    def peak_throughput(self) -> float:
        """Throughput at the peak; with kappa 0, the ceiling gamma / sigma it approaches."""
        if self.kappa == 0:
            return self.gamma / self.sigma if self.sigma > 0 else math.inf
        return self.predict(self.peak_concurrency)

    @overload
    def predict(self, n: float) -> float: ...

    @overload
    def predict(self, n: Values) -> NDArray[np.float64]: ...

    def predict(self, n: float | Values) -> float | NDArray[np.float64]:
        """Modelled throughput at concurrency `n`: a float for a number, an array for a sequence."""
        modelled = _usl(np.asarray(n, dtype=float), self.sigma, self.kappa, self.gamma)
        return float(modelled) if modelled.ndim == 0 else modelled


def _validated(
    concurrency: Values, throughput: Values
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    try:
        n = np.asarray(concurrency, dtype=float)
        x = np.asarray(throughput, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("concurrency and throughput must be sequences of numbers") from None
    if n.ndim != 1 or x.ndim != 1:
        raise ValueError("concurrency and throughput must be flat sequences of numbers")
    if len(n) != len(x):
        raise ValueError(
            f"concurrency and throughput differ in length: {len(n)} and {len(x)} values"
        )
    if not (np.isfinite(n).all() and np.isfinite(x).all()):
        raise ValueError("concurrency and throughput must be finite")
    if (n <= 0).any():
        raise ValueError("concurrency must be positive")
    if (x < 0).any():
        raise ValueError("throughput must not be negative")
    levels = len(np.unique(n))
    if levels < 3:
        raise ValueError(f"a USL fit needs at least 3 distinct concurrency levels, got {levels}")
    if not x.any():
        raise ValueError("throughput is zero everywhere: there is no scaling to fit")
    return n, x


def _least_squares(
    n: NDArray[np.float64], x: NDArray[np.float64], gamma_start: float, pinned: tuple[bool, bool]
) -> tuple[NDArray[np.float64], float]:
    """(sigma, kappa, gamma) and the SSE of the fit with sigma and/or kappa `pinned` at 0."""
    free = np.array([not pinned[0], not pinned[1], True])
    # Residuals in units of the largest throughput, so the tolerances mean the same whether a
    # system does 2 or 20,000 requests a second.
    scale = float(x.max())

    def full(free_params: NDArray[np.float64]) -> NDArray[np.float64]:
        params = np.zeros(3)
        params[free] = free_params
        return params

    def residuals(free_params: NDArray[np.float64]) -> NDArray[np.float64]:
        return (_usl(n, *full(free_params)) - x) / scale

    def jacobian(free_params: NDArray[np.float64]) -> NDArray[np.float64]:
        sigma, kappa, gamma = full(free_params)
        denominator = 1 + sigma * (n - 1) + kappa * n * (n - 1)
        slowed = -gamma * n * (n - 1) / denominator**2
        return np.column_stack((slowed, slowed * n, n / denominator))[:, free] / scale

    result = least_squares(
        residuals,
        x0=np.array([0.01, 0.0001, gamma_start])[free],
        jac=jacobian,
        bounds=(_LOWER[free], _UPPER[free]),
        method="trf",
        # kappa lives near 1e-4 and gamma near the throughput: scale each by its own sensitivity.
        x_scale="jac",
        ftol=1e-15,
        xtol=1e-15,
        gtol=1e-15,
    )
    if not result.success:
        raise RuntimeError(f"the USL fit did not converge: {result.message}")
    return full(result.x), float(np.sum(result.fun**2))


def fit_usl(concurrency: Values, throughput: Values) -> UslFit:
    """Fit the USL to throughput measured at each concurrency level (repeats are welcome).

    A sigma or kappa the data cannot tell from 0 comes back as exactly 0, so a curve that only
    flattens has an infinite `peak_concurrency` rather than one far beyond anything measured.
    Raises ValueError for input no fit can be trusted on: unequal lengths, non-finite values,
    concurrency <= 0, negative throughput, or fewer than 3 distinct concurrency levels.
    """
    n, x = _validated(concurrency, throughput)
    # Ideal scaling through the lowest level is where the curve starts; if that level measured
    # nothing, the best per-unit throughput seen is the next best guess.
    lowest = n == n.min()
    gamma_start = float(np.mean(x[lowest] / n[lowest])) or float(np.max(x / n))

    params, best = _least_squares(n, x, gamma_start, (False, False))
    # Trust region reflective stays strictly inside the bounds: where the best fit has kappa = 0
    # it stops at kappa ~ 1e-12, a peak at 1e6 where the data show none. So refit with sigma
    # and/or kappa pinned at 0, simplest first, and keep the first that fits as well (to 1e-9,
    # or residuals within 1e-12 of the largest throughput): the data cannot tell that one from 0.
    for pinned in ((True, True), (False, True), (True, False)):
        pinned_params, pinned_sse = _least_squares(n, x, gamma_start, pinned)
        if pinned_sse <= best * (1 + 1e-9) + 1e-24:
            params = pinned_params
            break
    sigma, kappa, gamma = (float(value) for value in params)

    sse = float(np.sum((_usl(n, sigma, kappa, gamma) - x) ** 2))
    sst = float(np.sum((x - x.mean()) ** 2))
    return UslFit(
        sigma=sigma,
        kappa=kappa,
        gamma=gamma,
        r_squared=1 - sse / sst if sst > 0 else math.nan,
        residual_std_error=math.sqrt(sse / (len(n) - 3)) if len(n) > 3 else math.nan,
        points=len(n),
        concurrency_range=(float(n.min()), float(n.max())),
    )
