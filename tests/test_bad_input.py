"""Bad requests get a 4xx problem document naming the field, never a 5xx."""

import pytest

from tests.support import auth


def post_raw(api, path: str, content: bytes, **headers: str):
    return api.client.post(
        path,
        content=content,
        headers={
            **auth("teller"),
            "Idempotency-Key": "k-raw",
            "Content-Type": "application/json",
            **headers,
        },
    )


def test_malformed_json_is_400_naming_the_body(api) -> None:
    response = post_raw(api, "/v1/cash/deposits", b'{"amount": 12,')
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == "body"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            b'{"account_id": 5, "amount": "1", "branch_id": "B001", "operator_id": "T"}',
            "account_id",
        ),
        (
            b'{"account_id": "6222020000000000017", "amount": "1", "branch_id": 7, "operator_id": "T"}',
            "branch_id",
        ),
        (b'{"account_id": "6222020000000000017", "amount": "1", "operator_id": "T"}', "branch_id"),
        (b"[]", "body"),
    ],
)
def test_wrong_types_and_missing_fields_are_422_naming_the_field(
    api, body: bytes, field: str
) -> None:
    response = post_raw(api, "/v1/cash/deposits", body)
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_an_oversized_body_is_413(api) -> None:
    response = post_raw(api, "/v1/cash/deposits", b'{"pad": "' + b"x" * 70_000 + b'"}')
    assert response.status_code == 413
    assert response.json()["field"] == "body"


def test_an_unknown_route_is_a_404_problem(api) -> None:
    response = api.get("/v1/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_a_wrong_method_is_a_405_problem(api) -> None:
    response = api.client.delete("/v1/customers", headers=auth("teller"))
    assert response.status_code == 405
    assert response.json()["status"] == 405


def test_a_malformed_path_id_is_422(api) -> None:
    response = api.get("/v1/customers/C12")
    assert response.status_code == 422
    assert response.json()["field"] == "customer_id"
