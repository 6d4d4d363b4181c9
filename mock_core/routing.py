"""How the service's routes are declared: `api_router` makes every router of the service.

Each route documents the problem responses every endpoint can give, checks its bearer token
before it reads the body (a request without a valid token is a 401 whatever it sends), reads a
body as strict JSON (`mock_core.strict_json`), and answers plain data with orjson directly.
FastAPI would validate the data against the route's response model first; here the response
model documents the answer and the schema-conformance fuzz test checks it, so the per-request
validation is skipped (it was a tenth of a balance inquiry's time).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from mock_core.channels import SCOPE_ATTRIBUTE, identify
from mock_core.problems import ProblemDocument
from mock_core.strict_json import StrictJSONRequest

_ERRORS = {
    400: "malformed request or missing Idempotency-Key",
    401: "no valid channel token or customer session, or a session is needed",
    403: "the channel may not do this",
    404: "no such resource",
    409: "conflict: in flight, already exists, or no capacity left",
    413: "body too large",
    422: "invalid field or refused by a business rule",
    503: "the lane is saturated or down (Retry-After says when to retry)",
    504: "waited too long for a lane slot",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ProblemDocument, "description": description}
    for status, description in _ERRORS.items()
}


class JSONRoute(APIRoute):
    """A route whose handler's plain return value is sent as JSON without re-validation."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        status = kwargs.get("status_code") or 200

        @functools.wraps(endpoint)
        async def answer(*args: Any, **values: Any) -> Response:
            result = await endpoint(*args, **values)
            if isinstance(result, Response):
                return result
            return Response(orjson.dumps(result), status_code=status, media_type="application/json")

        super().__init__(path, answer, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        guarded = any(hasattr(d.call, SCOPE_ATTRIBUTE) for d in self.dependant.dependencies)
        strict = self.body_field is not None
        if not guarded and not strict:  # reads of public documents cost nothing more
            return handler

        async def checked(request: Request) -> Response:
            if guarded:
                # FastAPI reads and parses the body before it runs the route's dependencies, so
                # without this a malformed body from a caller without a token got 400, not 401.
                identify(request.app.state.core, request.scope)
            if strict:
                request = StrictJSONRequest(request.scope, request.receive)
            return await handler(request)

        return checked


def api_router(prefix: str, tag: str) -> APIRouter:
    """A router of the service; `tag` also names the lane its teller requests go through."""
    return APIRouter(prefix=prefix, tags=[tag], responses=ERROR_RESPONSES, route_class=JSONRoute)
