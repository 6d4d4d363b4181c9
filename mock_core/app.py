"""`create_app`: the mock core as an ASGI application over one SQLite ledger file."""

from __future__ import annotations

import time
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.staticfiles import StaticFiles

from mock_core import __version__, problems, seed, sessions, store
from mock_core.channels import SCOPE_ATTRIBUTE, SESSION_ATTRIBUTE, Channel
from mock_core.core import Core
from mock_core.faults import Faults, FaultyResponses
from mock_core.hosts import HostCheck
from mock_core.idempotency import KEY_ATTRIBUTE, KEY_HEADER
from mock_core.lanes import Lanes
from mock_core.limits import BodyLimit
from mock_core.metrics import Metrics, RecordRequests
from mock_core.routes import ROUTERS
from mock_core.settings import Settings

DOCS_ASSETS = "/docs/static"
"""Where Swagger UI's files are served from: the service itself, never a CDN, so `/docs` works on a
network with no way out. The files are fastapi-offline's `static` folder, Swagger UI 5: it renders
the OpenAPI 3.1 document FastAPI writes, which swagger-ui-bundle's Swagger UI 4 cannot. Only the
files are used, not its app factory."""
_ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))


def create_app(settings: Settings, db_path: Path) -> FastAPI:
    """Open (and seed, when empty) the store at `db_path` and build the service around it."""
    conn = store.connect(db_path)
    with store.transaction(conn):
        if conn.execute("SELECT 1 FROM meta WHERE key = 'seed'").fetchone() is None:
            seed.seed(conn, settings, time.time())
        key = sessions.secret(conn)
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
        faults=Faults(lanes, settings.seed, time.time, conn),
        signer=sessions.Signer(key, settings.sessions, conn),
        throttle=sessions.SourceThrottle(settings.sessions),
        tokens={getattr(settings.tokens, c.value): c.value for c in Channel},
    )

    app = FastAPI(
        title="branch-surge mock core",
        version=__version__,
        description="A mock core-banking service for branch surge rehearsals.",
        # FastAPI's own pages load their assets from a CDN; _docs serves them from the package.
        docs_url=None,
        # No ReDoc: its bundle fetches its logo from cdn.redoc.ly whatever its options say.
        redoc_url=None,
    )
    app.state.core = core
    app.state.metrics = Metrics(core)
    problems.install(app)
    app.add_middleware(BodyLimit, core=core, max_bytes=settings.limits.max_body_bytes)
    app.add_middleware(FaultyResponses, faults=core.faults)
    app.add_middleware(RecordRequests, metrics=app.state.metrics)
    app.add_middleware(HostCheck, allowed=settings.server.allowed_hosts)  # the outermost
    for router in ROUTERS:
        app.router.routes.extend(router.routes)

    @app.get("/healthz", tags=["service"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    _docs(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _docs(app: FastAPI) -> None:
    """`/docs`, FastAPI's own page on assets of the service: like `/openapi.json`, it needs no
    token."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=_ASSETS_DIR), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        )


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, completed with what the lean dependencies do by hand: the bearer
    scheme and the Idempotency-Key header where routes need them, and error bodies under their
    real media type, problem+json."""
    if app.openapi_schema is None:
        doc = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        doc.setdefault("components", {})["securitySchemes"] = {
            "channelToken": {"type": "http", "scheme": "bearer", "description": "one per channel"},
            "customerSession": {
                "type": "http",
                "scheme": "bearer",
                "description": "a kiosk or online customer session (POST /v1/sessions)",
            },
        }
        for context in iter_route_contexts(app.routes):
            route = context.original_route
            if isinstance(route, APIRoute) and route.include_in_schema:
                # Starlette's Route may have none (any method); an APIRoute always has its set.
                for method in route.methods or ():
                    _document_route(route, doc["paths"][context.path_format][method.lower()])
        app.openapi_schema = doc
    return app.openapi_schema


def _document_route(route: APIRoute, operation: dict[str, Any]) -> None:
    calls = [dependency.call for dependency in route.dependant.dependencies]
    channels = next(
        (getattr(c, SCOPE_ATTRIBUTE) for c in calls if hasattr(c, SCOPE_ATTRIBUTE)), None
    )
    if channels is not None:
        sessions = next(getattr(c, SESSION_ATTRIBUTE) for c in calls if hasattr(c, SCOPE_ATTRIBUTE))
        operation["security"] = [{"channelToken": []}, {"customerSession": []}]
        lines = f"Channels: {', '.join(sorted(channels))}."
        if sessions:
            lines += (
                f" Customer session needed on: {', '.join(sorted(sessions))} (the bare channel"
                " token is a 401; another customer's resource is a 404)."
            )
        operation["description"] = (operation.get("description", "") + f"\n\n{lines}").strip()
        operation["x-channels"] = sorted(channels)
        operation["x-session-channels"] = sorted(sessions)
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
