"""The judgement for CI: is the run evidence, did its SLOs and books hold, did it get worse?

`gate(analysis, baseline)` makes one case per check, each a test case of `junit.xml`:

- validity: the one verdict rule (`surge.judge.verdict`); a run that is not evidence exits 3
  whatever else it shows;
- each SLO of the profile, over the whole run and in every sliding window (`reports.slo`), and
  the recovery after each fault when the profile bounds it (`[slo] recovery_s`);
- each reconcile check of the ledger (one posting per idempotency key among them: no write
  applied twice), each check of the run's writes against the ledger export
  (`surge.judge.durability`: acknowledged writes present once, no retry posted twice, unknown ones
  at most once), and each injected AML pattern (every one alerted); skipped, not passed, when
  the run had no admin answer from the target;
- with a baseline run of the same profile, first whether the two compare: a run of the
  embedded core, which shares the generator's host, that read slower on a host more contended
  than its baseline's is not evidence of a regression (exit 3, like a run that is not valid;
  `compared`, docs/report.md "Against a baseline"); then per channel and per operation, the
  p95, the p99 and the error rate against the baseline's. A percentile is compared with `TAIL`
  requests above it and `MIN_BLOCKS` blocks of the day in both runs, and regresses only when
  the whole 95% bootstrap interval of its ratio to the baseline's lies above
  1 + `max_regression` (so noise between two runs of the same code passes and a real slowdown
  fails), its bootstrap drawing blocks of seconds, not requests (`_quantiles`); the error rate
  when it rose by more than `max_regression` of the baseline's, by more than `MIN_ERROR_RISE`,
  and a one-sided two-proportion test says it is no accident (p < 0.05).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from reports.analysis import Analysis
from reports.correctness import Correctness
from reports.sequential import BLOCK_S
from reports.slo import Judgement, Objective, Recovery
from surge import exits
from surge.day.profile import Profile, format_duration
from surge.visit.wire import ERRORS

BOOTSTRAP = 400
"""Resamples for a percentile ratio's interval."""
SAMPLE = 5_000
"""At most this many requests of a group go into the bootstrap (a seeded draw): the interval
narrows as 1/sqrt(n), and this keeps a gate on millions of records quick."""
TAIL = 10
"""A percentile is compared only with this many requests above it in both runs (a p95 from
200 requests, a p99 from 1,000). With fewer, run-to-run jitter of a few slow requests moves it
more than its bootstrap interval allows: in bench/gate_false_alarm.py's A/A runs, `fan_in`'s
p95 (180 requests, 9 above it) read 1.57 times its baseline's (interval 1.15-2.07) with nothing
changed."""
MIN_BLOCKS = 10
"""A percentile is compared only over this many `BLOCK_S` blocks of the day in both runs (20 s):
the bootstrap resamples blocks, and with few of them every resample is nearly the run itself,
an interval too narrow for what another run would show."""
MIN_ERROR_RISE = 0.001
"""An error rate rising by less than this share of requests is never a regression."""
Z_95 = 1.6449
"""One-sided 95% for the error-rate test."""
SEED = 20261202
COMPARABLE = "comparable with the baseline"
MAX_CPU_WAIT_GAP = 0.2
"""A run of the embedded core whose share of the day in which some task on the host waited for
a CPU is this much over its baseline's cannot show a regression: on two cores, default
rehearsals waited 6-12% of their day alone or beside one busy process, which left their p95s
alike, and 32-36% beside two, which read up to 1.17 times slower at p95 (docs/report.md,
"Against a baseline")."""


@dataclass(frozen=True, slots=True)
class Case:
    suite: str
    """`validity`, `slo`, `correctness`, `regression` or `history` (`reports.history`)."""
    name: str
    passed: bool | None
    """None: skipped (not checked)."""
    message: str
    """One line: what was found."""
    figures: dict[str, float] = field(default_factory=dict)
    """A regression's: `ratio`, `low`, `high` (a percentile's), or `now` and `before` (an error
    rate's), for the report to word in its language."""


