"""The profile's service-level objectives, judged as error budgets: over the whole run on their
counts, and over stretches of the day by burn rate in pairs of windows.

Every objective is a budget of bad requests (docs/report.md, "How the objectives are judged"):
`p95_ms <= X` allows 5% of the requests slower than X (`p99_ms`: 1%), `customer_wait_p95_s <= X`
5% of the requests overdue (answered after their customer had waited longer than X since the
visit's scheduled start), `error_rate <= r` a share r of errors (attempts the system got wrong,
`surge.visit.wire.ERRORS`). Counts add across windows, workers and runs, where percentiles do
not, so the judgement is on counts and the percentile is only shown.

- **A stretch of the day** breaches it when, for one of the `RULES`, a long window and the short
  window that ends with it both burn the budget faster than the rule's rate (the SRE Workbook's
  multi-window, multi-burn-rate alert), and the long window's excess is significant for its
  counts: the one-sided exact (Clopper-Pearson) lower bound of its bad share, at `CONFIDENCE`,
  lies above the rule's rate times the budget. A long window that did so alone, its short window
  no longer burning, was an excursion over by then: a warning, not a breach. Windows end every
  `BIN_DAY_S` of the day and are named by their end, so a breach is never shown before its
  cause.
- **The whole run** holds it when its bad share is not significantly over the budget: the same
  bound, on counts deflated by how much more the bad requests cluster than independent ones
  would (`Judgement.dispersion`), lies within it. A share over the budget by a margin the counts
  cannot tell from chance is shown, not failed.

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
from scipy import special

from reports.frames import Frames, rank
from reports.i18n import N_
from reports.timeline import Span, faults
from surge.day.profile import CHANNELS, Profile
from surge.visit.wire import ERRORS

BIN_DAY_S = 75.0
"""Windows end every this much of the rehearsed day, and every window is a whole number of
these: the shortest window of `RULES`."""
CONFIDENCE = 0.999
"""Of the one-sided exact bound that makes a breach significant, of a window or of the whole run:
a day has hundreds of window ends and a profile tens of objectives, so each judgement must be
wrong far less often than one in twenty (docs/report.md gives the false-alarm rate it makes)."""
RECOVERY_CONFIDENCE = 0.95
"""…and that a recovery's window must not be over its budget at: a recovery read a window late
costs a few minutes of the day, one read too early hides a backlog still draining."""
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

    def bad(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        """Which requests spend its budget, of `columns` (`response_ms`, `wait_s` and `error`,
        whether each attempt was an error, one value per request)."""
        if self.percent is None:
            return columns["error"]
        return columns[self.column] > self.limit

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
    """Window ends judged by a rule: its long window whole (the day's first hour or quarter hour
    past, clear of the incidents' stretches) and holding any of its requests."""
    breaches: tuple[Window, ...]
    """Each window end where a rule fired (outside the incidents), the hour's rule first."""
    excused: int
    """Window ends where a rule fired only with the incidents' requests."""
    warnings: int
    """Window ends where a long window was significantly over its rule's rate but its short
    window no longer burned: an excursion over by then, a warning rather than a breach."""
    worst: Window | None
    """The judged hour that burned fastest (a quarter hour on a day shorter than an hour)."""
    while_saturated: int = 0
    """Window ends that breached while the load generator was saturated within their long
    window: marked, not counted (the timing was the harness's as much as the target's)."""
    dispersion: float = 1.0
    """How much more its bad requests vary across the day's quarter hours than independent
    requests would (at least 1): neighbours share a queue, so n requests weigh as n / this."""

    @property
    def judged(self) -> Counts:
        """The counts the whole-run judgement rests on."""
        return self.outside if self.outside is not None else self.whole

    @property
    def over_budget(self) -> bool:
        """Its judged share is beyond the budget, significantly or not."""
        share = self.judged.share
        return share is not None and share > self.objective.budget + 1e-12

    @property
    def passed(self) -> bool | None:
        """Not significantly over its budget over the (judged) run: the one-sided exact bound of
        its share, at `CONFIDENCE`, on counts deflated by their `dispersion`, is within the
        budget. None when none of its requests were sent."""
        counts = self.judged
        if counts.share is None:
            return None
        bad, requests = counts.bad / self.dispersion, counts.requests / self.dispersion
        return bool(lower_bound(np.array([bad]), np.array([requests]))[0] <= self.objective.budget)

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
    """Per window end `t` (run seconds): each objective's burn rate over the hour up to it, every
    request counted, the incidents' too (columns by `Objective.name`, NaN without requests), and
    `breach` (any objective breached there, by any rule)."""

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


def judge(
    frames: Frames,
    profile: Profile,
    fault_spans: Sequence[Span] | None = None,
    saturated: Sequence[Span] = (),
) -> Slos:
    """The objectives of `profile`, and the recovery after each of `fault_spans` (the faults as
    they happened, `timeline.faults`; as scheduled when not given). A breach whose long window
    holds any of `saturated` (the stretches when the load generator was, `reports.generator`)
    is marked and not counted: slow answers timed then are the harness's own as much as the
    target's, and a generator's shortfall is never read as the target's (a window that held
    is evidence all the same: the harness only ever adds to a response time)."""
    bin_s = BIN_DAY_S / profile.time_scale
    bins = max(1, math.ceil(frames.duration_s / bin_s - 1e-9))
    requests = frames.requests
    t = requests["t"].to_numpy()
    slot = np.clip(np.floor(t / bin_s), 0, bins - 1).astype(np.int64)
    spans = list(faults(profile) if fault_spans is None else fault_spans)
    bound = profile.slo.recovery_s
    incidents = [] if bound is None else [Span(s.name, s.start, s.end + bound) for s in spans]
    scheduled = requests["scheduled_t"].to_numpy() if "scheduled_t" in requests else t
    inside = np.zeros(len(requests), dtype=bool)
    excluded = np.zeros(bins, dtype=bool)
    starts = np.arange(bins) * bin_s
    for stretch in incidents:  # a request of a visit due in the stretch is the incident's too
        inside |= _within(t, stretch) | _within(scheduled, stretch)
        excluded |= _overlapping(starts, bin_s, stretch)
    strained = np.zeros(bins, dtype=np.int64)
    for stretch in saturated:
        strained |= _overlapping(starts, bin_s, stretch)
    strained_sum = _running(strained)
    series: dict[str, np.ndarray] = {"t": (np.arange(bins) + 1) * bin_s}
    breach = np.zeros(bins, dtype=bool)
    keys = {column: _Keys(requests[column]) for column in ("channel", "journey")}
    columns = {
        "response_ms": requests["response_ms"].to_numpy(dtype=np.float64, na_value=np.nan),
        "wait_s": requests["wait_s"].to_numpy(dtype=np.float64, na_value=np.nan),
        "error": requests["outcome"].isin(ERRORS).to_numpy(),
    }
    judgements, every_of = [], {}
    for objective in objectives(profile):
        mine = keys["channel" if objective.scope == "channel" else "journey"].rows(objective.key)
        bad = objective.bad(columns)
        every = _binned(slot, mine, bad, bins, bin_s)
        outside = _binned(slot, mine & ~inside, bad, bins, bin_s, excluded) if incidents else every
        judgement = _judgement(
            objective, columns, mine, every, outside, bool(incidents), strained_sum
        )
        judgements.append(judgement)
        every_of[objective.name] = every
        series[objective.name] = _windows(every, RULES[0].long_day_s).burn(objective.budget)
        for window in judgement.breaches:
            breach[round(window.end / bin_s) - 1] = True
    series["breach"] = breach
    recoveries = [
        _recovery(span, every_of, judgements, bound, profile.time_scale) for span in spans
    ]
    return Slos(
        bin_s, RULES, profile.time_scale, judgements, recoveries, incidents, pd.DataFrame(series)
    )


@dataclass(frozen=True)
class _Binned:
    """Per bin of the day (`bin_s` run seconds): requests and bad ones, and their running sums
    (from 0 before the first bin), of which every window's counts are differences."""

    requests: np.ndarray
    bad: np.ndarray
    bin_s: float
    requests_sum: np.ndarray
    bad_sum: np.ndarray
    excluded_sum: np.ndarray
    """…and of the bins an incident's stretch left out (a drill's): no window holding one is
    judged, as it would be a shorter window held to a longer one's rate."""

    def total(self) -> Counts:
        return Counts(int(self.requests_sum[-1]), int(self.bad_sum[-1]))


def _overlapping(starts: np.ndarray, bin_s: float, stretch: Span) -> np.ndarray:
    """Which bins (starting at `starts`, `bin_s` long) overlap `stretch`."""
    return np.asarray((starts < stretch.end) & (starts + bin_s > stretch.start))


def _within(t: np.ndarray, stretch: Span) -> np.ndarray:
    return np.asarray((t >= stretch.start) & (t < stretch.end))


def _binned(
    slot: np.ndarray,
    mine: np.ndarray,
    bad: np.ndarray,
    bins: int,
    bin_s: float,
    excluded: np.ndarray | None = None,
) -> _Binned:
    requests = np.bincount(slot[mine], minlength=bins)
    bad_ones = np.bincount(slot[mine & bad], minlength=bins)
    left_out = np.zeros(bins, dtype=np.int64) if excluded is None else excluded.astype(np.int64)
    return _Binned(
        requests, bad_ones, bin_s, _running(requests), _running(bad_ones), _running(left_out)
    )


def _running(per_bin: np.ndarray) -> np.ndarray:
    running = np.zeros(len(per_bin) + 1, dtype=np.int64)
    np.cumsum(per_bin, out=running[1:])
    return running


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
        _trailing(binned.requests_sum, width),
        _trailing(binned.bad_sum, width),
        width * binned.bin_s,
        binned.bin_s,
    )


