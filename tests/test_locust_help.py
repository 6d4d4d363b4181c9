"""The harness's options where Locust's users look for them: Locust prints `--help` before it
loads the locustfile (so no option a locustfile adds can be in it), and `--surge-help` prints
the same help with the harness's options; `--profile`, Locust's own option, says what the
harness makes of it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
HARNESS_OPTIONS = (
    "--time-scale", "--rate-scale", "--max-users", "--results", "--seed", "--customers",
    "--locale", "--data-pool", "--binding", "--late-after", "--drop-after",
    "--max-dropped-share", "--max-late-share", "--teller-token", "--kiosk-token",
    "--online-token", "--admin-token", "--stop-after-errors", "--no-report", "--allow-host",
    "--run-folder", "--embedded-core",
)  # fmt: skip


def test_surge_help_lists_every_harness_option_and_a_truthful_profile() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "locust", "-f", "loadtests", "--surge-help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    listed = set(re.findall(r"^\s+(--[a-z-]+)", done.stdout, re.M))
    assert set(HARNESS_OPTIONS) <= listed, set(HARNESS_OPTIONS) - listed
    assert "--headless" in listed  # Locust's own are there too
    profile = re.search(r"^\s+--profile PROFILE\s+(.*?)\n\s+--", done.stdout, re.M | re.S)
    assert profile is not None, done.stdout
    described = " ".join(profile[1].split())
    assert "the surge profile to replay" in described
    assert "default payday" in described
    assert "group the testruns" not in described
