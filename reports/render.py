"""The HTML capacity report, `report.html`, and the short `summary.md`, from an analysis.

One self-contained file: styles, plotly's JavaScript (from the plotly package, inlined: nothing
is fetched, so the report reads offline from `file://` and on an air-gapped network) and every
chart's data. The template is `reports/templates/report.html` (jinja2, autoescaped); every word
comes from the catalogue in the report's language (`reports.i18n`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from plotly.offline import get_plotlyjs

from reports import charts, findings, gate, labels, slo
from reports.analysis import Analysis
from reports.findings import Figure, Finding
from reports.frames import ERROR_KINDS
from reports.gate import Case, Gate
from reports.i18n import N_, Words
from reports.latency import OUTCOMES
from reports.page import ENVIRONMENT, script_json
from reports.slo import Counts, Judgement, Objective

HEADINGS = {
    "channel": N_("channel"),
    "journey": N_("journey"),
    "name": N_("route"),
    "ok": N_("ok"),
    "refused": N_("refused"),
    "retried": N_("retried"),
    "failed": N_("failed"),
}
"""Table headings named by the analysis' columns, marked for the catalogue."""


def shown(words: Words, analysis: Analysis, figure: Figure) -> str:
    """A finding's figure as the language writes it."""
    value = figure.value
    match figure.kind:
        case "percent":
            return words.percent(value)
        case "number":
            return words.number(value)
        case "ratio":
            return words.number(value, 1)
        case "ms":
            return words.ms(value)
        case "seconds":
            return words.seconds(value)
        case "minutes":
            return words.minutes(value)
        case "clock":
            return analysis.run.profile.wall_clock(float(value))
        case "word":
            return words(str(value))
        case "name":
            return labels.label(words, str(value))
        case "names":
            return words(", ").join(labels.label(words, str(name)) for name in value)
        case _:
            return str(value)


def sentence(words: Words, analysis: Analysis, finding: Finding) -> str:
    figures = {name: shown(words, analysis, fig) for name, fig in finding.figures.items()}
    return words(finding.message, **figures)


def verdict_line(words: Words, analysis: Analysis) -> str:
    """The report's first sentence: was the run evidence, and did the systems carry the day."""
    if not analysis.verdict.valid:
        return words("Not valid evidence: the run does not show what the systems carry.")
    broken = analysis.slos.broken
    if not broken:
        return words("Valid evidence: the systems carried the day within every SLO.")
    first = broken[0]
    counted = {
        "broken": words.number(len(broken)),
        "total": words.number(len(analysis.slos.judgements)),
        "objective": labels.label(words, first.objective.name),
    }
    if first.first_breach is None:
        return words(
            "Valid evidence: {broken} of {total} SLOs broke, {objective} over the whole run.",
            **counted,
        )
    return words(
        "Valid evidence: {broken} of {total} SLOs broke, the first {objective} at {clock}.",
        **counted,
        clock=analysis.run.profile.wall_clock(first.first_breach.end),
    )


def html(analysis: Analysis, language: str, judged: Gate | None = None) -> str:
    words = Words(language)
    figures = charts.charts(analysis, words)
    specs = [{"id": chart.id, "figure": json.loads(chart.figure)} for chart in figures]
    template = ENVIRONMENT.get_template("report.html")
    return template.render(
        a=analysis,
        run=analysis.run,
        words=words,
        language=language,
        charts={chart.id: chart for chart in figures},
        chart_data=script_json(specs),
        plotly_js=get_plotlyjs(),
        verdict_line=verdict_line(words, analysis),
        findings=[(f, sentence(words, analysis, f)) for f in analysis.findings],
        cause_lines=[
            sentence(words, analysis, f) for f in analysis.findings if f.anchor == "verdict"
        ],
        clock=analysis.run.profile.wall_clock,
        outcomes=OUTCOMES,
        error_kinds=ERROR_KINDS,
        labels=charts.LABELS,
        headings=HEADINGS,
        rows=_rows,
        objective_value=lambda metric, value: _metric(words, metric, value),
        slo_table=slo_table(words, analysis),
        label=lambda identifier: labels.label(words, identifier),
        confidence=slo.CONFIDENCE,
        lane_rows=_lane_rows(analysis),
        process_name=lambda n: charts.process_name(words, n, analysis.run.info.workers),
        regressions=[c for c in (judged.cases if judged else []) if c.suite == "regression"],
        ordinary_alerts=", ".join(
            f"{rule}: {words.number(n)}"
            for rule, n in (analysis.correctness.false_alerts or {}).items()
        )
        or words.number(0),
    )


