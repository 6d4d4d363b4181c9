"""A capacity search's folder concluded: its report (`report.html`), `summary.md` and
`junit.xml`, and the exit code `surge capacity` ends with.

The search's answer comes from `capacity.json` (written step by step by `surge.capacity`); the
curve over the steps (latency against the throughput carried), the upturn (where p95 doubled:
not the answer, which the objectives decide) and the USL fit
(`reports.scalability`, on the in-flight requests of each step by Little's law: throughput x
mean response time) are drawn from its steps. The gate's cases: the search's answer (a target
that does not carry the lowest step fails; a search cut short or stopped by the generator is
not valid evidence), and the ledger's checks of every step's run (`reports.gate`'s correctness
cases), since a rate carried by losing writes is not carried.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from reports import correctness, gate, outputs, render
from reports.capacity import UPTURN_FACTOR
from reports.frames import frames
from reports.gate import Case, Gate, Gated
from reports.i18n import LANGUAGES, Words, language_for
from reports.report import STEP_SUMMARY, Further
from reports.scalability import UslFit, fit_usl
from surge import runfolder
from surge.capacity import CAPACITY, FORMAT_VERSION, STEP_PROFILE
from surge.exits import BadInput
from surge.profile import load_profile

COLOURS = {
    "pass": "#2e7d32",
    "fail": "#c62828",
    "behind": "#6a1b9a",
    "unclear": "#f9a825",
    "invalid": "#616161",
}


@dataclass(frozen=True)
class Search:
    """capacity.json, read."""

    folder: Path
    data: dict[str, Any]

    @property
    def steps(self) -> list[dict[str, Any]]:
        return list(self.data["steps"])

    @property
    def latest(self) -> list[dict[str, Any]]:
        """Each multiple's last judgement (its repeats pooled), by throughput."""
        last: dict[float, dict[str, Any]] = {}
        for step in self.steps:
            last[step["multiple"]] = step
        return sorted(last.values(), key=lambda s: s["multiple"])


@dataclass(frozen=True)
class Concluded(Gated):
    search: Search
    kept: tuple[str, ...] = ()
    """The folder's own files left as they were: it is read-only (`reports.outputs`)."""


def is_search(folder: Path) -> bool:
    return (folder / CAPACITY).is_file()


def load(folder: Path) -> Search:
    path = folder / CAPACITY
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"{folder}: not a capacity search's folder (no {CAPACITY})") from None
    except (OSError, ValueError) as error:
        raise BadInput(f"{path}: cannot read: {error}") from None
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        raise BadInput(f"{path}: format_version: not {FORMAT_VERSION}, which this surge reads")
    return Search(folder, data)


def conclude(
    folder: Path,
    *,
    html: bool = True,
    output: Path | None = None,
    language: str | None = None,
    junit: Path | None = None,
    further: Further | None = None,
) -> Concluded:
    """Gate the search in `folder` and write its junit.xml (or `junit`), summary.md and
    report.html (or `output`), in `language` (by default the profile's customers'); a read-only
    folder keeps its own (`reports.outputs`)."""
    search = load(folder)
    outputs.check(output, "-o")
    outputs.check(junit, "--junit")
    judged = Gate(_answer_cases(search) + _ledger_cases(search))
    if language is None:
        language = language_for(load_profile(str(folder / STEP_PROFILE)))
    elif language not in LANGUAGES:
        raise BadInput(f"--lang: {language!r} is not one of {', '.join(LANGUAGES)}")
    section = ""
    if further is not None:
        cases, section = further(folder, None, language)
        judged = Gate(judged.cases + cases)
    words = Words(language)
    written = outputs.Outputs(folder)
    written.write(runfolder.JUNIT, judged.junit(), junit, "--junit")
    markdown = _markdown(search, words, judged) + section
    written.write(runfolder.SUMMARY_MD, markdown)
    if os.environ.get(STEP_SUMMARY):
        with open(os.environ[STEP_SUMMARY], "a", encoding="utf-8") as out:
            out.write(markdown + "\n")
    path = None
    if html:
        page = _html(search, words, language, judged)
        path = written.write(runfolder.REPORT, page, output, "-o", required=True)
    return Concluded(gate=judged, report=path, search=search, kept=tuple(written.kept))


def _answer_cases(search: Search) -> list[Case]:
    data = search.data
    ending, interrupted = data.get("ending"), data.get("interrupted")
    if interrupted or ending in ("generator_limit", "not_valid") or not data["steps"]:
        if interrupted:
            why = f"the search was cut short ({interrupted})"
        elif not data["steps"]:
            why = "no step ran"
        elif ending == "not_valid":
            why = f"a step's run was {data['steps'][-1]['judged']['why']}"
        elif data["steps"][-1]["status"] == "fail":
            why = "the generator was saturated when a step failed, before the target surely broke"
        else:
            why = "the generator fell behind before the target broke"
        return [Case("validity", "capacity search", False, f"not valid evidence: {why}")]
    if ending == "below_range":
        low = data["range"][0]
        message = f"the target does not carry x{low:g}, the lowest step searched"
        return [Case("slo", "capacity", False, message)]
    sustained = data["sustained"]["multiple"]
    return [Case("slo", "capacity", True, f"carries x{sustained:.3g} ({ending})")]


def _ledger_cases(search: Search) -> list[Case]:
    """Every run's correctness cases, once a run: a repeat's step lists the runs before it."""
    names = dict.fromkeys(name for step in search.steps for name in step["runs"])
    cases = []
    for name in names:
        run = runfolder.load(search.folder / name)
        for case in gate.correctness_cases(correctness.correctness(run, frames(run))):
            cases.append(Case(case.suite, f"{name}: {case.name}", case.passed, case.message))
    return cases


