"""A capacity step judged while the generator was saturated (`reports.steps`): marked, and said
in its `why`, only when the saturation fell in the stretch judged (after the warm-up)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports import steps
from surge.saturation import MAX_LOOP_LAG_MS
from tests.runs import host_day, make
from tests.test_report_analysis import request

WARMUP_S = 5.0
STALL = {"lag_max": 2 * MAX_LOOP_LAG_MS}


def step(folder: Path, stalled_at: int | None) -> Path:
    """A 20 s step of slow counter deposits (every objective on them broken), its loop stalled
    in the second before `stalled_at`."""
    rows = [request(n / 20, 2.0) for n in range(400)]
    changed = {} if stalled_at is None else {(stalled_at, 0): STALL}
    return make(folder, records=rows, generator=host_day(changed=changed))


@pytest.mark.parametrize(("stalled_at", "marked"), [(None, False), (3, False), (12, True)])
def test_a_step_is_marked_when_the_generator_was_saturated_in_the_stretch_judged(
    tmp_path: Path, stalled_at: int | None, marked: bool
) -> None:
    judged = steps.judge([step(tmp_path / "step", stalled_at)], WARMUP_S)
    assert judged.status == "fail"
    assert judged.generator_saturated is marked
    said = "; the generator was saturated for 1.0 s of the 15 s judged (Locust: event loop"
    assert (said in judged.why) is marked
    assert judged.to_dict()["generator_saturated"] is marked
