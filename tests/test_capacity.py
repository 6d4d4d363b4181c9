"""`surge capacity` against the embedded mock core, for real: one search shared by the tests of
what it leaves (one run of levels, their spans in the run folder, the answer with its interval
near Erlang C, the report in Chromium, the gate). How a search ends otherwise is
`tests/test_capacity_endings.py`'s (a module of its own, so that another worker runs it). The
rule each level is decided by is `tests/test_capacity_sequential.py`'s, the next level's
`tests/test_search.py`'s, a level's judgement `tests/test_capacity_levels.py`'s.

The shared search's lane: 8 slots of exponential 50 ms under a p95 of 200 ms, 136.8 requests a
second by Erlang C (`reports.queueing`). Why this lane: the suite runs four workers on two
cores, and a CPU's queue adds tens of milliseconds to a response; against a 200 ms objective
that leaves a margin a 100 ms one would not. A queue of 50 ms services near this limit forgets
its start within a second or two, well inside a level's settling."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from reports.queueing import max_arrival_rate
from surge import runfolder
from tests.browser import ARTEFACTS, open_report
from tests.load import FEW_CUSTOMERS, lane, unstarved
from tests.support import surge, surge_in_process

pytestmark = pytest.mark.slow  # capacity searches: real runs

SLOTS, MEAN_S, P95_S = 8, 0.050, 0.200


@dataclass(frozen=True)
class Searched:
    done: subprocess.CompletedProcess[str]
    folder: Path
    found: dict[str, Any]


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Searched:
    """From under half the limit, levels of at most 10 s, until the levels either side of the
    answer are within 25% of each other."""

    def attempt(_: int) -> tuple[Path, subprocess.CompletedProcess[str]]:
        tmp = tmp_path_factory.mktemp("search")
        done = surge(
            "capacity",
            *lane(tmp, p95_ms=P95_S * 1000, slots=SLOTS, mean_s=MEAN_S),
            *("--from", "60", "--to", "480", "--precision", "0.25", "--level-duration", "10"),
            *("--out", str(tmp / "out")),
            *FEW_CUSTOMERS,
            timeout=360,
        )
        return tmp, done

    tmp, done = unstarved(attempt, lambda run: (run[1].returncode, run[1].stdout + run[1].stderr))
    [folder] = (tmp / "out").iterdir()
    found = json.loads((folder / "capacity.json").read_text(encoding="utf-8"))
    return Searched(done, folder, found)


@pytest.mark.timeout(420)
def test_the_search_runs_its_levels_in_one_run_each_a_span_of_its_folder(
    searched: Searched,
) -> None:
    done, found = searched.done, searched.found
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-3000:]
    assert found["format_version"] == 2
    assert found["ending"] == "bracketed"
    run = runfolder.load(searched.folder / found["run"])
    assert run.ended
    # The run's day is its levels: a phase each, starting where the search asked for them.
    assert next(p.name for p in run.profile.phases) == "01-x60"
    assert len(run.profile.phases) == len(found["levels"])
    spans = run.levels
    assert [s.number for s in spans] == [level["number"] for level in found["levels"]]
    statuses = {level["number"]: level["status"] for level in found["levels"]}
    for span, following in itertools.pairwise(spans):
        assert span.end == following.start  # back to back, one run
    for span in spans:
        if span.settle_end is None:  # only a failure is read before its queue settled
            assert statuses[span.number] == "fail"
        else:
            assert span.start < span.settle_end < (span.end or math.inf)
    assert spans[-1].end == pytest.approx(run.profile.duration_s)
    # The customers were onboarded once: every visit of every level is of the same twenty.
    customers = set(run.requests(["customer"]).column("customer").to_pylist())
    assert 1 < len(customers) <= 20
    # The first level is light (nothing queued yet), and the search climbed past it.
    first = found["levels"][0]
    assert first["light"]
    assert first["status"] == "pass"
    assert found["levels"][1]["multiple"] > first["multiple"]
    assert any(level["status"] == "fail" for level in found["levels"])
    for level in found["levels"]:
        assert level["realized"] == pytest.approx(level["multiple"], rel=0.5)
        assert level["why"]
    assert run.reconcile is not None
    assert run.reconcile["ok"] is True


@pytest.mark.timeout(420)
def test_the_answer_is_near_erlang_c_never_above_it_and_printed_with_its_interval(
    searched: Searched,
) -> None:
    """Within 10% above Erlang C, and 20% below it. The harness only adds to a response, and
    so does a busy host: the suite's own runs share the two cores with this search, and their
    CPU queue made the lane read 10% low in a fresh clone's suite (122.8 against 136.8). The
    10% either side is bench/capacity_search.py's target, on a quiet machine."""
    predicted = max_arrival_rate(MEAN_S, SLOTS, P95_S)
    answer = searched.found["answer"]
    assert predicted * 0.80 <= answer["requests_per_s"] <= predicted * 1.10
    low, high = answer["interval"]["low"], answer["interval"]["high"]
    assert low["status"] == "pass"
    assert low["requests_per_s"] <= answer["requests_per_s"]
    assert low["requests_per_s"] < predicted * 1.05  # the harness only adds to a response
    [line] = [x for x in searched.done.stdout.splitlines() if x.startswith("Capacity: carries")]
    failed = [level for level in searched.found["levels"] if level["status"] == "fail"]
    if high is None:  # a failure while the generator was saturated is never the upper end
        assert failed
        assert all(level["generator_saturated"] for level in failed)
        assert f"above {low['requests_per_s']:.4g}" in line
        return
    assert high["status"] == "fail"
    assert answer["requests_per_s"] < high["requests_per_s"]
    said = "surely" if answer["sure"] else "unsure between"
    assert f"{said} {low['requests_per_s']:.4g}" in line
    assert f"{high['requests_per_s']:.4g}" in line
    assert ("about" in line) is not answer["sure"]
    assert searched.found["broke_first"] == "kiosk.p95_ms"
    assert searched.found["lane"] == "kiosk-gateway"


