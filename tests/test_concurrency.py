"""Many simultaneous requests against a real server: the invariants hold."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import ROUND_DOWN, Decimal

import httpx

from tests.support import Api, auth


def test_simultaneous_repeats_of_one_key_post_once(live: Api) -> None:
    account = live.customer_account("C00000003")
    body = {"account_id": account["id"], "amount": "7.00", "branch_id": "B001", "operator_id": "T1"}
    key = uuid.uuid4().hex
    base = str(live.client.base_url)

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=base, timeout=10) as client:
            return client.post(
                "/v1/cash/deposits", json=body, headers={**auth("teller"), "Idempotency-Key": key}
            )

    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(send, range(48)))
    assert {r.status_code for r in responses} <= {201, 409}
    bodies = {r.text for r in responses if r.status_code == 201}
    assert len(bodies) == 1
    after = live.ok(live.get(f"/v1/accounts/{account['id']}"), 200)
    assert Decimal(after["balance"]) == Decimal(account["balance"]) + 7
    assert live.reconcile()["ok"]


def test_simultaneous_withdrawals_never_overdraw(live: Api) -> None:
    account = live.customer_account("C00000004")
    balance = Decimal(account["balance"])
    share = (balance / 10).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    body = {
        "account_id": account["id"],
        "amount": str(share),
        "branch_id": "B001",
        "operator_id": "T",
    }
    base = str(live.client.base_url)

    def send(_: int) -> int:
        with httpx.Client(base_url=base, timeout=10) as client:
            headers = {**auth("teller"), "Idempotency-Key": uuid.uuid4().hex}
            return client.post("/v1/cash/withdrawals", json=body, headers=headers).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(send, range(15)))
    assert statuses.count(201) == 10
    assert statuses.count(422) == 5
    assert live.reconcile()["ok"]