def _trailing(running: np.ndarray, width: int) -> np.ndarray:
    """Sums of the windows of `width` bins ending at each bin (shorter near the day's start)."""
    ends = np.arange(1, len(running))
    sums: np.ndarray = running[ends] - running[np.maximum(ends - width, 0)]
    return sums


def _whole(binned: _Binned, rule: Rule) -> np.ndarray:
    """Window ends whose long window is whole: not cut short by the day's start, holding no bin
    an incident's stretch left out."""
    width = max(1, round(rule.long_day_s / BIN_DAY_S))
    ends = np.arange(1, len(binned.requests) + 1)
    return np.asarray((ends >= width) & (_trailing(binned.excluded_sum, width) == 0))


def _alerts(binned: _Binned, rule: Rule, budget: float) -> tuple[_Sums, np.ndarray, np.ndarray]:
    """The rule's long windows, where it fired (long and short window over its rate, the long
    one significantly), and where the long window alone did (an excursion that had stopped: a
    warning). Only whole long windows are judged: one cut short by the day's start or by an
    incident's stretch is a shorter window, which the other rule holds to its own, higher rate."""
    long, short = _windows(binned, rule.long_day_s), _windows(binned, rule.short_day_s)
    significant = _whole(binned, rule) & (np.nan_to_num(long.burn(budget)) > rule.burn)
    at = np.flatnonzero(significant)  # the exact bound only where the point estimate is over
    significant[at] = lower_bound(long.bad[at], long.requests[at]) > rule.burn * budget
    burning = np.nan_to_num(short.burn(budget)) > rule.burn
    return long, significant & burning, significant & ~burning


