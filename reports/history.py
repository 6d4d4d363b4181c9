"""The run history as a report: trends across runs, change points, what changed since the last
drill (`surge history report`), and the history's part of the gate (`surge gate --history`).

The trend report is one self-contained HTML file on the run report's page frame
(`templates/history.html` on `templates/_page.html`), in either language (`reports.i18n`). For
each group of comparable runs (the same kind, resolved profile and target: what the gate
compares) it charts a capacity search's answer with its interval, or each objective's whole-run
value against its limit, run after run; the change points for the worse are marked
(`surge.history.changes`), failures too, and every point opens its run's report. Then, for the
drill team, what changed between the group's last two valid runs: findings that appeared, went
away or got worse, and objectives that broke or spent significantly more of their budget.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from plotly.offline import get_plotlyjs
from scipy.special import ndtr

from reports import labels, page
from reports.i18n import LANGUAGES, N_, Words
from surge.exits import BadInput
from surge.history import entry, gate
from surge.history.changes import ChangePoint, change_points
from surge.history.entry import CAPACITY_SEARCH, TONES, Finding
from surge.history.store import Store, utc

if TYPE_CHECKING:  # the gate's, imported where the gate calls: the trend report needs neither
    from reports.gate import Case
    from reports.report import Further

FAILED = "#c62828"
CHANGED = "#6a1b9a"
LINE = "#1565c0"
SPARKS = "▁▂▃▄▅▆▇█"
TREND_RUNS = 20
"""Runs a trend line of summary.md shows, the newest last."""
RECENT = 30
"""Runs listed under each group, the newest first."""
Z_999 = 3.0902
"""One-sided 99.9%: an objective spent significantly more of its budget than in the drill
before (a two-proportion test on its counts)."""
CAPACITY = N_("capacity")
KINDS = {CAPACITY_SEARCH: N_("capacity search"), entry.REHEARSAL: N_("rehearsal")}
WHAT = {
    "appeared": N_("appeared"),
    "went away": N_("went away"),
    "got worse": N_("got worse"),
}
"""What became of a finding since the drill before, marked for the catalogue (an objective's
change is a sentence of its own)."""
VERDICTS = {
    None: N_("skipped"),
    True: N_("plausible"),
    False: N_("failed"),
}


def against(where: str, window: int) -> Further:
    """The history's part of the gate, for `reports.report.conclude` (and a capacity search's):
    the run judged against the comparable runs recorded in `where` (`surge.history.gate`), each
    measure a case of suite `history`, with a section of trend lines for summary.md."""

    def judged(
        folder: Path, figures: Mapping[str, Any] | None, language: str
    ) -> tuple[list[Case], str]:
        from reports.gate import Case

        found = entry.read(folder, figures=figures)
        with Store.open(where) as history:
            earlier = history.entries(group=found.group, before=found, valid=True, last=window)
            name = history.name
        checks = gate.judge(found, earlier, window)
        cases = [Case(gate.SUITE, c.name, c.passed, c.message, c.figures) for c in checks]
        return cases, section(checks, Words(language), len(earlier), name)

    return judged


def section(checks: Sequence[gate.Check], words: Words, runs: int, where: str) -> str:
    """summary.md's lines for the gate against history: a trend line per measure judged."""
    title = words(
        "Against the history: {runs} comparable runs before this one ({where})",
        runs=words.number(runs),
        where=where,
    )
    lines = ["", f"### {title}", ""]
    if not checks:
        return "\n".join([*lines, words("No measure of this run was judged."), ""])
    headings = [words("measure"), words("trend, oldest first"), words("this run"), words("verdict")]
    lines += [f"| {' | '.join(headings)} |", "|---|---|---|---|"]
    for check in checks:
        verdict = words(VERDICTS[check.passed])
        if check.passed is False and "change" in check.figures:
            verdict = words(
                "continues a change for the worse ({change})",
                change=_signed(words, check.figures["change"]),
            )
        elif check.passed is False:
            verdict = words("outside the plausible range")
        lines.append(
            f"| {_measure(words, check.measure)} | {sparkline(check.trend)} | "
            f"{_value(words, check.metric, check.trend[-1])} | {verdict} |"
        )
    return "\n".join([*lines, ""])


