from decimal import Decimal

import pytest

from tests.support import Api, Who


def deposit(api: Api, account: str, amount: str, channel: Who = "teller", **extra: object):
    body = {"account_id": account, "amount": amount, "branch_id": "B001", "operator_id": "T01"}
    return api.post("/v1/cash/deposits", {**body, **extra}, channel)


def withdraw(api: Api, account: str, amount: str, channel: Who = "teller", **extra: object):
    body = {"account_id": account, "amount": amount, "branch_id": "B001", "operator_id": "T01"}
    return api.post("/v1/cash/withdrawals", {**body, **extra}, channel)


def test_a_deposit_raises_the_balance_and_posts_a_balanced_entry(api: Api) -> None:
    account = api.customer_account()
    receipt = api.ok(deposit(api, account["id"], "1234.56"))
    assert Decimal(receipt["balance"]) == Decimal(account["balance"]) + Decimal("1234.56")
    assert api.ok(api.get(f"/v1/accounts/{account['id']}"), 200)["balance"] == receipt["balance"]
    assert api.reconcile()["ok"]


def test_overdrawing_is_refused_and_posts_nothing(api: Api) -> None:
    account = api.customer_account()
    response = withdraw(api, account["id"], str(Decimal(account["balance"]) + 1))
    assert response.status_code == 422
    assert response.json()["field"] == "amount"
    assert api.ok(api.get(f"/v1/accounts/{account['id']}"), 200)["balance"] == account["balance"]
    assert api.reconcile()["ok"]


@pytest.mark.parametrize(
    ("amount", "field"),
    [("-5", "amount"), ("0", "amount"), ("1.234", "amount"), ("abc", "amount"), ("1e30", "amount")],
)
def test_bad_amounts_are_4xx_naming_the_field(api: Api, amount: str, field: str) -> None:
    response = deposit(api, api.customer_account()["id"], amount)
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_an_absurd_amount_is_refused(api: Api) -> None:
    response = deposit(api, api.customer_account()["id"], "999999999999")
    assert response.status_code == 422
    assert response.json()["title"] == "Amount too large"


def test_a_currency_mismatch_is_refused(api: Api) -> None:
    response = deposit(api, api.customer_account()["id"], "10", currency="USD")
    assert response.status_code == 422
    assert response.json()["field"] == "currency"


def test_an_unknown_account_is_404_naming_the_field(api: Api) -> None:
    response = deposit(api, "6222020000009999999", "10")
    assert response.status_code == 404
    assert response.json()["field"] == "account_id"


def test_kiosks_handle_small_cny_cash_only(api: Api) -> None:
    account = api.customer_account()["id"]
    kiosk = api.login("kiosk")
    assert deposit(api, account, "5000", kiosk).status_code == 201
    refused = deposit(api, account, "5000.01", kiosk)
    assert refused.status_code == 422
    assert refused.json()["field"] == "amount"


def test_a_withdrawal_lowers_the_vault_cash(api: Api) -> None:
    account = api.customer_account()
    api.ok(withdraw(api, account["id"], "100"))
    check = next(c for c in api.reconcile()["checks"] if c["name"] == "money_conserved")
    assert check["ok"]


def test_transfers_move_money_and_charge_a_counter_fee_to_others(api: Api) -> None:
    payer = api.customer_account("C00000001")
    payee = api.customer_account("C00000002")
    body = {"from_account": payer["id"], "to_account": payee["id"], "amount": "10.00"}
    receipt = api.ok(api.post("/v1/transfers", body))
    assert receipt["fee"] == "2.00"
    assert Decimal(receipt["balance"]) == Decimal(payer["balance"]) - Decimal("12.00")
    after = api.ok(api.get(f"/v1/accounts/{payee['id']}"), 200)
    assert Decimal(after["balance"]) == Decimal(payee["balance"]) + 10
    online = api.ok(api.post("/v1/transfers", body, api.login("online")))
    assert online["fee"] == "0.00"
    assert api.reconcile()["ok"]


def test_kiosks_transfer_only_between_own_accounts_and_tell_no_account_exists(api: Api) -> None:
    """Another customer's account is refused as one that does not exist (issue 21): a 403 for
    one and a 404 for the other told which account numbers exist."""
    payer = api.customer_account("C00000001")
    payee = api.customer_account("C00000002")
    kiosk = api.login("kiosk")
    body = {"from_account": payer["id"], "to_account": payee["id"], "amount": "10.00"}
    theirs = api.post("/v1/transfers", body, kiosk)
    missing = api.post("/v1/transfers", {**body, "to_account": "6222029999999999999"}, kiosk)
    assert (theirs.status_code, theirs.json()["field"]) == (404, "to_account")

    def same(problem: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in problem.items() if k != "detail"}

    assert same(theirs.json()) == same(missing.json())
    assert theirs.json()["detail"].replace(payee["id"], "X") == missing.json()["detail"].replace(
        "6222029999999999999", "X"
    )
    assert api.customer_account("C00000002")["balance"] == payee["balance"]


def test_statement_pages_newest_first(api: Api) -> None:
    account = api.customer_account()["id"]
    for amount in ("1", "2", "3", "4", "5"):
        api.ok(deposit(api, account, amount))
    first = api.ok(api.get(f"/v1/accounts/{account}/statement", limit=2), 200)
    assert [i["amount"] for i in first["items"]] == ["5.00", "4.00"]
    second = api.ok(
        api.get(f"/v1/accounts/{account}/statement", limit=2, cursor=first["next_cursor"]), 200
    )
    assert [i["amount"] for i in second["items"]] == ["3.00", "2.00"]
