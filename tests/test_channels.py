"""Channel tokens, scopes and the address asked for: who may call what, from where."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mock_core.app import create_app
from mock_core.settings import load_settings
from tests.support import Api, auth


def test_no_token_is_401(api: Api) -> None:
    response = api.client.get("/v1/customers")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_an_unknown_token_is_401(api: Api) -> None:
    response = api.client.get("/v1/customers", headers={"Authorization": "Bearer nope-nope-nope"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("channel", "method", "path"),
    [
        ("kiosk", "get", "/v1/customers"),
        ("online", "post", "/v1/cash/deposits"),
        ("teller", "get", "/admin/reconcile"),
        ("online", "get", "/v1/accounts/6222020000000000001/statement"),
    ],
)
def test_a_channel_outside_the_scope_is_403(api: Api, channel: str, method: str, path: str) -> None:
    response = api.get(path, channel) if method == "get" else api.post(path, {}, channel)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:80", "127.0.0.2", "[::2]"])
def test_a_host_the_service_is_not_is_421_even_with_the_admin_token(api: Api, host: str) -> None:
    """Issue 21: a page whose own name resolves to 127.0.0.1 (DNS rebinding) reached /admin with
    the built-in admin token; its requests carry its name as their Host."""
    response = api.client.get("/admin/reconcile", headers={**auth("admin"), "Host": host})
    assert (response.status_code, response.json()["field"]) == (421, "Host")
    assert response.headers["content-type"] == "application/problem+json"
    assert "server.allowed_hosts" in response.json()["detail"]


@pytest.mark.parametrize("host", ["testserver", "testserver:80", "localhost", "LOCALHOST:8600"])
def test_the_served_address_and_localhost_are_answered(api: Api, host: str) -> None:
    response = api.client.get("/admin/reconcile", headers={**auth("admin"), "Host": host})
    assert response.status_code == 200


def test_hosts_allowed_by_the_settings_are_answered(tmp_path) -> None:
    settings = load_settings(customers=1, server={"allowed_hosts": ["core.branch.test"]})
    with TestClient(create_app(settings, tmp_path / "l.sqlite")) as client:
        for host, status in (("core.branch.test:8600", 200), ("other.branch.test", 421)):
            response = client.get("/healthz", headers={"Host": host})
            assert response.status_code == status
    anyone = load_settings(customers=1, server={"allowed_hosts": ["*"]})
    with TestClient(create_app(anyone, tmp_path / "m.sqlite")) as client:
        assert client.get("/healthz", headers={"Host": "anything.test"}).status_code == 200


def test_a_bad_host_is_refused_before_the_body_is_read(app: FastAPI) -> None:
    with TestClient(app) as client:
        response = client.post(
            "/v1/cash/deposits",
            content=b"{not json",
            headers={**auth("teller"), "Host": "attacker.example", "Idempotency-Key": "k"},
        )
    assert response.status_code == 421
