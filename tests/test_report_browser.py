"""The report of a real short rehearsal, opened in a real headless Chromium (Debian's `chromium`,
installed by .ci/run; Playwright drives it through its executable, downloading nothing): no
console error, no request leaves `file://`, every chart drawn, in both languages, and read the
way a drill lead reads it at 1440 x 900: no sideways scroll of the page, no chart with fewer than
three points, no text over other text in a chart, Chinese characters drawn (not the missing
glyph's box: .ci/run installs fonts-noto-cjk), and no English word in the Chinese report but
the run's own identifiers. A screenshot of each is kept in `test-artefacts/`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from reports.frames import ERROR_KINDS
from surge import runfolder
from surge.day.profile import load_profile
from surge.exits import GATE_FAILED
from tests.browser import ARTEFACTS, open_report
from tests.load import Rehearsed
from tests.runs import Burst, lateness, make, steady_day, write_day
from tests.shared import copy_of
from tests.support import surge

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rehearsed(emergency_drill: Rehearsed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped emergency drill against the embedded core (so its faults, the target's
    metrics, ledger and alerts are in the folder), the session's (tests/conftest.py): a copy of
    its run folder, whose summaries `surge report` rewrites."""
    done = emergency_drill.done
    # Valid evidence (exit 3 is not) whatever the gate says.
    assert done.returncode in (0, GATE_FAILED), done.stdout[-3000:] + done.stderr[-3000:]
    return copy_of(emergency_drill.folder, tmp_path_factory.mktemp("report") / "run")


IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z_-]*[A-Za-z]")
TERMS = {"SLO", "Erlang", "Locust", "CPU", "http", "locust", "branch-surge"}
"""Names the Chinese report keeps as they are: the objectives' acronym, a formula's author, the
tools'."""


def identifiers(folder: Path) -> set[str]:
    """The words of the run's own identifiers, which the report shows as they are (with a
    Chinese gloss beside them): channels, journeys, routes, objectives, phases, faults, lanes,
    checks, patterns, error kinds (`5xx`), the profile's and the folder's names."""
    run = runfolder.load(folder)
    summary = run.summary
    slos, books = summary["slo"], summary["correctness"]
    names = [folder.name, run.profile.name, *ERROR_KINDS, *(o["name"] for o in slos["objectives"])]
    names += [r["fault"]["name"] for r in slos["recoveries"]]
    names += [p.name for p in run.profile.phases]
    for table in ("by_channel", "by_operation", "by_route", "visit_times"):
        names += [v for row in summary[table] for v in row.values() if isinstance(v, str)]
    names += [lane["lane"] for lane in summary["capacity"]["lanes"]]
    names += [check["name"] for check in (books["reconcile"] or []) + (books["writes"] or [])]
    names += [p["rule"] for p in books["patterns"] or []] + list(books["false_alerts"] or {})
    return {word for name in names for word in IDENTIFIER.findall(name)}


@pytest.mark.parametrize(("language", "title"), [("en", "Capacity report"), ("zh_CN", "容量报告")])
def test_the_report_opens_offline_with_every_chart_drawn(
    rehearsed: Path, browser: Browser, tmp_path: Path, language: str, title: str
) -> None:
    report = tmp_path / f"report-{language}.html"
    done = surge("report", str(rehearsed), "-o", str(report), "--lang", language)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"Report: {report}"
    opened = open_report(browser, report, ARTEFACTS / f"report-{language}.png")
    assert opened.errors == []
    assert [url for url in opened.requests if not url.startswith("file://")] == []
    assert opened.charts >= 10  # the time charts, lanes, server view, upturn, branch, diversion
    assert opened.drawn == opened.charts
    assert opened.text.startswith(title)
    assert report.stat().st_size < 8_000_000
    assert opened.overflow <= 0
    assert {chart: n for chart, n in opened.points.items() if n < 3} == {}
    assert opened.overlaps == []
    if language == "zh_CN":
        assert not opened.tofu
        allowed = identifiers(rehearsed) | TERMS
        assert sorted(set(IDENTIFIER.findall(opened.words)) - allowed) == []


def test_the_rehearsals_own_report_speaks_the_profiles_language(
    emergency_drill: Rehearsed,
) -> None:
    """emergency_drill's customers are zh_CN: a Chinese bank's drill team reads Chinese."""
    rehearsed = emergency_drill.folder
    html = (rehearsed / runfolder.REPORT).read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in html
    assert "服务水平目标" in html
    summary = (rehearsed / runfolder.SUMMARY_MD).read_text(encoding="utf-8")
    assert summary.startswith("## 容量报告：emergency_drill")


def test_a_run_cut_short_gets_a_report_marked_partial(browser: Browser, tmp_path: Path) -> None:
    folder = make(tmp_path / "run", recorded=lateness(5), planned={"counter": 40})
    done = surge("report", str(folder), "--lang", "en")
    assert done.returncode == 0, done.stderr
    opened = open_report(browser, folder / runfolder.REPORT, ARTEFACTS / "report-partial.png")
    assert opened.errors == []
    assert "Partial run: it was cut short" in opened.text
    assert "the run ended before its day: 35 of 40 planned visits were never due" in opened.text


def test_the_faults_names_stay_apart_in_a_one_objective_budget_burn_plot(
    browser: Browser, tmp_path: Path
) -> None:
    """The emergency drill's faults begin 45 minutes apart; in a short plot (one objective
    burnt its budget) their names were set a fraction of the plot apart, less than a line."""
    drill = load_profile("emergency_drill").scaled(480)
    hour = 3600 / drill.time_scale
    day = steady_day(3, profile=drill, burst=Burst("kiosk", 1.5 * hour, 2.5 * hour, 0.5))
    folder = write_day(tmp_path / "run", day, drill)
    done = surge("report", str(folder), "--lang", "en")
    assert done.returncode == 0, done.stderr
    opened = open_report(browser, folder / runfolder.REPORT, ARTEFACTS / "report-faults.png")
    assert "fault: lane_down lane:fx" in opened.text
    assert opened.overlaps == []


@pytest.mark.parametrize(
    ("make_folder", "message"),
    [
        (lambda tmp: tmp / "nowhere", "no such folder"),
        (lambda tmp: tmp, "not a run folder (no run.json)"),
    ],
)
def test_a_folder_that_is_not_a_run_is_one_line_and_exit_2(
    tmp_path: Path, make_folder: object, message: str
) -> None:
    folder = make_folder(tmp_path)  # type: ignore[operator]
    done = surge("report", str(folder))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == f"surge: {folder}: {message}\n"
