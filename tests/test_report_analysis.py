"""The report's analysis on small constructed run folders with known answers: exact percentiles,
a breach window and its first breach, the recovery after a fault, AML recall and alerts on
ordinary customers, the branch's Erlang C figures, and partial runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reports import analysis, frames, latency, render, slo, staffing
from surge import runfolder
from surge.day.profile import Profile
from tests.runs import DAY, DAY_START, lateness, make, request, slow_between


def profile_with(**changes: Any) -> Profile:
    return Profile.from_dict(DAY.to_dict() | changes)


def test_percentiles_are_exact_nearest_rank_over_the_raw_records(tmp_path: Path) -> None:
    rows = [request(n * 0.1, n / 1000) for n in range(1, 101)]  # 1 ms … 100 ms
    read = runfolder.load(make(tmp_path / "run", records=rows))
    table = latency.table(frames.frames(read), ["channel"]).iloc[0]
    assert (table["response_p50"], table["response_p95"]) == pytest.approx((50, 95))
    assert (table["response_p99"], table["response_p99.9"]) == pytest.approx((99, 100))
    assert table["response_max"] == pytest.approx(100)
    assert table["requests"] == 100
    assert frames.rank(1000, 99.9) == 998  # the 999th of 1000 values


def test_a_breach_inside_a_passing_day_is_found_by_its_windows_and_named_by_their_end(
    tmp_path: Path,
) -> None:
    """The day (8 h in 20 s) holds its p95 on its counts: 1 s slow of 20 is its 5% budget. The
    slow second (24 minutes of the day) breaches the quarter hour's rule once enough of its
    window is slow for the excess to be significant, and the breaches end soon after the slow
    stretch does: each window is named by its end, so none before the slow stretch began."""
    profile = profile_with(slo={"counter": {"p95_ms": 800}})
    read = runfolder.load(make(tmp_path / "run", records=slow_between(10, 11), profile=profile))
    judged = slo.judge(frames.frames(read), read.profile)
    assert judged.bin_s == pytest.approx(75 / 1440)
    [p95] = judged.judgements
    assert (p95.whole.requests, p95.whole.bad) == (2000, 100)
    assert p95.passed
    first, last = p95.breaches[0], p95.breaches[-1]
    assert p95.first_breach == first
    assert 10.0 < first.end < 10.4
    assert first.rule == "quarter"
    assert first.counts.share is not None
    assert first.counts.share > 0.2
    short_s = judged.span_s(slo.RULES[0], "short")
    assert 11.0 < last.end <= 11.0 + short_s + judged.bin_s
    assert p95.worst is not None
    assert p95.worst.burn == pytest.approx(8.0, rel=0.05)
    assert not p95.held
    assert not judged.held


@pytest.mark.parametrize(
    ("every", "share", "passed"),
    [(12, 1 / 12, False), (18, 1 / 18, True)],
)
def test_the_whole_run_is_judged_on_its_counts_though_no_stretch_breaches(
    tmp_path: Path, every: int, share: float, passed: bool
) -> None:
    """Every 12th request slow, all day long: 8.3% of 2,000 against a 5% budget, beyond any
    chance; every 18th: 5.6%, over the budget by what 2,000 requests cannot tell from chance, so
    shown over the budget but not failed. Neither burns the budget twice as fast anywhere, so no
    window breaches."""
    rows = [request(n / 100, 0.9 if n % every == 0 else 0.01) for n in range(2000)]
    profile = profile_with(slo={"counter": {"p95_ms": 800}})
    read = runfolder.load(make(tmp_path / "run", records=rows, profile=profile))
    [p95] = slo.judge(frames.frames(read), read.profile).judgements
    assert p95.whole.share == pytest.approx(share, abs=1e-3)
    assert p95.over_budget
    assert p95.passed is passed
    assert p95.breaches == ()
    assert p95.dispersion == 1.0  # evenly spread: no clustering
    assert p95.value == pytest.approx(900)  # shown beside the counts


def test_the_recovery_after_a_fault_is_the_time_until_no_objective_is_significantly_over(
    tmp_path: Path,
) -> None:
    """Slow from 10 s to 12 s; the fault ends at 11 s. The first five minutes of the day
    (0.21 s), starting then or later, whose slow requests are no significant excess start one
    bin before 12 s: two slow requests of 21 could be a 5% budget's luck."""
    fault = {"at": 9.0, "duration": 2.0, "kind": "error", "target": "*", "status": 503}
    profile = profile_with(slo={"counter": {"p95_ms": 800}}, faults=[fault])
    read = runfolder.load(make(tmp_path / "run", records=slow_between(10, 12), profile=profile))
    [recovery] = slo.judge(frames.frames(read), read.profile).recoveries
    assert (recovery.fault.start, recovery.fault.end) == (9.0, 11.0)
    assert recovery.after_s == pytest.approx(230 * 75 / 1440 - 11.0)


