import re
from decimal import Decimal

import pytest
from fastapi import FastAPI

from tests.support import Api, Who


def quote(api: Api, sell: str, buy: str, amount: str, channel: Who = "teller"):
    body = {"sell_currency": sell, "buy_currency": buy, "sell_amount": amount}
    return api.post("/v1/fx/quotes", body, channel)


def exchange(api: Api, quote_id: str, from_account: str, to_account: str, **kw: str):
    body = {"quote_id": quote_id, "from_account": from_account, "to_account": to_account}
    return api.post("/v1/fx/exchanges", body, **kw)


def balance(app: FastAPI, account_id: str) -> int:
    (value,) = app.state.core.conn.execute(
        "SELECT balance FROM accounts WHERE id = ?", (account_id,)
    ).fetchone()
    return value


@pytest.fixture
def accounts(api: Api) -> tuple[str, str]:
    """C00000001's CNY account and a new USD account holding USD 500 of counter cash."""
    cny = api.customer_account("C00000001")["id"]
    usd = api.ok(api.post("/v1/accounts", {"customer_id": "C00000001", "currency": "USD"}))["id"]
    deposit = {
        "account_id": usd,
        "amount": "500",
        "currency": "USD",
        "branch_id": "B001",
        "operator_id": "T01",
    }
    api.ok(api.post("/v1/cash/deposits", deposit))
    return cny, usd


def journal_balanced(api: Api) -> bool:
    return next(c for c in api.reconcile()["checks"] if c["name"] == "journal_balanced")["ok"]


def test_a_quote_prices_the_spread_against_the_customer(api: Api, app: FastAPI) -> None:
    now = app.state.core.clock()
    buying = api.ok(quote(api, "CNY", "USD", "1000.00"))
    assert re.fullmatch(r"Q\d{8}", buying["quote_id"])
    assert (buying["mid_rate"], buying["rate"], buying["spread"]) == ("7.1500", "7.185750", "0.005")
    assert buying["buy_amount"] == "139.16"  # 1000 / 7.18575 = 139.1643..., rounded down
    assert now + 30 <= buying["expires_at"] <= app.state.core.clock() + 30
    selling = api.ok(quote(api, "USD", "CNY", "100.00"))
    assert selling["rate"] == "7.114250"
    assert selling["buy_amount"] == "711.42"  # 711.425 rounded down


def test_buying_usd_with_cny_books_the_spread_and_balances(
    api: Api, app: FastAPI, accounts: tuple[str, str]
) -> None:
    cny, usd = accounts
    before = {a: balance(app, a) for a in (cny, usd, "SPREAD_INCOME-CNY", "FX_POSITION-CNY")}
    q = api.ok(quote(api, "CNY", "USD", "1000.00"))
    receipt = api.ok(exchange(api, q["quote_id"], cny, usd))
    assert (receipt["sell_amount"], receipt["buy_amount"]) == ("1000.00", "139.16")
    assert balance(app, cny) == before[cny] - 100_000
    assert balance(app, usd) == before[usd] + 13_916
    spread = balance(app, "SPREAD_INCOME-CNY") - before["SPREAD_INCOME-CNY"]
    assert spread == 100_000 - round(13_916 * Decimal("7.15")) > 0
    assert before["FX_POSITION-CNY"] - balance(app, "FX_POSITION-CNY") == 100_000 - spread
    assert journal_balanced(api)
    assert api.reconcile()["ok"]


def test_selling_usd_for_cny_books_the_spread_and_balances(
    api: Api, app: FastAPI, accounts: tuple[str, str]
) -> None:
    cny, usd = accounts
    before = {a: balance(app, a) for a in (cny, usd, "SPREAD_INCOME-CNY", "FX_POSITION-USD")}
    q = api.ok(quote(api, "USD", "CNY", "100.00"))
    receipt = api.ok(exchange(api, q["quote_id"], usd, cny))
    assert receipt["buy_amount"] == "711.42"
    assert balance(app, usd) == before[usd] - 10_000
    assert balance(app, cny) == before[cny] + 71_142
    assert balance(app, "SPREAD_INCOME-CNY") - before["SPREAD_INCOME-CNY"] == 71_500 - 71_142
    assert before["FX_POSITION-USD"] - balance(app, "FX_POSITION-USD") == 10_000
    assert journal_balanced(api)
    assert api.reconcile()["ok"]


