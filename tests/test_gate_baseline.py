"""The gate against a baseline, on real rehearsals: two runs of the same code with different
seeds pass against each other, and a mock core made twice as slow (every lane's service time,
by `--core-config`) fails against the baseline. Three short rehearsals, run side by side.

Twice, not the 30% bench/gate_false_alarm.py catches on a quiet machine: these runs share two
cores with the rest of the suite, whose CPU queue (the host waiting for a CPU 50-70% of their
day) moved a 30% slower core's p95s to 0.90-1.10 times the baseline's in one suite run.

The lanes' service times here spread less than the core's defaults (a p95 of 1.25 times the
median, not 4): with a few thousand requests, a default lane's p95 is known only to about 40%
(its interval is that wide, correctly), too loose to tell a slowdown from noise in a test this
short."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import tomli_w

from mock_core.settings import load_settings
from surge import runfolder
from tests.support import cases, surge

pytestmark = pytest.mark.slow

DAY = ["--profile", "weekday", "--time-scale", "1440", "--rate-scale", "250"]
"""Weekday's eight hours in 20 s at 250 times its arrivals: a few thousand requests."""
SLOWER = 2.0


def core(path: Path, factor: float) -> Path:
    """The core's lanes, each with a tight lognormal service time: its default median times
    `factor`, its p95 1.25 times that."""
    lanes = {}
    for name, lane in load_settings().lanes.items():
        median = (lane.service.median or lane.service.mean or 0.05) * factor
        service = {"distribution": "lognormal", "median": median, "p95": 1.25 * median}
        lanes[name] = {"service": service}
    path.write_text(tomli_w.dumps({"lanes": lanes}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("baseline")
    usual, slow = core(tmp / "usual.toml", 1.0), core(tmp / "slow.toml", SLOWER)
    plans = {
        "base": ["--seed", "11", "--core-config", str(usual)],
        "same": ["--seed", "12", "--core-config", str(usual)],
        "slow": ["--seed", "13", "--core-config", str(slow)],
    }

    def rehearse(name: str) -> Path:
        out = tmp / name
        done = surge("rehearse", *DAY, *plans[name], "--out", str(out), "--", "--customers", "30")
        assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
        [folder] = out.iterdir()
        return folder

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip(plans, pool.map(rehearse, plans), strict=True))


def test_two_runs_of_the_same_code_pass_against_each_other(runs: dict[str, Path]) -> None:
    done = surge("gate", str(runs["same"]), "--baseline", str(runs["base"]))
    regressions = {n: r for n, r in cases(runs["same"] / runfolder.JUNIT).items() if " p9" in n}
    assert regressions, done.stdout
    assert "failure" not in regressions.values(), done.stdout


def test_a_core_twice_as_slow_fails_against_the_baseline(runs: dict[str, Path]) -> None:
    done = surge("gate", str(runs["slow"]), "--baseline", str(runs["base"]))
    assert done.returncode == 1, done.stdout
    failed = [n for n, r in cases(runs["slow"] / runfolder.JUNIT).items() if r == "failure"]
    assert any(name.endswith(" p95") for name in failed), done.stdout
