"""The report's charts, as plotly figures (their JavaScript is inlined by `reports.render`).

Time charts run on the rehearsed day's wall clock, whatever the time scale, with the profile's
phases shaded and its fault windows in red on every one, so that a breach lines up with the
phase and the incident it belongs to. Every word on a chart comes from the catalogue (`Words`).
Data are aggregated before they are plotted (windows, bins, lanes), so a chart's size does not
grow with the number of requests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from reports import labels, slo
from reports.analysis import Analysis
from reports.i18n import N_, Words
from reports.labels import GLOSSES
from reports.page import figure_json
from reports.timeline import Span
from surge.day.profile import CHANNELS, Profile, clock_seconds
from surge.visit.wire import ERRORS

_DAY = dt.datetime(2000, 1, 1)
LABELS: dict[str, str] = {
    **{channel: GLOSSES[channel] for channel in CHANNELS},
    "5xx": N_("5xx"),
    "timeout": N_("timeout"),
    "reset": N_("reset"),
    "no_response": N_("no response"),
    "4xx": N_("4xx"),
}
"""Names of channels and error kinds, marked for the catalogue (`Words.label` shows them)."""
_COLOURS = {"counter": "#1f77b4", "kiosk": "#ff7f0e", "online": "#2ca02c"}
_FAULT = "rgba(214, 39, 40, 0.15)"
_SATURATED = "rgba(148, 103, 189, 0.25)"
_PHASES = ("rgba(120, 120, 120, 0.06)", "rgba(120, 120, 120, 0.0)")


@dataclass(frozen=True, slots=True)
class Chart:
    id: str
    title: str
    figure: str
    """The figure as plotly JSON."""


def clock(profile: Profile, t: Iterable[float]) -> list[str]:
    """Run times as the day's wall clock, in the form plotly reads as dates."""
    start = clock_seconds(profile.day_start)
    return [
        (_DAY + dt.timedelta(seconds=start + float(x) * profile.time_scale)).isoformat(sep=" ")
        for x in t
    ]


def _time_layout(figure: go.Figure, analysis: Analysis, words: Words, y_title: str) -> None:
    """The day on the x axis, from its start to its close (what ran past the close, the
    drain of the last visits, is in the tables), its phases shaded and named above the plot,
    its faults in red and named inside it."""
    profile = analysis.run.profile
    shapes, notes = _day_marks(analysis, words)
    figure.update_layout(
        shapes=shapes,
        annotations=notes,
        xaxis={
            "type": "date",
            "tickformat": "%H:%M",
            "title": words("time of the rehearsed day"),
            "range": clock(profile, (0.0, profile.duration_s)),
            "ticklabelstandoff": TICK_STANDOFF,
        },
        yaxis={"title": y_title, "rangemode": "tozero"},
        legend={"orientation": "h", "y": -0.25},
        margin={"t": 64, "r": 20, "b": 60, "l": 64},
        height=380,
    )


LINE_PX = 16
"""The height of a span's name (10-pixel text on its background) and a pixel between two."""

TICK_STANDOFF = 6
"""Pixels between the time axis and its labels: the first and last clock would otherwise touch
the y axes' lowest labels."""