def lower_bound(
    bad: np.ndarray, requests: np.ndarray, confidence: float = CONFIDENCE
) -> np.ndarray:
    """The one-sided exact (Clopper-Pearson) lower bound at `confidence` of each bad share: the
    true share is below it with probability at most 1 - `confidence`, whatever it is."""
    bad, requests = np.asarray(bad, dtype=float), np.asarray(requests, dtype=float)
    with np.errstate(invalid="ignore"):
        # The beta distribution's quantile, as `scipy.stats.beta.ppf` computes it: importing
        # scipy.stats costs every report and gate process about half a second more.
        bound = special.betaincinv(bad, requests - bad + 1, 1 - confidence)
    return np.where(bad > 0, np.nan_to_num(bound), 0.0)


def _judgement(
    objective: Objective,
    columns: dict[str, np.ndarray],
    mine: np.ndarray,
    every: _Binned,
    outside: _Binned,
    drill: bool,
    strained_sum: np.ndarray,
) -> Judgement:
    budget, bins = objective.budget, len(every.requests)
    fired, warned = np.zeros(bins, dtype=bool), np.zeros(bins, dtype=bool)
    marked = np.zeros(bins, dtype=bool)
    breaches: list[Window] = []
    for rule in RULES:
        long, now, alone = _alerts(outside, rule, budget)
        strained = _trailing(strained_sum, max(1, round(rule.long_day_s / BIN_DAY_S))) > 0
        marked |= now & strained
        now &= ~strained
        breaches += [  # one per end, the hour's rule first
            long.window(rule, int(n), budget) for n in np.flatnonzero(now & ~fired)
        ]
        fired |= now
        warned |= alone
    excused = 0
    if drill:
        with_incidents = np.zeros(bins, dtype=bool)
        for rule in RULES:
            with_incidents |= _alerts(every, rule, budget)[1]
        excused = int((with_incidents & ~fired).sum())
    judged = np.zeros(bins, dtype=bool)
    worst = None
    for rule in RULES:  # the fastest hour; a quarter hour on a day shorter than an hour
        long = _windows(outside, rule.long_day_s)
        ends = (long.requests > 0) & _whole(outside, rule)
        judged |= ends
        if worst is None and ends.any():
            at = np.flatnonzero(ends)
            worst = long.window(rule, int(at[np.argmax(long.burn(budget)[at])]), budget)
    return Judgement(
        objective=objective,
        whole=every.total(),
        outside=outside.total() if drill else None,
        value=_value(columns, mine, objective),
        windows=int(judged.sum()),
        breaches=tuple(sorted(breaches, key=lambda w: w.end)),
        excused=excused,
        warnings=int((warned & ~fired).sum()),
        worst=worst,
        while_saturated=int((marked & ~fired).sum()),
        dispersion=_dispersion(outside),
    )