def markdown(
    analysis: Analysis, language: str, judged: Gate | None = None, baseline: str | None = None
) -> str:
    """A few lines for a CI step summary or a pull request: the verdict, the SLOs, what it was
    compared with, the gate's failures, the findings; every line in the report's language."""
    words = Words(language)
    lines = [
        f"## {words('Capacity report: {profile}', profile=analysis.run.profile.name)}",
        "",
        verdict_line(words, analysis),
        "",
    ]
    headings, rows = slo_table(words, analysis)
    lines += [
        f"| {' | '.join(headings)} |",
        f"|{'---|' * len(headings)}",
        *(f"| {' | '.join(row)} |" for row in rows),
    ]
    regressions = [c for c in (judged.cases if judged else []) if c.suite == "regression"]
    if baseline is not None and regressions:
        compared = words(
            "Compared with the baseline {baseline}: {regressed} of {total} measures regressed.",
            baseline=f"`{baseline}`",
            regressed=words.number(sum(c.passed is False for c in regressions)),
            total=words.number(len(regressions)),
        )
        lines += ["", compared]
    if judged is not None and judged.failures:
        failed = words("The gate failed:")
        lines += ["", f"**{failed}**", ""]
        lines += [f"- {failure(words, analysis, case)}" for case in judged.failures]
    lines += ["", *(f"- {sentence(words, analysis, f)}" for f in analysis.findings)]
    return "\n".join(lines) + "\n"


def failure(words: Words, analysis: Analysis, case: Case) -> str:
    """A failed case of the gate in the report's language, from the judgement it came from
    (junit.xml and the console keep the gate's own English line)."""
    profile = analysis.run.profile
    judgements = {j.objective.name: j for j in analysis.slos.judgements}
    if case.name == gate.COMPARABLE:
        return words(
            "Not compared with the baseline: some task on the host waited for a CPU {now} of "
            "this run's day and {before} of the baseline's, and {slower} of {of} measures read "
            "slower, which the busier host may explain (the embedded core shares its CPU); rerun "
            "on a host contended like the baseline's",
            now=words.percent(case.figures.get("now"), 0),
            before=words.percent(case.figures.get("before"), 0),
            slower=words.number(case.figures.get("slower")),
            of=words.number(case.figures.get("of")),
        )
    if case.suite == "validity":
        return verdict_line(words, analysis)
    if case.name in judgements:
        return sentence(words, analysis, findings.broke(judgements[case.name], profile))
    recoveries = {gate.recovery_name(r, profile): r for r in analysis.slos.recoveries}
    if case.name in recoveries:
        return sentence(words, analysis, findings.recovered(recoveries[case.name], profile))
    if case.suite == "regression" and "ratio" in case.figures:
        return words(
            "{measure}: {ratio} times the baseline's (95% interval {low}–{high})",
            measure=labels.label(words, case.name),
            ratio=words.number(case.figures["ratio"], 2),
            low=words.number(case.figures["low"], 2),
            high=words.number(case.figures["high"], 2),
        )
    if case.suite == "regression":
        return words(
            "{measure}: {now} against the baseline's {before}",
            measure=labels.label(words, case.name),
            now=words.percent(case.figures.get("now"), 2),
            before=words.percent(case.figures.get("before"), 2),
        )
    return words("{check}: failed", check=labels.label(words, case.name))


SLO_COLUMNS = (
    N_("objective"),
    N_("result"),
    N_("objective value"),
    N_("whole run"),
    N_("outside incidents"),
    N_("first breach"),
    N_("windows breached"),
    N_("fastest hour"),
)
"""The SLO table's columns, in the report and in summary.md; `outside incidents` only in a drill."""


