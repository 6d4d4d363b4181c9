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

from reports.analysis import Analysis
from reports.i18n import N_, Words
from reports.timeline import Span
from surge.profile import CHANNELS, Profile, clock_seconds

_DAY = dt.datetime(2000, 1, 1)
LABELS = {
    "counter": N_("counter"),
    "kiosk": N_("kiosk"),
    "online": N_("online"),
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
    profile = analysis.run.profile
    shapes, notes = [], []
    for n, phase in enumerate(analysis.timeline.phases):
        shapes.append(_band(profile, phase, _PHASES[n % 2]))
        notes.append(_label(profile, phase, phase.name, "#555"))
    for n, fault in enumerate(analysis.timeline.faults):
        shapes.append(_band(profile, fault, _FAULT))
        text = words("fault: {name}", name=fault.name)
        notes.append(_label(profile, fault, text, "#a00", 0.92 - 0.07 * (n % 3)))
    figure.update_layout(
        shapes=shapes,
        annotations=notes,
        xaxis={"type": "date", "tickformat": "%H:%M", "title": words("time of the rehearsed day")},
        yaxis={"title": y_title, "rangemode": "tozero"},
        legend={"orientation": "h", "y": -0.25},
        margin={"t": 40, "r": 20, "b": 60, "l": 60},
        height=360,
        template="plotly_white",
    )


def _band(profile: Profile, span: Span, colour: str) -> dict[str, object]:
    start, end = clock(profile, (span.start, span.end))
    return {
        "type": "rect",
        "xref": "x",
        "yref": "paper",
        "x0": start,
        "x1": end,
        "y0": 0,
        "y1": 1,
        "fillcolor": colour,
        "line": {"width": 0},
        "layer": "below",
    }


def _label(profile: Profile, span: Span, text: str, colour: str, y: float = 1.0) -> dict:
    (start,) = clock(profile, (span.start,))
    return {
        "x": start,
        "y": y,
        "xref": "x",
        "yref": "paper",
        "text": text,
        "showarrow": False,
        "xanchor": "left",
        "yanchor": "bottom",
        "font": {"size": 10, "color": colour},
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
    figure.update_layout(title={"text": title, "x": 0, "font": {"size": 15}})
    return Chart(chart_id, title, figure.to_json())


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
    return _chart("chart-arrivals", words("Arrivals: planned against started"), figure)


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
    return _chart("chart-requests", words("Requests by outcome and error"), figure)


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
    figure.update_yaxes(type="log", rangemode="normal")
    return _chart("chart-latency", words("Response time and customer wait"), figure)


BURN_SHOWN = 10.0
"""Burn rates above this are drawn at it: a crash's stretch would flatten every other line."""


def _slo(analysis: Analysis, words: Words) -> Chart | None:
    """Each objective's burn rate over the hour up to each moment, drawn at the moment (the
    window's end, so a breach never shows before its cause): only the objectives that spent
    their budget faster than it allows somewhere, the others counted in the title."""
    slos = analysis.slos
    if not slos.judgements:
        return None
    windows = slos.windows
    x = clock(analysis.run.profile, windows["t"])
    figure = go.Figure()
    shown = [j for j in slos.judgements if j.worst is not None and (j.worst.burn or 0) > 1.0]
    for judgement in shown:
        name = judgement.objective.name
        burn = windows[name].clip(upper=BURN_SHOWN)
        figure.add_scatter(x=x, y=burn, name=name, mode="lines", legendgroup=name)
        ends = {round(w.end / slos.bin_s) - 1 for w in judgement.breaches}
        if ends:
            at = sorted(ends)
            figure.add_scatter(
                x=[x[n] for n in at],
                y=[burn.iloc[n] for n in at],
                mode="markers",
                marker={"color": "#d62728", "size": 5, "symbol": "x"},
                name=words("{objective} breached", objective=name),
                legendgroup=name,
                showlegend=False,
            )
    figure.add_hline(y=slos.rules[0].burn, line={"color": "#d62728", "dash": "dash"})
    figure.add_hline(y=1.0, line={"color": "#7f7f7f", "dash": "dot"})
    _time_layout(figure, analysis, words, words("burn rate over the hour (1: the budget's rate)"))
    peak = float(np.nanmax(windows[[j.objective.name for j in shown]].to_numpy(), initial=0.0))
    figure.update_yaxes(range=[0, max(3.0, min(BURN_SHOWN, peak)) * 1.05])
    broke = [j for j in slos.judgements if j.breaches]
    title = (
        words(
            "Budget burn: {broke} of {total} objectives breached in a stretch of the day",
            broke=words.number(len(broke)),
            total=words.number(len(slos.judgements)),
        )
        if broke
        else words(
            "Budget burn: no stretch of the day spent a budget too fast ({others} objectives "
            "never over their budget's rate)",
            others=words.number(len(slos.judgements) - len(shown)),
        )
    )
    return _chart("chart-slo", title, figure)


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
    return _chart("chart-in-flight", words("Visits in flight (the most in each window)"), figure)


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
    profile = analysis.run.profile
    bands = [_band(profile, span, _SATURATED) for span in watched.saturated]
    notes = [_label(profile, s, words("saturated"), "#6a3d9a", 0.05) for s in watched.saturated]
    figure.update_layout(
        shapes=[*figure.layout.shapes, *bands],
        annotations=[*figure.layout.annotations, *notes],
        yaxis={"tickformat": ".0%", "rangemode": "tozero"},
        yaxis2={
            "title": words("milliseconds"),
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
        },
    )
    return _chart("chart-generator", words("The load generator: CPU and event-loop lag"), figure)


def process_name(words: Words, process: int, workers: int) -> str:
    """A process of the generator as the report names it (`surge.saturation.process_name`)."""
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
        yaxis2={"title": words("requests queued"), "overlaying": "y", "side": "right"},
    )
    return _chart("chart-lanes", words("The target's lanes: busy slots and queues"), figure)


def _server(analysis: Analysis, words: Words) -> Chart | None:
    server = analysis.timeline.server
    if server is None or server.empty:
        return None
    x = clock(analysis.run.profile, (server["start"] + server["end"]) / 2)
    figure = go.Figure()
    figure.add_bar(x=x, y=server["server_p95_ms"], name=words("the target's own p95"))
    figure.add_bar(x=x, y=server["harness_p95_ms"], name=words("the harness's exact p95"))
    _time_layout(figure, analysis, words, words("milliseconds"))
    return _chart(
        "chart-server", words("p95 as the target measured it and as the harness did"), figure
    )


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
        xaxis={"title": words("requests per second")},
        yaxis={"title": words("p95 response (ms)"), "type": "log"},
        template="plotly_white",
        height=360,
        margin={"t": 40, "r": 20, "b": 50, "l": 60},
    )
    return _chart("chart-upturn", words("Latency against throughput"), figure)


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
        template="plotly_white",
        height=320,
        margin={"t": 40, "r": 20, "b": 40, "l": 60},
    )
    return _chart("chart-carried", words("Load offered and carried, by channel"), figure)


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
        yaxis2={"overlaying": "y", "side": "right", "tickformat": ".0%", "range": [0, 1.05]},
        template="plotly_white",
        height=340,
        margin={"t": 40, "r": 60, "b": 40, "l": 60},
    )
    return _chart("chart-branch", words("The branch counters, phase by phase"), figure)


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
        template="plotly_white",
        height=320,
        margin={"t": 40, "r": 20, "b": 50, "l": 60},
    )
    title = words(
        "Counters needed at {phase} as lobby diversion grows", phase=analysis.staffing.peak
    )
    return _chart("chart-diversion", title, figure)
