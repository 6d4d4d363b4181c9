"""The page frame every HTML report shares (`templates/_page.html`): the jinja2 environment over
`templates/`, the fonts and the charts' template, and JSON safe inside a <script> element.

Its own module, light to import, so that a report which is not the run report (the trend
report, `reports.history`) does not load the run analysis (pandas, scipy.stats) to draw a page.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import plotly.io as pio

if TYPE_CHECKING:
    import plotly.graph_objects as go

TEMPLATES = Path(__file__).resolve().parent / "templates"
CHART_TEMPLATE = "plotly_white"
"""Plotly's template of every chart the reports draw (`chart_template`)."""
FONTS = (
    'system-ui, -apple-system, "Segoe UI", "Noto Sans CJK SC", "Noto Sans SC", '
    '"Source Han Sans SC", "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", '
    '"WenQuanYi Micro Hei", sans-serif'
)
"""The report's fonts, the page's and the charts' alike: the usual Chinese system fonts after
the Latin ones, so each character finds a font that has it (docs/report.md)."""
ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENVIRONMENT.globals["fonts"] = FONTS


def script_json(data: object) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


@cache
def chart_template() -> dict[str, Any]:
    """`CHART_TEMPLATE` as plotly.js reads it, made once. Given to a figure instead (its
    `template=`), plotly validates and deep-copies the whole template again for each: a third of
    the CPU of a run report's eleven charts, spent on every rehearsal's report."""
    template: dict[str, Any] = pio.templates[CHART_TEMPLATE].to_plotly_json()
    return template


def figure_json(figure: go.Figure) -> str:
    """`figure` as plotly JSON, drawn in the reports' template and fonts."""
    plain = figure.to_plotly_json()
    plain["layout"] = {
        **plain["layout"],
        "font": {**plain["layout"].get("font", {}), "family": FONTS},
        "template": chart_template(),
    }
    encoded: str = pio.to_json(plain, validate=False)
    return encoded
