"""A drill is judged as a drill, on real rehearsals: a recovery within `[slo] recovery_s` passes,
one beyond it fails the gate.

One branch's kiosk balance checks (two requests a visit, both through the kiosk gateway) at 38
requests a second, for a two-hour day replayed in 10 s, with a brownout from 10:30 for 30
minutes (2.5 s) that leaves the gateway a fifth of its slots, a p95 objective of 500 ms and a
recovery bound of 10 minutes (0.83 s). The gateway serves each request in a constant 100 ms, so
its slots decide how fast the backlog the brownout leaves drains (docs/capacity.md): with 10
slots (100 requests a second) the brownout's two fall 18 a second short, a queue of about 45
that drains at once; with 5 (50 a second) one slot falls 28 a second short, and the queue of
about 70 drains at 12 a second, its requests slower than 500 ms for over a second after the
fault (more than 15 minutes of the day). The faults begin at their time of the day (they are
posted once the day's start is set), so the backlog is the brownout's alone. Both runs go at
once, each with its own embedded core.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from surge import runfolder
from surge.exits import GATE_FAILED, OK
from tests.support import surge

pytestmark = pytest.mark.slow

DAY = {
    "name": "kiosk_drill",
    "description": "Kiosk balance checks through a brownout of the kiosk gateway",
    "seed": 19,
    "branches": 1,
    "day_start": "10:00",
    "phases": [
        {
            "name": "steady",
            "start": "10:00",
            "duration": "2h",
            "arrivals_per_hour": {"counter": 0, "kiosk": 1800, "online": 0},
        }
    ],
    "mix": {"counter": {"cash_deposit": 1.0}, "kiosk": {"balance": 1.0}, "online": {"book": 1.0}},
    "customers": {"suspicious_share": 0.0, "locale": "en_US"},
    "slo": {"recovery_s": "10m", "kiosk": {"p95_ms": 500, "error_rate": 0.02}},
    "faults": [
        {
            "at": "10:30",
            "duration": "30m",
            "kind": "brownout",
            "target": "lane:kiosk-gateway",
            "share": 0.2,
        }
    ],
    "staffing": {
        "counters": 1,
        "target_wait_minutes": 15,
        "target_service_level": 0.8,
        "handling_minutes": {"cash_deposit": 4},
    },
}
TIME_SCALE = 720  # the two hours in 10 s
RATE_SCALE = 38  # 1,800 visits an hour times 38 in 3,600 s: 19 visits, 38 requests a second


def gateway(slots: int) -> dict[str, object]:
    service = {"distribution": "constant", "mean": 0.1}
    return {
        "lanes": {
            "kiosk-gateway": {"slots": slots, "queue": 5000, "timeout": 60, "service": service}
        }
    }


def rehearse(tmp: Path, slots: int) -> tuple[int, Path]:
    profile, core = tmp / "kiosk_drill.toml", tmp / f"core-{slots}.toml"
    profile.write_text(tomli_w.dumps(DAY), encoding="utf-8")
    core.write_text(tomli_w.dumps(gateway(slots)), encoding="utf-8")
    done = surge(
        *("rehearse", "--profile", str(profile), "--core-config", str(core)),
        *("--time-scale", str(TIME_SCALE), "--rate-scale", str(RATE_SCALE)),
        *("--out", str(tmp / f"results-{slots}"), "--lang", "en", "--", "--customers", "20"),
        timeout=120,
    )
    assert done.returncode in (OK, GATE_FAILED), done.stdout[-3000:] + done.stderr[-2000:]
    named = [line for line in done.stdout.splitlines() if line.startswith("Run folder: ")]
    return done.returncode, Path(named[-1].removeprefix("Run folder: "))


@pytest.fixture(scope="module")
def drills(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[int, Path]]:
    tmp = tmp_path_factory.mktemp("drill-recovery")
    with ThreadPoolExecutor(2) as pool:
        done = {slots: pool.submit(rehearse, tmp, slots) for slots in (10, 5)}
        return {slots: future.result() for slots, future in done.items()}


def recovery(folder: Path) -> dict[str, Any]:
    [one] = runfolder.load(folder).summary["slo"]["recoveries"]
    return one


def failures(folder: Path) -> list[str]:
    root = ElementTree.parse(folder / runfolder.JUNIT).getroot()
    return [
        case.get("name", "") for case in root.iter("testcase") if case.find("failure") is not None
    ]


def test_a_recovery_within_its_bound_passes_the_drill(drills: dict[int, tuple[int, Path]]) -> None:
    code, folder = drills[10]
    judged = recovery(folder)
    assert judged["passed"] is True, judged
    assert failures(folder) == []
    assert code == OK


def test_a_backlog_draining_past_the_bound_fails_the_drill(
    drills: dict[int, tuple[int, Path]],
) -> None:
    code, folder = drills[5]
    judged = recovery(folder)
    assert judged["passed"] is False, judged
    assert "recovery after brownout lane:kiosk-gateway at 10:30" in failures(folder)
    assert code == GATE_FAILED
