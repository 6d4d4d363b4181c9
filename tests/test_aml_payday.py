"""Fraud in the crowd: under the `payday` surge every injected suspicious pattern is alerted.

One real run of the shipped `payday` day, compressed to `DAY_S` seconds, against a mock core
with real AML screening (issue 12). Payday's own mix injects the patterns (`suspicious_share`
0.01 of counter and online visits: structuring and large cash at the counter, fan-in online),
but a day of seconds would hold one or none of them; the copy here raises that one share, so
each pattern is injected several times among a couple of hundred ordinary visits. Everything
else is the shipped file's. The run's own analysis (`reports.correctness`) then gives recall
by pattern, the delay from the movement to its alert, and the alerts on ordinary customers,
and the report shows all three.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reports import analysis, render
from reports.analysis import Analysis
from surge import runfolder
from surge.day.profile import load_profile, profiles_dir
from tests.load import locust, run_folder
from tests.support import TOKENS, serve

pytestmark = pytest.mark.slow

DAY_S = 10.0
ONLINE_VISITS = 30
"""Payday's quietest channel: its visits in the compressed day (the others in proportion)."""
SUSPICIOUS_SHARE = 0.25
CUSTOMERS = "200"
"""A pool large enough that most customers make only ordinary visits: an alert on one of them
is a false alert, not the echo of a pattern they also did."""


def suspicious_payday(folder: Path) -> Path:
    text = (profiles_dir() / "payday.toml").read_text(encoding="utf-8")
    text, changed = re.subn(
        r"^suspicious_share = .*$", f"suspicious_share = {SUSPICIOUS_SHARE}", text, flags=re.M
    )
    assert changed == 1
    path = folder / "payday.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def payday(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    folder = tmp_path_factory.mktemp("payday")
    shipped = load_profile("payday")
    time_scale = shipped.duration_s / DAY_S
    online = sum(s.per_second * (s.end_s - s.start_s) for s in shipped.segments("online"))
    rate_scale = time_scale * ONLINE_VISITS / online
    with serve(folder / "core.db", "--unlimited", "--customers", "5") as (host, _):
        done = locust(
            host,
            *("--profile", str(suspicious_payday(folder)), "--customers", CUSTOMERS),
            *("--time-scale", f"{time_scale:g}", "--rate-scale", f"{rate_scale:g}"),
            *("--results", str(folder / "results"), "--admin-token", TOKENS["admin"]),
            timeout=120,
        )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return analysis.analyse(runfolder.load(run_folder(folder / "results").path))


def test_payday_injects_suspicious_patterns_of_its_own(payday: Analysis) -> None:
    assert load_profile("payday").customers.suspicious_share > 0
    assert payday.run.profile.name == "payday"


def test_every_pattern_is_injected_several_times(payday: Analysis) -> None:
    patterns = payday.correctness.patterns
    assert patterns is not None
    assert {p.rule for p in patterns} == {"structuring", "large_cash", "fan_in"}
    assert all(p.injected >= 2 for p in patterns), patterns


def test_every_injected_pattern_is_alerted(payday: Analysis) -> None:
    patterns = payday.correctness.patterns
    assert patterns is not None
    assert [(p.rule, p.recall) for p in patterns] == [(p.rule, 1.0) for p in patterns]
    assert payday.correctness.missed == 0


def test_the_delay_from_the_movement_to_its_alert_is_measured(payday: Analysis) -> None:
    for pattern in payday.correctness.patterns or []:
        assert pattern.delay_p50_s is not None
        assert pattern.delay_max_s is not None
        assert 0 <= pattern.delay_p50_s <= pattern.delay_max_s


def test_false_alerts_on_ordinary_customers_are_counted(payday: Analysis) -> None:
    false_alerts = payday.correctness.false_alerts
    assert false_alerts is not None
    assert set(false_alerts) <= {"structuring", "large_cash", "fan_in", "rapid_in_out"}


def test_the_report_shows_recall_delay_and_false_alerts(payday: Analysis) -> None:
    page = render.html(payday, "en")
    table = page[page.index('<table id="table-aml">') :]
    table = table[: table.index("</table>")]
    for pattern in payday.correctness.patterns or []:
        assert f'<td class="name">{pattern.rule}</td>' in table
    assert table.count("100%") == len(payday.correctness.patterns or [])
    assert "delay p50" in table
    assert "Alerts on ordinary customers:" in page