def sparkline(values: Sequence[float]) -> str:
    """The last `TREND_RUNS` values as a line of block characters, lowest to highest."""
    shown = [v for v in values[-TREND_RUNS:] if math.isfinite(v)]
    if not shown:
        return "–"
    low, high = min(shown), max(shown)
    if high == low:
        return SPARKS[len(SPARKS) // 2] * len(shown)
    steps = len(SPARKS) - 1
    return "".join(SPARKS[round((v - low) / (high - low) * steps)] for v in shown)


@dataclass(frozen=True)
class Series:
    """One measure of a group across its valid runs."""

    measure: str
    metric: str
    limit: float | None
    positions: list[int]
    """Each value's run, as its place in the group's runs (oldest first)."""
    values: list[float]
    failed: list[bool]
    """The objective broke in that run (the search found no capacity it could stand by)."""
    gated: list[bool]
    """The run's gate failed (on this measure or another)."""
    changes: list[ChangePoint]
    """The changes for the worse, `index` a place in `values`."""
    low: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)
    """A capacity's interval, per value."""


@dataclass(frozen=True)
class Change:
    """What changed from the previous drill to the last, in one sentence's parts."""

    tone: str
    what: str
    """`appeared`, `went away`, `got worse`, `broke`, `spent more`."""
    sentence: str


@dataclass(frozen=True)
class Group:
    key: str
    kind: str
    profile: str
    target: str
    profile_hash: str
    runs: list[Any]
    series: list[Series]
    changed: list[Change]
    last: Any | None
    previous: Any | None
    notes: dict[int, str]
    """Each run's measure in a few words: its capacity, or its objectives that broke."""
    places: dict[int, int]
    """Each run's place in `runs` by its id: its number in the group (from 1) is one more."""

    def number(self, run: Any) -> int:
        """The run's number in the group, as its charts and tables show it."""
        return self.places[run.id] + 1


def build(history: Store, output: Path, language: str, profile: str | None = None) -> Path:
    """Write the trend report of `history` (of `profile`'s runs only, if given) to `output`."""
    if language not in LANGUAGES:
        raise BadInput(f"--lang: {language!r} is not one of {', '.join(LANGUAGES)}")
    words = Words(language)
    rows, judged = history.tables(profile)
    if profile is not None and not rows:
        raise BadInput(f"--profile: no run of {profile!r} in {history.name}")
    groups = _groups(history, rows, judged, words)
    base = output.resolve().parent
    specs: list[dict[str, Any]] = []
    links: dict[str, list[list[str]]] = {}
    for group in groups:
        links[group.key] = [_run_link(run, base, words) for run in group.runs]
        for n, series in enumerate(group.series):
            figure = _chart(group, series, words)
            specs.append({"id": f"{group.key}-{n}", "group": group.key, "figure": figure})
    template = page.ENVIRONMENT.get_template("history.html")
    html = template.render(
        words=words,
        language=language,
        groups=groups,
        where=history.name,
        profile=profile,
        runs=len(rows),
        made=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        label=lambda identifier: labels.label(words, identifier),
        verdict=lambda run: _verdict(words, run),
        when=_when,
        href=lambda run: _href(run, base),
        title=lambda series: _title(words, series),
        change_line=lambda group, series, point: _change_line(words, group, series, point),
        kind_name=lambda kind: words(KINDS[kind]),
        what=WHAT,
        target_name=lambda target: (
            words("the embedded mock core") if target == entry.EMBEDDED else target
        ),
        chart_data=page.script_json(specs),
        run_links=page.script_json(links),
        pointer=page.script_json(
            words("Run {run}: {label}, {when}, {verdict}. Click it to open its report.")
        ),
        plotly_js=get_plotlyjs(),
    )
    try:
        output.write_text(html, encoding="utf-8")
    except OSError as error:
        raise BadInput(f"-o: {output}: cannot write it: {error.strerror}") from None
    return output


