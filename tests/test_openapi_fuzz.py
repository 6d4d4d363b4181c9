"""A bounded fuzz run of the OpenAPI document: no 5xx, and every answer matches its documentation.

Schemathesis generates requests for every operation from `/openapi.json` and sends them, in
process, with the credential of a channel that may call the operation (the teller's where it may,
else a seeded customer's session, or the channel token for the login itself), so requests get
past the scope check into the handlers: valid ones (positive mode: each must be answered as documented, a
business refusal included) and invalid ones (negative mode: a wrong type, a missing field, a
value out of its bounds; each must be a documented 4xx problem, never a 5xx). Each mode has its
own test and examples, so neither crowds the other out of a small budget; the examples are
derandomized (tests/conftest.py), so every run sends the same cases. Oversized heads and bodies
(431, 413) are cut off before the application, by the server: tests/test_limits_http.py sends
them to a real one. `--hypothesis-show-statistics` prints the cases each operation ran.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema
from starlette.testclient import TestClient

from mock_core.app import create_app
from mock_core.settings import load_settings
from tests.support import SEED, Api, Who, auth

pytestmark = pytest.mark.slow

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
        load_settings(seed=SEED, customers=8, unlimited=True),
        Path(_STORE.name) / "ledger.sqlite",
    )


_STORE = tempfile.TemporaryDirectory(prefix="fuzz-")
APP = _app()
LANES = {name: lane.settings for name, lane in APP.state.core.lanes.lanes.items()}
POSITIVE_EXAMPLES = 30
NEGATIVE_EXAMPLES = 15
"""Per operation (about 45): twice and four times what one mode got of the 15 mixed examples of
the quick run this replaces, in ~40 s for the module on two busy cores. An invalid case costs
hypothesis about five times a valid one to draw (a schema mutated, then checked invalid), hence
fewer of them: about 1,300 valid and 650 invalid cases in all."""


def _schema(mode: GenerationMode) -> OpenApiSchema:
    loaded = schemathesis.openapi.from_asgi("/openapi.json", APP).exclude(
        # A reset wipes and reseeds the store (up to 100,000 customers): a fuzzer calling it
        # would spend the run seeding and throw away the state the other operations build.
        method="POST",
        path="/admin/reset",
    )
    loaded.config.generation.update(modes=[mode])
    return loaded


positive = _schema(GenerationMode.POSITIVE)
negative = _schema(GenerationMode.NEGATIVE)


with TestClient(APP) as _client:
    SESSIONS = {channel: Api(_client).login(channel) for channel in ("kiosk", "online")}
    """Customer C00000001's, open for the module (kiosk sessions last 5 minutes)."""


def credential_for(operation: dict[str, Any]) -> Who:
    """What passes the operation's scope check, from the channels its document declares."""
    channels = operation.get("x-channels", ["teller"])  # none: /healthz and /metrics are open
    sessions = operation.get("x-session-channels", [])
    if "teller" in channels or "admin" in channels:
        return "teller" if "teller" in channels else "admin"
    if sessions:
        return SESSIONS[sessions[0]]
    return channels[0]


def _restore_drill_controls() -> None:
    """Faults and capacity changes are meant to break later requests: undo what a case did."""
    lanes = APP.state.core.lanes
    APP.state.core.faults.clear()
    lanes.unlimited = True
    for name, lane in lanes.lanes.items():
        lane.configure(LANES[name])


def _call(case: schemathesis.Case) -> None:
    headers = auth(credential_for(case.operation.definition.raw))
    try:
        case.call_and_validate(headers=headers, checks=CHECKS)
    finally:
        _restore_drill_controls()


@positive.parametrize()
@settings(max_examples=POSITIVE_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_valid_request_is_answered_as_documented(case: schemathesis.Case) -> None:
    _call(case)


@negative.parametrize()
@settings(max_examples=NEGATIVE_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_invalid_request_is_a_documented_refusal_never_a_5xx(
    case: schemathesis.Case,
) -> None:
    _call(case)


def test_each_operation_is_a_test_xdist_can_send_by_its_id(request: pytest.FixtureRequest) -> None:
    """pytest-xdist sends a worker its tests by their ids, and of items sharing an id it runs the
    first only: each operation's item must carry its operation in its id, as in its name."""
    fuzzed = [i for i in request.session.items if i.path == request.path and i is not request.node]
    assert [i.nodeid for i in fuzzed] == [f"{i.parent.nodeid}::{i.name}" for i in fuzzed]
    assert len({i.nodeid for i in fuzzed}) == len(fuzzed)
