"""The gate against history: does this run continue a change for the worse, or lie outside what
the last comparable runs make plausible? (`surge gate RUN --history`, docs/history.md)

Comparable runs are the last `--window` valid runs of the same kind, resolved profile and target
recorded before this one. Each measure is judged twice:

- **Plausible?** A latency objective's whole-run percentile (and a capacity search's answer) is
  compared with the one-sided prediction bound of the comparable runs' values on a log scale
  (Student's t, `n - 1` degrees of freedom): a run of the same system, its value drawn as the
  others were, lies beyond it with probability `alpha`. An error-rate objective is judged on its
  counts, as the run's own verdict is: its errors against the comparable runs' pooled share,
  an exact binomial bound on counts deflated by the runs' dispersion (quasi-binomial). Either
  fails only when the value is also worse than the comparable runs' mean by `MIN_WORSENING`
  (`MIN_ERROR_RISE` for an error share), so a tight history does not fail a run on noise too
  small to matter. `alpha` is `FAMILY_ALPHA` shared among the run's measures (Bonferroni), so
  an unchanged system fails this test in at most one run in a hundred, all measures together.
- **Continues a change?** The change points of the comparable runs and this one
  (`surge.history.changes`); when the last is a change for the worse, this run is on the worse
  side of it and fails. A change stays in the window until the window has moved past it.

Fewer than `MIN_RUNS` comparable runs judge nothing: each measure is skipped, saying so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import betainc, stdtr, stdtrit

from surge.history import WINDOW
from surge.history.changes import MIN_MAGNITUDE, change_points
from surge.history.entry import CAPACITY_SEARCH, Entry, Objective

MIN_RUNS = 8
"""Fewer comparable runs than this judge nothing: a prediction bound from a handful of runs is
so wide it passes anything, and a change needs runs on both sides."""
FAMILY_ALPHA = 0.01
"""The chance that a run of an unchanged system falls outside the plausible range of one of its
measures, all measures together."""
MIN_WORSENING = MIN_MAGNITUDE
"""A value beyond the bound must also be this share worse than the comparable runs' mean."""
MIN_ERROR_RISE = 0.001
"""…and an error share this much above their pooled share (the baseline gate's floor)."""
SUITE = "history"


@dataclass(frozen=True)
class Check:
    """One measure of the run against its history: a case of the gate (`suite` history)."""

    measure: str
    """An objective's name, or `capacity`."""
    passed: bool | None
    """None: skipped (too little history)."""
    message: str
    """One line, in English, for the console and junit.xml."""
    metric: str
    """The objective's metric (`p95_ms` …, `error_rate`) or `capacity`."""
    trend: list[float] = field(default_factory=list)
    """The comparable runs' values, oldest first, then this run's."""
    limit: float | None = None
    """The objective's limit, for showing the trend against it."""
    figures: dict[str, float] = field(default_factory=dict)
    """`bound` (the plausible range's edge), `change` (a change's relative size) and `pvalue`."""

    @property
    def name(self) -> str:
        return f"{SUITE}: {self.measure}"


@dataclass(frozen=True)
class _Measure:
    name: str
    metric: str
    values: list[float]
    """The comparable runs', oldest first."""
    names: list[str]
    """…and those runs, as a message names them."""
    value: float
    higher_is_worse: bool
    limit: float | None = None
    counts: list[tuple[int, int]] = field(default_factory=list)
    """An error rate's (bad, requests) in the comparable runs, then this run's."""


def judge(entry: Entry, earlier: Sequence[Entry], window: int = WINDOW) -> list[Check]:
    """`entry` against `earlier` (comparable runs, oldest first; the last `window` are used)."""
    if not entry.valid:
        return []
    runs = [run for run in earlier if run.valid and run.group == entry.group][-window:]
    measures = _measures(entry, runs)
    if not measures:
        return []
    alpha = FAMILY_ALPHA / (2 * len(measures))  # two tests of each measure share it
    return [_check(measure, alpha) for measure in measures]


