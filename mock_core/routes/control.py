"""Run-time control of a drill: lane capacity and injected faults (admin), and `/metrics`."""

from __future__ import annotations

import sqlite3
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from pydantic import BaseModel, Field, StrictBool, ValidationError
from starlette.responses import Response

from mock_core import metrics
from mock_core.channels import ADMIN, Caller, allow
from mock_core.faults import FaultIn
from mock_core.fields import RequestBody
from mock_core.idempotency import Write, write
from mock_core.lanes import Lane, mean_service
from mock_core.problems import Problem
from mock_core.routing import api_router
from mock_core.settings import LaneSettings, ServiceTime

router = api_router("", "admin")


class LaneOut(BaseModel):
    slots: int
    queue: int
    timeout: float
    service: ServiceTime
    slots_in_service: int = Field(description="fewer than slots in a brownout, 0 when down")
    busy: int
    waiting: int
    served: int
    rejected_queue_full: int
    rejected_timeout: int
    refused_down: int
    mean_service_seconds: float
    capacity_per_second: float = Field(description="slots in service / mean service time")


class CapacityOut(BaseModel):
    unlimited: bool
    lanes: dict[str, LaneOut]


class CapacityIn(RequestBody):
    unlimited: StrictBool | None = Field(None, description="true or false; 0 or 1 are refused")
    lanes: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per lane, the fields to change (as in the config file)"
    )


class FaultOut(FaultIn):
    id: str
    state: str
    start_at: float
    end_at: float | None
    fired: int


def _lane_out(lane: Lane) -> dict[str, Any]:
    mean = mean_service(lane.settings.service)
    return {
        **lane.settings.model_dump(mode="json"),
        "slots_in_service": lane.slots,
        "busy": lane.busy,
        "waiting": lane.waiting,
        "served": lane.stats.served,
        "rejected_queue_full": lane.stats.rejected_full,
        "rejected_timeout": lane.stats.rejected_timeout,
        "refused_down": lane.stats.refused_down,
        "mean_service_seconds": mean,
        "capacity_per_second": lane.slots / mean,
    }


def _capacity(caller: Caller) -> dict[str, Any]:
    lanes = caller.core.lanes
    return {
        "unlimited": lanes.unlimited,
        "lanes": {name: _lane_out(lane) for name, lane in lanes.lanes.items()},
    }


@router.get("/admin/capacity", response_model=CapacityOut)
async def capacity(caller: Caller = Depends(allow(ADMIN))) -> Any:
    return _capacity(caller)


@router.put("/admin/capacity", response_model=CapacityOut)
async def change_capacity(body: CapacityIn, caller: Caller = Depends(allow(ADMIN))) -> Any:
    """Validate every change first, then apply them all: a bad field changes nothing."""
    lanes = caller.core.lanes
    changes: dict[str, LaneSettings] = {}
    for name, fields in body.lanes.items():
        lane = lanes.lanes.get(name)
        if lane is None:
            raise Problem(422, "Unknown lane", f"no lane {name}", field=f"lanes.{name}")
        try:
            changes[name] = LaneSettings.model_validate(
                {**lane.settings.model_dump(), **fields}, strict=True
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(["lanes", name, *(str(p) for p in first["loc"])])
            raise Problem(422, "Invalid lane", f"{field}: {first['msg']}", field=field) from None
    for name, settings in changes.items():
        lanes.lanes[name].configure(settings)
    if body.unlimited is not None:
        lanes.unlimited = body.unlimited
    return _capacity(caller)


@router.get("/admin/faults", response_model=list[FaultOut])
async def list_faults(caller: Caller = Depends(allow(ADMIN))) -> Any:
    faults = caller.core.faults
    now = faults.clock()
    return [fault.describe(now) for fault in faults.items.values()]


@router.post("/admin/faults", status_code=201, response_model=FaultOut)
async def add_fault(body: FaultIn, w: Write = Depends(write(ADMIN))) -> Any:
    faults = w.core.faults

    def operation(_: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        return 201, faults.add(body).describe(faults.clock())

    return await w.run(body, operation)


@router.delete("/admin/faults/{fault_id}", response_model=FaultOut)
async def remove_fault(
    fault_id: Annotated[str, Path(pattern=r"^F[0-9]{4,}$")], caller: Caller = Depends(allow(ADMIN))
) -> Any:
    faults = caller.core.faults
    return faults.remove(fault_id).describe(faults.clock())


@router.delete("/admin/faults", status_code=204)
async def clear_faults(caller: Caller = Depends(allow(ADMIN))) -> Response:
    caller.core.faults.clear()
    return Response(status_code=204)


@router.get("/metrics", tags=["service"], response_class=Response)
async def prometheus_metrics(request: Request) -> Response:
    """Prometheus exposition format; open like /healthz, it holds no personal data."""
    registry: metrics.Metrics = request.app.state.metrics
    return Response(registry.render(), media_type=metrics.CONTENT_TYPE)
