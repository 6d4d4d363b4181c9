"""`surge rehearse` cut short or unable to start: Ctrl-C, an option Locust refuses (an
unreachable host is bad input before anything starts: tests/test_rehearse_input.py). Each ends with the documented exit code, nothing left running, and the run folder
(or none) saying so. Real processes, as in tests/test_rehearse.py."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.load import FEW_CUSTOMERS, SHORT, processes_naming, refused
from tests.support import surge

pytestmark = pytest.mark.slow


def test_ctrl_c_stops_the_core_and_locust_and_exits_3(tmp_path: Path) -> None:
    out = tmp_path / "results"
    child = subprocess.Popen(
        [sys.executable, "-m", "surge", "rehearse", *SHORT, "--out", str(out), *FEW_CUSTOMERS],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert child.stdout is not None
    lines = []
    try:
        for line in child.stdout:  # bounded: the command's own bound, and the test timeout
            lines.append(line)
            if "customers are onboarded" in line:  # the core answers and Locust has started
                break
        child.send_signal(signal.SIGINT)
        rest, _ = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    output = "".join(lines) + rest
    assert child.returncode == 3, output
    assert "surge rehearse: interrupted: stopping Locust (not valid evidence)" in output
    assert "Traceback" not in output
    core = next(line for line in lines if "embedded mock core at " in line)
    assert refused(core.split("embedded mock core at ")[1].strip())
    assert processes_naming(str(out)) == []


def test_an_option_locust_refuses_exits_2_and_leaves_no_run_folder(tmp_path: Path) -> None:
    out = tmp_path / "results"
    done = surge("rehearse", *SHORT, "--out", str(out), "--", "--frobnicate")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Locust wrote no run folder" in done.stderr
    assert list(out.iterdir()) == []


def test_a_rehearsal_killed_outright_leaves_no_embedded_core_serving(tmp_path: Path) -> None:
    """SIGKILL gives the rehearsal no chance to stop its children; the core it started stops
    by itself once its parent is gone (`mock-core --exit-with-parent`), not orphaned for good."""
    out = tmp_path / "results"
    child = subprocess.Popen(
        [sys.executable, "-m", "surge", "rehearse", *SHORT, "--out", str(out), *FEW_CUSTOMERS],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert child.stdout is not None
    try:
        core = next(line for line in child.stdout if "embedded mock core at " in line)
        child.kill()
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    url = core.split("embedded mock core at ")[1].strip()
    deadline = time.monotonic() + 15
    while not refused(url) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert refused(url), "the embedded core still serves after its rehearsal was killed"
