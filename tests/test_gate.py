"""`surge gate`: the SLOs, the books and regressions against a baseline, judged for CI, with one
JUnit test case per check and the documented exit codes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from surge import runfolder
from surge.day.profile import Profile
from tests.runs import DAY, host_day, lateness, make, request
from tests.support import cases, surge


def day(p95_ms: float) -> Profile:
    return Profile.from_dict(DAY.to_dict() | {"slo": {"counter": {"p95_ms": p95_ms}}})


def steady(response_s: float, n: int = 1000) -> list[tuple]:
    return [request(k / 50, response_s) for k in range(n)]


def test_a_run_within_its_slos_passes_with_a_case_per_check(tmp_path: Path) -> None:
    folder = make(tmp_path / "run", records=steady(0.05), profile=day(800))
    done = surge("gate", str(folder))
    assert done.returncode == 0, done.stdout + done.stderr
    junit = cases(folder / runfolder.JUNIT)
    assert junit["valid evidence"] == "passed"
    assert junit["counter.p95_ms"] == "passed"
    assert junit["ledger reconciled"] == "skipped"  # no admin answer: not checked, not passed


def test_an_impossible_slo_fails_the_gate_with_one_line(tmp_path: Path) -> None:
    folder = make(tmp_path / "run", records=steady(0.05), profile=day(1))
    done = surge("gate", str(folder), "--junit", str(tmp_path / "gate.xml"))
    assert done.returncode == 1
    failures = [line for line in done.stdout.splitlines() if "counter.p95_ms" in line]
    assert failures == [
        "surge gate: counter.p95_ms: 100.00% of 1000 requests slower than 1 ms, against a budget "
        "of 5.00% (p95 50 ms); 373 of 373 windows breached it, first the 15m up to 09:15: "
        "100.0% slower than 1 ms, 20.0 times the budget's rate"
    ]
    assert cases(tmp_path / "gate.xml")["counter.p95_ms"] == "failure"


def test_a_run_that_is_not_evidence_exits_3_whatever_its_slos(tmp_path: Path) -> None:
    folder = make(tmp_path / "run", records=steady(0.05), recorded=lateness(50, dropped=50))
    assert surge("gate", str(folder)).returncode == 3


def test_a_broken_ledger_fails_the_gate(tmp_path: Path) -> None:
    folder = make(tmp_path / "run", records=steady(0.05), profile=day(800))
    check = {"name": "one_posting_per_key", "description": "no write applied twice", "ok": False}
    runfolder.write_answer(folder, runfolder.RECONCILE, {"ok": False, "checks": [check]})
    done = surge("gate", str(folder))
    assert done.returncode == 1
    assert "surge gate: one_posting_per_key: FAILED (no write applied twice)" in done.stdout


@pytest.mark.slow
def test_the_gate_appends_its_summary_to_the_ci_step_summary(tmp_path: Path) -> None:
    folder = make(tmp_path / "run", records=steady(0.05), profile=day(800))
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    env = {**__import__("os").environ, "GITHUB_STEP_SUMMARY": str(summary)}
    assert surge("gate", str(folder), env=env).returncode == 0
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n## ")
    assert "counter.p95_ms" in text


def test_the_gates_summary_speaks_the_language_asked_for(tmp_path: Path) -> None:
    """A Chinese bank's CI log may be read by an English-speaking vendor, and the other way."""
    folder = make(tmp_path / "run", records=steady(0.05), profile=day(800))
    for language, heading in (("en", "## Capacity report"), ("zh_CN", "## 容量报告")):
        assert surge("gate", str(folder), "--lang", language).returncode == 0
        summary = (folder / runfolder.SUMMARY_MD).read_text(encoding="utf-8")
        assert summary.startswith(heading)


def test_a_run_twice_as_slow_as_its_baseline_regresses_and_a_like_one_does_not(
    tmp_path: Path,
) -> None:
    base = make(tmp_path / "base", records=steady(0.05), profile=day(800))
    like = make(tmp_path / "like", records=steady(0.05), profile=day(800))
    slow = make(tmp_path / "slow", records=steady(0.10), profile=day(800))
    assert surge("gate", str(like), "--baseline", str(base)).returncode == 0
    done = surge("gate", str(slow), "--baseline", str(base))
    assert done.returncode == 1
    assert any(
        line.startswith("surge gate: counter p95: 2.00 times") for line in done.stdout.splitlines()
    )
    assert cases(slow / runfolder.JUNIT)["counter p95"] == "failure"


def varied(seed: int, slow_from_s: float = 0.0, slow_for_s: float = 0.0) -> list[tuple]:
    """`steady`'s 20 s of requests with a lognormal spread about 50 ms, four times slower for
    `slow_for_s` from `slow_from_s`: a host busy elsewhere for that long."""
    draw = random.Random(seed)
    times = [k / 50 for k in range(1000)]
    slow = [slow_from_s <= t < slow_from_s + slow_for_s for t in times]
    return [
        request(t, draw.lognormvariate(-3, 0.3) * (4 if s else 1))
        for t, s in zip(times, slow, strict=True)
    ]