def _measures(entry: Entry, runs: Sequence[Entry]) -> list[_Measure]:
    if entry.kind == CAPACITY_SEARCH:
        value = entry.capacity.multiple if entry.capacity else None
        if value is None:
            return []
        answered = [r for r in runs if r.capacity and r.capacity.multiple]
        values = [r.capacity.multiple for r in answered if r.capacity and r.capacity.multiple]
        names = [_run_name(r) for r in answered]
        return [_Measure("capacity", "capacity", values, names, value, higher_is_worse=False)]
    measures = []
    for objective in entry.objectives:
        if objective.value is None or objective.passed is None:
            continue
        before = [
            (run, found)
            for run in runs
            for found in run.objectives
            if found.name == objective.name and found.value is not None
        ]
        measures.append(
            _Measure(
                objective.name,
                objective.metric,
                [o.value for _, o in before if o.value is not None],
                [_run_name(run) for run, _ in before],
                objective.value,
                higher_is_worse=True,
                limit=objective.limit,
                counts=[_counts(o) for o in [*(o for _, o in before), objective]],
            )
        )
    return measures


def _counts(objective: Objective) -> tuple[int, int]:
    """What the objective's verdict counted: outside the incidents in a drill."""
    if objective.outside_requests is not None and objective.outside_bad is not None:
        return objective.outside_bad, objective.outside_requests
    return objective.bad, objective.requests


def _check(measure: _Measure, alpha: float) -> Check:
    if len(measure.values) < MIN_RUNS:
        return _made(
            measure,
            None,
            f"{measure.name}: {len(measure.values)} comparable runs in the history, "
            f"{MIN_RUNS} needed",
        )
    error_rate = measure.metric == "error_rate"
    points = change_points(
        [*measure.values, measure.value], min_absolute=MIN_ERROR_RISE if error_rate else 0.0
    )
    last = points[-1] if points else None
    if last is not None and (last.after > last.before) == measure.higher_is_worse:
        since = measure.names[last.index] if last.index < len(measure.names) else "this run"
        return _made(
            measure,
            False,
            f"{measure.name}: continues a {'rise' if last.after > last.before else 'fall'} of "
            f"{last.relative:+.1%} since {since} (p = {last.pvalue:.1g})",
            {"change": last.relative, "pvalue": last.pvalue},
        )
    drifting = _drift(measure, alpha)
    if drifting is not None:
        return drifting
    if error_rate:
        return _plausible_share(measure, alpha)
    return _plausible_value(measure, alpha)


def _made(
    measure: _Measure, passed: bool | None, message: str, figures: dict[str, float] | None = None
) -> Check:
    return Check(
        measure.name,
        passed,
        message,
        measure.metric,
        [*measure.values, measure.value],
        measure.limit,
        figures or {},
    )


def _drift(measure: _Measure, alpha: float) -> Check | None:
    """A failing check when the comparable runs and this one trend for the worse: the slope of
    a straight line through them (log values; an error share as it is) is significantly of the
    bad sign (one-sided t-test at `alpha`) and spans at least `MIN_WORSENING` (`MIN_ERROR_RISE`)
    over the runs. A slow drift shows as a trend long before one step of it is a change."""
    error_rate = measure.metric == "error_rate"
    values = np.asarray([*measure.values, measure.value], dtype=float)
    y = values if error_rate else np.log(np.maximum(values, 1e-12))
    x = np.arange(len(y), dtype=float)
    centred = x - x.mean()
    slope = float((centred * (y - y.mean())).sum() / (centred**2).sum())
    residuals = y - y.mean() - slope * centred
    dof = len(y) - 2
    spread = math.sqrt(float((residuals**2).sum()) / dof / float((centred**2).sum()))
    worse = slope if measure.higher_is_worse else -slope
    if worse <= 0:
        return None
    pvalue = 0.0 if spread == 0 else float(stdtr(dof, -worse / spread))
    span = worse * (len(y) - 1)
    enough = span >= MIN_ERROR_RISE if error_rate else math.expm1(span) >= MIN_WORSENING
    if pvalue >= alpha or not enough:
        return None
    per_run = f"{slope:+.3%} points" if error_rate else f"{math.expm1(slope):+.1%}"
    return _made(
        measure,
        False,
        f"{measure.name}: drifts for the worse by {per_run} a run over the last "
        f"{len(y)} runs (p = {pvalue:.1g})",
        {"drift": slope if error_rate else math.expm1(slope), "pvalue": pvalue},
    )


