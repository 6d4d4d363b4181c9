"""The page frame every HTML report shares (`templates/_page.html`): the jinja2 environment over
`templates/`, the fonts and the charts' template, and JSON safe inside a <script> element.

Its own module, light to import, so that a report which is not the run report (the trend
report, `reports.history`) does not load the run analysis (pandas, scipy.stats) to draw a page.
"""

from __future__ import annotations

import json
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).resolve().parent / "templates"
CHART_TEMPLATE = "plotly_white"
"""Plotly's template of every chart the reports draw."""
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