def _day_marks(
    analysis: Analysis, words: Words, axis: str = ""
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """The phases' and faults' bands (and their names, on the first axis only) for the plot on
    x axis `axis` ("", "2", …)."""
    profile = analysis.run.profile
    shapes: list[dict[str, object]] = []
    notes: list[dict[str, object]] = []
    for n, phase in enumerate(analysis.timeline.phases):
        shapes.append(_band(profile, phase, _PHASES[n % 2], axis))
        if not axis:  # every other name a line higher: a short phase's may be wider than it
            notes.append(_label(profile, phase, phase.name, "#555", 1.0, "bottom", n % 2))
    for n, fault in enumerate(analysis.timeline.faults):
        shapes.append(_band(profile, fault, _FAULT, axis))
        if not axis:
            text = words("fault: {name}", name=fault.name)
            notes.append(_label(profile, fault, text, "#a00", 1.0, "top", n % 3))
    return shapes, notes


def _band(profile: Profile, span: Span, colour: str, axis: str = "") -> dict[str, object]:
    start, end = clock(profile, (span.start, span.end))
    return {
        "type": "rect",
        "xref": f"x{axis}",
        "yref": f"y{axis} domain",
        "x0": start,
        "x1": end,
        "y0": 0,
        "y1": 1,
        "fillcolor": colour,
        "line": {"width": 0},
        "layer": "below",
    }


def _label(
    profile: Profile, span: Span, text: str, colour: str, y: float, anchor: str, line: int = 0
) -> dict[str, object]:
    """A span's name at its start, `line` lines of text away from `y` (the plot's top or
    bottom): lines are counted in pixels, since a fraction of the plot is less than a line of
    text in a short one (the one-objective budget-burn plot put two faults' names on each
    other)."""
    (start,) = clock(profile, (span.start,))
    away = LINE_PX * line + 2
    return {
        "x": start,
        "y": y,
        "yshift": away if anchor == "bottom" else -away,
        "xref": "x",
        "yref": "paper",
        "text": text,
        "showarrow": False,
        "xanchor": "left",
        "yanchor": anchor,
        "font": {"size": 10, "color": colour},
        "bgcolor": "rgba(255, 255, 255, 0.7)",
    }


def charts(analysis: Analysis, words: Words) -> list[Chart]:
    makers = [
        _arrivals,
        _requests,
        _latency,
        _slo,
        _in_flight,
        _generator,
        _lanes,
        _server,
        _upturn,
        _carried,
        _branch,
        _diversion,
    ]
    return [chart for make in makers if (chart := make(analysis, words)) is not None]


def _chart(chart_id: str, title: str, figure: go.Figure) -> Chart:
    """The chart, its title (which states what it shows) above the plot and clear of the axis
    titles, in the report's fonts."""
    figure.update_layout(
        title={
            "text": title,
            "x": 0,
            "xref": "container",
            "xanchor": "left",
            "y": 1,
            "yref": "container",
            "yanchor": "top",
            "pad": {"t": 8, "l": 8},
            "font": {"size": 15},
        },
    )
    return Chart(chart_id, title, figure_json(figure))


def _arrivals(analysis: Analysis, words: Words) -> Chart:
    arrivals = analysis.timeline.arrivals
    step = analysis.timeline.window_s
    figure = go.Figure()
    for channel in CHANNELS:
        mine = arrivals[arrivals["channel"] == channel]
        if mine["planned"].sum() == 0:
            continue
        x = clock(analysis.run.profile, mine["t"] + step / 2)
        colour = _COLOURS[channel]
        figure.add_scatter(
            x=x,
            y=mine["planned"] / step,
            name=words("{channel}: planned", channel=words(LABELS[channel])),
            line={"dash": "dot", "color": colour},
        )
        figure.add_scatter(
            x=x,
            y=mine["started"] / step,
            name=words("{channel}: started", channel=words(LABELS[channel])),
            line={"color": colour},
        )
    late = arrivals.groupby("t")[["late", "dropped"]].sum()
    x = clock(analysis.run.profile, late.index + step / 2)
    figure.add_bar(x=x, y=late["late"] / step, name=words("late"), marker_color="#bcbd22")
    figure.add_bar(x=x, y=late["dropped"] / step, name=words("dropped"), marker_color="#d62728")
    _time_layout(figure, analysis, words, words("visits per second"))
    visits = analysis.run.visits
    if visits is None:
        return _chart("chart-arrivals", words("Arrivals: planned against started"), figure)
    total = visits.total
    title = words(
        "Arrivals: {started} of {planned} planned visits started ({late} late, {dropped} dropped)",
        started=words.number(total.started),
        planned=words.number(total.planned),
        late=words.number(total.late),
        dropped=words.number(total.dropped),
    )
    return _chart("chart-arrivals", title, figure)


def _requests(analysis: Analysis, words: Words) -> Chart:
    requests = analysis.timeline.requests
    step = analysis.timeline.window_s
    x = clock(analysis.run.profile, requests["t"] + step / 2)
    figure = go.Figure()
    figure.add_bar(x=x, y=requests["ok"] / step, name=words("ok"), marker_color="#2ca02c")
    figure.add_bar(
        x=x,
        y=requests["refused"] / step,
        name=words("refused by business rules"),
        marker_color="#9edae5",
    )
    for kind, colour in (
        ("5xx", "#d62728"),
        ("timeout", "#ff9896"),
        ("reset", "#8c564b"),
        ("no_response", "#7f7f7f"),
        ("4xx", "#e377c2"),
    ):
        if requests[kind].sum():
            figure.add_bar(
                x=x, y=requests[kind] / step, name=words(LABELS[kind]), marker_color=colour
            )
    figure.update_layout(barmode="stack", bargap=0)
    _time_layout(figure, analysis, words, words("requests per second"))
    attempts = analysis.frames.requests
    errors = int(attempts["outcome"].isin(ERRORS).sum())
    title = words(
        "Requests: {errors} errors in {total} attempts ({share})",
        errors=words.number(errors),
        total=words.number(len(attempts)),
        share=words.percent(errors / len(attempts) if len(attempts) else None, 2),
    )
    return _chart("chart-requests", title, figure)


def _latency(analysis: Analysis, words: Words) -> Chart:
    requests = analysis.timeline.requests
    step = analysis.timeline.window_s
    x = clock(analysis.run.profile, requests["t"] + step / 2)
    figure = go.Figure()
    for p, dash in (("p50", "dot"), ("p95", "solid"), ("p99", "dash")):
        figure.add_scatter(x=x, y=requests[p], name=words("response {p}", p=p), line={"dash": dash})
    figure.add_scatter(
        x=x,
        y=requests["wait_p95"] * 1000,
        name=words("customer wait p95"),
        line={"color": "#9467bd"},
    )
    _time_layout(figure, analysis, words, words("milliseconds"))
    figure.update_yaxes(type="log", rangemode="normal", dtick=1)  # decades: no minor labels
    day = requests[requests["t"] < analysis.run.profile.duration_s].dropna(subset=["p95"])
    if day.empty:
        return _chart("chart-latency", words("Response time and customer wait"), figure)
    worst = day.loc[day["p95"].idxmax()]
    title = words(
        "Response time: p95 at most {worst}, at {clock}; the customers' wait p95 at most {wait}",
        worst=words.ms(float(worst["p95"])),
        clock=analysis.run.profile.wall_clock(float(worst["t"]) + step / 2),
        wait=words.seconds(float(day["wait_p95"].max())),
    )
    return _chart("chart-latency", title, figure)


BURN_SHOWN = 10.0
"""Burn rates above this are drawn at it: a crash's stretch would flatten every other line."""
ROW_PX = 150


def _slo(analysis: Analysis, words: Words) -> Chart | None:
    """Each objective's burn rate over the hour up to each moment, drawn at the moment (the
    window's end, so a breach never shows before its cause), for the objectives that spent their
    budget faster than it allows somewhere: one small plot per channel or operation, its
    metrics' lines in it, breaches marked. Not drawn when none did (the table says so)."""
    slos = analysis.slos
    shown = [j for j in slos.judgements if j.worst is not None and (j.worst.burn or 0) > 1.0]
    if not shown:
        return None
    keys = list(dict.fromkeys(j.objective.key for j in shown))
    figure = make_subplots(
        rows=len(keys),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=[labels.label(words, key) for key in keys],
    )
    x = clock(analysis.run.profile, slos.windows["t"])
    colours = dict(zip(slo.JUDGES, _METRIC_COLOURS, strict=True))
    for judgement in shown:
        name, row = judgement.objective.name, keys.index(judgement.objective.key) + 1
        burn = slos.windows[name].clip(upper=BURN_SHOWN)
        colour = colours[judgement.objective.metric]
        figure.add_scatter(
            x=x, y=burn, name=name, mode="lines", line={"color": colour}, row=row, col=1
        )
        at = sorted({round(w.end / slos.bin_s) - 1 for w in judgement.breaches})
        if at:
            figure.add_scatter(
                x=[x[n] for n in at],
                y=[burn.iloc[n] for n in at],
                mode="markers",
                marker={"color": "#d62728", "size": 6, "symbol": "x"},
                name=words("{objective} breached", objective=name),
                showlegend=False,
                row=row,
                col=1,
            )
    profile = analysis.run.profile
    shapes, notes = [], []
    for row in range(1, len(keys) + 1):
        axis = "" if row == 1 else str(row)
        bands, named = _day_marks(analysis, words, axis)
        shapes += bands
        notes += named
        for rate, dash in ((slos.rules[0].burn, "dash"), (1.0, "dot")):
            shapes.append(_rule(rate, axis, dash))
    peak = float(np.nanmax(slos.windows[[j.objective.name for j in shown]].to_numpy()))
    figure.update_yaxes(range=[0, max(3.0, min(BURN_SHOWN, peak)) * 1.05], rangemode="tozero")
    figure.update_xaxes(
        type="date",
        tickformat="%H:%M",
        range=clock(profile, (0.0, profile.duration_s)),
        ticklabelstandoff=TICK_STANDOFF,
    )
    figure.update_xaxes(title=words("time of the rehearsed day"), row=len(keys), col=1)
    figure.update_yaxes(title=words("burn rate"))
    figure.update_layout(
        shapes=shapes,
        annotations=[*figure.layout.annotations, *notes],
        height=90 + ROW_PX * len(keys),
        margin={"t": 64, "r": 20, "b": 60, "l": 64},
        legend={"orientation": "h", "y": -0.08 - 0.4 / len(keys)},
    )
    broke = [j for j in slos.judgements if j.breaches]
    title = words(
        "Budget burn: {broke} of {total} objectives breached in a stretch of the day; "
        "{shown} spent their budget faster than it allows somewhere",
        broke=words.number(len(broke)),
        total=words.number(len(slos.judgements)),
        shown=words.number(len(shown)),
    )
    return _chart("chart-slo", title, figure)


_METRIC_COLOURS = ("#1f77b4", "#9467bd", "#ff7f0e", "#2ca02c")
"""p95, p99, customer wait, error rate: the same colour for a metric in every small plot."""


def _rule(rate: float, axis: str, dash: str) -> dict[str, object]:
    """A horizontal line at `rate` across the plot on axis `axis`."""
    return {
        "type": "line",
        "xref": f"x{axis} domain",
        "yref": f"y{axis}",
        "x0": 0,
        "x1": 1,
        "y0": rate,
        "y1": rate,
        "line": {"color": "#d62728" if dash == "dash" else "#7f7f7f", "dash": dash, "width": 1},
    }


def _in_flight(analysis: Analysis, words: Words) -> Chart:
    requests = analysis.timeline.requests
    step = analysis.timeline.window_s
    figure = go.Figure()
    figure.add_scatter(
        x=clock(analysis.run.profile, requests["t"] + step / 2),
        y=requests["in_flight"],
        name=words("visits in flight"),
        line={"shape": "hv"},
    )
    _time_layout(figure, analysis, words, words("visits"))
    peak = requests.loc[requests["in_flight"].idxmax()] if len(requests) else None
    if peak is None:
        return _chart("chart-in-flight", words("Visits in flight"), figure)
    title = words(
        "Visits in flight: {peak} at most, at {clock}",
        peak=words.number(float(peak["in_flight"])),
        clock=analysis.run.profile.wall_clock(float(peak["t"]) + step / 2),
    )
    return _chart("chart-in-flight", title, figure)


def _generator(analysis: Analysis, words: Words) -> Chart | None:
    """Each process's CPU and event-loop lag, the stretches when the generator was saturated
    shaded."""
    watched = analysis.generator
    if watched is None or watched.windows.empty:
        return None
    step = analysis.timeline.window_s
    figure = go.Figure()
    for figures in watched.processes:
        mine = watched.windows[watched.windows["process"] == figures.process]
        name = process_name(words, figures.process, analysis.run.info.workers)
        x = clock(analysis.run.profile, mine["t"] + step / 2)
        figure.add_scatter(x=x, y=mine["cpu"], name=words("{process}: CPU", process=name))
        figure.add_scatter(
            x=x,
            y=mine["loop_lag_mean_ms"],
            name=words("{process}: event loop late (mean)", process=name),
            yaxis="y2",
            line={"dash": "dot"},
        )
    _time_layout(figure, analysis, words, words("share of a core"))
    figure.update_layout(margin={"r": 64})
    profile = analysis.run.profile
    bands = [_band(profile, span, _SATURATED) for span in watched.saturated]
    notes = [
        _label(profile, s, words("saturated"), "#6a3d9a", 0.05, "bottom") for s in watched.saturated
    ]
    figure.update_layout(
        shapes=[*figure.layout.shapes, *bands],
        annotations=[*figure.layout.annotations, *notes],
        yaxis={"tickformat": ".0%", "rangemode": "tozero"},
        yaxis2={
            "title": words("milliseconds"),
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "showgrid": False,
        },
    )
    if watched.saturated:
        title = words(
            "The load generator: saturated for {seconds} of the run",
            seconds=words.seconds(watched.saturated_s),
        )
    else:
        title = words(
            "The load generator: never saturated (CPU at most {cpu} of a core)",
            cpu=words.percent(max((p.peak_cpu for p in watched.processes), default=None), 0),
        )
    return _chart("chart-generator", title, figure)


def process_name(words: Words, process: int, workers: int) -> str:
    """A process of the generator as the report names it (`surge.judge.saturation.process_name`)."""
    if process == 0:
        return words("the master") if workers > 1 else words("Locust")
    return words("the worker of share {share}", share=process - 1)


def _lanes(analysis: Analysis, words: Words) -> Chart | None:
    lanes = analysis.timeline.lanes
    if lanes is None:
        return None
    figure = go.Figure()
    for lane, samples in lanes[lanes["t"] >= 0].groupby("lane"):
        x = clock(analysis.run.profile, samples["t"])
        figure.add_scatter(x=x, y=samples["busy"] / samples["slots"], name=str(lane))
        if samples["queue"].max() > 0:
            figure.add_scatter(
                x=x,
                y=samples["queue"],
                name=words("{lane}: queue", lane=lane),
                yaxis="y2",
                line={"dash": "dot"},
            )
    _time_layout(figure, analysis, words, words("share of slots busy"))
    figure.update_layout(
        yaxis={"tickformat": ".0%", "range": [0, 1.05]},
        yaxis2={
            "title": words("requests queued"),
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "tickformat": "d",
            "showgrid": False,
        },
        margin={"r": 64},
    )
    busiest = analysis.capacity.busiest()
    if busiest is None or busiest.peak_share is None:
        return _chart("chart-lanes", words("The target's lanes: busy slots and queues"), figure)
    title = words(
        "The target's lanes: the busiest, {lane}, at {share} of its slots in {phase}",
        lane=busiest.lane,
        share=words.percent(busiest.peak_share, 0),
        phase=busiest.phase,
    )
    return _chart("chart-lanes", title, figure)


MIN_POINTS = 3
"""A chart with fewer points than this says nothing a sentence would not: it is not drawn."""


def _server(analysis: Analysis, words: Words) -> Chart | None:
    """The target's own p95 beside the harness's, stretch by stretch; only with enough
    stretches (the target keeps its histogram every few seconds of run)."""
    server = analysis.timeline.server
    if server is None or len(server.dropna()) < MIN_POINTS:
        return None
    x = clock(analysis.run.profile, (server["start"] + server["end"]) / 2)
    figure = go.Figure()
    figure.add_bar(x=x, y=server["server_p95_ms"], name=words("the target's own p95"))
    figure.add_bar(x=x, y=server["harness_p95_ms"], name=words("the harness's exact p95"))
    _time_layout(figure, analysis, words, words("milliseconds"))
    known = server.dropna()
    ratio = float((known["harness_p95_ms"] / known["server_p95_ms"]).median())
    title = words(
        "p95 as the target measured it and as the harness did: the harness's {ratio} times "
        "the target's (the network and the client's timing between them)",
        ratio=words.number(ratio, 2),
    )
    return _chart("chart-server", title, figure)


def _upturn(analysis: Analysis, words: Words) -> Chart | None:
    requests = analysis.timeline.requests.dropna(subset=["p95"])
    if requests.empty:
        return None
    per_s = (requests["ok"] + requests["refused"] + requests["errors"]) / analysis.timeline.window_s
    figure = go.Figure()
    figure.add_scatter(
        x=per_s,
        y=requests["p95"],
        mode="markers",
        name=words("one window"),
        marker={"size": 5, "opacity": 0.5},
    )
    upturn = analysis.capacity.upturn
    figure.add_scatter(x=upturn.curve["per_s"], y=upturn.curve["p95"], name=words("median by load"))
    if upturn.at_per_s is not None:
        figure.add_vline(x=upturn.at_per_s, line={"color": "#d62728"})
    figure.update_layout(
        xaxis={"title": words("requests per second"), "rangemode": "tozero"},
        yaxis={"title": words("p95 response (ms)"), "type": "log", "dtick": 1},
        height=380,
        margin={"t": 64, "r": 20, "b": 50, "l": 64},
    )
    if upturn.at_per_s is None:
        title = words("Latency against throughput: p95 did not turn up at the loads of this run")
    else:
        title = words(
            "Latency against throughput: p95 turned up at about {per_s} requests a second",
            per_s=words.number(upturn.at_per_s),
        )
    return _chart("chart-upturn", title, figure)


def _carried(analysis: Analysis, words: Words) -> Chart | None:
    carried = analysis.capacity.carried
    if not carried:
        return None
    names = [words(LABELS[c.channel]) for c in carried]
    figure = go.Figure()
    figure.add_bar(x=names, y=[c.offered for c in carried], name=words("offered"))
    figure.add_bar(x=names, y=[c.started for c in carried], name=words("started"))
    figure.add_bar(x=names, y=[c.dropped for c in carried], name=words("dropped"))
    figure.update_layout(
        yaxis={"title": words("visits")},
        height=340,
        margin={"t": 64, "r": 20, "b": 40, "l": 64},
    )
    offered = sum(c.offered for c in carried)
    title = words(
        "Load offered and carried: {share} of the visits offered started",
        share=words.percent(sum(c.started for c in carried) / offered if offered else None),
    )
    return _chart("chart-carried", title, figure)


def _branch(analysis: Analysis, words: Words) -> Chart:
    phases = analysis.staffing.phases
    names = [p.phase for p in phases]
    figure = go.Figure()
    figure.add_bar(x=names, y=[p.counters for p in phases], name=words("counters open"))
    figure.add_bar(x=names, y=[p.needed for p in phases], name=words("counters needed"))
    figure.add_scatter(
        x=names,
        y=[p.within_target for p in phases],
        name=words("served within target"),
        yaxis="y2",
        mode="lines+markers",
    )
    figure.update_layout(
        yaxis={"title": words("counters")},
        yaxis2={
            "title": words("share served within the target wait"),
            "overlaying": "y",
            "side": "right",
            "tickformat": ".0%",
            "range": [0, 1.05],
            "showgrid": False,
        },
        legend={"orientation": "h", "y": -0.15},
        height=380,
        margin={"t": 64, "r": 72, "b": 40, "l": 64},
    )
    short = analysis.staffing.short
    if not short:
        title = words("The branch counters: every phase served within its target")
    else:
        worst = max(short, key=lambda p: p.needed - p.counters)
        title = words(
            "The branch counters: {phase} needs {needed}, with {counters} open",
            phase=worst.phase,
            needed=words.number(worst.needed),
            counters=words.number(worst.counters),
        )
    return _chart("chart-branch", title, figure)


def _diversion(analysis: Analysis, words: Words) -> Chart:
    what_if = analysis.staffing.what_if
    figure = go.Figure()
    figure.add_scatter(
        x=[w.diversion for w in what_if],
        y=[w.needed for w in what_if],
        mode="lines+markers",
        name=words("counters needed"),
        line={"shape": "hv"},
    )
    if analysis.staffing.phases:
        figure.add_hline(
            y=analysis.staffing.phases[0].counters, line={"dash": "dash", "color": "#7f7f7f"}
        )
    figure.update_layout(
        xaxis={"title": words("share of simple counter business diverted"), "tickformat": ".0%"},
        yaxis={"title": words("counters"), "rangemode": "tozero"},
        height=340,
        margin={"t": 64, "r": 20, "b": 50, "l": 64},
    )
    title = words(
        "Counters needed at {phase} as lobby diversion grows", phase=analysis.staffing.peak
    )
    return _chart("chart-diversion", title, figure)
