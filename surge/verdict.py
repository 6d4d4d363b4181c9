"""Whether a run is valid evidence: the one rule, and the figures it rests on.

A run is evidence about the systems only if the load it claims was the load sent: the harness
prepared it, every planned visit was due to start within the run, the generator started them
on its schedule (few late, fewer dropped), no worker went missing with its share, the journeys
could read the target's answers, and nothing happened to it outside the harness's sight (the
embedded core ending, an interruption: `runfolder.add_incident`). `judge` says so, with every
reason as a sentence; the harness, `surge rehearse` and the gate all call it, and nothing else
decides. What the systems answered (errors, SLOs, the ledger) is the gate's to judge, not this:
a run whose requests all failed is valid evidence that the systems failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow.compute as pc

from surge.runfolder import RunFolder

LAG_PERCENTILES = (50, 95, 99)


@dataclass(frozen=True, slots=True)
class Verdict:
    valid: bool
    reasons: tuple[str, ...]
    """Why the run is not valid evidence, one sentence each; empty when it is."""
    partial: bool
    """The run was cut short: it ended before its day did, lost workers, or never ended."""

    def sentence(self) -> str:
        if self.valid:
            return "The run is valid evidence"
        return f"The run is not valid evidence: {'; '.join(self.reasons)}"

    def to_dict(self) -> dict[str, Any]:
        return {"valid": self.valid, "partial": self.partial, "reasons": list(self.reasons)}


def judge(run: RunFolder) -> Verdict:
    """The verdict on `run`, from its folder alone."""
    info, visits = run.info, run.visits
    if info.error is not None:
        return Verdict(False, (f"the run could not start: {info.error}",), True)
    reasons = list(run.incidents)
    if visits is None or not run.ended:
        reasons.append("the run never ended: the harness wrote no figures (did it crash?)")
        return Verdict(False, tuple(reasons), True)
    total, limits = visits.total, info.limits
    missing = visits.missing_shares
    if missing:
        reasons.append(
            f"{len(missing)} of {len(visits.shares)} workers went missing "
            f"({total.lost} of {total.planned} planned visits were lost with them)"
        )
    if total.not_reached:
        reasons.append(
            f"the run ended before its day: {total.not_reached} of {total.planned} planned "
            "visits were never due"
        )
    dropped, late = _share(total.dropped, total.due), _share(total.late, total.due)
    if dropped > limits.max_dropped_share or late > limits.max_late_share:
        reasons.append(
            f"the generator fell behind its schedule ({dropped:.1%} of visits dropped, limit "
            f"{limits.max_dropped_share:.0%}; {late:.1%} late, limit {limits.max_late_share:.0%})"
        )
    if visits.error > limits.max_dropped_share * max(total.started, 1):
        # Load the profile asked for and nobody sent, as a dropped visit is: most likely the
        # target's answers are not what the journeys read.
        reasons.append(
            f"{visits.error} of {total.started} visits failed inside the harness (see the "
            "warnings: answers the journeys could not read?)"
        )
    partial = bool(missing or total.not_reached)
    return Verdict(not reasons, tuple(reasons), partial)


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
    }
    if run.visits is not None:
        total = run.visits.total
        summary["visits"] = {
            **total.model_dump(),
            "started": total.started,
            "dropped_share": _share(total.dropped, total.due),
            "late_share": _share(total.late, total.due),
            "ok": run.visits.ok,
            "abandoned": run.visits.abandoned,
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
    return summary
