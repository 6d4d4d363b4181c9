"""A capacity search's folder concluded: its report (`report.html`), `summary.md` and
`junit.xml`, and the exit code `surge capacity` ends with.

The search's answer comes from `capacity.json` (written level by level by `surge.run.capacity`): the
answer with its interval (the highest level that surely passed, the lowest that surely failed),
and the levels, each a span of the one run folder. The curve over the levels (latency against
the throughput carried), the upturn (where p95 doubled: where response times start to grow, not
the answer, which the objectives decide) and the USL fit (`reports.scalability`, on the
in-flight requests of each level by Little's law: throughput x mean response time) are drawn
from its levels. The gate's cases: the search's answer (a target that does not carry the lowest
level fails; a search cut short or stopped by the generator is not valid evidence), and the
ledger's checks of its run (`reports.gate`'s correctness cases), since a rate carried by losing
writes is not carried.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from reports import correctness, gate, levels, outputs, page
from reports.capacity import UPTURN_FACTOR
from reports.frames import frames
from reports.gate import Case, Gate, Gated
from reports.i18n import LANGUAGES, Words, language_for
from reports.outputs import Reporter
from reports.report import Further
from reports.scalability import UslFit, fit_usl
from surge import runfolder
from surge.day.profile import load_profile
from surge.exits import BadInput
from surge.runfolder import CAPACITY, LEVEL_PROFILE, SEARCH_FORMAT_VERSION

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
    def levels(self) -> list[dict[str, Any]]:
        """In the order run."""
        return list(self.data["levels"])

    @property
    def latest(self) -> list[dict[str, Any]]:
        """The levels by the rate they offered."""
        return sorted(self.levels, key=lambda level: level["realized"] or level["multiple"])


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
    if not isinstance(data, dict) or data.get("format_version") != SEARCH_FORMAT_VERSION:
        raise BadInput(
            f"{path}: format_version: not {SEARCH_FORMAT_VERSION}, which this surge reads"
        )
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
        language = language_for(load_profile(str(folder / LEVEL_PROFILE)))
    elif language not in LANGUAGES:
        raise BadInput(f"--lang: {language!r} is not one of {', '.join(LANGUAGES)}")
    section = ""
    if further is not None:
        cases, section = further(folder, None, language)
        judged = Gate(judged.cases + cases)
    words = Words(language)
    written = outputs.Outputs(folder)
    reporters = [
        Reporter(runfolder.JUNIT, judged.junit, junit, "--junit"),
        Reporter(runfolder.SUMMARY_MD, lambda: _markdown(search, words, judged) + section),
    ]
    if html:
        page = Reporter(
            runfolder.REPORT, lambda: _html(search, words, language, judged), output, "-o", True
        )
        reporters.append(page)
    paths = written.publish(reporters)
    return Concluded(
        gate=judged, report=paths.get(runfolder.REPORT), search=search, kept=tuple(written.kept)
    )


def _answer_cases(search: Search) -> list[Case]:
    data = search.data
    ending, interrupted = data.get("ending"), data.get("interrupted")
    if interrupted or ending in ("generator_limit", "not_valid", None) or not data["levels"]:
        if interrupted:
            why = f"the search was cut short ({interrupted})"
        elif not data["levels"]:
            why = "no level was decided"
        elif ending == "not_valid":
            why = f"its run was {data['levels'][-1]['why']}"
        elif data["levels"][-1]["status"] == "fail":
            why = "the generator was saturated when a level failed, before the target surely broke"
        else:
            why = "the generator fell behind before the target broke"
        return [Case("validity", "capacity search", False, f"not valid evidence: {why}")]
    if ending == "below_range":
        low = data["range"][0]
        message = f"the target does not carry x{low:g}, the lowest level searched"
        return [Case("slo", "capacity", False, message)]
    answer = data["answer"]
    sure = "" if answer["sure"] else ", resting on levels not decided"
    message = f"carries x{answer['multiple']:.4g} ({ending}{sure})"
    return [Case("slo", "capacity", True, message)]


def _ledger_cases(search: Search) -> list[Case]:
    """The correctness cases of the search's run."""
    name = search.data["run"]
    run = runfolder.load(search.folder / name)
    return [
        Case(case.suite, f"{name}: {case.name}", case.passed, case.message)
        for case in gate.correctness_cases(correctness.correctness(run, frames(run)))
    ]


