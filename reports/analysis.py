"""A run folder analysed: every figure the report shows, the gate judges and summary.json keeps.

`analyse(run)` reads only the folder (`surge.runfolder.load`), so any report can be rebuilt from a
folder copied to another machine; `summary(analysis)` is the JSON form of every figure
(docs/report.md says what each means).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any

import pandas as pd

from reports import (
    capacity,
    correctness,
    findings,
    generator,
    latency,
    slo,
    staffing,
    timeline,
)
from reports.frames import Frames, frames
from surge.judge import verdict
from surge.runfolder import RunFolder


@dataclass(frozen=True)
class Analysis:
    run: RunFolder
    verdict: verdict.Verdict
    frames: Frames
    overall: pd.DataFrame
    channels: pd.DataFrame
    operations: pd.DataFrame
    routes: pd.DataFrame
    visits: pd.DataFrame
    timeline: timeline.Timeline
    slos: slo.Slos
    capacity: capacity.Capacity
    staffing: staffing.Staffing
    correctness: correctness.Correctness
    findings: list[findings.Finding]
    generator: generator.Generator | None
    """The load generator's host over the day; None for a folder from before it was watched."""


def analyse(run: RunFolder) -> Analysis:
    judged = verdict.judge(run)
    records = frames(run)
    over_time = timeline.timeline(run, records)
    watched = generator.generator(run, records.day_start, over_time.window_s)
    strained = watched.saturated if watched is not None else []
    slos = slo.judge(records, run.profile, over_time.faults, strained)
    carried = capacity.capacity(over_time)
    branch = staffing.staffing(run.profile)
    books = correctness.correctness(run, records)
    return Analysis(
        run=run,
        verdict=judged,
        frames=records,
        overall=latency.table(records, []),
        channels=latency.table(records, ["channel"]),
        operations=latency.table(records, ["channel", "journey"]),
        routes=latency.table(records, ["name"]),
        visits=latency.visit_times(records),
        timeline=over_time,
        slos=slos,
        capacity=carried,
        staffing=branch,
        correctness=books,
        findings=findings.findings(run.profile, judged, slos, carried, branch, books),
        generator=watched,
    )


def summary(analysis: Analysis) -> dict[str, Any]:
    """Every figure of the report as plain JSON: the verdict's, then the analysis'."""
    a = analysis
    return {
        **verdict.figures(a.run, a.verdict),
        "overall": _rows(a.overall)[0] if len(a.overall) else {},
        "by_channel": _rows(a.channels),
        "by_operation": _rows(a.operations),
        "by_route": _rows(a.routes),
        "visit_times": _rows(a.visits),
        "slo": {
            "bin_s": a.slos.bin_s,
            "rules": [_plain(rule) for rule in a.slos.rules],
            "confidence": slo.CONFIDENCE,
            "held": a.slos.held,
            "incidents": [_plain(span) for span in a.slos.incidents],
            "objectives": [_judgement(j) for j in a.slos.judgements],
            "recoveries": [_plain(r) | {"passed": r.passed} for r in a.slos.recoveries],
        },
        "capacity": {
            "upturn_per_s": a.capacity.upturn.at_per_s,
            "baseline_p95_ms": a.capacity.upturn.baseline_p95_ms,
            "carried": [_plain(c) | {"share": c.share} for c in a.capacity.carried],
            "lanes": [_plain(lane) | {"peak_share": lane.peak_share} for lane in a.capacity.lanes],
            "saturated": [_plain(s) for s in a.capacity.saturated],
        },
        "staffing": _plain(a.staffing),
        "correctness": _plain(a.correctness)
        | {"reconciled": a.correctness.reconciled, "missed_alerts": a.correctness.missed},
        "generator": _generator(a.generator),
        "findings": [
            {
                "tone": f.tone,
                "message": f.message,
                "anchor": f.anchor,
                "figures": {name: _clean(fig.value) for name, fig in f.figures.items()},
                "kinds": {name: fig.kind for name, fig in f.figures.items()},
            }
            for f in a.findings
        ],
    }


def _judgement(judgement: slo.Judgement) -> dict[str, Any]:
    """An objective's judgement with its counts, the first breach and the fastest hour (every
    breach is in the report's chart, not here: a long incident has hundreds)."""
    objective = judgement.objective
    judged: dict[str, Any] = _clean(
        {
            "name": objective.name,
            **asdict(objective),
            "budget": objective.budget,
            "judges": objective.judges,
            "whole": _counts(judgement.whole),
            "outside": None if judgement.outside is None else _counts(judgement.outside),
            "value": judgement.value,
            "passed": judgement.passed,
            "held": judgement.held,
            "windows": judgement.windows,
            "breached": len(judgement.breaches),
            "first_breach": _window(judgement.first_breach),
            "excused": judgement.excused,
            "warnings": judgement.warnings,
            "while_saturated": judgement.while_saturated,
            "worst": _window(judgement.worst),
        }
    )
    return judged


def _counts(counts: slo.Counts) -> dict[str, Any]:
    return {"requests": counts.requests, "bad": counts.bad, "share": counts.share}


def _window(window: slo.Window | None) -> dict[str, Any] | None:
    if window is None:
        return None
    return {
        "rule": window.rule,
        "start": window.start,
        "end": window.end,
        **_counts(window.counts),
        "burn": window.burn,
    }


def _generator(watched: generator.Generator | None) -> dict[str, Any] | None:
    if watched is None:
        return None
    return {
        "thresholds": watched.thresholds,
        "saturated_s": watched.saturated_s,
        "saturated": [_plain(span) for span in watched.saturated],
        "processes": [_plain(figures) for figures in watched.processes],
    }


def _rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _clean(v) for k, v in row.items()} for row in table.to_dict(orient="records")]


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return _clean(asdict(value))
    return _clean(value)


def _clean(value: Any) -> Any:
    """JSON's own values: numpy scalars made Python's, NaN and infinity made null."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
