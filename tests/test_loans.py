import re
from decimal import Decimal

from tests.support import Api


def apply(api: Api, customer: str = "C00000001", amount: str = "50000.00", channel: str = "teller"):
    body = {"customer_id": customer, "amount": amount, "term_months": 36, "purpose": "renovation"}
    return api.post("/v1/loans", body, channel)


def decide(api: Api, loan_id: str, decision: str, key: str | None = None):
    body = {"decision": decision, "reason": "credit check"}
    return api.post(f"/v1/loans/{loan_id}/decision", body, key=key)


def disburse(api: Api, loan_id: str, account_id: str, key: str | None = None):
    return api.post(f"/v1/loans/{loan_id}/disbursement", {"account_id": account_id}, key=key)


def bank_balance(api: Api, account_id: str) -> int:
    (balance,) = api.client.app.state.core.conn.execute(
        "SELECT balance FROM accounts WHERE id = ?", (account_id,)
    ).fetchone()
    return balance


def approved_loan(api: Api, customer: str = "C00000001") -> str:
    loan = api.ok(apply(api, customer))
    api.ok(decide(api, loan["id"], "approve"), 200)
    return loan["id"]


def test_a_loan_goes_pending_approved_disbursed_and_credits_the_borrower(api: Api) -> None:
    account = api.customer_account("C00000001")
    principal_before = bank_balance(api, "LOAN_PRINCIPAL-CNY")
    loan = api.ok(apply(api))
    assert re.fullmatch(r"L\d{8}", loan["id"])
    assert (loan["status"], loan["amount"], loan["currency"]) == ("pending", "50000.00", "CNY")
    decided = api.ok(decide(api, loan["id"], "approve"), 200)
    assert decided["status"] == "approved"
    assert decided["decided_at"] is not None
    paid = api.ok(disburse(api, loan["id"], account["id"]), 200)
    assert paid["status"] == "disbursed"
    assert paid["account_id"] == account["id"]
    assert paid["transaction_id"].startswith("J")
    after = api.ok(api.get(f"/v1/accounts/{account['id']}"), 200)
    assert Decimal(after["balance"]) == Decimal(account["balance"]) + Decimal("50000.00")
    assert bank_balance(api, "LOAN_PRINCIPAL-CNY") == principal_before + 5_000_000
    assert api.ok(api.get(f"/v1/loans/{loan['id']}"), 200) == paid
    assert api.reconcile()["ok"]


def test_a_rejected_loan_cannot_be_decided_again_nor_disbursed(api: Api) -> None:
    account = api.customer_account("C00000002")
    loan = api.ok(apply(api, "C00000002"))
    assert api.ok(decide(api, loan["id"], "reject"), 200)["status"] == "rejected"
    again = decide(api, loan["id"], "approve")
    assert again.status_code == 409
    assert again.json()["field"] == "loan_id"
    refused = disburse(api, loan["id"], account["id"])
    assert refused.status_code == 409
    assert refused.json()["title"] == "Not approved"
    after = api.ok(api.get(f"/v1/accounts/{account['id']}"), 200)
    assert after["balance"] == account["balance"]


def test_a_pending_loan_cannot_be_disbursed(api: Api) -> None:
    loan = api.ok(apply(api))
    response = disburse(api, loan["id"], api.customer_account()["id"])
    assert response.status_code == 409
    assert response.json()["title"] == "Not approved"


def test_a_loan_is_disbursed_once(api: Api) -> None:
    account = api.customer_account("C00000001")
    loan_id = approved_loan(api)
    api.ok(disburse(api, loan_id, account["id"]), 200)
    second = disburse(api, loan_id, account["id"])
    assert second.status_code == 409
    assert second.json()["title"] == "Already disbursed"
    after = api.ok(api.get(f"/v1/accounts/{account['id']}"), 200)
    assert Decimal(after["balance"]) == Decimal(account["balance"]) + Decimal("50000.00")
    assert api.reconcile()["ok"]


def test_a_repeated_disbursement_key_is_answered_not_paid_twice(api: Api) -> None:
    account = api.customer_account("C00000001")
    loan_id = approved_loan(api)
    first = api.ok(disburse(api, loan_id, account["id"], key="disburse-once"), 200)
    assert api.ok(disburse(api, loan_id, account["id"], key="disburse-once"), 200) == first
    after = api.ok(api.get(f"/v1/accounts/{account['id']}"), 200)
    assert Decimal(after["balance"]) == Decimal(account["balance"]) + Decimal("50000.00")


def test_disbursement_into_a_foreign_currency_account_is_refused(api: Api) -> None:
    usd = api.ok(api.post("/v1/accounts", {"customer_id": "C00000001", "currency": "USD"}))
    loan_id = approved_loan(api)
    response = disburse(api, loan_id, usd["id"])
    assert response.status_code == 422
    assert response.json()["field"] == "account_id"
    assert api.ok(api.get(f"/v1/loans/{loan_id}"), 200)["status"] == "approved"


def test_disbursement_into_another_customers_account_is_refused(api: Api) -> None:
    loan_id = approved_loan(api, "C00000001")
    response = disburse(api, loan_id, api.customer_account("C00000002")["id"])
    assert response.status_code == 422
    assert response.json()["field"] == "account_id"
    assert response.json()["title"] == "Not the borrower's account"


def test_applications_are_checked(api: Api) -> None:
    unknown = apply(api, "C09999999")
    assert unknown.status_code == 404
    assert unknown.json()["field"] == "customer_id"
    body = {"customer_id": "C00000001", "amount": "100", "term_months": 361, "purpose": "car"}
    too_long = api.post("/v1/loans", body)
    assert too_long.status_code == 422
    assert too_long.json()["field"] == "term_months"
    assert apply(api, amount="999999999").json()["title"] == "Amount too large"


def test_an_unknown_loan_is_404_naming_the_field(api: Api) -> None:
    response = api.get("/v1/loans/L09999999")
    assert response.status_code == 404
    assert response.json()["field"] == "loan_id"


def test_loans_are_for_tellers_only(api: Api) -> None:
    assert apply(api, channel="kiosk").status_code == 403
    assert apply(api, channel="online").status_code == 403
