"""`surge history report`: the trend report opened in Debian's Chromium, in both languages. A
history of rehearsals whose kiosk p95 stepped up 12% and capacity searches whose answer fell 15%
(recorded runs, each with a report of its own to open): the changes marked and listed, the
failures marked, what changed since the last drill said, every point opening its run's report,
nothing wider than the page, no text drawn over text, no Chinese glyph missing. A screenshot of
each is kept in `test-artefacts/`."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Browser

from surge.history.entry import Finding, Objective
from surge.history.store import Store
from tests.browser import ARTEFACTS, open_report
from tests.history_runs import entry
from tests.support import surge_in_process

pytestmark = pytest.mark.slow

STEP_AT = 10

RECONCILE = "The ledger did not reconcile: {checks}."


def objectives(rng: np.random.Generator, level: float, broke: bool) -> tuple[Objective, ...]:
    p95 = float(300.0 * level * np.exp(rng.normal(0.0, 0.02)))
    return (
        Objective("kiosk.p95_ms", "p95_ms", 800.0, 0.05, 4_000, 90, 0.0225, p95, True, not broke),
        Objective(
            "counter.error_rate", "error_rate", 0.01, 0.01, 4_000, 8, 0.002, 0.002, True, True
        ),
    )


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("trend")
    where = tmp / "history.sqlite"
    rng = np.random.default_rng(11)
    with Store.open(str(where)) as store:
        for n in range(14):
            report = tmp / f"report-{n}.html"
            report.write_text(f"<title>run {n}</title>", encoding="utf-8")
            stepped = n >= STEP_AT
            said = (Finding("bad", RECONCILE, {"checks": {"kind": "text", "value": "money"}}),)
            store.record(
                replace(
                    entry(n, []),
                    uid=f"rehearsal-{n}",
                    objectives=objectives(rng, 1.12 if stepped else 1.0, broke=n == 13),
                    findings=said if n == 13 else (),
                    exit_code=1 if stepped else 0,
                    report=str(report),
                    label=f"v1.{n}",
                )
            )
        for n in range(10):
            answer = float((34.0 if n >= 6 else 40.0) * np.exp(rng.normal(0.0, 0.01)))
            search = entry(100 + n, [], capacity_answer=answer)
            store.record(
                replace(
                    search,
                    uid=f"search-{n}",
                    started=dt.datetime(2026, 3, 1, tzinfo=dt.UTC) + dt.timedelta(days=n),
                    capacity=replace(search.capacity, high=answer * 1.05),  # type: ignore[arg-type]
                )
            )
    for language in ("en", "zh_CN"):
        done = surge_in_process("history", "report", "--history", str(where),
                                "-o", str(tmp / f"history-{language}.html"), "--lang", language)  # fmt: skip
        assert done.returncode == 0, done.stderr
    return tmp


def opened(browser: Browser, path: Path) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(path.as_uri())
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length === 3")
    return page, errors


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_the_trend_report_draws_every_series_within_the_page(
    history: Path, browser: Browser, language: str
) -> None:
    report = history / f"history-{language}.html"
    drawn = open_report(browser, report, ARTEFACTS / f"history-{language}.png")
    assert drawn.errors == []
    assert drawn.charts == drawn.drawn == 3
    assert [url for url in drawn.requests if not url.startswith("file://")] == []  # offline
    assert drawn.overflow <= 0
    assert drawn.overlaps == []
    assert not drawn.tofu
    page, errors = opened(browser, report)
    try:
        assert errors == []
        changes = page.locator("li.change").all_inner_texts()
        assert len(changes) == 2, changes  # the p95's step up, the capacity's fall
        assert any("kiosk.p95_ms" in line and "+1" in line for line in changes)
        capacity = "容量" if language == "zh_CN" else "capacity"
        assert any(line.startswith(capacity) and "-1" in line for line in changes), changes
        assert not any("–" in line for line in changes), changes  # a run without a label
        labelled = "v1.10，2026" if language == "zh_CN" else "v1.10, 2026"
        assert any(labelled in line for line in changes), changes  # the language's comma
        since = page.locator("ul.findings li").all_inner_texts()
        assert any("money" in line for line in since), since  # a finding that appeared
        assert any("kiosk.p95_ms" in line for line in since), since  # an objective that broke
        text = page.inner_text("body")
        if language == "zh_CN":
            assert "运行历史" in text
            for english in ("Run history", "Recent runs", "oldest first", "Since the drill"):
                assert english not in text
    finally:
        page.close()


def test_a_point_opens_its_runs_report(history: Path, browser: Browser) -> None:
    page, _ = opened(browser, history / "history-en.html")
    try:
        chart = page.locator("#g1-1")  # the rehearsals' (the searches are newer: g0) kiosk p95
        chart.scroll_into_view_if_needed()
        point = chart.locator(".scatterlayer .trace").first.locator("path.point").nth(3)
        box = point.bounding_box()
        assert box is not None
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)  # plotly hears the pointer on the plot, not on the point's path
        assert "v1.3" in page.inner_text("#info-g1")
        with page.expect_navigation():
            page.mouse.click(x, y)
        assert page.url.endswith("/report-3.html")
    finally:
        page.close()
