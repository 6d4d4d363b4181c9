"""`surge gate RUN --history`: a run against the comparable runs before it (surge/history/gate.py).

The drift test is the issue's: runs each 3% slower than the last, real run folders gated the
way CI gates them, where `--baseline` (the run before) passes every one and the history fails
the drift. The rest judges recorded runs without folders: stationary histories (the false
alarm rate docs/history.md states), a sudden step, an error rate on its counts, a capacity
that fell, too little history.
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from surge.cli import main
from surge.history import gate
from surge.history.store import Store
from tests.history_runs import capacity_search, entry, timed_run

OBJECTIVES = 22
"""As many objectives as the default rehearsal (payday) judges."""


def judged(history: list, run: object) -> list[gate.Check]:
    return gate.judge(run, history)  # type: ignore[arg-type]


def failed(checks: list[gate.Check]) -> list[str]:
    return [c.message for c in checks if c.passed is False]


@pytest.fixture(scope="module")
def drift(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Ten runs, each 3% slower than the last: the first eight recorded (`surge history
    import`), then each later one gated against the run before it (`--baseline`) and against
    the history, as the CI example does."""
    tmp = tmp_path_factory.mktemp("drift")
    where = str(tmp / "history.sqlite")
    folders = [
        timed_run(tmp / f"run-{k:02d}", slower=1.03**k, seed=k, start=1_000.0 + 3_600 * k)
        for k in range(10)
    ]
    baseline = [
        main(["gate", str(now), "--baseline", str(before), "--no-history"])
        for before, now in pairwise(folders)
    ]
    assert main(["history", "import", *map(str, folders[:8]), "--history", where]) == 0
    history = [main(["gate", str(run), "--history", where]) for run in folders[8:]]
    return {"where": where, "folders": folders, "baseline": baseline, "history": history}


@pytest.mark.slow  # ten run folders reported and gated
def test_the_baseline_lets_a_slow_drift_through_and_the_history_does_not(
    drift: dict[str, object],
) -> None:
    assert drift["baseline"] == [0] * 9  # each run only 3% slower than the one before
    assert drift["history"] == [1, 1]  # 27% and 30% slower than the first, a trend


@pytest.mark.slow  # ten run folders reported and gated
def test_the_drift_is_named_in_junit_and_the_run_recorded_as_failed(
    drift: dict[str, object],
) -> None:
    folders: list[Path] = drift["folders"]  # type: ignore[assignment]
    gated = json.loads((folders[-1] / "summary.json").read_text())["gate"]
    messages = [c["message"] for c in gated["cases"] if c["name"].startswith("history: ")]
    assert any("cash_deposit.p95_ms: drifts for the worse by +3" in m for m in messages), messages
    junit = (folders[-1] / "junit.xml").read_text()
    assert '<testsuite name="history"' in junit
    with Store.open(str(drift["where"]), create=False) as history:
        recorded = history.entries()
    assert [r.exit_code for r in recorded] == [0] * 8 + [1, 1]
    assert len(recorded[-1].objectives) > 0


def test_stationary_runs_rarely_fail_and_no_more_often_than_stated() -> None:
    """300 runs of an unchanged system (22 objectives a run, 2% log-normal noise), each
    against the 20 before: the plausible range is 1% a run by construction, the change points
    and the trend add little (docs/history.md gives the figure measured on more)."""
    rng = np.random.default_rng(2026)
    history, alarms = [], 0
    for number in range(320):
        run = entry(number, 200.0 * np.exp(rng.normal(0.0, 0.02, OBJECTIVES)))
        checks = judged(history[-gate.WINDOW :], run)
        alarms += number >= 20 and bool(failed(checks))
        history.append(run)
    assert alarms <= 6  # 300 runs: 2% at most, to leave the random draw its room


def test_a_sudden_step_fails_from_its_first_run_while_it_stays_in_the_window() -> None:
    rng = np.random.default_rng(7)
    history, verdicts = [], []
    for number in range(30):
        level = 1.2 if number >= 20 else 1.0
        run = entry(number, 200.0 * level * np.exp(rng.normal(0.0, 0.02, 4)))
        verdicts.append(bool(failed(judged(history, run))))
        history.append(run)
    assert verdicts[:20] == [False] * 20
    assert verdicts[20:] == [True] * 10
    first = failed(judged(history[:20], history[20]))
    assert any("lies above what the last 20 comparable runs make plausible" in m for m in first)


def test_too_little_history_judges_nothing_and_says_so() -> None:
    history = [entry(n, [200.0, 300.0]) for n in range(gate.MIN_RUNS - 1)]
    checks = judged(history, entry(99, [900.0, 900.0]))
    assert [c.passed for c in checks] == [None, None]
    assert (
        checks[0].message
        == f"o0.p95_ms: {gate.MIN_RUNS - 1} comparable runs in the history, 8 needed"
    )


def test_runs_of_another_profile_or_not_valid_are_not_compared() -> None:
    other = [entry(n, [200.0]) for n in range(12)]
    for run in other[:6]:
        object.__setattr__(run, "profile_hash", "another")
    for run in other[6:]:
        object.__setattr__(run, "valid", False)
    assert [c.passed for c in judged(other, entry(99, [900.0]))] == [None]


def test_an_error_rate_is_judged_on_its_counts() -> None:
    """Errors drawn at 0.5% of 4,000 requests a run: 0.6% is chance, 2% is not."""
    rng = np.random.default_rng(3)

    def run(number: int, share: float) -> object:
        bad = int(rng.binomial(4_000, share))
        return entry(number, [bad / 4_000], metric="error_rate", counts=[(bad, 4_000)])

    history = [run(n, 0.005) for n in range(20)]
    assert failed(judged(history, run(20, 0.006))) == []
    [message] = failed(judged(history, run(21, 0.02)))
    assert "errors lies above what the last 20 comparable runs make plausible" in message


def test_a_capacity_that_fell_fails_and_one_that_rose_passes() -> None:
    rng = np.random.default_rng(5)
    history = [
        entry(n, [], capacity_answer=float(40.0 * np.exp(rng.normal(0.0, 0.02)))) for n in range(20)
    ]
    [fell] = judged(history, entry(20, [], capacity_answer=34.0))
    assert fell.passed is False
    assert (
        "capacity: x34 lies below what the last 20 comparable runs make plausible" in fell.message
    )
    [rose] = judged(history, entry(21, [], capacity_answer=48.0))
    assert rose.passed is True


def test_a_capacity_search_is_gated_against_its_history(tmp_path: Path) -> None:
    """`surge gate SEARCH --history`: the searches before it recorded, the last one's answer
    15% below theirs fails; each lands in the history with its answer and interval."""
    where = str(tmp_path / "history.sqlite")
    answers = [40.0, 41.0, 39.5, 40.5, 40.0, 39.0, 40.8, 40.2]
    searches = [
        capacity_search(
            tmp_path / f"search-{n}", a, start=1_000.0 + 3_600 * n, interval=(a, a * 1.05)
        )
        for n, a in enumerate(answers)
    ]
    assert main(["history", "import", *map(str, searches), "--history", where]) == 0
    last = capacity_search(tmp_path / "search-8", 34.0, start=40_000.0, interval=(34.0, 35.7))
    assert main(["gate", str(last), "--history", where]) == 1
    with Store.open(where, create=False) as history:
        recorded = history.entries(kind="capacity")
    assert [r.capacity.multiple for r in recorded if r.capacity] == [*answers, 34.0]
    assert recorded[-1].capacity is not None
    assert (recorded[-1].capacity.low, recorded[-1].capacity.high) == (34.0, 35.7)
    assert recorded[-1].exit_code == 1