def test_a_stretch_of_slow_seconds_in_a_run_of_the_same_code_is_not_a_regression(
    tmp_path: Path,
) -> None:
    """The bootstrap draws blocks of seconds: drawn by request, the two slow seconds read as
    independent luck, and the p95 as surely 2.5 times the baseline's (interval 2.1-2.7)."""
    base = make(tmp_path / "base", records=varied(1), profile=day(800))
    stalled = make(tmp_path / "stalled", records=varied(2, 10.0, 2.0), profile=day(800))
    slower = make(tmp_path / "slower", records=varied(3, 0.0, 20.0), profile=day(800))
    assert surge("gate", str(stalled), "--baseline", str(base)).returncode == 0
    assert cases(stalled / runfolder.JUNIT)["counter p95"] == "passed"
    assert surge("gate", str(slower), "--baseline", str(base)).returncode == 1
    assert cases(slower / runfolder.JUNIT)["counter p95"] == "failure"


def embedded_core_run(folder: Path, response_s: float, cpu_wait: float) -> Path:
    """A run of the embedded core on a host whose tasks waited for a CPU `cpu_wait` of the
    time."""
    return make(
        folder,
        records=steady(response_s),
        profile=day(800),
        generator=[s._replace(host_cpu_wait=cpu_wait) for s in host_day()],
        options={"embedded_core": True},
    )


def test_a_run_slower_on_a_host_busier_than_its_baselines_is_not_evidence_and_exits_3(
    tmp_path: Path,
) -> None:
    base = embedded_core_run(tmp_path / "base", 0.05, cpu_wait=0.02)
    busy = embedded_core_run(tmp_path / "busy", 0.07, cpu_wait=0.5)
    done = surge("gate", str(busy), "--baseline", str(base))
    assert done.returncode == 3, done.stdout + done.stderr
    assert (
        "surge gate: comparable with the baseline: some task on the host waited for a CPU 50% "
        "of this run's day and 2% of the baseline's; 4 of 6 measures read slower, which the "
        "busier host may explain (the embedded core shares its CPU): rerun on a host contended "
        "like the baseline's"
    ) in done.stdout.splitlines()
    junit = cases(busy / runfolder.JUNIT)
    assert junit["comparable with the baseline"] == "failure"
    assert "counter p95" not in junit  # no judgement from a comparison that is not evidence


def test_a_run_no_slower_on_a_busier_host_passes_and_a_slower_one_on_a_quieter_host_fails(
    tmp_path: Path,
) -> None:
    base = embedded_core_run(tmp_path / "base", 0.05, cpu_wait=0.5)
    busy = embedded_core_run(tmp_path / "busy", 0.05, cpu_wait=0.9)
    assert surge("gate", str(busy), "--baseline", str(base)).returncode == 0
    assert cases(busy / runfolder.JUNIT)["comparable with the baseline"] == "passed"
    quiet = embedded_core_run(tmp_path / "quiet", 0.10, cpu_wait=0.02)
    done = surge("gate", str(quiet), "--baseline", str(base))
    assert done.returncode == 1, done.stdout + done.stderr
    assert cases(quiet / runfolder.JUNIT)["counter p95"] == "failure"


def test_runs_of_the_embedded_core_on_hosts_contended_alike_are_compared(tmp_path: Path) -> None:
    base = embedded_core_run(tmp_path / "base", 0.05, cpu_wait=0.45)
    slow = embedded_core_run(tmp_path / "slow", 0.10, cpu_wait=0.5)
    done = surge("gate", str(slow), "--baseline", str(base))
    assert done.returncode == 1, done.stdout + done.stderr
    junit = cases(slow / runfolder.JUNIT)
    assert junit["comparable with the baseline"] == "passed"
    assert junit["counter p95"] == "failure"


def test_a_baseline_of_another_profile_is_bad_input(tmp_path: Path) -> None:
    base = make(tmp_path / "base", profile=Profile.from_dict(DAY.to_dict() | {"name": "other"}))
    folder = make(tmp_path / "run")
    done = surge("gate", str(folder), "--baseline", str(base))
    assert done.returncode == 2
    assert done.stderr == (
        f"surge: --baseline: {base} is a run of other, not of weekday: runs compare only with "
        "runs of the same profile\n"
    )


def test_an_objective_the_run_sent_nothing_for_is_skipped_in_the_summary_as_in_junit(
    tmp_path: Path,
) -> None:
    """Counter records only, and an objective on the kiosk: not measured, so not 'held'."""
    profile = Profile.from_dict(DAY.to_dict() | {"slo": {"kiosk": {"p95_ms": 500}}})
    folder = make(tmp_path / "run", records=steady(0.05), profile=profile)
    assert surge("gate", str(folder), "--lang", "en").returncode == 0
    assert cases(folder / runfolder.JUNIT)["kiosk.p95_ms"] == "skipped"
    summary = (folder / runfolder.SUMMARY_MD).read_text(encoding="utf-8")
    [row] = [line for line in summary.splitlines() if line.startswith("| kiosk.p95_ms")]
    assert row.startswith("| kiosk.p95_ms | skipped |")