@dataclass(frozen=True)
class Gate:
    cases: list[Case]

    @property
    def valid(self) -> bool:
        return all(c.passed is not False for c in self.cases if c.suite == "validity")

    @property
    def failures(self) -> list[Case]:
        return [c for c in self.cases if c.passed is False]

    @property
    def exit_code(self) -> int:
        if not self.valid:
            return exits.NOT_VALID
        return exits.GATE_FAILED if self.failures else exits.OK

    def junit(self) -> str:
        root = ElementTree.Element("testsuites", name="surge gate")
        for suite in ("validity", "slo", "correctness", "regression", "history"):
            mine = [c for c in self.cases if c.suite == suite]
            if not mine:
                continue
            node = ElementTree.SubElement(
                root,
                "testsuite",
                name=suite,
                tests=str(len(mine)),
                failures=str(sum(c.passed is False for c in mine)),
                skipped=str(sum(c.passed is None for c in mine)),
            )
            for case in mine:
                test = ElementTree.SubElement(
                    node, "testcase", classname=f"surge.gate.{suite}", name=case.name
                )
                if case.passed is False:
                    ElementTree.SubElement(test, "failure", message=case.message)
                elif case.passed is None:
                    ElementTree.SubElement(test, "skipped", message=case.message)
                else:
                    ElementTree.SubElement(test, "system-out").text = case.message
        ElementTree.indent(root)
        return ElementTree.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


@dataclass(frozen=True)
class Gated:
    """A folder concluded (a run's or a capacity search's): the gate's judgement and the report
    written, if one was asked for; what `surge rehearse` and `surge capacity` end with."""

    gate: Gate
    report: Path | None

    @property
    def exit_code(self) -> int:
        return self.gate.exit_code

    @property
    def failures(self) -> list[str]:
        return [case.message for case in self.gate.failures]


def gate(analysis: Analysis, baseline: Analysis | None = None, max_regression: float = 0.1) -> Gate:
    cases = [_validity(analysis)]
    cases += [_slo(j, analysis) for j in analysis.slos.judgements]
    cases += [_recovery(r, analysis) for r in analysis.slos.recoveries if r.bound_s is not None]
    cases += correctness_cases(analysis.correctness)
    if baseline is not None:
        cases += compared(analysis, baseline, max_regression)
    return Gate(cases)


def _validity(analysis: Analysis) -> Case:
    verdict = analysis.verdict
    if verdict.valid:
        return Case("validity", "valid evidence", True, "the run is valid evidence")
    return Case("validity", "valid evidence", False, "; ".join(verdict.reasons))


def _slo(judgement: Judgement, analysis: Analysis) -> Case:
    """One line from the objective's judgement: its budget over the run (outside the incidents'
    stretches in a drill), then the first stretch of the day that burned it too fast."""
    objective, counts = judgement.objective, judgement.judged
    if counts.share is None:
        return Case("slo", objective.name, None, f"{objective.name}: no requests of it in the run")
    clock = analysis.run.profile.wall_clock
    where = " outside the incidents" if judgement.outside is not None else ""
    line = (
        f"{objective.name}: {counts.share:.2%} of {counts.requests} requests{where} "
        f"{_bad(objective)}, against a budget of {objective.budget:.2%}"
    )
    if objective.percent is not None:
        line += f" (p{objective.percent:g} {_unit(objective.metric)(judgement.value)})"
    first = judgement.first_breach
    if first is not None:
        line += (
            f"; {len(judgement.breaches)} of {judgement.windows} windows breached it, first the "
            f"{format_duration(round(first.span_s * analysis.run.profile.time_scale))} up to "
            f"{clock(first.end)}: {first.counts.share or 0:.1%} {_bad(objective)}, "
            f"{first.burn or 0:.1f} times the budget's rate"
        )
    elif judgement.passed:
        line += ", and no stretch of the day burned it too fast"
    if judgement.while_saturated:
        line += (
            f" ({judgement.while_saturated} more windows breached while the load generator was "
            "saturated: not counted against the target)"
        )
    return Case("slo", objective.name, judgement.held, line)


def _bad(objective: Objective) -> str:
    """What spends the objective's budget, as a predicate of its requests."""
    unit = _unit(objective.metric)
    if objective.metric == "error_rate":
        return "were errors"
    if objective.metric == "customer_wait_p95_s":
        return f"answered after the customer had waited over {unit(objective.limit)}"
    return f"slower than {unit(objective.limit)}"


def _recovery(recovery: Recovery, analysis: Analysis) -> Case:
    """The time until the SLOs held again after a fault, against the profile's bound; the day's
    minutes beside the run's seconds, since the bound is written in the day's time."""
    scale = analysis.run.profile.time_scale
    name = recovery_name(recovery, analysis.run.profile)
    bound = f"{recovery.bound_s:.2f} s ({format_duration(round((recovery.bound_s or 0) * scale))})"
    if recovery.after_s is None:
        return Case("slo", name, False, f"{name}: the SLOs did not hold again by the day's end")
    after = f"{recovery.after_s:.2f} s ({format_duration(round(recovery.after_s * scale))})"
    return Case(
        "slo", name, recovery.passed, f"{name}: the SLOs held again after {after}, against {bound}"
    )


