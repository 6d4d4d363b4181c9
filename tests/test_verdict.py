"""The one verdict rule on constructed run folders: valid evidence, or not with every reason."""

from __future__ import annotations

from pathlib import Path

from surge import runfolder
from surge.day.arrivals import Lateness
from surge.judge import verdict
from surge.runfolder import Limits, Visits
from tests.runs import lateness, make, record


def judge(path: Path) -> verdict.Verdict:
    return verdict.judge(runfolder.load(path))


def test_a_run_that_kept_its_schedule_is_valid_evidence_whatever_the_target_answered(
    tmp_path: Path,
) -> None:
    failing = [record(n, outcome="failed", status=503) for n in range(10)]
    judged = judge(make(tmp_path / "run", records=failing))
    assert judged == verdict.Verdict(True, (), False)
    assert judged.sentence() == "The run is valid evidence"


def test_dropping_more_than_the_limit_is_not_valid_and_says_by_how_much(tmp_path: Path) -> None:
    judged = judge(make(tmp_path / "run", recorded=lateness(90, dropped=10)))
    assert not judged.valid
    assert judged.reasons == (
        "the generator fell behind its schedule (10.0% of visits dropped, limit 5.0%; 0.0% late, "
        "limit 10.0%)",
    )
    assert not judged.partial


def test_the_limits_are_the_runs_own(tmp_path: Path) -> None:
    path = make(tmp_path / "run", recorded=lateness(80, late=20), limits=Limits(0.05, 0.25))
    assert judge(path).valid
    path = make(tmp_path / "strict", recorded=lateness(80, late=20), limits=Limits(0.05, 0.19))
    assert "20.0% late, limit 19.0%" in judge(path).reasons[0]


def test_visits_never_due_make_a_partial_run_that_is_not_evidence(tmp_path: Path) -> None:
    judged = judge(make(tmp_path / "run", recorded=lateness(10), planned={"counter": 40}))
    assert judged.reasons == (
        "the run ended before its day: 30 of 40 planned visits were never due",
    )
    assert judged.partial


def test_visits_failing_inside_the_harness_beyond_the_dropped_limit_are_not_evidence(
    tmp_path: Path,
) -> None:
    path = make(tmp_path / "run", recorded=lateness(20), run={"ok": 18, "error": 2})
    assert judge(path).reasons == (
        "2 of 20 visits failed inside the harness (see the warnings: answers the journeys could "
        "not read?)",
    )
    assert judge(make(tmp_path / "one", recorded=lateness(20), run={"ok": 19, "error": 1})).valid


def test_a_run_that_could_not_start_says_why(tmp_path: Path) -> None:
    error = "could not prepare the run against http://127.0.0.1:9: connection refused"
    judged = judge(make(tmp_path / "run", records=[], recorded=Lateness(), error=error))
    assert judged.reasons == (f"the run could not start: {error}",)
    assert judged.partial


def test_a_run_that_never_ended_is_not_evidence(tmp_path: Path) -> None:
    judged = judge(make(tmp_path / "run", ended=False))
    assert judged.reasons == ("the run never ended: the harness wrote no figures (did it crash?)",)
    assert judged.partial


def test_what_happened_outside_the_harness_counts_as_a_reason(tmp_path: Path) -> None:
    path = make(tmp_path / "run")
    runfolder.add_incident(path, "the rehearsal was interrupted (SIGINT)")
    assert judge(path).reasons == ("the rehearsal was interrupted (SIGINT)",)


def test_a_lost_worker_is_not_evidence_and_its_lost_visits_are_counted(tmp_path: Path) -> None:
    path = make(tmp_path / "run", workers=2)
    census = {
        0: {"counter": 10, "kiosk": 0, "online": 0},
        1: {"counter": 10, "kiosk": 0, "online": 0},
    }
    visits = Visits.account(
        census,
        {0: lateness(10), 1: lateness(4)},
        lost={1: {"counter": 10, "kiosk": 0, "online": 0}},
        run={"ok": 14},
        requests={0: 10, 1: 4},
    )
    runfolder.write_visits(path, visits)
    judged = judge(path)
    assert judged.reasons == (
        "1 of 2 workers went missing (6 of 20 planned visits were lost with them)",
    )
    assert judged.partial
    assert judged.causes[0].code == "workers_missing"
    assert judged.causes[0].figures == {"missing": 1, "workers": 2, "lost": 6, "planned": 20}
    assert judged.sentence() == (
        "The run is not valid evidence: 1 of 2 workers went missing (6 of 20 planned visits "
        "were lost with them)"
    )


def test_the_summary_records_the_verdict_and_the_counts_it_rests_on(tmp_path: Path) -> None:
    rows = [record(n) for n in range(6)] + [record(9, outcome="refused", status=422)]
    folder = runfolder.load(make(tmp_path / "run", records=rows, recorded=lateness(7)))
    figures = verdict.figures(folder, verdict.judge(folder))
    assert figures["verdict"] == {"valid": True, "partial": False, "reasons": [], "causes": []}
    assert figures["requests"] == {
        "total": 7,
        "ok": 6,
        "refused": 1,
        "retried": 0,
        "failed": 0,
        "errors": 0,
    }
    assert figures["visits"]["planned"] == figures["visits"]["started"] == 7
    assert figures["workers"] == {"planned": 1, "reported": 1, "missing": [], "requests": [7]}
    assert set(figures["start_lag_s"]) == {"p50", "p95", "p99"}
