"""Anti-money-laundering screening: each rule fires on its pattern, not on a near-miss, and lists
the transactions behind it. The service clock is moved by hand to cross (or stay inside) windows.
"""

from datetime import UTC, datetime

import pytest
from fastapi import FastAPI

from tests.support import Api, Who

START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += minutes * 60


@pytest.fixture
def clock(app: FastAPI) -> Clock:
    clock = Clock()
    app.state.core.clock = clock
    return clock


def account_of(api: Api, n: int) -> str:
    return api.customer_account(f"C{n:08d}")["id"]


def deposit(api: Api, account: str, amount: str, depositor: int | None = None) -> str:
    body = {"account_id": account, "amount": amount, "branch_id": "B001", "operator_id": "T01"}
    if depositor is not None:
        body["depositor_id"] = f"C{depositor:08d}"
    return api.ok(api.post("/v1/cash/deposits", body))["transaction_id"]


def withdraw(api: Api, account: str, amount: str) -> str:
    body = {"account_id": account, "amount": amount, "branch_id": "B001", "operator_id": "T01"}
    return api.ok(api.post("/v1/cash/withdrawals", body))["transaction_id"]


def transfer(api: Api, source: str, target: str, amount: str, channel: Who = "teller") -> str:
    body = {"from_account": source, "to_account": target, "amount": amount}
    return api.ok(api.post("/v1/transfers", body, channel))["transaction_id"]


def alerts(api: Api, rule: str) -> list[dict]:
    return api.ok(api.get("/admin/alerts", "admin", rule=rule), 200)["items"]


# large_cash


def test_a_single_cash_deposit_at_the_threshold_is_large_cash(api: Api, clock: Clock) -> None:
    account = account_of(api, 1)
    journal = deposit(api, account, "50000.00")
    [alert] = alerts(api, "large_cash")
    assert alert["customer_id"] == "C00000001"
    assert alert["account_id"] == account
    assert alert["transaction_ids"] == [journal]
    assert alert["detected_at"] == START
    assert "50000.00 CNY on 2025-03-03" in alert["detail"]


def test_a_deposit_just_under_the_threshold_is_not_large_cash_until_a_second_one_the_same_day(
    api: Api, clock: Clock
) -> None:
    account = account_of(api, 1)
    first = deposit(api, account, "49999.99")
    assert alerts(api, "large_cash") == []
    clock.advance(8 * 60)
    second = deposit(api, account, "0.01")
    [alert] = alerts(api, "large_cash")
    assert alert["transaction_ids"] == [first, second]


def test_large_cash_alerts_once_per_customer_per_day(api: Api, clock: Clock) -> None:
    account = account_of(api, 1)
    deposit(api, account, "60000.00")
    deposit(api, account, "70000.00")
    withdraw(api, account, "50000.00")
    assert len(alerts(api, "large_cash")) == 1
    clock.advance(24 * 60)
    deposit(api, account, "50000.00")
    assert len(alerts(api, "large_cash")) == 2


def test_cash_in_and_out_add_up_over_all_of_a_customers_accounts(api: Api, clock: Clock) -> None:
    account = account_of(api, 1)
    journals = [deposit(api, account, "30000.00"), withdraw(api, account, "20000.00")]
    [alert] = alerts(api, "large_cash")
    assert alert["transaction_ids"] == journals
    assert "50000.00 CNY" in alert["detail"]


def test_the_cumulative_total_resets_at_utc_midnight(api: Api, clock: Clock) -> None:
    account = account_of(api, 1)
    clock.advance(14 * 60 + 30)  # 23:30 UTC
    deposit(api, account, "30000.00")
    clock.advance(60)  # 00:30 UTC the next day
    deposit(api, account, "30000.00")
    assert alerts(api, "large_cash") == []


def test_transfers_do_not_count_as_cash(api: Api, clock: Clock) -> None:
    payer, payee = account_of(api, 1), account_of(api, 2)
    clock.advance(-24 * 60)
    deposit(api, payer, "45000.00")
    clock.advance(24 * 60)
    transfer(api, payer, payee, "45000.00")
    deposit(api, payee, "10000.00")
    assert alerts(api, "large_cash") == []


# structuring


