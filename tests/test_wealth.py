from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from fastapi import FastAPI

from tests.support import Api


def product(api: Api, product_id: str, channel: str = "teller") -> dict:
    return api.ok(api.get(f"/v1/wealth/products/{product_id}", channel), 200)


def order(api: Api, customer: str, account: str, units: int, product_id: str = "WP-LAUNCH"):
    body = {
        "product_id": product_id,
        "customer_id": customer,
        "account_id": account,
        "units": units,
    }
    return api.post("/v1/wealth/orders", body)


def funded(api: Api, customer: str, amount: str) -> str:
    """The customer's CNY account after a counter deposit of `amount`."""
    account = api.customer_account(customer)["id"]
    body = {"account_id": account, "amount": amount, "branch_id": "B001", "operator_id": "T01"}
    api.ok(api.post("/v1/cash/deposits", body))
    return account


def customer_of_segment(app: FastAPI, segment: str) -> str:
    (n,) = app.state.core.conn.execute(
        "SELECT n FROM customers WHERE segment = ? ORDER BY n LIMIT 1", (segment,)
    ).fetchone()
    return f"C{n:08d}"


def quota_check(api: Api) -> dict:
    return next(c for c in api.reconcile()["checks"] if c["name"] == "products_within_quota")


def test_the_catalogue_shows_remaining_units_to_tellers_and_online(api: Api) -> None:
    for channel in ("teller", "online"):
        products = api.ok(api.get("/v1/wealth/products", channel), 200)
        launch = next(p for p in products if p["id"] == "WP-LAUNCH")
        assert (launch["quota_units"], launch["remaining_units"]) == (500, 500)
        assert (launch["unit_price"], launch["currency"]) == ("10000.00", "CNY")
    assert api.get("/v1/wealth/products", "kiosk").status_code == 403


def test_an_order_debits_the_customer_credits_custody_and_counts_the_units(api: Api) -> None:
    account = funded(api, "C00000002", "30000")
    before = api.ok(api.get(f"/v1/accounts/{account}"), 200)
    receipt = api.ok(order(api, "C00000002", account, 3))
    assert (receipt["amount"], receipt["remaining_units"]) == ("30000.00", 497)
    after = api.ok(api.get(f"/v1/accounts/{account}"), 200)
    assert Decimal(after["balance"]) == Decimal(before["balance"]) - 30000
    assert receipt["balance"] == after["balance"]
    assert product(api, "WP-LAUNCH")["sold_units"] == 3
    assert api.reconcile()["ok"]


def test_the_launch_sells_out_and_is_never_oversold(api: Api) -> None:
    buyers = ["C00000002", "C00000003", "C00000004"]
    accounts = {c: funded(api, c, "2000000") for c in buyers}
    statuses = []
    for i in range(200):
        customer = buyers[i % len(buyers)]
        response = order(api, customer, accounts[customer], 7)
        statuses.append(response.status_code)
        if response.status_code != 201:
            break
    assert statuses[-1] == 409
    assert statuses.count(201) == 500 // 7
    assert order(api, "C00000002", accounts["C00000002"], 7).json()["title"] == "Quota exceeded"
    api.ok(order(api, "C00000003", accounts["C00000003"], 500 % 7))
    last = order(api, "C00000004", accounts["C00000004"], 1)
    assert last.status_code == 409
    assert (last.json()["title"], last.json()["field"]) == ("Sold out", "units")
    launch = product(api, "WP-LAUNCH")
    assert (launch["sold_units"], launch["remaining_units"]) == (500, 0)
    assert quota_check(api)["ok"]
    assert api.reconcile()["ok"]


def test_simultaneous_orders_for_the_last_units_sell_each_unit_once(api: Api) -> None:
    account = funded(api, "C00000005", "5000000")
    before = Decimal(api.ok(api.get(f"/v1/accounts/{account}"), 200)["balance"])
    api.ok(order(api, "C00000005", account, 495))
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: order(api, "C00000005", account, 1), range(24)))
    assert [r.status_code for r in responses].count(201) == 5
    assert {r.status_code for r in responses} == {201, 409}
    assert product(api, "WP-LAUNCH")["remaining_units"] == 0
    balance = api.ok(api.get(f"/v1/accounts/{account}"), 200)["balance"]
    assert Decimal(balance) == before - 500 * 10_000
    assert quota_check(api)["ok"]
    assert api.reconcile()["ok"]


def test_a_refused_order_leaves_the_quota_untouched(api: Api) -> None:
    account = api.customer_account("C00000002")
    assert Decimal(account["balance"]) < 5_000_000
    response = order(api, "C00000002", account["id"], 500)
    assert response.status_code == 422
    assert response.json()["title"] == "Insufficient funds"
    assert product(api, "WP-LAUNCH")["sold_units"] == 0
    assert quota_check(api)["ok"]


def test_a_customer_below_the_products_segment_is_refused_422(api: Api, app: FastAPI) -> None:
    mass = customer_of_segment(app, "mass")
    account = funded(api, mass, "20000")
    response = order(api, mass, account, 1, "WP-BAL1Y")
    assert response.status_code == 422
    assert (response.json()["title"], response.json()["field"]) == (
        "Segment not eligible",
        "customer_id",
    )
    private = customer_of_segment(app, "private")
    rich = funded(api, private, "20000")
    api.ok(order(api, private, rich, 1, "WP-BAL1Y"))


def test_the_account_must_be_the_customers_and_in_the_product_currency(api: Api) -> None:
    other = order(api, "C00000001", api.customer_account("C00000002")["id"], 1)
    assert other.status_code == 422
    assert other.json()["field"] == "account_id"
    affluent_cny = api.customer_account("C00000001")["id"]
    mismatch = order(api, "C00000001", affluent_cny, 1, "WP-USD6M")
    assert mismatch.status_code == 422
    assert (mismatch.json()["title"], mismatch.json()["field"]) == (
        "Currency mismatch",
        "account_id",
    )


def test_unknown_products_and_bad_units_are_4xx_naming_the_field(api: Api) -> None:
    account = api.customer_account("C00000001")["id"]
    unknown = order(api, "C00000001", account, 1, "WP-NOPE")
    assert (unknown.status_code, unknown.json()["field"]) == (404, "product_id")
    zero = order(api, "C00000001", account, 0)
    assert (zero.status_code, zero.json()["field"]) == (422, "units")
    assert api.get("/v1/wealth/products/WP-NOPE").status_code == 404


def test_only_tellers_place_orders(api: Api) -> None:
    body = {
        "product_id": "WP-LAUNCH",
        "customer_id": "C00000001",
        "account_id": api.customer_account("C00000001")["id"],
        "units": 1,
    }
    assert api.post("/v1/wealth/orders", body, "online").status_code == 403
    assert api.post("/v1/wealth/orders", body, "kiosk").status_code == 403