def _groups(
    history: Store, rows: Sequence[Any], judged: Sequence[Any], words: Words
) -> list[Group]:
    table = _Objectives.of(judged)
    grouped: dict[tuple[str, str, str], list[Any]] = {}
    for row in rows:
        grouped.setdefault((row.kind, row.profile_hash, row.target), []).append(row)
    made = []
    for n, ((kind, profile_hash, target), runs) in enumerate(
        sorted(grouped.items(), key=lambda item: utc(item[1][-1].started), reverse=True)
    ):
        valid = [run for run in runs if run.valid]
        place = {run.id: i for i, run in enumerate(runs)}
        if kind == CAPACITY_SEARCH:
            series = [_capacity_series(valid, place)]
        else:
            series = _objective_series(valid, place, table)
        last, previous = (valid[-1], valid[-2]) if len(valid) > 1 else (None, None)
        shown = [run.id for run in runs[-RECENT:]] + [run.id for run in (last, previous) if run]
        by_run = table.rows_of(judged, shown)
        changed = []
        if last is not None and previous is not None:
            changed = _changed(history, last, previous, by_run, words)
        notes = {run.id: _note(words, run, by_run.get(run.id, [])) for run in runs[-RECENT:]}
        made.append(
            Group(
                f"g{n}",
                kind,
                runs[-1].profile,
                target,
                profile_hash,
                runs,
                [s for s in series if s.values],
                changed,
                last,
                previous,
                notes,
                place,
            )
        )
    return made


def _note(words: Words, run: Any, judged: Sequence[Any]) -> str:
    if run.kind == CAPACITY_SEARCH:
        if run.capacity is None:
            return "–"
        answer = _value(words, "capacity", run.capacity)
        if run.capacity_high is None:
            return answer
        return words(
            "{answer} (between {low} and {high})",
            answer=answer,
            low=_value(words, "capacity", run.capacity_low or run.capacity),
            high=_value(words, "capacity", run.capacity_high),
        )
    counted = [row for row in judged if row.passed is not None]
    return words(
        "{broke} of {total} objectives broke",
        broke=words.number(sum(row.held is False for row in counted)),
        total=words.number(len(counted)),
    )


def _capacity_series(valid: Sequence[Any], place: Mapping[int, int]) -> Series:
    answered = [run for run in valid if run.capacity is not None]
    values = [float(run.capacity) for run in answered]
    found = change_points(values)
    return Series(
        "capacity",
        "capacity",
        None,
        [place[run.id] for run in answered],
        values,
        [run.exit_code == 1 for run in answered],
        [run.exit_code == 1 for run in answered],
        [c for c in found if c.after < c.before],
        [
            float(run.capacity_low if run.capacity_low is not None else run.capacity)
            for run in answered
        ],
        [
            float(run.capacity_high) if run.capacity_high is not None else math.nan
            for run in answered
        ],
    )


@dataclass(frozen=True)
class _Objectives:
    """Every objective row of the history as columns, to pick series out of without a loop
    over the rows in Python (a long history has hundreds of thousands)."""

    run_id: np.ndarray
    name: np.ndarray
    metric: np.ndarray
    limit: np.ndarray
    """NaN for none."""
    value: np.ndarray
    """NaN where the run has none."""
    judged: np.ndarray
    """The objective was judged (`passed` not None)."""
    broke: np.ndarray
    """`held` is False."""

    @classmethod
    def of(cls, judged: Sequence[Any]) -> _Objectives:
        if not judged:
            empty = np.array([], dtype=np.int64)
            text, number, flag = empty.astype(object), empty.astype(float), empty.astype(bool)
            return cls(empty, text, text, number, number, flag, flag)
        fields = list(judged[0]._fields)
        columns = dict(zip(fields, zip(*judged, strict=True), strict=True))
        return cls(
            np.asarray(columns["run_id"], dtype=np.int64),
            np.asarray(columns["name"], dtype=object),
            np.asarray(columns["metric"], dtype=object),
            np.asarray(columns["limit_value"], dtype=np.float64),  # None is NaN
            np.asarray(columns["value"], dtype=np.float64),
            np.asarray([p is not None for p in columns["passed"]], dtype=bool),
            np.asarray([h is False for h in columns["held"]], dtype=bool),
        )

    def rows_of(self, judged: Sequence[Any], runs: Sequence[int]) -> dict[int, list[Any]]:
        """The objective rows of `runs`, by run."""
        found: dict[int, list[Any]] = {}
        for at in np.flatnonzero(np.isin(self.run_id, list(runs))):
            found.setdefault(int(self.run_id[at]), []).append(judged[int(at)])
        return found


