"""Admission: what every customer request passes through before its operation runs.

First the faults that fire for it (added latency, an injected error, a hang), then its lane (a
slot for one service time, or a 503/504 when the lane is saturated). Reads pass through it in
their channel dependency; writes inside `Write.run`, once their idempotency key is registered,
so that a repeat arriving during the service time is seen as in flight.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mock_core.channels import Caller


async def admit(caller: Caller) -> None:
    """Faults, then the lane. The admin channel bypasses both, so a drill can always be ended."""
    core = caller.core
    if caller.channel == "admin":
        return
    lane = core.lanes.lane_for(caller.channel, caller.tag)
    if core.faults.items:
        await core.faults.before(lane.name if lane else None, caller.scope["path"], caller.scope)
    if lane is not None and not core.lanes.unlimited:
        await lane.serve()
