"""What the run shows, in a few sentences a drill team acts on, each pointing at its evidence.

A finding is a message (an English template, translated by the report: reports/i18n.py) with
its figures kept typed, so each language formats them its own way, and the anchor of the chart
or table that shows it. Findings come in order of how much they matter: the verdict, then what
broke, then what held.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reports.capacity import Capacity
from reports.correctness import Correctness
from reports.i18n import N_
from reports.slo import Judgement, Recovery, Slos
from reports.staffing import Staffing
from surge.day.profile import Profile
from surge.judge.verdict import REASONS, SHARES, Verdict

SUSTAINED_SAMPLES = 3
"""A lane saturated in fewer of the target's samples (a few seconds each) was a moment's
crowding, a warning; in this many, a finding."""
MOST_BROKEN = 3
"""Broken objectives told one by one; the rest are counted (the SLO table has each)."""


@dataclass(frozen=True, slots=True)
class Figure:
    """A value in a finding, with how to show it: `text`, `word` (a word of the catalogue, said
    in the report's language), `name` (an identifier: an objective, a lane, a phase, a fault,
    shown with its meaning where the language needs it, `reports.labels`), `names` (a list of
    them), `number`, `ratio` (a number to a tenth), `percent`, `ms`, `seconds`, `minutes` or
    `clock` (a run time shown as the rehearsed day's wall clock)."""

    kind: str
    value: Any


@dataclass(frozen=True)
class Finding:
    tone: str
    """`bad`, `warn` or `good`."""
    message: str
    figures: dict[str, Figure] = field(default_factory=dict)
    anchor: str = ""
    """The id of the chart or table that shows it."""


def findings(
    profile: Profile,
    verdict: Verdict,
    slos: Slos,
    capacity: Capacity,
    staffing: Staffing,
    correctness: Correctness,
) -> list[Finding]:
    found = [
        _cause(code, figures) for code, figures in ((c.code, c.figures) for c in verdict.causes)
    ]
    found += _slo(slos, profile)
    found += _lanes(capacity)
    found += _recoveries(slos, profile)
    found += _branch(staffing)
    found += _detection(correctness)
    return found


def _cause(code: str, figures: dict[str, Any]) -> Finding:
    typed = {
        name: Figure("percent" if name in SHARES else "number" if isinstance(v, int) else "text", v)
        for name, v in figures.items()
    }
    return Finding("bad", REASONS[code], typed, "verdict")


def _slo(slos: Slos, profile: Profile) -> list[Finding]:
    """The objectives that broke, the first to breach first (from the same judgements as the
    SLO table, the banner and junit.xml), or that every one held; and the warnings."""
    if not slos.judgements:
        return []
    broken = slos.broken
    out = [broke(judgement, profile) for judgement in broken[:MOST_BROKEN]]
    if len(broken) > MOST_BROKEN:
        out.append(
            Finding(
                "bad",
                N_("{count} of {total} objectives broke in all: the SLO table lists them."),
                {
                    "count": Figure("number", len(broken)),
                    "total": Figure("number", len(slos.judgements)),
                },
                "slo-table",
            )
        )
    if not broken:
        out.append(
            Finding(
                "good",
                N_(
                    "Every SLO held: each within its budget over the run, and no stretch of the "
                    "day spent a budget too fast."
                ),
                {},
                "slo-table",
            )
        )
    strained = [j for j in slos.judgements if j.while_saturated]
    if strained:
        out.append(
            Finding(
                "warn",
                N_(
                    "{objectives} breached windows while the load generator was saturated: not "
                    "counted against the target, whose answers were timed late by the harness; "
                    "give the run more --workers or a quieter machine."
                ),
                {"objectives": Figure("names", [j.objective.name for j in strained])},
                "chart-slo",
            )
        )
    warned = [j for j in slos.judgements if j.warnings and j.held]
    if warned:
        out.append(
            Finding(
                "warn",
                N_(
                    "{objectives}: a window ran over a burn rate without enough requests to show "
                    "a breach; a warning, not a failure."
                ),
                {"objectives": Figure("names", [j.objective.name for j in warned])},
                "chart-slo",
            )
        )
    return out


def _metric(metric: str, value: float | None) -> Figure:
    if metric == "error_rate":
        return Figure("percent", value)
    return Figure("seconds" if metric.endswith("_s") else "ms", value)


def _lanes(capacity: Capacity) -> list[Finding]:
    out = [
        Finding(
            "bad" if saturated.samples >= SUSTAINED_SAMPLES else "warn",
            N_(
                "The {lane} lane saturated from {clock} (busy slots, a queue or refusals in "
                "{samples} of its {scrapes} samples)."
            ),
            {
                "lane": Figure("name", saturated.lane),
                "clock": Figure("clock", saturated.first_t),
                "samples": Figure("number", saturated.samples),
                "scrapes": Figure("number", saturated.scrapes),
            },
            "chart-lanes",
        )
        for saturated in capacity.saturated
    ]
    busiest = capacity.busiest()
    if busiest is not None and not capacity.saturated:
        out.append(
            Finding(
                "good",
                N_(
                    "The busiest lane, {lane}, ran at {share} of its slots at most, in {phase}: "
                    "headroom of {headroom}."
                ),
                {
                    "lane": Figure("name", busiest.lane),
                    "share": Figure("percent", busiest.peak_share),
                    "phase": Figure("name", busiest.phase),
                    "headroom": Figure("percent", 1 - (busiest.peak_share or 0.0)),
                },
                "chart-lanes",
            )
        )
    if capacity.upturn.at_per_s is not None:
        out.append(
            Finding(
                "warn",
                N_(
                    "Latency turned up at about {per_s} requests a second: the windows' p95 passed "
                    "twice its {baseline} at light load (where response times start to grow, not "
                    "the capacity: the objectives may hold beyond it)."
                ),
                {
                    "per_s": Figure("number", capacity.upturn.at_per_s),
                    "baseline": Figure("ms", capacity.upturn.baseline_p95_ms),
                },
                "chart-upturn",
            )
        )
    return out


def broke(judgement: Judgement, profile: Profile) -> Finding:
    """How an objective broke: over the run on its counts, or first in a stretch of the day."""
    objective, first = judgement.objective, judgement.first_breach
    figures = {
        "objective": Figure("name", objective.name),
        "judges": Figure("word", objective.judges),
        "budget": Figure("percent", objective.budget),
    }
    if first is None:
        return Finding(
            "bad",
            N_(
                "{objective} spent more than its budget over the run: {share} of its requests "
                "were {judges}, against {budget}."
            ),
            figures | {"share": Figure("percent", judgement.judged.share)},
            "slo-table",
        )
    return Finding(
        "bad",
        N_(
            "{objective} breached from {clock}: in the {span} up to then {share} of its "
            "requests were {judges}, {burn} times the rate its budget of {budget} allows."
        ),
        figures
        | {
            "clock": Figure("clock", first.end),
            "span": Figure("minutes", first.span_s * profile.time_scale / 60),
            "share": Figure("percent", first.counts.share),
            "burn": Figure("ratio", first.burn),
        },
        "chart-slo",
    )


def _recoveries(slos: Slos, profile: Profile) -> list[Finding]:
    return [recovered(recovery, profile) for recovery in slos.recoveries]


def recovered(recovery: Recovery, profile: Profile) -> Finding:
    """How soon the objectives held again after a fault, against the profile's bound if any."""
    fault = {
        "fault": Figure("name", recovery.fault.name),
        "clock": Figure("clock", recovery.fault.end),
    }
    if recovery.after_s is None:
        return Finding(
            "bad",
            N_(
                "After the {fault} fault ended at {clock} the SLOs did not hold again by the end "
                "of the day."
            ),
            fault,
            "chart-slo",
        )
    after = fault | {
        "after": Figure("seconds", recovery.after_s),
        "day": Figure("minutes", recovery.after_s * profile.time_scale / 60),
    }
    if recovery.passed is False:
        return Finding(
            "bad",
            N_(
                "After the {fault} fault ended at {clock} the SLOs held again only after "
                "{after} ({day} of the rehearsed day), beyond the bound of {bound}."
            ),
            after | {"bound": Figure("minutes", (recovery.bound_s or 0) * profile.time_scale / 60)},
            "chart-slo",
        )
    return Finding(
        "good" if recovery.after_s == 0 else "warn",
        N_(
            "After the {fault} fault ended at {clock} the SLOs held again within {after} ({day} "
            "of the rehearsed day)."
        ),
        after,
        "chart-slo",
    )


def _branch(staffing: Staffing) -> list[Finding]:
    out = [
        Finding(
            "bad",
            N_(
                "In {phase} the counters needed {needed} to serve {level} within {target}, "
                "with {counters} open."
            ),
            {
                "phase": Figure("name", phase.phase),
                "needed": Figure("number", phase.needed),
                "level": Figure("percent", staffing.target_service_level),
                "target": Figure("minutes", staffing.target_wait_minutes),
                "counters": Figure("number", phase.counters),
            },
            "section-branch",
        )
        for phase in staffing.short
    ]
    at_profile = min(staffing.what_if, key=lambda w: abs(w.diversion - staffing.diversion))
    enough = next(
        (
            w
            for w in staffing.what_if
            if staffing.phases and w.needed <= staffing.phases[0].counters
        ),
        None,
    )
    if staffing.short and enough is not None:
        out.append(
            Finding(
                "warn",
                N_(
                    "Diverting {share} of simple counter business to kiosks and online would let "
                    "the counters open carry {phase} ({needed} needed; {now} at today's {current})."
                ),
                {
                    "share": Figure("percent", enough.diversion),
                    "phase": Figure("name", staffing.peak),
                    "needed": Figure("number", enough.needed),
                    "now": Figure("number", at_profile.needed),
                    "current": Figure("percent", staffing.diversion),
                },
                "chart-diversion",
            )
        )
    return out


def _detection(correctness: Correctness) -> list[Finding]:
    out = []
    for pattern in correctness.patterns or []:
        if pattern.injected and pattern.alerted < pattern.injected:
            out.append(
                Finding(
                    "bad",
                    N_(
                        "Anti-money-laundering monitoring missed {missed} of {injected} {rule} "
                        "patterns."
                    ),
                    {
                        "missed": Figure("number", pattern.injected - pattern.alerted),
                        "injected": Figure("number", pattern.injected),
                        "rule": Figure("name", pattern.rule),
                    },
                    "section-correctness",
                )
            )
    broken = [c.name for c in correctness.writes or [] if not c.ok]
    if broken:
        out.append(
            Finding(
                "bad",
                N_("The ledger does not hold the run's writes as they were answered: {checks}."),
                {"checks": Figure("text", ", ".join(broken))},
                "section-correctness",
            )
        )
    if correctness.reconciled is False:
        failed = [c.name for c in correctness.reconcile or [] if not c.ok]
        out.append(
            Finding(
                "bad",
                N_("The ledger did not reconcile: {checks}."),
                {"checks": Figure("text", ", ".join(failed))},
                "section-correctness",
            )
        )
    return out