def recovery_name(recovery: Recovery, profile: Profile) -> str:
    """A recovery's case: `recovery after brownout lane:kiosk-gateway at 12:00`."""
    return f"recovery after {recovery.fault.name} at {profile.wall_clock(recovery.fault.start)}"


def _unit(metric: str) -> Callable[[float | None], str]:
    if metric == "error_rate":
        return lambda v: "-" if v is None else f"{v:.2%}"
    if metric.endswith("_s"):
        return lambda v: "-" if v is None else f"{v:.2f} s"
    return lambda v: "-" if v is None else f"{v:.0f} ms"


def correctness_cases(books: Correctness) -> list[Case]:
    """The ledger's reconcile checks, the checks of the run's writes against the ledger and the
    AML patterns, a case each (skipped without the target's admin answers)."""

    def unanswered(path: str) -> str:
        return "could not run: not the mock core" if books.not_mock_core else f"no {path} answer"

    if books.reconcile is None:
        cases = [Case("correctness", "ledger reconciled", None, unanswered("/admin/reconcile"))]
    else:
        cases = [
            Case(
                "correctness",
                f"ledger: {check.name}",
                check.ok,
                f"{check.name}: {'ok' if check.ok else 'FAILED'} ({check.description})",
            )
            for check in books.reconcile
        ]
    if books.writes is None:
        cases.append(Case("correctness", "writes", None, unanswered("/admin/ledger/keys")))
    for check in books.writes or []:
        cases.append(Case("correctness", f"writes: {check.name}", check.ok, check.line()))
    if books.patterns is None:
        cases.append(Case("correctness", "AML alerts", None, unanswered("/admin/alerts")))
    for pattern in books.patterns or []:
        cases.append(
            Case(
                "correctness",
                f"AML {pattern.rule} alerted",
                pattern.alerted == pattern.injected,
                f"AML {pattern.rule}: {pattern.alerted} of {pattern.injected} injected patterns "
                "alerted",
            )
        )
    return cases


def compared(analysis: Analysis, baseline: Analysis, max_regression: float) -> list[Case]:
    """The regressions against the baseline, after whether the pair can show them
    (`COMPARABLE`). The embedded core's latencies move with the CPU it shares with the generator
    and whatever else runs on the host, so a run on a host more contended than its baseline's
    by `MAX_CPU_WAIT_GAP` or more proves nothing by reading slower: its regressions are not
    judged and the pair is not evidence (exit 3); reading no slower, it passes. A run on a
    quieter host is judged as it is: the host did not make it slower. A target of its own, or a
    host that did not tell its contention, is compared as it is (the case skipped)."""
    judged = regressions(analysis, baseline, max_regression)
    now, before = _cpu_wait(analysis), _cpu_wait(baseline)
    if not (_embedded(analysis) and _embedded(baseline)):
        return [Case("validity", COMPARABLE, None, f"{COMPARABLE}: not the embedded core"), *judged]
    if now is None or before is None:
        told = f"{COMPARABLE}: a host did not tell its CPU contention"
        return [Case("validity", COMPARABLE, None, told), *judged]
    line = (
        f"{COMPARABLE}: some task on the host waited for a CPU {now:.0%} of this run's day and "
        f"{before:.0%} of the baseline's"
    )
    slower = sum(c.passed is False for c in judged)
    figures = {"now": now, "before": before, "slower": float(slower), "of": float(len(judged))}
    if now - before < MAX_CPU_WAIT_GAP:
        return [Case("validity", COMPARABLE, True, line, figures), *judged]
    if not slower:
        line += "; nothing read slower on the busier host"
        return [Case("validity", COMPARABLE, True, line, figures), *judged]
    line += (
        f"; {slower} of {len(judged)} measures read slower, which the busier host may explain "
        "(the embedded core shares its CPU): rerun on a host contended like the baseline's"
    )
    return [Case("validity", COMPARABLE, False, line, figures)]


def _embedded(analysis: Analysis) -> bool:
    return bool(analysis.run.info.options.get("embedded_core"))


def _cpu_wait(analysis: Analysis) -> float | None:
    """The local runner's or master's figure: every process of the run shares its host."""
    watched = analysis.generator
    return watched.processes[0].host_cpu_wait if watched and watched.processes else None


def regressions(analysis: Analysis, baseline: Analysis, max_regression: float) -> list[Case]:
    """Per channel and per operation: p95, p99 and error rate against the baseline's."""
    now, before = analysis.frames.requests, baseline.frames.requests
    cases = []
    for column in ("channel", "journey"):
        shared = sorted(set(now[column].astype(str)) & set(before[column].astype(str)))
        for key in shared:
            mine = now[now[column] == key]
            theirs = before[before[column] == key]
            for percent in (95.0, 99.0):
                cases.append(_percentile(key, percent, mine, theirs, max_regression))
            cases.append(_errors(key, mine, theirs, max_regression))
    return cases