def _objective_series(
    valid: Sequence[Any], place: Mapping[int, int], table: _Objectives
) -> list[Series]:
    if not valid or not len(table.run_id):
        return []
    size = max(int(table.run_id.max()), max(run.id for run in valid)) + 1
    where = np.full(size, -1, dtype=np.int64)  # a valid run's place by its id, else -1
    gated = np.zeros(size, dtype=bool)
    for run in valid:
        where[run.id] = place[run.id]
        gated[run.id] = run.exit_code == 1
    places = where[table.run_id]
    chosen = np.flatnonzero((places >= 0) & table.judged & ~np.isnan(table.value))
    names, which = np.unique(table.name[chosen], return_inverse=True)
    made = []
    for k, name in enumerate(names):
        rows = chosen[which == k]
        rows = rows[np.argsort(places[rows], kind="stable")]
        first = rows[0]
        metric = str(table.metric[first])
        limit = float(table.limit[first])
        values = table.value[rows].tolist()
        minimum = gate.MIN_ERROR_RISE if metric == "error_rate" else 0.0
        found = change_points(values, min_absolute=minimum)
        made.append(
            Series(
                str(name),
                metric,
                None if math.isnan(limit) else limit,
                places[rows].tolist(),
                values,
                table.broke[rows].tolist(),
                gated[table.run_id[rows]].tolist(),
                [c for c in found if c.after > c.before],
            )
        )
    return made


def _chart(group: Group, series: Series, words: Words) -> dict[str, Any]:
    """The series' chart as plotly.js reads it. Written as plain data rather than through
    `plotly.graph_objects`, whose checks of every property cost more than the rest of the
    report on a long history (bench/history.py); on the run report's template."""
    runs = np.asarray(series.positions, dtype=np.int64) + 1
    x = runs.tolist()
    y = np.asarray(series.values, dtype=np.float64)
    each: dict[str, Any] = {
        "type": "scatter",
        "x": x,
        "y": y.tolist(),
        "mode": "lines+markers",
        "line": {"color": LINE, "width": 1},
        "marker": {"size": 5 if len(x) < 400 else 3, "color": LINE},
        "name": words("each run"),
        "hovertemplate": words("run {run}: {value}", run="%{x}", value="%{y:.4g}")
        + "<extra></extra>",
    }
    if series.high:
        each["error_y"] = {
            "type": "data",
            "symmetric": False,
            "array": np.nan_to_num(np.asarray(series.high) - y, nan=0.0).tolist(),
            "arrayminus": np.nan_to_num(y - np.asarray(series.low), nan=0.0).tolist(),
            "color": "#90a4ae",
            "thickness": 1,
        }
    data = [each]
    marks = (
        (series.gated, {"size": 11, "color": "rgba(0,0,0,0)", "line": {"color": FAILED,
         "width": 1.5}}, words("the gate failed"), words("run {run}: the gate failed", run="%{x}")),
        (series.failed, {"size": 9, "color": FAILED, "symbol": "x"}, words("failed"),
         words("run {run}: failed", run="%{x}")),
    )  # fmt: skip
    for flags, marker, name, hover in marks:
        marked = np.flatnonzero(flags)
        if len(marked):
            data.append(
                {
                    "type": "scatter",
                    "x": runs[marked].tolist(),
                    "y": y[marked].tolist(),
                    "mode": "markers",
                    "marker": marker,
                    "name": name,
                    "hovertemplate": hover + "<extra></extra>",
                }
            )
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    if series.limit is not None:
        shapes.append(
            {"type": "line", "xref": "x domain", "x0": 0, "x1": 1, "yref": "y",
             "y0": series.limit, "y1": series.limit,
             "line": {"color": FAILED, "dash": "dot", "width": 1}}
        )  # fmt: skip
        notes.append(
            {"text": words("limit"), "xref": "x domain", "x": 0, "yref": "y", "y": series.limit,
             "xanchor": "left", "yanchor": "bottom", "showarrow": False}
        )  # fmt: skip
    for point in series.changes:
        at = x[point.index] - 0.5
        shapes.append(
            {"type": "line", "xref": "x", "x0": at, "x1": at, "yref": "y domain", "y0": 0,
             "y1": 1, "line": {"color": CHANGED, "dash": "dash", "width": 1.5}}
        )  # fmt: skip
        notes.append(
            {"text": _signed(words, point.relative), "xref": "x", "x": at, "yref": "paper",
             "y": 1, "xanchor": "left", "yanchor": "top", "showarrow": False,
             "font": {"color": CHANGED}}
        )  # fmt: skip
    layout = {
        "template": page.chart_template(),
        "height": 260,
        "margin": {"t": 24, "l": 60, "r": 20, "b": 40},
        "showlegend": False,
        "xaxis": {"title": {"text": words("run, oldest first")},
                  "range": [0.5, len(group.runs) + 0.5]},
        # An error share's ticks as percentages, like every other figure of it on the page.
        "yaxis": {"title": {"text": _unit(words, series.metric)}, "rangemode": "tozero",
                  **({"tickformat": ".2~%"} if series.metric == "error_rate" else {})},
        "font": {"family": page.FONTS},
        "shapes": shapes,
        "annotations": notes,
    }  # fmt: skip
    return {"data": data, "layout": layout}