def slo_table(words: Words, analysis: Analysis) -> tuple[list[str], list[list[str]]]:
    """The SLO table's headings and rows, each cell as the language writes it: one table for
    report.html and summary.md, from the judgements the gate and findings read."""
    slos, clock = analysis.slos, analysis.run.profile.wall_clock
    drill = bool(slos.incidents)
    columns = [c for c in SLO_COLUMNS if drill or c != "outside incidents"]
    rows = []
    for j in slos.judgements:
        objective = j.objective
        judges = words(objective.judges)
        first = j.first_breach
        cells = {
            "objective": labels.label(words, objective.name),
            "objective value": _limit(words, objective),
            "whole run": _whole(words, j, judges),
            "outside incidents": _spent(words, j.outside, judges) if j.outside else "–",
            "fastest hour": _fastest(words, j, clock),
            "windows breached": _breached(words, j),
            "first breach": clock(first.end) if first is not None else "–",
            "result": _result(words, j),
        }
        rows.append([cells[c] for c in columns])
    return [words(c) for c in columns], rows


def _limit(words: Words, objective: Objective) -> str:
    """The objective as the profile states it, and the budget that is its meaning."""
    limit = _metric(words, objective.metric, objective.limit)
    if objective.percent is None:
        return f"{words('errors')} ≤ {limit}"
    wait = words("wait") + " " if objective.metric == "customer_wait_p95_s" else ""
    budget = words(
        "budget {share} {judges}",
        share=words.percent(objective.budget, 0),
        judges=words(objective.judges),
    )
    return f"{wait}p{objective.percent:g} ≤ {limit} ({budget})"


def _whole(words: Words, judgement: Judgement, judges: str) -> str:
    """Its share spent over every request, and the percentile it bounds beside it."""
    objective, spent = judgement.objective, _spent(words, judgement.whole, judges)
    if judgement.value is None or objective.percent is None:
        return spent
    return f"{spent} (p{objective.percent:g} {_metric(words, objective.metric, judgement.value)})"


def _fastest(words: Words, judgement: Judgement, clock: Callable[[float], str]) -> str:
    """The hour that burned its budget fastest, as a multiple of the rate the budget allows."""
    worst = judgement.worst
    if worst is None or worst.burn is None:
        return "–"
    if worst.burn == 0:  # every hour alike: no moment to name
        return "0×"
    return f"{words.number(worst.burn, 1)}× ({clock(worst.end)})"


def _spent(words: Words, counts: Counts | None, judges: str) -> str:
    if counts is None or counts.share is None:
        return "–"
    return f"{words.percent(counts.share, 2)} {judges}"


def _result(words: Words, judgement: Judgement) -> str:
    """Held, broke, or skipped when the run sent none of its requests: as junit.xml says it."""
    if judgement.passed is None:
        return words("skipped")
    return words("held") if judgement.held else words("broke")


def _breached(words: Words, judgement: Judgement) -> str:
    """Window ends breached of those judged, the warnings, and those breached only with the
    incidents' requests, which the recovery bound judges instead (reports.slo)."""
    counted = f"{words.number(len(judgement.breaches))} / {words.number(judgement.windows)}"
    notes = []
    if judgement.warnings:
        notes.append(words("warnings: {n}", n=words.number(judgement.warnings)))
    if judgement.excused:
        notes.append(words("{n} more during incidents", n=words.number(judgement.excused)))
    if judgement.while_saturated:
        notes.append(
            words(
                "{n} more while the load generator was saturated",
                n=words.number(judgement.while_saturated),
            )
        )
    return f"{counted} ({'; '.join(notes)})" if notes else counted


def _metric(words: Words, metric: str, value: float | None) -> str:
    if metric == "error_rate":
        return words.percent(value, 2)
    return words.seconds(value) if metric.endswith("_s") else words.ms(value)


def _lane_rows(analysis: Analysis) -> list[tuple[str, float, list[Any]]]:
    """Each lane's busiest moment, phase by phase: (lane, slots, a `LanePhase` or None per
    phase of the day)."""
    cells = {(lane.lane, lane.phase): lane for lane in analysis.capacity.lanes}
    lanes = sorted({lane.lane for lane in analysis.capacity.lanes})
    phases = [phase.name for phase in analysis.timeline.phases]
    return [
        (
            lane,
            max(c.slots for c in analysis.capacity.lanes if c.lane == lane),
            [cells.get((lane, phase)) for phase in phases],
        )
        for lane in lanes
    ]


def _rows(table: Any) -> list[dict[str, Any]]:
    return list(table.to_dict(orient="records"))
