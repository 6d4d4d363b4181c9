"""`surge capacity` against the embedded mock core, for real: one search shared by the tests of
what it leaves (one run of levels, their spans in the run folder, the answer with its interval
within 10% of Erlang C, the report in Chromium, the gate), and short ones for how it ends: a
target that refuses everything, a generator that falls behind, an interrupted search, a host
that is not the systems, bad input. The rule each level is decided by is
`tests/test_capacity_sequential.py`'s, the next level's `tests/test_search.py`'s, a level's
judgement `tests/test_capacity_levels.py`'s.

The shared search's lane: 8 slots of exponential 50 ms under a p95 of 200 ms, 136.8 requests a
second by Erlang C (`reports.queueing`). Why this lane: the suite runs four workers on two
cores, and a CPU's queue adds tens of milliseconds to a response; against a 200 ms objective
that leaves a margin a 100 ms one would not. A queue of 50 ms services near this limit forgets
its start within a second or two, well inside a level's settling."""

from __future__ import annotations

import itertools
import json
import math
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w
from playwright.sync_api import Browser

from reports.queueing import max_arrival_rate
from surge import runfolder
from tests.browser import ARTEFACTS, open_report
from tests.support import free_port, surge, surge_in_process

pytestmark = pytest.mark.slow  # capacity searches: real runs

KIOSK_LANE = Path(__file__).resolve().parent.parent / "examples" / "capacity" / "kiosk_lane.toml"
"""One branch whose only business is the kiosk's balance enquiry (the login and one GET a visit,
both through the kiosk-gateway lane) at 1,800 an hour: a multiple K offers K requests a second."""
FEW_CUSTOMERS = ("--", "--customers", "20")
SLOTS, MEAN_S, P95_S = 8, 0.050, 0.200