def _changed(
    history: Store, last: Any, previous: Any, by_run: Mapping[int, list[Any]], words: Words
) -> list[Change]:
    said = history.findings_of([last.id, previous.id])
    now = {f.identity: f for f in said.get(last.id, ())}
    before = {f.identity: f for f in said.get(previous.id, ())}
    changes = []
    for key, finding in now.items():
        if key not in before and finding.tone != "good":
            changes.append(Change(finding.tone, "appeared", finding_sentence(words, finding)))
        elif key in before and TONES.index(finding.tone) > TONES.index(before[key].tone):
            changes.append(Change(finding.tone, "got worse", finding_sentence(words, finding)))
    for key, finding in before.items():
        if key not in now and finding.tone != "good":
            changes.append(Change("good", "went away", finding_sentence(words, finding)))
    then = {row.name: row for row in by_run.get(previous.id, [])}
    for row in by_run.get(last.id, []):
        earlier = then.get(row.name)
        if earlier is None or row.passed is None:
            continue
        if row.held is False and earlier.held is not False:
            changes.append(
                Change(
                    "bad",
                    "broke",
                    words(
                        "{objective} broke; it held in the drill before.",
                        objective=labels.label(words, row.name),
                    ),
                )
            )
        elif _spent_more(row, earlier):
            changes.append(
                Change(
                    "warn",
                    "spent more",
                    words(
                        "{objective} spent {now} of its budget, {before} in the drill before.",
                        objective=labels.label(words, row.name),
                        now=words.percent(_spent(row)),
                        before=words.percent(_spent(earlier)),
                    ),
                )
            )
    order = {"appeared": 0, "broke": 1, "got worse": 2, "spent more": 3, "went away": 4}
    return sorted(changes, key=lambda c: order[c.what])


def _spent(row: Any) -> float | None:
    if row.share is None or not row.budget:
        return None
    return float(row.share) / float(row.budget)


def _spent_more(row: Any, earlier: Any) -> bool:
    """A significantly higher share of bad requests than the drill before (one-sided
    two-proportion test at 99.9%), and by at least a tenth of the budget."""
    n1, n2 = earlier.requests or 0, row.requests or 0
    if not n1 or not n2 or not row.budget:
        return False
    p1, p2 = earlier.bad / n1, row.bad / n2
    if p2 - p1 < 0.1 * row.budget:
        return False
    pooled = (earlier.bad + row.bad) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return spread > 0 and float(ndtr(-(p2 - p1) / spread)) < 1 - float(ndtr(Z_999))


