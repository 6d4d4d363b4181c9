"""Branch API v2's one error shape, and the mock core's problems translated into it.

Every error is `{"error": {"code", "message", "field"?}}` as `application/json`, never an RFC 7807
problem: a bank's API has its own, and the binding must not lean on the mock core's. Business
refusals are 409 here (the core says 422 for a balance too low, 409 for a product sold out), a bad
request is 400 naming this API's field, and "busy, come back" stays 503/504 or 409 with
`Retry-After`, which every client retries.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.responses import Response

MEDIA_TYPE = "application/json"
INVALID = "Invalid request"
"""The core's title of a request it could not read; any other 422 of it is a business rule."""


class ApiError(Exception):
    """An error answer of this API: `status`, a snake_case `code`, a `message`, the `field`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}
        self.extra = extra or {}

    def response(self) -> Response:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        error.update(self.extra)
        body = orjson.dumps({"error": error})
        return Response(body, self.status, self.headers, media_type=MEDIA_TYPE)


def _code(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_") or "error"


def from_core(status: int, problem: Any, retry_after: str | None) -> ApiError:
    """The core's answer `status` with its problem document, as this API words it."""
    doc = problem if isinstance(problem, dict) else {}
    title, detail = str(doc.get("title", "")), str(doc.get("detail", ""))
    again = {"Retry-After": retry_after} if retry_after is not None else {}
    if status in (503, 504, 429):
        code = "timeout" if status == 504 else "unavailable"
        return ApiError(503 if status == 429 else status, code, detail or title, headers=again)
    if status == 409 and again:
        return ApiError(409, "in_progress", detail, headers=again)
    if status == 400 or (status == 422 and title == INVALID):
        code = "invalid" if title in (INVALID, "Malformed JSON") else _code(title)
        return ApiError(400, code, detail, field=doc.get("field"))
    if status in (409, 422):
        return ApiError(409, _code(title), detail)
    if status in (401, 403, 404, 423):
        code = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 423: "locked"}
        return ApiError(status, code[status], detail, headers=again)
    return ApiError(502, "core_error", f"the core answered {status}: {title or detail}")
