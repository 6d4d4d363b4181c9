"""The target's own view during the run: `/metrics` scraped every few seconds into the folder.

The reports put the core's view (busy slots, queue depth, rejections, its latency quantiles)
beside the harness's records. Only the lane, in-flight and fault families and the customer API's
latency histogram are kept, as rows of `metrics.csv`, and the histogram only every
`HISTOGRAM_EVERY` scrapes, so the file stays small. Scraping stops at the test's end or after
`MAX_SCRAPES`, whichever comes first, with one last scrape at the end.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import gevent
import httpx

from surge.visit.credentials import NONE, Credentials

INTERVAL_S = 2.0
MAX_SCRAPES = 1800
"""An hour at `INTERVAL_S`; a longer run keeps its first hour of samples, and the last scrape."""
KEPT = ("mock_core_lane_", "mock_core_in_flight_requests", "mock_core_active_faults")
LATENCY = "mock_core_api_request_seconds"
"""The customer API's latency histogram, fine enough for a quantile within 5% (`mock_core.metrics`):
its `_bucket`, `_sum` and `_count` series, not `_created`."""
HISTOGRAM = tuple(f"{LATENCY}_{series}" for series in ("bucket", "sum", "count"))
HISTOGRAM_EVERY = 15
"""Scrapes between two kept histograms (30 s). The histogram is 228 rows, four times the other
families of 8 lanes: kept at every scrape it would add 33 MB an hour to `metrics.csv`, every 30 s
it adds 2.3 MB. Quantiles over any 30 s window are the difference of two kept scrapes; the first
scrape and the last, at the end, bracket the whole run."""
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def samples(text: str, at: float, histogram: bool = True) -> list[tuple[float, str, str, float]]:
    """The kept samples of one Prometheus text exposition, stamped `at`; the latency histogram's
    only if `histogram`."""
    kept = KEPT + HISTOGRAM if histogram else KEPT
    rows = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or not match.group(1).startswith(kept):
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        rows.append((at, match.group(1), match.group(2) or "", value))
    return rows


@dataclass(slots=True)
class Scraper:
    """A greenlet scraping `host`/metrics; `start()` first says whether there is anything."""

    host: str
    headers: dict[str, str]
    credentials: Credentials = NONE
    """How to connect (the CA bundle, a client certificate), as the harness's other calls."""
    clock: Callable[[], float] = time.time
    rows: list[tuple[float, str, str, float]] = field(default_factory=list, repr=False)
    """The samples kept so far, as `surge.runfolder.METRIC_COLUMNS`."""
    scrapes: int = 0
    _greenlet: gevent.Greenlet | None = None

    def _scrape(self, client: httpx.Client, last: bool = False) -> bool:
        answer = client.get("/metrics", headers=self.headers)
        if answer.status_code != 200:
            return False
        histogram = last or self.scrapes % HISTOGRAM_EVERY == 0
        self.rows.extend(samples(answer.text, self.clock(), histogram))
        self.scrapes += 1
        return True

    def start(self) -> bool:
        """Scrape once now; keep scraping in the background only if that worked."""
        client = self.credentials.http_client(self.host, INTERVAL_S)
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
        """Stop scraping, after one last scrape: the histogram as the run left it."""
        if self._greenlet is None:
            return
        self._greenlet.kill(block=True)
        # A target gone by the end leaves the figures up to the last kept scrape.
        with (
            self.credentials.http_client(self.host, INTERVAL_S) as client,
            contextlib.suppress(httpx.HTTPError),
        ):
            self._scrape(client, last=True)
