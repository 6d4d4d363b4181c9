"""RFC 7807 problem documents: the one shape of every error the service returns.

Handlers raise `Problem`; framework errors (validation, unknown routes, malformed JSON) are turned
into the same shape here, each naming the field at fault, so no client ever sees a bare 500 page.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match

MEDIA_TYPE = "application/problem+json"
_log = logging.getLogger("mock_core")


class ProblemDocument(BaseModel):
    """The documented body of every 4xx and 5xx response."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    field: str | None = None
    errors: list[dict[str, str]] | None = None


class Problem(Exception):
    """An error response: `status`, a short `title`, a `detail` sentence, the `field` at fault."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.field = field
        self.headers = headers or {}
        self.errors = errors

    def body(self, instance: str | None = None) -> dict[str, Any]:
        slug = self.title.lower().replace(" ", "-")
        doc: dict[str, Any] = {
            "type": f"https://branch-surge.invalid/problems/{slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            doc["instance"] = instance
        if self.field:
            doc["field"] = self.field
        if self.errors:
            doc["errors"] = self.errors
        return doc

    def encoded(self, instance: str | None = None) -> bytes:
        """The document as JSON. Whatever the client sent and the document quotes (a key, a
        lane's name) is shown even when it is not Unicode text: a lone surrogate (JSON's
        `"\\ud800"`) cannot be written as UTF-8, and orjson refuses it, which made the
        answer to a bad request a 500."""
        doc = self.body(instance)
        try:
            return orjson.dumps(doc)
        except orjson.JSONEncodeError:
            return orjson.dumps(_printable(doc))

    def response(self, instance: str | None = None) -> Response:
        return Response(
            self.encoded(instance),
            status_code=self.status,
            media_type=MEDIA_TYPE,
            headers=self.headers,
        )


class BodyProblem(HTTPException):
    """A `Problem` found while FastAPI reads a request body: FastAPI turns any other error raised
    there into a bare 400, so the problem travels inside the one exception it lets through."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.status, problem.detail, problem.headers)
        self.problem = problem


def _printable(value: Any) -> Any:
    """`value` with every string's lone surrogates written as escapes (`\\ud800`)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable(v) for v in value]
    return value


def not_found(what: str, ident: str, field: str) -> Problem:
    return Problem(404, "Not found", f"no {what} {ident}", field=field)


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


def _validation_problem(exc: RequestValidationError) -> Problem:
    errors = [{"field": _field_of(e["loc"]), "reason": e["msg"]} for e in exc.errors()]
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        position = first.get("ctx", {}).get("error", "")
        return Problem(
            400, "Malformed JSON", f"the body is not valid JSON: {position}", field="body"
        )
    field = errors[0]["field"]
    return Problem(
        422, "Invalid request", f"{field}: {errors[0]['reason']}", field=field, errors=errors
    )


def _allowed(request: Request, exc: HTTPException) -> str:
    """Every method the path answers to. The router stops at the first route whose path matches,
    so its own 405 lists that route's methods only (`DELETE /admin/faults` said just `GET`)."""
    methods = {m.strip() for m in (exc.headers or {}).get("Allow", "").split(",") if m.strip()}
    for route in request.app.router.routes:
        if route.matches(request.scope)[0] is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return exc.response(request.url.path)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return _validation_problem(exc).response(request.url.path)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed(request, exc)
        return Problem(exc.status_code, title, str(exc.detail), headers=headers).response(
            request.url.path
        )

    async def on_body(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BodyProblem)
        return exc.problem.response(request.url.path)

    async def on_crash(request: Request, exc: Exception) -> Response:
        _log.exception("unhandled error on %s %s", request.method, request.url.path)
        return Problem(500, "Internal error", "the service failed; see its log").response(
            request.url.path
        )

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(BodyProblem, on_body)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(Exception, on_crash)