def _plausible_value(measure: _Measure, alpha: float) -> Check:
    """The prediction bound of a log-normal value: ln v beyond mean ± t(1 - alpha) s √(1+1/n)."""
    logs = np.log(np.maximum(np.asarray(measure.values), 1e-12))
    n = len(logs)
    spread = float(logs.std(ddof=1)) * math.sqrt(1 + 1 / n)
    reach = float(stdtrit(n - 1, 1 - alpha)) * spread
    sign = 1.0 if measure.higher_is_worse else -1.0
    bound = math.exp(float(logs.mean()) + sign * reach)
    mean = math.exp(float(logs.mean()))
    worse = (measure.value - mean) * sign / mean
    outside = (measure.value - bound) * sign > 0 and worse >= MIN_WORSENING
    side = "above" if measure.higher_is_worse else "below"
    edge = "at most" if measure.higher_is_worse else "at least"
    shown = _show(measure.metric, measure.value)
    message = (
        f"{measure.name}: {shown} lies {side} what the last {n} comparable runs make plausible "
        f"({edge} {_show(measure.metric, bound)} at {1 - alpha:.2%})"
        if outside
        else f"{measure.name}: {shown}, within what the last {n} comparable runs make plausible "
        f"({edge} {_show(measure.metric, bound)})"
    )
    return _made(measure, not outside, message, {"bound": bound})


def _plausible_share(measure: _Measure, alpha: float) -> Check:
    """This run's errors against the comparable runs' pooled share: one-sided exact binomial on
    counts deflated by the runs' dispersion (at least 1)."""
    earlier, (bad, requests) = measure.counts[:-1], measure.counts[-1]
    pooled_bad = sum(b for b, _ in earlier)
    pooled_requests = sum(n for _, n in earlier)
    share = max(pooled_bad, 0.5) / max(pooled_requests, 1)
    dispersion = 1.0
    if len(earlier) > 1 and 0 < share < 1:
        chi2 = sum((b - n * share) ** 2 / (n * share * (1 - share)) for b, n in earlier if n)
        dispersion = max(1.0, chi2 / (len(earlier) - 1))
    now = bad / requests if requests else 0.0
    x, total = bad / dispersion, requests / dispersion
    pvalue = float(betainc(x, total - x + 1, share)) if x > 0 and total >= x else 1.0
    outside = pvalue < alpha and now - share >= MIN_ERROR_RISE
    bound = _share_bound(total, share, alpha)
    n = len(earlier)
    message = (
        f"{measure.name}: {now:.2%} errors lies above what the last {n} comparable runs make "
        f"plausible (their {share:.2%}, p = {pvalue:.1g})"
        if outside
        else f"{measure.name}: {now:.2%} errors, within what the last {n} comparable runs make "
        f"plausible (their {share:.2%})"
    )
    return _made(measure, not outside, message, {"bound": bound})


def _share_bound(total: float, share: float, alpha: float) -> float:
    """The highest share of `total` requests the pooled `share` makes plausible at `alpha`."""
    if total <= 0:
        return 1.0
    low, high = 0.0, total
    for _ in range(50):
        middle = (low + high) / 2
        if middle > 0 and betainc(middle, total - middle + 1, share) < alpha:
            high = middle
        else:
            low = middle
    return high / total


def _show(metric: str, value: float) -> str:
    if metric == "capacity":
        return f"x{value:.3g}"
    if metric == "error_rate":
        return f"{value:.2%}"
    return f"{value:.3g} s" if metric.endswith("_s") else f"{value:.0f} ms"


def _run_name(run: Entry) -> str:
    when = run.started.strftime("%Y-%m-%d %H:%M")
    return f"run {run.id} ({run.label}, {when})" if run.label else f"run {run.id} ({when})"