def usl(search: Search) -> UslFit | None:
    """The USL over the levels that carried their load, on in-flight requests; None when fewer
    than three distinct levels ran or no fit converges."""
    points = _in_flight(search)
    try:
        return fit_usl([n for n, _ in points], [x for _, x in points])
    except (ValueError, RuntimeError):
        return None


def _in_flight(search: Search) -> list[tuple[float, float]]:
    """Each level that carried its load: its requests in flight (Little's law) and throughput."""
    return [
        (level["requests_per_s"] * level["mean_ms"] / 1000.0, level["requests_per_s"])
        for level in search.latest
        if level["status"] not in ("behind", "invalid")
        and level["mean_ms"]
        and level["requests_per_s"]
    ]


def upturn(search: Search) -> float | None:
    """Requests a second at the first level (by throughput) whose p95 is `UPTURN_FACTOR` times
    the lightest level's."""
    found = sorted(
        (level for level in search.levels if level["p95_ms"] and level["requests_per_s"]),
        key=lambda level: level["requests_per_s"],
    )
    if not found:
        return None
    first = found[0]["p95_ms"]
    return next(
        (level["requests_per_s"] for level in found if level["p95_ms"] >= UPTURN_FACTOR * first),
        None,
    )


def _curve(search: Search, words: Words) -> go.Figure:
    """p95 against the throughput carried, a point a level, with what decides the answer on
    it: the p95 objectives' limits, and the answer's interval shaded. No names on the points
    (a search's levels close in on the answer, and theirs fell on each other); a log axis when
    one level was ten times slower than another, so the region near the limits stays readable."""
    found = sorted(
        (level for level in search.levels if level["requests_per_s"] and level["p95_ms"]),
        key=lambda level: level["requests_per_s"],
    )
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=[level["requests_per_s"] for level in found],
            y=[level["p95_ms"] for level in found],
            mode="lines+markers",
            hovertext=[
                f"x{level['realized'] or level['multiple']:.3g}: {_verdict(level, words)}"
                for level in found
            ],
            marker={
                "size": [13 if level["sure"] else 8 for level in found],
                "color": [COLOURS[level["status"]] for level in found],
            },
            line={"color": "#90a4ae"},
            name=words("p95 response (ms)"),
        )
    )
    limits = _limits(search)
    shown = [level["p95_ms"] for level in found] + list(limits)
    logarithmic = bool(shown) and max(shown) > 10 * min(shown)
    for n, (limit, names) in enumerate(limits.items()):
        figure.add_hline(y=limit, line={"dash": "dash", "color": "#c62828", "width": 1})
        figure.add_annotation(  # on a log axis plotly places annotations by the logarithm
            text=words("objective: {names} ≤ {limit} ms", names=names, limit=f"{limit:g}"),
            font={"size": 10, "color": "#c62828"},
            xref="x domain",
            x=0.01 if n % 2 == 0 else 0.99,
            xanchor="left" if n % 2 == 0 else "right",
            y=math.log10(limit) if logarithmic else limit,
            yanchor="bottom",
            showarrow=False,
        )
    bracket = _bracket(search)
    if bracket is not None and found:
        low, high = bracket
        right = max(level["requests_per_s"] for level in found)
        figure.add_vrect(
            x0=low,
            x1=high if high is not None else right,
            fillcolor="#2e7d32",
            opacity=0.12,
            line_width=0,
            annotation_text=words("the answer's interval"),
            annotation_font={"size": 10},
            annotation_position="bottom left",
        )
    figure.update_layout(
        xaxis_title=words("requests per second carried"),
        yaxis={"title": words("p95 response (ms)"), "rangemode": "tozero"},
        height=380,
        margin={"t": 30, "l": 60, "r": 20, "b": 50},
        showlegend=False,
    )
    if logarithmic:  # decades, a little beyond what is drawn
        ends = (math.log10(min(shown)) - 0.1, math.log10(max(shown)) + 0.1)
        figure.update_yaxes(type="log", dtick=1, range=ends)
    return figure