@pytest.mark.timeout(420)
def test_the_search_folder_is_reported_and_gated_and_its_report_opens_offline(
    searched: Searched, browser: Browser, tmp_path: Path
) -> None:
    """…in both languages, every chart drawn and read as a drill lead reads it (no sideways
    scroll, no text over text, the objective's line and the answer's interval on the curve, the
    passing gate folded); the gate passes on the folder alone."""
    gated = surge_in_process("gate", str(searched.folder))
    assert gated.returncode == 0, gated.stdout + gated.stderr
    for language, title in (("en", "Capacity search"), ("zh_CN", "容量搜索")):
        report = tmp_path / f"capacity-{language}.html"
        rebuilt = surge_in_process(
            "report", str(searched.folder), "-o", str(report), "--lang", language
        )
        assert rebuilt.returncode == 0, rebuilt.stderr
        opened = open_report(browser, report, ARTEFACTS / f"capacity-{language}.png")
        assert opened.errors == []
        assert [url for url in opened.requests if not url.startswith("file://")] == []
        # the curve, the USL's curve through the levels, offered against carried
        assert opened.charts == opened.drawn == 3
        assert opened.text.startswith(title)
        assert opened.overflow <= 0
        assert opened.overlaps == []
        assert {chart: n for chart, n in opened.points.items() if n < 3} == {}
        if language == "en":
            assert f"objective: kiosk.p95_ms ≤ {P95_S * 1000:g} ms" in opened.text
            assert "the answer's interval" in opened.text  # shaded between the levels either side
    html = (tmp_path / "capacity-en.html").read_text(encoding="utf-8")
    assert '<details id="gate-passed">' in html  # a passing gate folded, nothing failed above it
    assert 'id="gate-failed"' not in html
    assert 'id="usl-method"' in html  # the fit's method is a footnote
