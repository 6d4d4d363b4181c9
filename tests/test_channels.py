import pytest

from tests.support import Api


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
