"""The shape gives Locust a count its running users can meet only once Locust is done with
the last one (`surge.harness.shape.steady`): a ramp-down waits for the visits of the users it stopped, and
a new answer then would kill it midway, leaving those users to end unseen: the pool below the
shape's answer, and Locust's "user that didn't have proper args" errors when one of them ends
in the same turn of the event loop as Locust's next look at its users."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def test_a_new_count_waits_for_the_ramp_down_under_way() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "ramps.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "users at the end: 5", done.stdout + done.stderr
    assert "didn't have proper args" not in done.stderr
