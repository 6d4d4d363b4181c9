"""Every chart of a run report is drawn in the reports' one plotly template and their fonts
(`reports.page.figure_json`), its own layout kept: the same look in every chart, and a chart's
own font size (its title's) not lost to the report's."""

from __future__ import annotations

import json
from pathlib import Path

from reports import analysis, charts, page
from reports.i18n import Words
from surge import runfolder
from tests.runs import host_day, make


def test_every_chart_is_drawn_in_the_reports_template_and_fonts(tmp_path: Path) -> None:
    run = runfolder.load(make(tmp_path / "run", workers=2, generator=host_day(processes=2)))
    drawn = charts.charts(analysis.analyse(run), Words("en"))
    assert len(drawn) >= 5
    for chart in drawn:
        layout = json.loads(chart.figure)["layout"]
        assert layout["template"] == page.chart_template(), chart.id
        assert layout["font"]["family"] == page.FONTS, chart.id
        assert layout["title"]["text"] == chart.title
        assert layout["title"]["font"]["size"] == 15