def test_aml_recall_by_pattern_and_alerts_on_ordinary_customers(tmp_path: Path) -> None:
    rows = [
        request(1.0, 0.01, journey="fan_in", customer="C00000007"),
        request(2.0, 0.01, journey="fan_in", customer="C00000008"),
        request(3.0, 0.01, journey="structuring", customer="C00000009"),
    ]
    path = make(tmp_path / "run", records=rows)
    runfolder.write_expected_alerts(
        path,
        [
            {"rule": "fan_in", "customer_id": "C00000007", "account": "a7"},
            {"rule": "fan_in", "customer_id": "C00000008", "account": "a8"},
            {"rule": "structuring", "customer_id": "C00000009", "account": "a9"},
        ],
    )
    alert = {"account_id": "x", "transaction_ids": [], "detail": ""}
    runfolder.write_answer(
        path,
        runfolder.ALERTS,
        [
            alert | {"rule": "fan_in", "customer_id": "C00000007", "detected_at": DAY_START + 1.5},
            alert
            | {"rule": "structuring", "customer_id": "C00000009", "detected_at": DAY_START + 3.25},
            alert
            | {"rule": "large_cash", "customer_id": "C00000009", "detected_at": DAY_START + 3.3},
            alert
            | {"rule": "large_cash", "customer_id": "C00000001", "detected_at": DAY_START + 4},
        ],
    )
    books = analysis.analyse(runfolder.load(path)).correctness
    assert books.patterns is not None
    by_rule = {p.rule: p for p in books.patterns}
    assert (by_rule["fan_in"].injected, by_rule["fan_in"].alerted) == (2, 1)
    assert by_rule["fan_in"].recall == 0.5
    assert by_rule["structuring"].recall == 1.0
    assert by_rule["structuring"].delay_p50_s == pytest.approx(0.25)
    assert books.false_alerts == {"large_cash": 1}  # not the suspicious customer's own
    assert books.missed == 1


def test_without_the_targets_answers_the_books_are_not_checked_rather_than_passed(
    tmp_path: Path,
) -> None:
    books = analysis.analyse(runfolder.load(make(tmp_path / "run"))).correctness
    assert (books.reconcile, books.reconciled, books.patterns, books.false_alerts) == (
        None,
        None,
        None,
        None,
    )


def one_business_branch(per_hour: float, diversion: float) -> Profile:
    """Counter business all cash deposits of 4 minutes, six counters."""
    data = DAY.to_dict()
    for phase in data["phases"]:
        phase["arrivals_per_hour"]["counter"] = per_hour * DAY.time_scale
    data["mix"]["counter"] = {"cash_deposit": 1.0}
    data["staffing"] |= {"counters": 6, "handling_minutes": {"cash_deposit": 4.0}}
    data["staffing"] |= {"target_wait_minutes": 1.0, "target_service_level": 0.8}
    data["customers"]["diversion"] = diversion
    data["rate_scale"] = DAY.time_scale  # every visit of the day kept, as surge rehearse scales
    return Profile.from_dict(data)


def test_the_branch_queue_is_erlang_c_worked_by_hand() -> None:
    """60 an hour of 4 minutes each is 4 erlangs on 6 counters. By hand: A^6/6! x 6/(6-4) =
    17.0667; the sum of A^k/k! for k < 6 is 42.8667; P(wait) = 17.0667 / 59.9333 = 0.28476,
    the mean wait P x 4 / (6 - 4) = 0.5695 minutes, and within 1 minute 1 - P e^-(2/4) =
    0.82729."""
    branch = staffing.staffing(one_business_branch(60, 0.0))
    first = branch.phases[0]
    assert first.arrivals_per_hour == pytest.approx(60)
    assert first.utilisation == pytest.approx(4 / 6)
    assert first.waiting == pytest.approx(0.28476, abs=1e-5)
    assert first.mean_wait_minutes == pytest.approx(0.5695, abs=1e-4)
    assert first.within_target == pytest.approx(0.82729, abs=1e-5)
    assert first.needed == 6  # 5 counters serve 0.5996 within the minute


def test_diverting_counter_business_lowers_the_counters_the_peak_needs() -> None:
    branch = staffing.staffing(one_business_branch(120, 0.1))
    assert branch.phases[0].arrivals_per_hour == pytest.approx(108)  # 10% diverted
    needed = {round(w.diversion, 2): w.needed for w in branch.what_if}
    assert needed[0.0] > needed[0.5]
    assert list(needed.values()) == sorted(needed.values(), reverse=True)
    assert branch.short  # 108 an hour of 4 minutes is 7.2 erlangs on 6 counters


def test_a_run_cut_short_is_analysed_as_partial(tmp_path: Path) -> None:
    path = make(tmp_path / "run", recorded=lateness(5), planned={"counter": 40})
    result = analysis.analyse(runfolder.load(path))
    assert result.verdict.partial
    assert result.findings[0].tone == "bad"
    assert result.findings[0].anchor == "verdict"
    summary = analysis.summary(result)
    assert summary["verdict"]["partial"] is True
    assert summary["verdict"]["causes"][0]["code"] == "ended_early"


def test_a_run_that_could_not_start_is_still_reported(tmp_path: Path) -> None:
    """No request at all: every table is empty, the verdict says why."""
    error = "could not prepare the run against http://127.0.0.1:9: connection refused"
    path = make(tmp_path / "run", records=[], recorded=lateness(0), error=error)
    result = analysis.analyse(runfolder.load(path))
    assert result.channels.empty
    assert result.verdict.causes[0].code == "could_not_start"
    assert render.markdown(result, "en").startswith("## Capacity report: weekday")
    assert "could not prepare the run" in render.html(result, "en")
