"""`surge rehearse`: one command, an embedded mock core, Locust headless, a run folder, a verdict.

The rehearsals here are real processes (the `surge` command, its `mock-core` and `locust`
children) replaying `weekday` compressed to a few seconds; one rehearsal is shared by the
tests here. Bad input is in tests/test_rehearse_input.py, stops in tests/test_rehearse_stops.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest

from surge import runfolder, verdict
from surge.profile import load_profile

TIME_SCALE, RATE_SCALE = "4320", "100"  # weekday's 8 hours in under 7 s, about 60 visits
SHORT = ["--profile", "weekday", "--time-scale", TIME_SCALE, "--rate-scale", RATE_SCALE]
FEW_CUSTOMERS = ["--", "--customers", "20"]  # onboarding 200 through the core's lanes takes 25 s


def surge(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "surge", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def processes_naming(text: str) -> list[str]:
    """Command lines of live processes that mention `text` (this test's own folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # ended while we looked
        if text in argv:
            found.append(argv)
    return found


def refused(url: str) -> bool:
    try:
        httpx.get(f"{url}/healthz", timeout=2)
    except httpx.ConnectError:
        return True
    return False


class Rehearsal:
    def __init__(self, tmp: Path) -> None:
        self.out = tmp / "results"
        self.done = surge("rehearse", *SHORT, "--out", str(self.out), *FEW_CUSTOMERS)
        lines = self.done.stdout.strip().splitlines()
        named = [line for line in lines if line.startswith("Run folder: ")]
        self.folder = Path(named[-1].removeprefix("Run folder: ")) if named else self.out
        self.last = lines[-1] if lines else ""


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> Rehearsal:
    return Rehearsal(tmp_path_factory.mktemp("rehearse"))


def test_a_short_rehearsal_is_valid_evidence_and_ends_with_its_folder_and_report(
    short: Rehearsal,
) -> None:
    assert short.done.returncode == 0, short.done.stdout[-3000:] + short.done.stderr[-3000:]
    assert short.last == f"Report: {short.folder / 'report.html'}"
    assert (short.folder / "report.html").is_file()
    assert (short.folder / "summary.md").is_file()
    assert short.folder.parent == short.out
    assert short.folder.name.endswith("-weekday")
    for name in ("run.json", "summary.json", "reconcile.json", "locust.log"):
        assert (short.folder / name).is_file(), name
    read = runfolder.load(short.folder)
    assert verdict.judge(read).valid
    assert read.request_count > 0
    assert read.reconcile is not None
    assert read.reconcile["ok"] is True
    assert read_json(short.folder / "summary.json")["verdict"]["valid"] is True
    assert "Rehearsal against the embedded mock core: valid evidence" in short.done.stdout
    assert "ledger    reconciled: ok" in short.done.stdout
    assert read.visits is not None
    total = read.visits.total
    assert f"{total.planned} planned: {total.started} started" in short.done.stdout


def test_the_run_records_both_scales_and_the_embedded_core_set_up_like_the_profile(
    short: Rehearsal,
) -> None:
    read = runfolder.load(short.folder)
    assert (read.info.time_scale, read.info.rate_scale) == (float(TIME_SCALE), float(RATE_SCALE))
    assert read.profile.rate_scale == float(RATE_SCALE)
    assert read.info.host.startswith("http://127.0.0.1:")
    core = tomllib.loads((short.folder / "mock-core.toml").read_text(encoding="utf-8"))
    weekday = load_profile("weekday")
    assert core["branch"]["branches"] == weekday.branches
    assert core["branch"]["counters"] == weekday.staffing.counters


def test_the_admin_token_reaches_locust_without_entering_the_recorded_command_line(
    short: Rehearsal,
) -> None:
    """The faults and /admin/* need the embedded core's token: reconcile.json proves it came."""
    read = runfolder.load(short.folder)
    assert not any("token" in arg for arg in read.info.command_line)
    assert read.alerts is not None


def test_the_embedded_core_and_locust_are_gone_when_the_rehearsal_ends(short: Rehearsal) -> None:
    host = read_json(short.folder / "run.json")["host"]
    assert refused(host)
    assert processes_naming(str(short.out)) == []