def finding_sentence(words: Words, finding: Finding) -> str:
    """A recorded finding in the report's language, its figures formatted as the run report
    formats them (`reports.render.shown`)."""
    figures = {name: _figure(words, figure) for name, figure in finding.figures.items()}
    try:
        return words(finding.message, **figures)
    except (KeyError, IndexError, ValueError):
        return finding.message


def _figure(words: Words, figure: Mapping[str, Any]) -> str:
    kind, value = figure.get("kind"), figure.get("value")
    if value is None:
        return "–"
    match kind:
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
        case "word":
            return words(str(value))
        case "name":
            return labels.label(words, str(value))
        case "names":
            return words(", ").join(labels.label(words, str(v)) for v in value)
        case _:
            return str(value)


def _title(words: Words, series: Series) -> str:
    last = series.values[-1]
    shown = _value(words, series.metric, last)
    if series.metric == "capacity":
        return words("capacity: {value} in the last search", value=shown)
    if series.limit is None or series.limit <= 0:
        return f"{labels.label(words, series.measure)}: {shown}"
    return words(
        "{objective}: {value} in the last run, {margin} below its limit of {limit}",
        objective=labels.label(words, series.measure),
        value=shown,
        margin=words.percent(1 - last / series.limit, 0),
        limit=_value(words, series.metric, series.limit),
    )


def _change_line(words: Words, group: Group, series: Series, point: ChangePoint) -> str:
    run = group.runs[series.positions[point.index]]
    said = (
        N_("{measure}: {change} since run {run} ({label}, {when}), p = {pvalue}")
        if run.label
        else N_("{measure}: {change} since run {run} ({when}), p = {pvalue}")
    )
    return words(
        said,
        measure=_measure(words, series.measure),
        change=_signed(words, point.relative),
        run=words.number(series.positions[point.index] + 1),
        label=run.label,
        when=_when(run),
        pvalue=f"{point.pvalue:.1g}",
    )


def _measure(words: Words, measure: str) -> str:
    """An objective's name (glossed where the language needs it), or the capacity."""
    return words(CAPACITY) if measure == "capacity" else labels.label(words, measure)


def _verdict(words: Words, run: Any) -> str:
    if not run.valid:
        return words("not valid evidence")
    if run.exit_code is None:
        return words("not gated")
    return words("passed") if run.exit_code == 0 else words("failed")


def _value(words: Words, metric: str, value: float) -> str:
    if metric == "capacity":
        return f"x{words.number(value, 2)}"
    if metric == "error_rate":
        return words.percent(value, 2)
    return words.seconds(value) if metric.endswith("_s") else words.ms(value)


def _unit(words: Words, metric: str) -> str:
    if metric == "capacity":
        return words("multiple of the phase carried")
    if metric == "error_rate":
        return words("share of errors")
    return words("seconds") if metric.endswith("_s") else words("milliseconds")


def _signed(words: Words, share: float) -> str:
    if not math.isfinite(share):
        return "+∞" if share > 0 else "−∞"
    return ("+" if share > 0 else "") + words.percent(share, 1)


def _when(run: Any) -> str:
    return utc(run.started).strftime("%Y-%m-%d %H:%M")


def _href(run: Any, base: Path) -> str | None:
    """Where a run's report opens from the trend report: the file, relative to the report when
    it is on this machine, else the CI run that made it, else the path recorded."""
    if run.report and Path(run.report).exists():
        return Path(os.path.relpath(run.report, base)).as_posix()
    if run.link:
        return str(run.link)
    return Path(run.report).as_uri() if run.report and Path(run.report).is_absolute() else None


def _run_link(run: Any, base: Path, words: Words) -> list[str]:
    return [run.label or "", _when(run), _href(run, base) or "", _verdict(words, run)]
