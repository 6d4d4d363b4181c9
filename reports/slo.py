"""The profile's service-level objectives, judged as error budgets: over the whole run on their
counts, and over stretches of the day by burn rate in pairs of windows.

Every objective is a budget of bad requests (docs/report.md, "How the objectives are judged"):
`p95_ms <= X` allows 5% of the requests slower than X (`p99_ms`: 1%), `customer_wait_p95_s <= X`
5% of the requests overdue (answered after their customer had waited longer than X since the
visit's scheduled start), `error_rate <= r` a share r of errors (attempts the system got wrong,
`surge.retry.ERRORS`). Counts add across windows, workers and runs, where percentiles do not, so
the judgement is on counts and the percentile is only shown.

- **The whole run** holds an objective when its bad share is within the budget.
- **A stretch of the day** breaches it when, for one of the `RULES`, a long window and the short
  window that ends with it both burn the budget faster than the rule's rate (the SRE Workbook's
  multi-window, multi-burn-rate alert), and the long window's excess is significant for its
  counts: the one-sided exact (Clopper-Pearson) lower bound of its bad share, at `CONFIDENCE`,
  lies above the rule's rate times the budget. A long window over the rate without that evidence
  is a warning, not a breach. Windows end every `BIN_DAY_S` of the day and are named by their
  end, so a breach is never shown before its cause.

With `[slo] recovery_s`, a run is a drill: each fault's stretch (from its start to the bound
after its end) is the recovery's to judge, so the whole run and the windows are judged on the
requests outside those stretches (`Judgement.outside`), and the breaches only the incidents'
requests made are counted apart (`Judgement.excused`). The recovery after a fault is the time
from its end until every objective holds again: the start of the first short window of the
hour's rule, starting then or later, in which no objective is significantly over its budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from reports.frames import ERRORS, Frames, percentiles
from reports.i18n import N_
from reports.timeline import Span, faults
from surge.profile import CHANNELS, Profile

BIN_DAY_S = 75.0
"""Windows end every this much of the rehearsed day, and every window is a whole number of
these: the shortest window of `RULES`."""
CONFIDENCE = 0.95
"""Of the one-sided exact bound that makes a window's breach (and a recovery's hold) significant."""
BUDGETS = {"p95_ms": 0.05, "p99_ms": 0.01, "customer_wait_p95_s": 0.05}
"""The share of requests a percentile objective allows beyond its limit; `error_rate`'s budget
is its own limit."""
JUDGES = {
    "p95_ms": N_("slow"),
    "p99_ms": N_("slow"),
    "customer_wait_p95_s": N_("overdue"),
    "error_rate": N_("errors"),
}
"""What each metric counts as bad, in the words the report, junit and docs use: a request
`slow`er than the limit, one `overdue` (answered after its customer had waited longer than the
limit since the visit's scheduled start), an error (an attempt the system got wrong)."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One pair of windows: a stretch breaches when its `long_day_s` window and the `short_day_s`
    window ending with it both burn the budget more than `burn` times as fast as it allows."""

    name: str
    long_day_s: float
    short_day_s: float
    burn: float


RULES = (Rule("hour", 3600.0, 300.0, 2.0), Rule("quarter", 900.0, 75.0, 4.0))
"""Sized for a rehearsed day of a few hours (docs/report.md says why): an hour that spent twice
its share of the budget (for a p95, more than 10% of its requests slow), or a quarter hour that
spent four times its share (20%); each short window is a twelfth of its long one, as the SRE
Workbook's pairs are, so a breach ends soon after the burning does."""


@dataclass(frozen=True, slots=True)
class Objective:
    scope: str
    """`channel` or `operation`."""
    key: str
    """The channel's or the operation's name."""
    metric: str
    """`p95_ms`, `p99_ms`, `customer_wait_p95_s` or `error_rate`."""
    limit: float

    @property
    def name(self) -> str:
        return f"{self.key}.{self.metric}"

    @property
    def budget(self) -> float:
        """The share of requests that may be bad."""
        return self.limit if self.metric == "error_rate" else BUDGETS[self.metric]

    @property
    def percent(self) -> float | None:
        """The percentile it bounds (shown beside its counts); None for an error rate."""
        return {"p95_ms": 95.0, "p99_ms": 99.0, "customer_wait_p95_s": 95.0}.get(self.metric)

    @property
    def judges(self) -> str:
        """What it counts as bad: `slow`, `overdue` or `errors` (`JUDGES`)."""
        return JUDGES[self.metric]

    def bad(self, requests: pd.DataFrame) -> np.ndarray:
        """Which of `requests` (rows of `Frames.requests`) spend its budget."""
        if self.percent is None:
            return requests["outcome"].isin(ERRORS).to_numpy()
        values = requests[self.column].to_numpy(dtype=np.float64, na_value=np.nan)
        return values > self.limit

    @property
    def column(self) -> str:
        """The requests' column a percentile objective bounds."""
        return "wait_s" if self.metric == "customer_wait_p95_s" else "response_ms"


@dataclass(frozen=True, slots=True)
class Counts:
    """Requests judged and the bad among them."""

    requests: int
    bad: int

    @property
    def share(self) -> float | None:
        return self.bad / self.requests if self.requests else None

    def burn(self, budget: float) -> float | None:
        """How many times as fast as the budget allows these requests spent it."""
        share = self.share
        if share is None:
            return None
        return share / budget if budget > 0 else (math.inf if share > 0 else 0.0)


@dataclass(frozen=True, slots=True)
class Window:
    """A long window of a rule: its end (run seconds), its span (shorter than the rule's near
    the day's start), its counts and their burn rate."""

    rule: str
    end: float
    span_s: float
    counts: Counts
    burn: float | None

    @property
    def start(self) -> float:
        return self.end - self.span_s


@dataclass(frozen=True, slots=True)
class Judgement:
    objective: Objective
    whole: Counts
    """Every request of the run."""
    outside: Counts | None
    """The requests outside the incidents' stretches, which a drill is judged on; None when the
    profile bounds no recovery (then the whole run is judged)."""
    value: float | None
    """The whole run's percentile (its error share for `error_rate`), shown beside the counts;
    None when the run sent none of its requests."""
    windows: int
    """Window ends judged (with any of its requests in the long window)."""
    breaches: tuple[Window, ...]
    """Each window end where a rule fired (outside the incidents), the hour's rule first."""
    excused: int
    """Window ends where a rule fired only with the incidents' requests."""
    warnings: int
    """Long windows over a rule's rate without a significant excess or a burning short window."""
    worst: Window | None
    """The long window of the hour's rule that burned fastest."""

    @property
    def judged(self) -> Counts:
        """The counts the whole-run judgement rests on."""
        return self.outside if self.outside is not None else self.whole

    @property
    def passed(self) -> bool | None:
        """Within its budget over the (judged) run; None when none of its requests were sent."""
        share = self.judged.share
        if share is None:
            return None
        return share <= self.objective.budget + 1e-12

    @property
    def first_breach(self) -> Window | None:
        return min(self.breaches, key=lambda w: w.end, default=None)

    @property
    def held(self) -> bool:
        """Over the run and in every stretch of it."""
        return self.passed is not False and not self.breaches


@dataclass(frozen=True, slots=True)
class Recovery:
    fault: Span
    after_s: float | None
    """Run seconds from the fault's end until every objective held again (0: at once); None
    when they had not by the day's end."""
    bound_s: float | None = None
    """The profile's `recovery_s` (run seconds); None when it sets none."""

    @property
    def passed(self) -> bool | None:
        """Within the bound; None without one."""
        if self.bound_s is None:
            return None
        return self.after_s is not None and self.after_s <= self.bound_s + 1e-9


@dataclass(frozen=True)
class Slos:
    bin_s: float
    """Run seconds between window ends (`BIN_DAY_S` of the day)."""
    rules: tuple[Rule, ...]
    time_scale: float
    judgements: list[Judgement]
    recoveries: list[Recovery]
    incidents: list[Span]
    """The stretches the recovery bound judges (empty without `recovery_s`)."""
    windows: pd.DataFrame
    """Per window end `t` (run seconds): each objective's burn rate over the hour's long window
    (columns by `Objective.name`, NaN without requests), and `breach` (any objective breached
    there, by any rule)."""

    @property
    def held(self) -> bool:
        return all(j.held for j in self.judgements)

    @property
    def broken(self) -> list[Judgement]:
        """The objectives that did not hold, the first to breach first (whole-run failures last,
        in the profile's order)."""
        broken = [j for j in self.judgements if not j.held]
        return sorted(broken, key=lambda j: (j.first_breach is None, _end(j.first_breach)))

    def span_s(self, rule: Rule, which: str = "long") -> float:
        """A rule's long or short window in run seconds."""
        day = rule.long_day_s if which == "long" else rule.short_day_s
        return day / self.time_scale


def _end(window: Window | None) -> float:
    return window.end if window is not None else math.inf


def objectives(profile: Profile) -> list[Objective]:
    found = []
    for channel in CHANNELS:
        slo = getattr(profile.slo, channel)
        if slo is not None:
            found += _of("channel", channel, slo.model_dump())
    for operation, slo in profile.slo.operations.items():
        found += _of("operation", operation, slo.model_dump())
    return found


def _of(scope: str, key: str, limits: dict[str, float | None]) -> list[Objective]:
    return [
        Objective(scope, key, metric, float(limit))
        for metric, limit in limits.items()
        if limit is not None and metric in JUDGES
    ]


def judge(frames: Frames, profile: Profile, fault_spans: Sequence[Span] | None = None) -> Slos:
    """The objectives of `profile`, and the recovery after each of `fault_spans` (the faults as
    they happened, `timeline.faults`; as scheduled when not given)."""
    bin_s = BIN_DAY_S / profile.time_scale
    bins = max(1, math.ceil(frames.duration_s / bin_s - 1e-9))
    requests = frames.requests
    t = requests["t"].to_numpy()
    slot = np.clip(np.floor(t / bin_s), 0, bins - 1).astype(np.int64)
    spans = list(faults(profile) if fault_spans is None else fault_spans)
    bound = profile.slo.recovery_s
    incidents = [] if bound is None else [Span(s.name, s.start, s.end + bound) for s in spans]
    inside = np.zeros(len(requests), dtype=bool)
    for stretch in incidents:
        inside |= (t >= stretch.start) & (t < stretch.end)
    series = pd.DataFrame(index=pd.Index((np.arange(bins) + 1) * bin_s, name="t"))
    breach = np.zeros(bins, dtype=bool)
    judgements, every_of = [], {}
    for objective in objectives(profile):
        column = "channel" if objective.scope == "channel" else "journey"
        mine = (requests[column] == objective.key).to_numpy()
        bad = objective.bad(requests)
        every = _binned(slot, mine, bad, bins, bin_s)
        outside = _binned(slot, mine & ~inside, bad, bins, bin_s) if incidents else every
        judgement = _judgement(objective, requests[mine], every, outside, bool(incidents))
        judgements.append(judgement)
        every_of[objective.name] = every
        series[objective.name] = _windows(outside, RULES[0].long_day_s).burn(objective.budget)
        for window in judgement.breaches:
            breach[round(window.end / bin_s) - 1] = True
    series["breach"] = breach
    recoveries = [
        _recovery(span, every_of, judgements, bound, profile.time_scale) for span in spans
    ]
    return Slos(
        bin_s, RULES, profile.time_scale, judgements, recoveries, incidents, series.reset_index()
    )


@dataclass(frozen=True)
class _Binned:
    """Per bin of the day (`bin_s` run seconds): requests and bad ones."""

    requests: np.ndarray
    bad: np.ndarray
    bin_s: float

    def total(self) -> Counts:
        return Counts(int(self.requests.sum()), int(self.bad.sum()))


def _binned(
    slot: np.ndarray, mine: np.ndarray, bad: np.ndarray, bins: int, bin_s: float
) -> _Binned:
    return _Binned(
        np.bincount(slot[mine], minlength=bins),
        np.bincount(slot[mine & bad], minlength=bins),
        bin_s,
    )


@dataclass(frozen=True)
class _Sums:
    """Every window of one length ending at each bin's end: requests and bad ones."""

    requests: np.ndarray
    bad: np.ndarray
    span_s: float
    bin_s: float

    def window(self, rule: Rule, n: int, budget: float) -> Window:
        """The window ending with bin `n`; near the day's start it reaches back only to it."""
        end = (n + 1) * self.bin_s
        counts = Counts(int(self.requests[n]), int(self.bad[n]))
        return Window(rule.name, end, min(self.span_s, end), counts, counts.burn(budget))

    def burn(self, budget: float) -> np.ndarray:
        """Each window's burn rate (NaN without requests)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(self.requests > 0, self.bad / np.maximum(self.requests, 1), np.nan)
            if budget > 0:
                return share / budget
            return np.where(share > 0, np.inf, share)


def _windows(binned: _Binned, span_day_s: float) -> _Sums:
    """The windows of `span_day_s` of the day ending at each bin's end; those near the day's
    start reach back only to it."""
    width = max(1, round(span_day_s / BIN_DAY_S))
    return _Sums(
        _trailing(binned.requests, width),
        _trailing(binned.bad, width),
        width * binned.bin_s,
        binned.bin_s,
    )


def _trailing(per_bin: np.ndarray, width: int) -> np.ndarray:
    total = np.r_[0, np.cumsum(per_bin)]
    ends = np.arange(1, len(per_bin) + 1)
    return total[ends] - total[np.maximum(ends - width, 0)]


def _alerts(binned: _Binned, rule: Rule, budget: float) -> tuple[_Sums, np.ndarray, np.ndarray]:
    """The rule's long windows, where it fired (long and short window over its rate, the long
    one significantly), and where the long window was over its rate."""
    long, short = _windows(binned, rule.long_day_s), _windows(binned, rule.short_day_s)
    over = np.nan_to_num(long.burn(budget)) > rule.burn
    significant = lower_bound(long.bad, long.requests) > rule.burn * budget
    burning = np.nan_to_num(short.burn(budget)) > rule.burn
    return long, over & significant & burning, over


def lower_bound(bad: np.ndarray, requests: np.ndarray) -> np.ndarray:
    """The one-sided exact (Clopper-Pearson) lower bound at `CONFIDENCE` of each bad share: below
    it with probability at most 1 - `CONFIDENCE` whatever the true share."""
    bad, requests = np.asarray(bad, dtype=float), np.asarray(requests, dtype=float)
    with np.errstate(invalid="ignore"):
        bound = stats.beta.ppf(1 - CONFIDENCE, bad, requests - bad + 1)
    return np.where(bad > 0, np.nan_to_num(bound), 0.0)


def _judgement(
    objective: Objective, mine: pd.DataFrame, every: _Binned, outside: _Binned, drill: bool
) -> Judgement:
    budget, bins = objective.budget, len(every.requests)
    fired, warned = np.zeros(bins, dtype=bool), np.zeros(bins, dtype=bool)
    breaches: list[Window] = []
    for rule in RULES:
        long, now, over = _alerts(outside, rule, budget)
        breaches += [  # one per end, the hour's rule first
            long.window(rule, int(n), budget) for n in np.flatnonzero(now & ~fired)
        ]
        fired |= now
        warned |= over
    excused = 0
    if drill:
        with_incidents = np.zeros(bins, dtype=bool)
        for rule in RULES:
            with_incidents |= _alerts(every, rule, budget)[1]
        excused = int((with_incidents & ~fired).sum())
    hour = _windows(outside, RULES[0].long_day_s)
    burns = hour.burn(budget)
    judged = np.flatnonzero(hour.requests > 0)
    worst = None
    if len(judged):
        worst = hour.window(RULES[0], int(judged[np.argmax(burns[judged])]), budget)
    return Judgement(
        objective=objective,
        whole=every.total(),
        outside=outside.total() if drill else None,
        value=_value(mine, objective),
        windows=len(judged),
        breaches=tuple(sorted(breaches, key=lambda w: w.end)),
        excused=excused,
        warnings=int((warned & ~fired).sum()),
        worst=worst,
    )


def _value(requests: pd.DataFrame, objective: Objective) -> float | None:
    if requests.empty:
        return None
    if objective.percent is None:
        return float(requests["outcome"].isin(ERRORS).mean())
    return float(percentiles(requests[objective.column], ps=(objective.percent,)).iloc[0, 0])


def _recovery(
    fault: Span,
    every_of: dict[str, _Binned],
    judgements: list[Judgement],
    bound_s: float | None,
    time_scale: float,
) -> Recovery:
    """From the fault's end to the start of the first short window of the hour's rule, starting
    then or later, in which no objective is significantly over its budget; `bound_s`, the
    profile's `recovery_s`, in run seconds like every time of a resolved profile."""
    if not judgements:
        return Recovery(fault, 0.0, bound_s)
    width = max(1, round(RULES[0].short_day_s / BIN_DAY_S))
    bin_s = BIN_DAY_S / time_scale
    first = math.ceil(fault.end / bin_s - 1e-9)
    held: np.ndarray | None = None
    for judgement in judgements:
        counts = every_of[judgement.objective.name]
        ahead_n = _leading(counts.requests, width)[first:]
        ahead_bad = _leading(counts.bad, width)[first:]
        ok = lower_bound(ahead_bad, ahead_n) <= judgement.objective.budget
        held = ok if held is None else held & ok
    found = np.flatnonzero(held) if held is not None else np.array([], dtype=np.int64)
    if not len(found):
        return Recovery(fault, None, bound_s)
    return Recovery(fault, max(0.0, (first + int(found[0])) * bin_s - fault.end), bound_s)


def _leading(per_bin: np.ndarray, width: int) -> np.ndarray:
    """Sums of the windows of `width` bins starting at each bin (shorter near the day's end)."""
    total = np.r_[0, np.cumsum(per_bin)]
    starts = np.arange(len(per_bin))
    return total[np.minimum(starts + width, len(per_bin))] - total[starts]