def _percentile(
    key: str, percent: float, now: pd.DataFrame, before: pd.DataFrame, max_regression: float
) -> Case:
    name = f"{key} p{percent:g}"
    least = math.ceil(TAIL / (1 - percent / 100))
    if len(now) < least or len(before) < least:
        return Case("regression", name, None, f"{name}: too few requests to compare (< {least})")
    if min(_blocks(now), _blocks(before)) < MIN_BLOCKS:
        span = f"{MIN_BLOCKS * BLOCK_S:g} s"
        return Case("regression", name, None, f"{name}: too short a day to compare (< {span})")
    rng = np.random.default_rng(SEED)
    a, a_blocks = _sample(now, rng)
    b, b_blocks = _sample(before, rng)
    ratios = _quantiles(a, a_blocks, percent, rng) / _quantiles(b, b_blocks, percent, rng)
    low, high = np.quantile(ratios, [0.025, 0.975])
    point = np.quantile(a, percent / 100, method="inverted_cdf") / np.quantile(
        b, percent / 100, method="inverted_cdf"
    )
    regressed = bool(low > 1 + max_regression)
    text = (
        f"{name}: {point:.2f} times the baseline's (95% interval {low:.2f}-{high:.2f}; a "
        f"regression beyond {max_regression:.0%} needs all of it above {1 + max_regression:.2f})"
    )
    figures = {"ratio": float(point), "low": float(low), "high": float(high)}
    return Case("regression", name, not regressed, text, figures)


def _blocks(requests: pd.DataFrame) -> int:
    return int(np.unique(_block_of(requests)).size)


def _block_of(requests: pd.DataFrame) -> np.ndarray:
    """Each request's `BLOCK_S` block of the day, by when it started."""
    blocks: np.ndarray = np.floor(requests["t"].to_numpy() / BLOCK_S).astype(np.int64)
    return blocks


def _sample(requests: pd.DataFrame, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Response times and blocks of at most `SAMPLE` of the requests (a draw keeps each one's
    block)."""
    values, blocks = requests["response_ms"].to_numpy(), _block_of(requests)
    if len(values) <= SAMPLE:
        return values, blocks
    kept = rng.choice(len(values), SAMPLE, replace=False)
    return values[kept], blocks[kept]


def _quantiles(
    values: np.ndarray, blocks: np.ndarray, percent: float, rng: np.random.Generator
) -> np.ndarray:
    """The percentile of `BOOTSTRAP` resamples, each of as many blocks as the run has, drawn
    with replacement with all their requests.

    Neighbouring requests share the host and the target's queues, so slow ones come in
    stretches (a host busy for a second, a queue building up): drawn one by one, a stretch
    would read as independent luck, the interval too narrow for it. On a crowded host two runs
    of the same code read 1.67 times apart at a p95 of 500 requests, interval 1.27-2.52 when
    drawn by request, 0.94-3.86 by block, while a core twice as slow still read 1.81-2.31
    (tests/test_gate.py). A resample weighs each request by its block's draws: the smallest
    value whose cumulative weight reaches `percent` of the whole is the percentile (as
    `inverted_cdf` on the resample's requests)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    _, block = np.unique(blocks[order], return_inverse=True)
    count = int(block.max()) + 1
    draws = rng.multinomial(count, np.full(count, 1 / count), size=BOOTSTRAP)
    cumulative = np.cumsum(draws[:, block], axis=1)
    reached = cumulative >= cumulative[:, -1:] * (percent / 100)
    quantiles: np.ndarray = ordered[reached.argmax(axis=1)]
    return quantiles


def _errors(key: str, now: pd.DataFrame, before: pd.DataFrame, max_regression: float) -> Case:
    name = f"{key} error rate"
    n1, n0 = len(now), len(before)
    e1 = int(now["outcome"].isin(ERRORS).sum())
    e0 = int(before["outcome"].isin(ERRORS).sum())
    p1, p0 = e1 / n1, e0 / n0
    pooled = (e1 + e0) / (n1 + n0)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0)) if 0 < pooled < 1 else 0.0
    significant = spread > 0 and (p1 - p0) / spread > Z_95
    regressed = significant and p1 - p0 > max(max_regression * p0, MIN_ERROR_RISE)
    text = f"{name}: {p1:.2%} against the baseline's {p0:.2%}"
    return Case("regression", name, not regressed, text, {"now": p1, "before": p0})