def _limits(search: Search) -> dict[float, str]:
    """The searched phase's p95 objectives, by limit (ms): the names sharing one together."""
    phase = load_profile(str(search.folder / LEVEL_PROFILE))
    found: dict[float, list[str]] = {}
    for objective in levels.objectives(phase):
        if objective.metric == "p95_ms":
            found.setdefault(objective.limit, []).append(objective.name)
    return {limit: ", ".join(names) for limit, names in sorted(found.items())}


def _bracket(search: Search) -> tuple[float, float | None] | None:
    """The answer's interval in requests a second carried (no upper end: every level passed)."""
    answer = search.data["answer"]
    if answer is None or answer["interval"]["low"] is None:
        return None
    low, high = answer["interval"]["low"], answer["interval"]["high"]
    if low["requests_per_s"] is None:
        return None
    return low["requests_per_s"], high["requests_per_s"] if high else None


def _usl_curve(search: Search, fit: UslFit, words: Words) -> go.Figure:
    """Throughput against the requests in flight: each level, and the USL's curve through them
    (to a little past the busiest level), its peak marked when it is within sight."""
    points = _in_flight(search)
    top = max(n for n, _ in points) * 1.3
    peak = fit.peak_concurrency
    if math.isfinite(peak) and peak < 3 * top:
        top = max(top, peak * 1.1)
    curve = np.linspace(0.0, top, 120)
    figure = go.Figure()
    figure.add_scatter(
        x=[n for n, _ in points],
        y=[x for _, x in points],
        mode="markers",
        name=words("levels"),
        marker={"size": 9, "color": "#1f77b4"},
    )
    figure.add_scatter(
        x=curve.tolist(),
        y=fit.predict(curve).tolist(),
        mode="lines",
        name=words("Universal Scalability Law"),
        line={"color": "#ff7f0e"},
    )
    if math.isfinite(peak) and peak <= top:
        figure.add_vline(x=peak, line={"dash": "dot", "color": "#999", "width": 1})
    figure.update_layout(
        xaxis_title=words("requests in flight (throughput x mean response time)"),
        yaxis_title=words("requests per second carried"),
        height=340,
        margin={"t": 30, "l": 60, "r": 20, "b": 50},
        legend={"orientation": "h", "y": -0.25},
    )
    return figure


def _throughput(search: Search, words: Words) -> go.Figure:
    found = search.latest
    figure = go.Figure()
    offered = [sum(level["offered_per_s"].values()) for level in found]
    started = [sum(level["started_per_s"].values()) for level in found]
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
    figures = {"curve": _curve(search, words), "carried": _throughput(search, words)}
    if fit is not None:
        figures["usl-curve"] = _usl_curve(search, fit, words)
    specs = [{"id": key, "figure": json.loads(page.figure_json(f))} for key, f in figures.items()]
    template = page.ENVIRONMENT.get_template("capacity.html")
    return template.render(
        words=words,
        language=language,
        s=search,
        data=search.data,
        answer=_answer(search, words),
        interval=interval(search, words),
        estimate=estimate(search, words),
        verdict=lambda level: _verdict(level, words),
        headroom=_headroom(search, words),
        upturn=upturn(search),
        fit=fit,
        finite=math.isfinite,
        colours=COLOURS,
        failures=judged.failures,
        cases=judged.cases,
        chart_data=page.script_json(specs),
        plotly_js=get_plotlyjs(),
    )


def _answer(search: Search, words: Words) -> str:
    data = search.data
    name = f"{data['profile']} {data['phase']}"
    if not data["levels"]:
        return words("No level was decided: nothing was measured.")
    answer = data["answer"]
    if answer is None:
        return words(
            "The target does not carry {name} at x{low} within its SLOs, the lowest level.",
            name=name,
            low=f"{data['range'][0]:g}",
        )
    return words(
        "Carries {requests} requests a second of {name} within its SLOs: {multiple}x its "
        "arrivals, {visits} visits a second.",
        multiple=f"{answer['multiple']:.3g}",
        name=name,
        visits=words.number(sum(answer["visits_per_s"].values()), 2),
        requests=words.number(answer["requests_per_s"], 1),
    )


