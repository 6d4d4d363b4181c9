"""The HTML report in a real headless Chromium: Debian's `chromium` (installed by .ci/run),
driven by Playwright through its executable path, so nothing downloads a browser."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser

ROOT = Path(__file__).resolve().parent.parent
ARTEFACTS = ROOT / "test-artefacts"
"""Screenshots of the reports opened, kept for a person to look at."""

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [  # as this machine class needs: its network is closed, so no background fetches
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Opened:
    """What a page did while it opened: its errors, the requests it made, its charts."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    charts: int = 0
    drawn: int = 0
    text: str = ""


def open_report(browser: Browser, path: Path, screenshot: Path) -> Opened:
    """`path` opened until its first chart is drawn, then a screenshot of the whole page."""
    opened = Opened()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: opened.errors.append(str(error)))
    page.on("request", lambda request: opened.requests.append(request.url))
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function("document.querySelectorAll('.chart .main-svg').length > 0")
    opened.charts = page.locator("div.chart").count()
    opened.drawn = page.locator("div.chart.js-plotly-plot").count()
    opened.text = page.inner_text("body")
    ARTEFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return opened