def test_three_deposits_just_under_the_threshold_within_a_day_are_structuring(
    api: Api, clock: Clock
) -> None:
    account = account_of(api, 1)
    journals = []
    for _ in range(3):
        journals.append(deposit(api, account, "45000.00"))
        clock.advance(10 * 60)
    [alert] = alerts(api, "structuring")
    assert alert["account_id"] == account
    assert alert["transaction_ids"] == journals
    assert alert["detail"].startswith("3 cash deposits totalling 135000.00 CNY within 24 h")


def test_two_deposits_just_under_the_threshold_are_not_structuring(api: Api, clock: Clock) -> None:
    account = account_of(api, 1)
    deposit(api, account, "49999.99")
    deposit(api, account, "49999.99")
    assert alerts(api, "structuring") == []


def test_deposits_below_the_band_or_at_the_threshold_are_not_structuring(
    api: Api, clock: Clock
) -> None:
    account = account_of(api, 1)
    deposit(api, account, "45000.00")
    deposit(api, account, "45000.00")
    deposit(api, account, "39999.99")
    deposit(api, account, "50000.00")
    assert alerts(api, "structuring") == []


def test_structuring_deposits_spread_over_more_than_the_window_do_not_alert(
    api: Api, clock: Clock
) -> None:
    account = account_of(api, 1)
    deposit(api, account, "45000.00")
    clock.advance(60)
    deposit(api, account, "45000.00")
    clock.advance(24 * 60 - 30)
    deposit(api, account, "45000.00")
    assert alerts(api, "structuring") == []


def test_structuring_does_not_re_alert_the_account_within_the_window(
    api: Api, clock: Clock
) -> None:
    account = account_of(api, 1)
    for _ in range(4):
        deposit(api, account, "45000.00")
        clock.advance(60)
    assert len(alerts(api, "structuring")) == 1
    clock.advance(24 * 60)
    for _ in range(3):
        deposit(api, account, "45000.00")
    assert len(alerts(api, "structuring")) == 2


# fan_in


def test_five_depositors_and_payers_into_one_account_within_an_hour_are_fan_in(
    api: Api, clock: Clock
) -> None:
    target = account_of(api, 1)
    journals = [deposit(api, target, "100.00", depositor=n) for n in (2, 3)]
    for n in (4, 5, 6):
        clock.advance(10)
        journals.append(transfer(api, account_of(api, n), target, "100.00"))
    [alert] = alerts(api, "fan_in")
    assert alert["account_id"] == target
    assert alert["transaction_ids"] == journals
    assert alert["detail"].startswith("5 distinct sources paid 500.00 CNY in 5 movements")


def test_four_sources_are_not_fan_in_however_often_they_pay(api: Api, clock: Clock) -> None:
    target = account_of(api, 1)
    for n in (2, 3, 4, 5):
        transfer(api, account_of(api, n), target, "10.00", api.login("online", f"C{n:08d}"))
        deposit(api, target, "10.00", depositor=n)
    assert alerts(api, "fan_in") == []


def test_the_holders_own_deposits_and_own_transfers_are_not_sources(api: Api, clock: Clock) -> None:
    target = account_of(api, 1)
    accounts = api.ok(api.get("/v1/customers/C00000001/accounts"), 200)
    [own] = [a["id"] for a in accounts if a["currency"] == "CNY" and a["id"] != target]
    transfer(api, own, target, "1.00")
    deposit(api, target, "10.00")
    deposit(api, target, "10.00", depositor=1)
    for n in (2, 3, 4, 5):
        deposit(api, target, "10.00", depositor=n)
    assert alerts(api, "fan_in") == []


def test_fan_in_sources_older_than_the_window_do_not_count(api: Api, clock: Clock) -> None:
    target = account_of(api, 1)
    for n in (2, 3, 4, 5):
        deposit(api, target, "100.00", depositor=n)
    clock.advance(61)
    deposit(api, target, "100.00", depositor=6)
    assert alerts(api, "fan_in") == []


def test_fan_in_does_not_re_alert_the_account_within_the_window(api: Api, clock: Clock) -> None:
    target = account_of(api, 1)
    for n in range(2, 9):
        deposit(api, target, "100.00", depositor=n)
        clock.advance(5)
    assert len(alerts(api, "fan_in")) == 1


