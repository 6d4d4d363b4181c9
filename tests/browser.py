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
    """What a page did while it opened: its errors, the requests it made, its charts, and what
    a reader would see wrong in it."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    charts: int = 0
    drawn: int = 0
    text: str = ""
    overflow: int = 0
    """Pixels the page is wider than the window."""
    points: dict[str, int] = field(default_factory=dict)
    """Each chart's points, every trace's together."""
    overlaps: list[str] = field(default_factory=list)
    """Texts of a chart drawn over each other."""
    tofu: bool = False
    """Two different Chinese characters drew the same: the missing glyph's box."""
    words: str = ""
    """The visible text, code (paths, the command line) left out."""


CHART_POINTS = """() => Object.fromEntries([...document.querySelectorAll('div.chart')].map(
  chart => [chart.id, chart.data.reduce((n, trace) => n + (trace.x || trace.y || []).length, 0)]))"""
OVERLAPS = """() => {
  const found = [];
  for (const chart of document.querySelectorAll('div.chart')) {
    const texts = [...chart.querySelectorAll('text')]
      .filter(t => t.textContent.trim() && t.getBBox().width > 0)
      .map(t => ({text: t.textContent, box: t.getBoundingClientRect()}));
    for (let i = 0; i < texts.length; i++) for (let j = i + 1; j < texts.length; j++) {
      const a = texts[i].box, b = texts[j].box;
      const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > 2 && h > 2) found.push(`${chart.id}: "${texts[i].text}" over "${texts[j].text}"`);
    }
  }
  return found;
}"""
TOFU = """() => {
  const draw = ch => {
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 40;
    const context = canvas.getContext('2d');
    context.font = `32px ${getComputedStyle(document.body).fontFamily}`;
    context.fillText(ch, 2, 34);
    return Array.from(context.getImageData(0, 0, 40, 40).data).join(',');
  };
  return draw('容') === draw('量');
}"""
WORDS = """() => {
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const parent = walk.currentNode.parentElement;
    if (parent && !parent.closest('script, style, code')) out.push(walk.currentNode.textContent);
  }
  return out.join(' ');
}"""


def open_report(browser: Browser, path: Path, screenshot: Path) -> Opened:
    """`path` opened in a laptop's window until its first chart is drawn, then a screenshot of
    the whole page."""
    opened = Opened()
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: opened.errors.append(str(error)))
    page.on("request", lambda request: opened.requests.append(request.url))
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function("document.querySelectorAll('.chart .main-svg').length > 0")
    opened.charts = page.locator("div.chart").count()
    opened.drawn = page.locator("div.chart.js-plotly-plot").count()
    opened.text = page.inner_text("body")
    opened.overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    opened.points = page.evaluate(CHART_POINTS)
    opened.overlaps = page.evaluate(OVERLAPS)
    opened.tofu = page.evaluate(TOFU)
    opened.words = page.evaluate(WORDS)
    ARTEFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return opened