class _Keys:
    """A column's few distinct values (channels, journeys) and each row's code among them: rows
    are picked by comparing codes, not strings."""

    def __init__(self, values: pd.Series) -> None:
        self.codes, uniques = pd.factorize(values)
        self.names = [str(name) for name in uniques]

    def rows(self, key: str) -> np.ndarray:
        if key not in self.names:
            return np.zeros(len(self.codes), dtype=bool)
        return np.asarray(self.codes == self.names.index(key))


def _dispersion(binned: _Binned) -> float:
    """Pearson's dispersion of the bad counts across the day's quarter hours (windows of the
    quarter rule, end to end) against one share for the whole day: 1 for independent requests,
    more when bad ones come together; never taken below 1."""
    width = max(1, round(RULES[1].long_day_s / BIN_DAY_S))
    blocks = -(-len(binned.requests) // width)
    pad = blocks * width - len(binned.requests)
    requests = np.concatenate([binned.requests, np.zeros(pad)]).reshape(blocks, width).sum(axis=1)
    bad = np.concatenate([binned.bad, np.zeros(pad)]).reshape(blocks, width).sum(axis=1)
    used = requests > 0
    share = bad.sum() / max(requests.sum(), 1)
    if used.sum() < 2 or not 0 < share < 1:
        return 1.0
    expected = requests[used] * share
    pearson = float((((bad[used] - expected) ** 2) / (expected * (1 - share))).sum())
    dispersion: float = pearson / (used.sum() - 1)
    return max(1.0, dispersion)


def _value(columns: dict[str, np.ndarray], mine: np.ndarray, objective: Objective) -> float | None:
    """The whole run's percentile (nearest rank, as every table's), or its error share."""
    if not mine.any():
        return None
    if objective.percent is None:
        return float(columns["error"][mine].mean())
    values = columns[objective.column][mine]
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    at = rank(len(values), objective.percent)
    return float(np.partition(values, at)[at])


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
        ahead_n = _leading(counts.requests_sum, width)[first:]
        ahead_bad = _leading(counts.bad_sum, width)[first:]
        ok = lower_bound(ahead_bad, ahead_n, RECOVERY_CONFIDENCE) <= judgement.objective.budget
        held = ok if held is None else held & ok
    found = np.flatnonzero(held) if held is not None else np.array([], dtype=np.int64)
    if not len(found):
        return Recovery(fault, None, bound_s)
    return Recovery(fault, max(0.0, (first + int(found[0])) * bin_s - fault.end), bound_s)


def _leading(running: np.ndarray, width: int) -> np.ndarray:
    """Sums of the windows of `width` bins starting at each bin (shorter near the day's end)."""
    starts = np.arange(len(running) - 1)
    sums: np.ndarray = running[np.minimum(starts + width, len(running) - 1)] - running[starts]
    return sums
