"""The target's lane gauges during the run: `/metrics` scraped every few seconds into the folder.

The reports put the core's own view (busy slots, queue depth, rejections) beside the harness's
records. Only the lane and in-flight families are kept, as rows of `metrics.csv`, so the file
stays small; scraping stops at the test's end or after `MAX_SCRAPES`, whichever comes first.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import gevent
import httpx

INTERVAL_S = 2.0
MAX_SCRAPES = 1800
"""An hour at `INTERVAL_S`; a longer run keeps its first hour of samples."""
KEPT = ("mock_core_lane_", "mock_core_in_flight_requests", "mock_core_active_faults")
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def samples(text: str, at: float) -> list[tuple[float, str, str, float]]:
    """The kept samples of one Prometheus text exposition, stamped `at`."""
    rows = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or not match.group(1).startswith(KEPT):
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        rows.append((at, match.group(1), match.group(2) or "", value))
    return rows


@dataclass(slots=True)
class Scraper:
    """A greenlet scraping `host`/metrics; `available()` first says whether there is anything."""

    host: str
    headers: dict[str, str]
    clock: Callable[[], float] = time.time
    rows: list[tuple[float, str, str, float]] = field(default_factory=list, repr=False)
    """The samples kept so far, as `surge.runfolder.METRIC_COLUMNS`."""
    scrapes: int = 0
    _greenlet: gevent.Greenlet | None = None

    def _scrape(self, client: httpx.Client) -> bool:
        answer = client.get("/metrics", headers=self.headers)
        if answer.status_code != 200:
            return False
        self.rows.extend(samples(answer.text, self.clock()))
        self.scrapes += 1
        return True

    def start(self) -> bool:
        """Scrape once now; keep scraping in the background only if that worked."""
        client = httpx.Client(base_url=self.host, timeout=INTERVAL_S)
        try:
            ok = self._scrape(client)
        except httpx.HTTPError:
            ok = False
        if not ok:
            client.close()
            return False
        self._greenlet = gevent.spawn(self._loop, client)
        return True

    def _loop(self, client: httpx.Client) -> None:
        try:
            while self.scrapes < MAX_SCRAPES:
                gevent.sleep(INTERVAL_S)
                try:
                    self._scrape(client)
                except httpx.HTTPError:
                    continue  # a busy target may miss a scrape; the next one may answer
        finally:
            client.close()

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=True)