def interval(search: Search, words: Words) -> str | None:
    """The answer's interval in words: sure when both its ends were decided, else which were
    not; None without an answer."""
    answer = search.data["answer"]
    if answer is None:
        return None
    low, high = answer["interval"]["low"], answer["interval"]["high"]
    low_rate = words.number(low["requests_per_s"], 1)
    if high is None:
        if low["sure"]:
            return words(
                "Surely above {low} requests a second: x{multiple} surely passed, and every "
                "level passed up to the top of the range.",
                low=low_rate,
                multiple=f"{low['multiple']:.3g}",
            )
        return words(
            "Unsure: above {low} requests a second, where x{multiple} passed without being "
            "decided at 95% confidence.",
            low=low_rate,
            multiple=f"{low['multiple']:.3g}",
        )
    high_rate = words.number(high["requests_per_s"], 1)
    if low["sure"] and high["sure"]:
        return words(
            "Surely between {low} and {high} requests a second: x{low_multiple} surely passed "
            "and x{high_multiple} surely failed, each at 95% confidence.",
            low=low_rate,
            high=high_rate,
            low_multiple=f"{low['multiple']:.3g}",
            high_multiple=f"{high['multiple']:.3g}",
        )
    undecided = [f"x{end['multiple']:.3g}" for end in (low, high) if not end["sure"]]
    return words(
        "Unsure between {low} and {high} requests a second: {levels} not decided at 95% "
        "confidence, so the answer rests on levels that leaned as their point estimates did.",
        low=low_rate,
        high=high_rate,
        levels=", ".join(undecided),
    )


def estimate(search: Search, words: Words) -> str | None:
    """Where the levels either side of it put the crossing, with its interval."""
    answer = search.data["answer"]
    found = answer and answer.get("estimate")
    if not found:
        return None
    per = (answer["requests_per_s"] or 0.0) / answer["multiple"] if answer["multiple"] else 0.0

    def rate(multiple: float | None) -> str:
        return "–" if multiple is None else words.number(multiple * per, 1)

    return words(
        "From the {count} levels either side of it, {objective}'s share of bad requests reaches "
        "its budget at {rate} requests a second (95% interval {low} to {high}).",
        count=found["levels"],
        objective=found["objective"],
        rate=rate(found["multiple"]),
        low=rate(found["low"]),
        high=rate(found["high"]),
    )


def _headroom(search: Search, words: Words) -> str | None:
    data = search.data
    answer, broke = data.get("answer"), data.get("broke_first")
    high = answer and answer["interval"]["high"]
    if not high:
        return None
    lane = data.get("lane")
    return words(
        "At {multiple}x, {objective} broke first; the busiest lane was {lane}.",
        multiple=f"{high['multiple']:.3g}",
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
    for said in (interval(search, words), _headroom(search, words)):
        if said is not None:
            lines += [said, ""]
    lines += [
        f"| x | {words('requests per second carried')} | p95 ms | {words('verdict')} |",
        "|---|---|---|---|",
    ]
    for level in search.latest:
        p95 = level["p95_ms"]
        per_s = level["requests_per_s"]
        lines.append(
            f"| {level['realized'] or level['multiple']:.3g} | "
            f"{'-' if per_s is None else f'{per_s:.1f}'} | "
            f"{'-' if p95 is None else f'{p95:.0f}'} | {_verdict(level, words)} |"
        )
    lines += ["", *(f"- {case.message}" for case in judged.failures)]
    return "\n".join(lines).rstrip() + "\n"


def _verdict(level: dict[str, Any], words: Words) -> str:
    """A level's verdict and how it was reached: decided, light or unsure."""
    how = (
        words("decided") if level["sure"] else words("light") if level["light"] else words("unsure")
    )
    return f"{level['status']} ({how})"
