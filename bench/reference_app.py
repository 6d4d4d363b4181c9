"""The benchmark's yardstick: the cheapest endpoint the mock core's server stack can serve.

Served by the same uvicorn (uvloop + httptools) as the mock core, it measures what the stack alone
costs per request, so the mock core's figures become ratios that hold across machines.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PATH = "/v1/reference"

# Shaped like a balance inquiry's answer (about the same size) so both runs move similar bytes.
BODY = (
    b'{"id":"6222020000000000430","customer_id":"C00000001","kind":"current",'
    b'"currency":"CNY","branch_id":"B001","balance":"28056.70","status":"active"}'
)


async def constant(request: Request) -> Response:
    """Answer with pre-encoded bytes: no serialisation, so only the stack is measured."""
    return Response(BODY, media_type="application/json")


app = Starlette(routes=[Route(PATH, constant)])