def usl(search: Search) -> UslFit | None:
    """The USL over the steps that carried their load, on in-flight requests; None when fewer
    than three distinct levels ran or no fit converges."""
    points = [
        (
            s["judged"]["requests_per_s"] * s["judged"]["mean_ms"] / 1000.0,
            s["judged"]["requests_per_s"],
        )
        for s in search.latest
        if s["status"] not in ("behind", "invalid") and s["judged"]["mean_ms"]
    ]
    try:
        return fit_usl([n for n, _ in points], [x for _, x in points])
    except (ValueError, RuntimeError):
        return None


def upturn(search: Search) -> float | None:
    """Requests a second at the first step whose p95 is `UPTURN_FACTOR` times the lightest
    step's."""
    steps = [s for s in search.latest if s["judged"]["p95_ms"]]
    if not steps:
        return None
    first = steps[0]["judged"]["p95_ms"]
    return next(
        (
            s["judged"]["requests_per_s"]
            for s in steps
            if s["judged"]["p95_ms"] >= UPTURN_FACTOR * first
        ),
        None,
    )


def _curve(search: Search, words: Words) -> go.Figure:
    steps = search.latest
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=[s["judged"]["requests_per_s"] for s in steps],
            y=[s["judged"]["p95_ms"] for s in steps],
            mode="lines+markers+text",
            text=[f"x{s['multiple']:.3g}" for s in steps],
            textposition="top center",
            marker={"size": 11, "color": [COLOURS[s["status"]] for s in steps]},
            line={"color": "#90a4ae"},
            name=words("p95 response (ms)"),
        )
    )
    figure.update_layout(
        xaxis_title=words("requests per second carried"),
        yaxis_title=words("p95 response (ms)"),
        height=380,
        margin={"t": 30, "l": 60, "r": 20, "b": 50},
        showlegend=False,
    )
    return figure


def _throughput(search: Search, words: Words) -> go.Figure:
    steps = search.latest
    figure = go.Figure()
    offered = [sum(s["judged"]["offered_per_s"].values()) for s in steps]
    started = [sum(s["judged"]["started_per_s"].values()) for s in steps]
    figure.add_trace(
        go.Scatter(x=offered, y=started, mode="markers", name=words("visits started a second"))
    )
    figure.add_trace(
        go.Scatter(
            x=offered,
            y=offered,
            mode="lines",
            line={"dash": "dot", "color": "#999"},
            name=words("offered"),
        )
    )
    figure.update_layout(
        xaxis_title=words("visits offered a second"),
        yaxis_title=words("visits started a second"),
        height=320,
        margin={"t": 30, "l": 60, "r": 20, "b": 50},
    )
    return figure


def _html(search: Search, words: Words, language: str, judged: Gate) -> str:
    fit = usl(search)
    specs = [
        {"id": "curve", "figure": json.loads(_curve(search, words).to_json())},
        {"id": "carried", "figure": json.loads(_throughput(search, words).to_json())},
    ]
    template = render.ENVIRONMENT.get_template("capacity.html")
    return template.render(
        words=words,
        language=language,
        s=search,
        data=search.data,
        answer=_answer(search, words),
        headroom=_headroom(search, words),
        upturn=upturn(search),
        fit=fit,
        finite=math.isfinite,
        colours=COLOURS,
        failures=judged.failures,
        cases=judged.cases,
        chart_data=render.script_json(specs),
        plotly_js=get_plotlyjs(),
    )


def _answer(search: Search, words: Words) -> str:
    data = search.data
    name = f"{data['profile']} {data['phase']}"
    if not data["steps"]:
        return words("No step ran: nothing was measured.")
    if data["sustained"] is None:
        return words(
            "The target does not carry {name} at x{low} within its SLOs, the lowest step.",
            name=name,
            low=f"{data['range'][0]:g}",
        )
    sustained = data["sustained"]
    return words(
        "Carries {multiple}x the {name} within its SLOs: {visits} visits and {requests} "
        "requests a second.",
        multiple=f"{sustained['multiple']:.3g}",
        name=name,
        visits=words.number(sum(sustained["visits_per_s"].values()), 2),
        requests=words.number(sustained["requests_per_s"] or 0, 1),
    )


def _headroom(search: Search, words: Words) -> str | None:
    data = search.data
    failed, broke = data.get("failed_multiple"), data.get("broke_first")
    if failed is None:
        return None
    lane = data.get("lane")
    return words(
        "At {multiple}x, {objective} broke first; the busiest lane was {lane}.",
        multiple=f"{failed:.3g}",
        objective=broke or words("an objective"),
        lane=lane or words("not scraped"),
    )


def _markdown(search: Search, words: Words, judged: Gate) -> str:
    lines = [
        f"## {words('Capacity search: {profile}', profile=search.data['profile'])}",
        "",
        _answer(search, words),
        "",
    ]
    if (headroom := _headroom(search, words)) is not None:
        lines += [headroom, ""]
    lines += [
        f"| x | {words('requests per second carried')} | p95 ms | {words('verdict')} |",
        "|---|---|---|---|",
    ]
    for step in search.latest:
        p95 = step["judged"]["p95_ms"]
        lines.append(
            f"| {step['multiple']:.3g} | {step['judged']['requests_per_s']:.1f} | "
            f"{'-' if p95 is None else f'{p95:.0f}'} | {step['status']} |"
        )
    lines += ["", *(f"- {case.message}" for case in judged.failures)]
    return "\n".join(lines).rstrip() + "\n"
