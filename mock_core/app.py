"""`create_app`: the mock core as an ASGI application over one SQLite ledger file."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from mock_core import __version__, problems, seed, store
from mock_core.channels import Channel
from mock_core.core import Core
from mock_core.faults import Faults, FaultyResponses
from mock_core.lanes import Lanes
from mock_core.limits import BodyLimit
from mock_core.metrics import Metrics, RecordRequests
from mock_core.routes import ROUTERS
from mock_core.settings import Settings

_ERRORS = {
    400: "malformed request or missing Idempotency-Key",
    401: "no valid channel token",
    403: "the channel may not do this",
    404: "no such resource",
    409: "conflict: in flight, already exists, or no capacity left",
    413: "body too large",
    422: "invalid field or refused by a business rule",
}


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
        seed.seed(conn, settings, core.clock())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        conn.close()

    app = FastAPI(
        title="branch-surge mock core",
        version=__version__,
        description="A mock core-banking service for branch surge rehearsals.",
        lifespan=lifespan,
        responses={
            s: {"model": problems.ProblemDocument, "description": d} for s, d in _ERRORS.items()
        },
    )
    app.state.core = core
    app.state.metrics = Metrics(core)
    problems.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.limits.max_body_bytes)
    app.add_middleware(FaultyResponses)
    app.add_middleware(RecordRequests, metrics=app.state.metrics)
    for router in ROUTERS:
        app.include_router(router)

    @app.get("/healthz", tags=["service"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with error bodies under their real media type, problem+json."""
    if app.openapi_schema is None:
        doc = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for path in doc["paths"].values():
            for operation in path.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if status[0] in "45" and "application/json" in content:
                        content[problems.MEDIA_TYPE] = content.pop("application/json")
        app.openapi_schema = doc
    return app.openapi_schema
