"""The HTML capacity report, `report.html`, and the short `summary.md`, from an analysis.

One self-contained file: styles, plotly's JavaScript (from the plotly package, inlined: nothing
is fetched, so the report reads offline from `file://` and on an air-gapped network) and every
chart's data. The template is `reports/templates/report.html` (jinja2, autoescaped); every word
comes from the catalogue in the report's language (`reports.i18n`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
from plotly.offline import get_plotlyjs

from reports import charts
from reports.analysis import Analysis
from reports.findings import Figure, Finding
from reports.frames import ERROR_KINDS
from reports.gate import Gate
from reports.i18n import N_, Words
from reports.latency import OUTCOMES
from reports.slo import Judgement

TEMPLATES = Path(__file__).resolve().parent / "templates"
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
ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def shown(words: Words, analysis: Analysis, figure: Figure) -> str:
    """A finding's figure as the language writes it."""
    value = figure.value
    match figure.kind:
        case "percent":
            return words.percent(value)
        case "number":
            return words.number(value)
        case "ms":
            return words.ms(value)
        case "seconds":
            return words.seconds(value)
        case "minutes":
            return words.minutes(value)
        case "clock":
            return analysis.run.profile.wall_clock(float(value))
        case _:
            return str(value)


def sentence(words: Words, analysis: Analysis, finding: Finding) -> str:
    figures = {name: shown(words, analysis, fig) for name, fig in finding.figures.items()}
    return words(finding.message, **figures)


def verdict_line(words: Words, analysis: Analysis) -> str:
    """The report's first sentence: was the run evidence, and did the systems carry the day."""
    if not analysis.verdict.valid:
        return words("Not valid evidence: the run does not show what the systems carry.")
    broken = [j for j in analysis.slos.judgements if not j.held]
    if not broken:
        return words("Valid evidence: the systems carried the day within every SLO.")
    first = min(broken, key=lambda j: j.first_breach if j.first_breach is not None else 1e18)
    at = first.first_breach
    return words(
        "Valid evidence: {broken} of {total} SLOs broke, the first {objective} at {clock}.",
        broken=words.number(len(broken)),
        total=words.number(len(analysis.slos.judgements)),
        objective=first.objective.name,
        clock=analysis.run.profile.wall_clock(at) if at is not None else "–",
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
        result=lambda judgement: _result(words, judgement),
        breached=lambda judgement: _breached(words, judgement),
        lane_rows=_lane_rows(analysis),
        process_name=lambda n: charts.process_name(words, n, analysis.run.info.workers),
        regressions=[c for c in (judged.cases if judged else []) if c.suite == "regression"],
        ordinary_alerts=", ".join(
            f"{rule}: {words.number(n)}"
            for rule, n in (analysis.correctness.false_alerts or {}).items()
        )
        or words.number(0),
    )


def markdown(analysis: Analysis, language: str, judged: Gate | None = None) -> str:
    """A few lines for a CI step summary or a pull request: the verdict, the SLOs, the gate's
    failures, the findings."""
    words = Words(language)
    lines = [
        f"## {words('Capacity report: {profile}', profile=analysis.run.profile.name)}",
        "",
        verdict_line(words, analysis),
        "",
        f"| {words('objective')} | {words('objective value')} | {words('whole run')} | "
        f"{words('windows breached')} | {words('result')} |",
        "|---|---|---|---|---|",
    ]
    for j in analysis.slos.judgements:
        metric = j.objective.metric
        value = _metric(words, metric, j.value)
        limit = _metric(words, metric, j.objective.limit)
        result = _result(words, j)
        lines.append(
            f"| {j.objective.name} | {limit} | {value} | {_breached(words, j)} | {result} |"
        )
    if judged is not None and judged.failures:
        failed = words("The gate failed:")
        lines += ["", f"**{failed}**", ""]
        lines += [f"- {case.message}" for case in judged.failures]
    lines += ["", *(f"- {sentence(words, analysis, f)}" for f in analysis.findings)]
    return "\n".join(lines) + "\n"


def _result(words: Words, judgement: Judgement) -> str:
    """Held, broke, or skipped when the run sent none of its requests: as junit.xml says it."""
    if judgement.value is None:
        return words("skipped")
    return words("held") if judgement.held else words("broke")


def _breached(words: Words, judgement: Judgement) -> str:
    """Windows breached of those judged, and those breached during incidents, which the
    recovery bound judges instead (reports.slo)."""
    counted = f"{judgement.breached} / {judgement.windows}"
    if not judgement.excused:
        return counted
    more = words("{n} more during incidents", n=judgement.excused)
    return f"{counted} ({more})"


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


def script_json(data: object) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
