"""A bounded fuzz run of the OpenAPI document: no 5xx, and every answer matches its documentation.

Schemathesis generates valid and invalid requests for every operation from `/openapi.json` and sends
them, in process, with the token of a channel that may call the operation, so requests get past the
scope check into the handlers.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mock_core.app import create_app
from mock_core.settings import load_settings
from tests.support import auth

ONLINE_ONLY = {("POST", "/v1/appointments"), ("POST", "/v1/appointments/{appointment_id}/cancel")}
# Invalid requests are still generated and must get a documented 4xx problem. Not
# negative_data_rejection: it counts a repeated or unknown query parameter as invalid, which HTTP
# frameworks accept by design (the last value wins, unknown names are ignored).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _app() -> FastAPI:
    """Built at import, as schemathesis needs its schema to generate the tests; the store lives in
    a temporary directory removed when the interpreter exits."""
    return create_app(
        load_settings(seed=7, customers=8, unlimited=True), Path(_STORE.name) / "ledger.sqlite"
    )


_STORE = tempfile.TemporaryDirectory(prefix="fuzz-")
APP = _app()
LANES = {name: lane.settings for name, lane in APP.state.core.lanes.lanes.items()}
schema = schemathesis.openapi.from_asgi("/openapi.json", APP).exclude(
    # A reset wipes and reseeds the store (up to 100,000 customers): a fuzzer calling it would
    # spend the run seeding and throw away the state the other operations build.
    method="POST",
    path="/admin/reset",
)


def channel_for(method: str, path: str) -> str:
    """The channel whose token passes the operation's scope check."""
    if path.startswith("/admin/"):
        return "admin"
    return "online" if (method, path) in ONLINE_ONLY else "teller"


def _restore_drill_controls() -> None:
    """Faults and capacity changes are meant to break later requests: undo what a case did."""
    lanes = APP.state.core.lanes
    APP.state.core.faults.clear()
    lanes.unlimited = True
    for name, lane in lanes.lanes.items():
        lane.configure(LANES[name])


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case: schemathesis.Case) -> None:
    headers = auth(channel_for(case.method, case.operation.path))
    try:
        case.call_and_validate(headers=headers, checks=CHECKS)
    finally:
        _restore_drill_controls()