# rapid_in_out


def test_cash_in_then_most_of_it_out_within_the_window_is_rapid_in_out(
    api: Api, clock: Clock
) -> None:
    account = account_of(api, 1)
    inflow = deposit(api, account, "20000.00")
    clock.advance(30)
    outflow = withdraw(api, account, "18000.00")
    [alert] = alerts(api, "rapid_in_out")
    assert alert["account_id"] == account
    assert alert["transaction_ids"] == [inflow, outflow]
    assert (
        alert["detail"] == "18000.00 CNY out after 20000.00 CNY in within 60 min (90%, limit 90%)"
    )


def test_paying_out_less_than_the_share_is_not_rapid_in_out(api: Api, clock: Clock) -> None:
    account = account_of(api, 1)
    deposit(api, account, "20000.00")
    clock.advance(30)
    withdraw(api, account, "17999.99")
    assert alerts(api, "rapid_in_out") == []


def test_small_outflows_add_up_once_a_large_one_follows(api: Api, clock: Clock) -> None:
    account, other = account_of(api, 1), account_of(api, 2)
    journals = [deposit(api, account, "20000.00")]
    clock.advance(5)
    journals.append(withdraw(api, account, "8000.00"))
    assert alerts(api, "rapid_in_out") == []
    clock.advance(5)
    journals.append(transfer(api, account, other, "10000.00", api.login("online")))
    [alert] = alerts(api, "rapid_in_out")
    assert alert["transaction_ids"] == journals


def test_an_incoming_transfer_paid_out_again_is_rapid_in_out(api: Api, clock: Clock) -> None:
    source, mule, target = account_of(api, 1), account_of(api, 2), account_of(api, 3)
    clock.advance(-24 * 60)
    deposit(api, source, "30000.00")
    clock.advance(24 * 60)
    inflow = transfer(api, source, mule, "25000.00")
    outflow = transfer(api, mule, target, "24000.00", api.login("online", "C00000002"))
    [alert] = alerts(api, "rapid_in_out")
    assert alert["account_id"] == mule
    assert alert["customer_id"] == "C00000002"
    assert alert["transaction_ids"] == [inflow, outflow]


def test_an_outflow_after_the_window_is_not_rapid_in_out(api: Api, clock: Clock) -> None:
    account = account_of(api, 1)
    deposit(api, account, "20000.00")
    clock.advance(61)
    withdraw(api, account, "19000.00")
    assert alerts(api, "rapid_in_out") == []


def test_an_inflow_under_the_minimum_is_not_rapid_in_out(api: Api, clock: Clock) -> None:
    account = account_of(api, 1)
    deposit(api, account, "9999.99")
    withdraw(api, account, "10000.00")
    assert alerts(api, "rapid_in_out") == []


def test_money_paid_out_and_then_received_is_not_rapid_in_out(api: Api, clock: Clock) -> None:
    account = account_of(api, 1)
    clock.advance(-24 * 60)
    deposit(api, account, "20000.00")
    clock.advance(24 * 60)
    withdraw(api, account, "19000.00")
    deposit(api, account, "20000.00")
    assert alerts(api, "rapid_in_out") == []


def test_rapid_in_out_does_not_re_alert_the_account_within_the_window(
    api: Api, clock: Clock
) -> None:
    account = account_of(api, 1)
    deposit(api, account, "20000.00")
    withdraw(api, account, "19000.00")
    deposit(api, account, "20000.00")
    withdraw(api, account, "19000.00")
    assert len(alerts(api, "rapid_in_out")) == 1
    clock.advance(61)
    deposit(api, account, "20000.00")
    withdraw(api, account, "19000.00")
    assert len(alerts(api, "rapid_in_out")) == 2


def test_screening_never_refuses_and_the_ledger_stays_reconciled(api: Api, clock: Clock) -> None:
    account = account_of(api, 1)
    for _ in range(3):
        deposit(api, account, "45000.00")
    withdraw(api, account, "130000.00")
    rules = {a["rule"] for a in api.ok(api.get("/admin/alerts", "admin"), 200)["items"]}
    assert rules == {"large_cash", "structuring", "rapid_in_out"}
    assert api.reconcile()["ok"]