def wait_for(url: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not answer")


def lane(tmp: Path, *, p95_ms: float, slots: int, mean_s: float, queue: int = 800) -> list[str]:
    """`--profile` and `--core-config` for a kiosk gateway of `slots` exponential servers."""
    profile, core = tmp / "lane.toml", tmp / "core.toml"
    data = tomllib.loads(KIOSK_LANE.read_text(encoding="utf-8"))
    data["slo"]["kiosk"]["p95_ms"] = p95_ms
    profile.write_text(tomli_w.dumps(data), encoding="utf-8")
    service = {"distribution": "exponential", "mean": mean_s}
    gateway = {"slots": slots, "queue": queue, "timeout": 5, "service": service}
    core.write_text(tomli_w.dumps({"lanes": {"kiosk-gateway": gateway}}), encoding="utf-8")
    return ["--profile", str(profile), "--core-config", str(core)]


@dataclass(frozen=True)
class Searched:
    done: subprocess.CompletedProcess[str]
    folder: Path
    found: dict[str, Any]


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Searched:
    """From under half the limit, levels of at most 10 s, until the levels either side of the
    answer are within 25% of each other."""
    tmp = tmp_path_factory.mktemp("search")
    done = surge(
        "capacity",
        *lane(tmp, p95_ms=P95_S * 1000, slots=SLOTS, mean_s=MEAN_S),
        *("--from", "60", "--to", "480", "--precision", "0.25", "--level-duration", "10"),
        *("--out", str(tmp / "out")),
        *FEW_CUSTOMERS,
        timeout=360,
    )
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
def test_the_answer_is_within_10_percent_of_erlang_c_and_printed_with_its_interval(
    searched: Searched,
) -> None:
    predicted = max_arrival_rate(MEAN_S, SLOTS, P95_S)
    answer = searched.found["answer"]
    assert answer["requests_per_s"] == pytest.approx(predicted, rel=0.10)
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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "8", "--to", "4"], "--from, --to: need 0 < from <= to"),
        (["--phase", "tea_break"], "--phase: payday has no phase 'tea_break' (it has opening_rush"),
        (["--profile", "nosuch"], "nosuch: no such profile"),
        (["--precision", "1.5"], "--precision: a share between 0 and 1"),
        (["--level-duration", "1"], "--level-duration: from 10 to 300 s, not 1"),
        (["--host", "ftp://core"], "--host: 'ftp://core' is not an http:// or https:// URL"),
        (["--to", "1e9"], "--to: 1e+09 gives payday about"),
        (["--host", "http://127.0.0.1:9"], "--host: cannot reach http://127.0.0.1:9"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_starts_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    done = surge_in_process("capacity", *args, "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("surge: ")
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_target_that_refuses_everything_fails_its_first_level_early(tmp_path: Path) -> None:
    """One slot and no queue: nearly every balance enquiry gets a 503, the first level surely
    fails within seconds, and the search ends below its range (exit 1)."""
    started = time.monotonic()
    done = surge(
        "capacity",
        *lane(tmp_path, p95_ms=400, slots=1, mean_s=0.2, queue=0),
        *("--from", "50", "--to", "50", "--out", str(tmp_path / "out")),
        *FEW_CUSTOMERS,
    )
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "does not carry x50" in done.stdout
    [folder] = (tmp_path / "out").iterdir()
    found = json.loads((folder / "capacity.json").read_text())
    [level] = found["levels"]
    assert level["status"] == "fail"
    assert level["sure"]
    assert found["ending"] == "below_range"
    assert found["answer"] is None
    assert level["end"] - level["start"] < 20, "the level ran on after it surely failed"
    assert time.monotonic() - started < 90
    assert (folder / "report.html").exists()
    assert (folder / "junit.xml").exists()


def test_a_generator_that_falls_behind_ends_the_search_at_its_limit(tmp_path: Path) -> None:
    """Three users cannot start 100 visits a second of a 50 ms lane: the level is behind, never
    the target's limit, and the search ends there as not valid evidence (exit 3)."""
    done = surge(
        "capacity",
        *lane(tmp_path, p95_ms=400, slots=64, mean_s=0.05),
        *("--from", "200", "--to", "400", "--max-users", "3", "--out", str(tmp_path / "out")),
        *FEW_CUSTOMERS,
    )
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]
    assert "the generator could not offer more (add --workers)" in done.stdout
    [folder] = (tmp_path / "out").iterdir()
    found = json.loads((folder / "capacity.json").read_text())
    assert found["ending"] == "generator_limit"
    assert [level["status"] for level in found["levels"]] == ["behind"]
    assert found["levels"][0]["late_share"] > 0.1
    assert found["answer"] is None


def test_an_interrupted_search_keeps_what_it_measured_and_exits_3(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "surge",
        "capacity",
        *lane(tmp_path, p95_ms=400, slots=8, mean_s=0.02),
        *("--from", "20", "--to", "80", "--out", str(tmp_path / "out")),
        *FEW_CUSTOMERS,
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:
            seen.append(line)
            if line.lstrip().startswith("#1"):  # the first level decided: stop during the next
                time.sleep(3)
                process.send_signal(signal.SIGINT)
                break
        rest, _ = process.communicate(timeout=120)
    output = "".join(seen) + rest
    assert process.returncode == 3, output[-3000:]
    [folder] = (tmp_path / "out").iterdir()
    found = json.loads((folder / "capacity.json").read_text())
    assert found["interrupted"] == "SIGINT"
    assert [level["multiple"] for level in found["levels"]] == [20]
    assert found["levels"][0]["status"] == "pass"
    assert [span.number for span in runfolder.load(folder / "run").levels] == [1]
    assert "interrupted" in output
    assert (folder / "report.html").exists()


def test_a_host_that_is_not_the_systems_ends_the_search_as_not_valid_evidence(
    tmp_path: Path,
) -> None:
    """A web server that answers, but not as branch systems do: the run could not start, so
    the search ends there (exit 3), and never reads the empty level as carried."""
    port = free_port()
    with subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as server:
        try:
            wait_for(f"http://127.0.0.1:{port}/")
            done = surge(
                "capacity",
                *("--host", f"http://127.0.0.1:{port}", "--from", "1", "--to", "4"),
                *("--out", str(tmp_path / "out")),
                "--allow-host",  # not the mock core: allowed, to see what it answers
                "127.0.0.1",
            )
        finally:
            server.terminate()
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]
    assert "carries" not in done.stdout
    [folder] = (tmp_path / "out").iterdir()
    found = json.loads((folder / "capacity.json").read_text())
    assert [level["status"] for level in found["levels"]] == ["invalid"]
    assert found["ending"] == "not_valid"
    assert found["answer"] is None
