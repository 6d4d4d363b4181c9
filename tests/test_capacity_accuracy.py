"""The capacity search against a lane whose answer is known: 8 slots of exponential service of
25 ms under a p95 of 100 ms carry 273.6 requests a second by Erlang C (`reports.queueing`), and
the search's answer must agree within 10%, from a couple of minutes of load.

The case is chosen so that a short step is enough: a queue of 25 ms services near its knee
forgets its start within about half a second (about 22 service times), so a few seconds of
warm-up reach its steady state; a queue of 100 ms services would need ten seconds."""

from __future__ import annotations

import json
from pathlib import Path

from reports.queueing import max_arrival_rate
from tests.test_capacity import FEW_CUSTOMERS, lane
from tests.test_gate import surge

SLOTS, MEAN_S, P95_S = 8, 0.025, 0.100


def test_the_search_finds_a_lanes_capacity_within_10_percent_of_erlang_c(tmp_path: Path) -> None:
    predicted = max_arrival_rate(MEAN_S, SLOTS, P95_S)
    done = surge(
        "capacity",
        *lane(tmp_path, p95_ms=P95_S * 1000, slots=SLOTS, mean_s=MEAN_S),
        *("--from", f"{0.75 * predicted:.0f}", "--to", f"{1.1 * predicted:.0f}"),
        *("--precision", "0.08", "--step-duration", "10"),
        *("--out", str(tmp_path / "out")),
        *FEW_CUSTOMERS,
        timeout=400,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-3000:]
    [folder] = (tmp_path / "out").iterdir()
    found = json.loads((folder / "capacity.json").read_text())
    assert found["ending"] == "bracketed", done.stdout[-3000:]
    carried = found["sustained"]["requests_per_s"]
    assert abs(carried / predicted - 1) <= 0.10, done.stdout[-3000:]
    assert found["lane"] == "kiosk-gateway"
    assert found["broke_first"] == "kiosk.p95_ms"
    assert found["load_s"] < 300