def test_an_expired_quote_is_refused(api: Api, app: FastAPI, accounts: tuple[str, str]) -> None:
    cny, usd = accounts
    q = api.ok(quote(api, "CNY", "USD", "100.00"))
    app.state.core.clock = lambda: q["expires_at"] + 1
    response = exchange(api, q["quote_id"], cny, usd)
    assert response.status_code == 422
    assert (response.json()["title"], response.json()["field"]) == ("Quote expired", "quote_id")
    assert balance(app, usd) == 50_000


def test_a_used_quote_is_refused(api: Api, app: FastAPI, accounts: tuple[str, str]) -> None:
    cny, usd = accounts
    q = api.ok(quote(api, "CNY", "USD", "100.00"))
    first = exchange(api, q["quote_id"], cny, usd, key="fx-1")
    api.ok(first)
    assert exchange(api, q["quote_id"], cny, usd, key="fx-1").json() == first.json()
    again = exchange(api, q["quote_id"], cny, usd, key="fx-2")
    assert again.status_code == 409
    assert (again.json()["title"], again.json()["field"]) == ("Quote used", "quote_id")
    assert first.json()["buy_amount"] == "13.91"
    assert balance(app, usd) == 50_000 + 1_391


def test_a_refused_exchange_leaves_the_quote_usable(api: Api, accounts: tuple[str, str]) -> None:
    cny, usd = accounts
    q = api.ok(quote(api, "USD", "CNY", "600.00"))
    short = exchange(api, q["quote_id"], usd, cny)
    assert (short.status_code, short.json()["field"]) == (422, "from_account")
    deposit = {"account_id": usd, "amount": "100", "currency": "USD", "branch_id": "B001"}
    api.ok(api.post("/v1/cash/deposits", {**deposit, "operator_id": "T01"}))
    api.ok(exchange(api, q["quote_id"], usd, cny))


def test_kiosks_may_quote_but_not_exchange(api: Api, accounts: tuple[str, str]) -> None:
    cny, usd = accounts
    kiosk = api.login("kiosk")
    q = api.ok(quote(api, "CNY", "USD", "100.00", kiosk))
    response = exchange(api, q["quote_id"], cny, usd, channel=kiosk)
    assert response.status_code == 403
    assert quote(api, "CNY", "USD", "100.00", api.login("online")).status_code == 403


@pytest.mark.parametrize(
    ("sell", "buy", "field"),
    [
        ("CNY", "CNY", "buy_currency"),
        ("USD", "EUR", "buy_currency"),
        ("CNY", "XAU", "buy_currency"),
        ("GBP", "CNY", "sell_currency"),
        ("usd", "CNY", "sell_currency"),
    ],
)
def test_unsupported_pairs_are_422_naming_the_field(
    api: Api, sell: str, buy: str, field: str
) -> None:
    response = quote(api, sell, buy, "100.00")
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_an_amount_buying_less_than_a_cent_is_refused(api: Api) -> None:
    response = quote(api, "CNY", "USD", "0.01")
    assert response.status_code == 422
    assert response.json()["field"] == "sell_amount"


def test_accounts_must_match_the_quote_and_belong_to_one_customer(
    api: Api, accounts: tuple[str, str]
) -> None:
    cny, usd = accounts
    q = api.ok(quote(api, "CNY", "USD", "100.00"))["quote_id"]
    wrong_to = exchange(api, q, cny, api.customer_account("C00000002")["id"])
    assert (wrong_to.status_code, wrong_to.json()["field"]) == (422, "to_account")
    wrong_from = exchange(api, q, usd, usd)
    assert (wrong_from.status_code, wrong_from.json()["field"]) == (422, "from_account")
    other_usd = api.ok(api.post("/v1/accounts", {"customer_id": "C00000002", "currency": "USD"}))
    foreign = exchange(api, q, cny, other_usd["id"])
    assert (foreign.status_code, foreign.json()["title"]) == (422, "Not the same customer")
    unknown = exchange(api, "Q09999999", cny, usd)
    assert (unknown.status_code, unknown.json()["field"]) == (404, "quote_id")
