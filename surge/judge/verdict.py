"""Whether a run is valid evidence: the one rule, and the figures it rests on.

A run is evidence about the systems only if the load it claims was the load sent: the harness
prepared it, every planned visit was due to start within the run, the generator started them
on its schedule (few late, fewer dropped), no worker went missing with its share, the journeys
could read the target's answers, and nothing happened to it outside the harness's sight (the
embedded core ending, an interruption: `runfolder.add_incident`). `judge` says so, with every
reason as a sentence; the harness, `surge rehearse` and the gate all call it, and nothing else
decides. What the systems answered (errors, SLOs, the ledger) is the gate's to judge, not this:
a run whose requests all failed is valid evidence that the systems failed. The figures name
those too: every check of the run's writes against the ledger (`surge.judge.durability`) is a line
of the verdict `surge rehearse` prints and of summary.json, and the gate fails on any.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pyarrow.compute as pc

from surge.judge import durability
from surge.runfolder import RunFolder
from surge.visit.wire import ERRORS

LAG_PERCENTILES = (50, 95, 99)


REASONS = {
    "could_not_start": "the run could not start: {error}",
    "incident": "{incident}",
    "never_ended": "the run never ended: the harness wrote no figures (did it crash?)",
    "workers_missing": (
        "{missing} of {workers} workers went missing ({lost} of {planned} planned visits were "
        "lost with them)"
    ),
    "ended_early": (
        "the run ended before its day: {not_reached} of {planned} planned visits were never due"
    ),
    "behind": (
        "the generator fell behind its schedule ({dropped} of visits dropped, limit "
        "{max_dropped}; {late} late, limit {max_late})"
    ),
    "error_budget": (
        "the run was stopped early: {errors} requests had failed, its error budget of {budget} "
        "(--stop-after-errors)"
    ),
    "harness_errors": (
        "{errors} of {started} visits failed inside the harness (see the warnings: answers the "
        "journeys could not read?)"
    ),
}
"""Every reason a run may not be evidence, as a sentence with its figures named: the report
words them in its own language from these ids (reports/i18n.py). Figures named in `SHARES` are
shares, shown as percentages; the others whole numbers or text."""
SHARES = frozenset({"dropped", "max_dropped", "late", "max_late"})


@dataclass(frozen=True, slots=True)
class Cause:
    """One reason a run is not evidence: its `REASONS` id and the figures it names."""

    code: str
    figures: dict[str, Any]

    def sentence(self) -> str:
        shown = {
            name: f"{value:.1%}" if name in SHARES else value
            for name, value in self.figures.items()
        }
        return REASONS[self.code].format(**shown)


@dataclass(frozen=True, slots=True)
class Verdict:
    valid: bool
    causes: tuple[Cause, ...]
    """Why the run is not valid evidence; empty when it is."""
    partial: bool
    """The run was cut short: it ended before its day did, lost workers, or never ended."""

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(cause.sentence() for cause in self.causes)

    def sentence(self) -> str:
        if self.valid:
            return "The run is valid evidence"
        return f"The run is not valid evidence: {'; '.join(self.reasons)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "partial": self.partial,
            "reasons": list(self.reasons),
            "causes": [{"code": c.code, **c.figures} for c in self.causes],
        }


def judge(run: RunFolder) -> Verdict:
    """The verdict on `run`, from its folder alone."""
    info, visits = run.info, run.visits
    if info.error is not None:
        return Verdict(False, (Cause("could_not_start", {"error": info.error}),), True)
    causes = [Cause("incident", {"incident": incident}) for incident in run.incidents]
    if info.stopped is not None:
        stopped = {"errors": info.stopped.errors, "budget": info.stopped.budget}
        causes.append(Cause("error_budget", stopped))
    if visits is None or not run.ended:
        causes.append(Cause("never_ended", {}))
        return Verdict(False, tuple(causes), True)
    total, limits = visits.total, info.limits
    missing = visits.missing_shares
    if missing:
        causes.append(
            Cause(
                "workers_missing",
                {
                    "missing": len(missing),
                    "workers": len(visits.shares),
                    "lost": total.lost,
                    "planned": total.planned,
                },
            )
        )
    if total.not_reached:
        causes.append(
            Cause("ended_early", {"not_reached": total.not_reached, "planned": total.planned})
        )
    dropped, late = _share(total.dropped, total.due), _share(total.late, total.due)
    if dropped > limits.max_dropped_share or late > limits.max_late_share:
        causes.append(
            Cause(
                "behind",
                {
                    "dropped": dropped,
                    "max_dropped": limits.max_dropped_share,
                    "late": late,
                    "max_late": limits.max_late_share,
                },
            )
        )
    if visits.error > limits.max_dropped_share * max(total.started, 1):
        # Load the profile asked for and nobody sent, as a dropped visit is: most likely the
        # target's answers are not what the journeys read.
        causes.append(Cause("harness_errors", {"errors": visits.error, "started": total.started}))
    partial = bool(missing or total.not_reached)
    return Verdict(not causes, tuple(causes), partial)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def figures(run: RunFolder, verdict: Verdict) -> dict[str, Any]:
    """What summary.json records of the verdict and the counts it rests on."""
    summary: dict[str, Any] = {"verdict": verdict.to_dict()}
    outcomes = pc.value_counts(run.requests(["outcome"]).column("outcome")).to_pylist()
    by_outcome = {row["values"]: row["counts"] for row in outcomes}
    summary["requests"] = {
        "total": sum(by_outcome.values()),
        **{name: by_outcome.get(name, 0) for name in ("ok", "refused", "retried", "failed")},
        "errors": sum(by_outcome.get(name, 0) for name in ERRORS),
    }
    if run.visits is not None:
        total = run.visits.total
        summary["visits"] = {
            **total.model_dump(),
            "started": total.started,
            "dropped_share": _share(total.dropped, total.due),
            "late_share": _share(total.late, total.due),
            "ok": run.visits.ok,
            "unfinished": run.visits.unfinished,
            "error": run.visits.error,
        }
        summary["channels"] = {
            name: {**counts.model_dump(), "started": counts.started}
            for name, counts in run.visits.channels.items()
        }
        summary["workers"] = {
            "planned": len(run.visits.shares),
            "reported": len(run.visits.shares) - len(run.visits.missing_shares),
            "missing": run.visits.missing_shares,
            "requests": [share.requests for share in run.visits.shares],
        }
    if run.lateness is not None:
        summary["start_lag_s"] = {f"p{p}": run.lateness.lag_percentile(p) for p in LAG_PERCENTILES}
    summary["limits"] = {
        "max_dropped_share": run.info.limits.max_dropped_share,
        "max_late_share": run.info.limits.max_late_share,
    }
    proven = durability.checks(run)
    summary["writes"] = None if proven is None else [asdict(check) for check in proven]
    return summary
