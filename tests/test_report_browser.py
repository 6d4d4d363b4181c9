"""The report of a real short rehearsal, opened in a real headless Chromium (Debian's `chromium`,
installed by .ci/run; Playwright drives it through its executable, downloading nothing): no
console error, no request leaves `file://`, every chart drawn, in both languages. A screenshot of
each is kept in `test-artefacts/`."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser

from surge import runfolder
from surge.exits import GATE_FAILED
from tests.browser import ARTEFACTS, open_report
from tests.load import Rehearsed
from tests.runs import lateness, make
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
