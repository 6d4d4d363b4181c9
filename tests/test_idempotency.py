import uuid

from tests.support import Api


def deposit_body(api: Api, amount: str = "50.00") -> dict:
    account = api.customer_account()["id"]
    return {"account_id": account, "amount": amount, "branch_id": "B001", "operator_id": "T01"}


def test_a_repeat_returns_the_first_response_and_posts_nothing(api: Api) -> None:
    body, key = deposit_body(api), uuid.uuid4().hex
    first = api.post("/v1/cash/deposits", body, key=key)
    second = api.post("/v1/cash/deposits", body, key=key)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    balance = api.ok(api.get(f"/v1/accounts/{body['account_id']}"), 200)["balance"]
    assert balance == first.json()["balance"]
    assert api.reconcile()["ok"]


def test_a_refusal_is_replayed_too(api: Api) -> None:
    body, key = deposit_body(api, "99999999"), uuid.uuid4().hex
    body["amount"] = "100000000.00"
    first = api.post("/v1/cash/withdrawals", body, key=key)
    again = api.post("/v1/cash/withdrawals", body, key=key)
    assert first.status_code == again.status_code == 422
    assert first.json() == again.json()


def test_the_same_key_with_another_payload_is_422(api: Api) -> None:
    body, key = deposit_body(api), uuid.uuid4().hex
    api.ok(api.post("/v1/cash/deposits", body, key=key))
    response = api.post("/v1/cash/deposits", {**body, "amount": "51.00"}, key=key)
    assert response.status_code == 422
    assert response.json()["field"] == "Idempotency-Key"


def test_a_missing_key_is_400(api: Api) -> None:
    response = api.client.post(
        "/v1/cash/deposits",
        json=deposit_body(api),
        headers={"Authorization": "Bearer teller-local-token"},
    )
    assert response.status_code == 400
    assert response.json()["field"] == "Idempotency-Key"
