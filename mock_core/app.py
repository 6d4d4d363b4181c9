"""`create_app`: the mock core as an ASGI application over one SQLite ledger file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from mock_core import __version__, problems, seed, store
from mock_core.channels import SCOPE_ATTRIBUTE, Channel
from mock_core.core import Core
from mock_core.faults import Faults, FaultyResponses
from mock_core.idempotency import KEY_ATTRIBUTE, KEY_HEADER
from mock_core.lanes import Lanes
from mock_core.limits import BodyLimit
from mock_core.metrics import Metrics, RecordRequests
from mock_core.routes import ROUTERS
from mock_core.settings import Settings


def create_app(settings: Settings, db_path: Path) -> FastAPI:
    """Open (and seed, when empty) the store at `db_path` and build the service around it."""
    conn = store.connect(db_path)
    lanes = Lanes(
        settings.lanes,
        settings.lane_routing.channels,
        settings.lane_routing.tags,
        settings.seed,
        settings.unlimited,
    )
    core = Core(
        settings=settings,
        conn=conn,
        db_path=db_path,
        lanes=lanes,
        faults=Faults(lanes, settings.seed, time.time),
        tokens={getattr(settings.tokens, c.value): c.value for c in Channel},
    )
    if conn.execute("SELECT 1 FROM meta WHERE key = 'seed'").fetchone() is None:
        with store.transaction(conn):
            seed.seed(conn, settings, core.clock())

    app = FastAPI(
        title="branch-surge mock core",
        version=__version__,
        description="A mock core-banking service for branch surge rehearsals.",
    )
    app.state.core = core
    app.state.metrics = Metrics(core)
    problems.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.limits.max_body_bytes)
    app.add_middleware(FaultyResponses, faults=core.faults)
    app.add_middleware(RecordRequests, metrics=app.state.metrics)
    for router in ROUTERS:
        app.router.routes.extend(router.routes)

    @app.get("/healthz", tags=["service"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, completed with what the lean dependencies do by hand: the bearer
    scheme and the Idempotency-Key header where routes need them, and error bodies under their
    real media type, problem+json."""
    if app.openapi_schema is None:
        doc = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        doc.setdefault("components", {})["securitySchemes"] = {
            "channelToken": {"type": "http", "scheme": "bearer", "description": "one per channel"}
        }
        for context in iter_route_contexts(app.routes):
            route = context.original_route
            if isinstance(route, APIRoute):
                for method in route.methods:
                    _document_route(route, doc["paths"][context.path_format][method.lower()])
        app.openapi_schema = doc
    return app.openapi_schema


def _document_route(route: APIRoute, operation: dict[str, Any]) -> None:
    calls = [dependency.call for dependency in route.dependant.dependencies]
    channels = next(
        (getattr(c, SCOPE_ATTRIBUTE) for c in calls if hasattr(c, SCOPE_ATTRIBUTE)), None
    )
    if channels is not None:
        operation["security"] = [{"channelToken": []}]
        operation["description"] = (
            operation.get("description", "") + f"\n\nChannels: {', '.join(sorted(channels))}."
        ).strip()
    if any(getattr(c, KEY_ATTRIBUTE, False) for c in calls):
        operation.setdefault("parameters", []).append(
            {
                "name": KEY_HEADER,
                "in": "header",
                "required": True,
                "description": "unique per intended operation; repeats are answered, not applied",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        )
    for status, response in operation.get("responses", {}).items():
        content = response.get("content", {})
        if status[0] in "45" and "application/json" in content:
            content[problems.MEDIA_TYPE] = content.pop("application/json")
