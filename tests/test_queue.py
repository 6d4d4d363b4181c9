import datetime as dt
import uuid

import pytest
from fastapi import FastAPI

from mock_core.ids import public_id
from tests.support import Api, Who

T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC).timestamp()


@pytest.fixture
def clock(app: FastAPI) -> list[float]:
    now = [T0]
    app.state.core.clock = lambda: now[0]
    return now


def customer_in(app: FastAPI, segment: str) -> str:
    row = app.state.core.conn.execute(
        "SELECT n FROM customers WHERE segment = ? ORDER BY n LIMIT 1", (segment,)
    ).fetchone()
    return public_id("C", row["n"])


def take(api: Api, branch: str = "B001", channel: Who = "teller", **body: object) -> dict:
    return api.ok(
        api.post(f"/v1/branches/{branch}/tickets", {"service_type": "cash", **body}, channel)
    )


def call(api: Api, counter: str = "C01", branch: str = "B001") -> dict | None:
    return api.ok(api.post(f"/v1/branches/{branch}/counters/{counter}/call-next"), 200)["ticket"]


def finish(api: Api, ticket: dict, action: str = "complete"):
    return api.post(f"/v1/tickets/{ticket['id']}/{action}")


def test_branches_are_listed_with_their_counters_for_every_customer_channel(api: Api) -> None:
    for channel in ("teller", "kiosk", "online"):
        branches = api.ok(api.get("/v1/branches", channel), 200)
        assert [b["id"] for b in branches] == ["B001", "B002", "B003", "B004"]
        assert all(b["counters"] == 6 for b in branches)


def test_a_new_ticket_waits_with_a_number_from_its_service_letter_and_the_branch_sequence(
    api: Api, app: FastAPI, clock: list[float]
) -> None:
    first = take(api, service_type="cash")
    second = take(api, "B001", api.login("kiosk", customer_in(app, "mass")), service_type="fx")
    other_branch = take(api, "B002", service_type="loan")
    assert len(first["id"]) == 9
    assert first["id"].startswith("T")
    assert (first["number"], second["number"], other_branch["number"]) == ("A001", "E002", "C001")
    assert (first["status"], first["priority"]) == ("waiting", False)
    assert (second["position"], second["estimated_wait_seconds"]) == (2, 480)
    clock[0] += 86_400
    assert take(api, service_type="wealth")["number"] == "D001"


def test_a_priority_that_is_not_a_boolean_is_refused_not_coerced(api: Api) -> None:
    response = api.post("/v1/branches/B001/tickets", {"service_type": "cash", "priority": 0})
    assert response.status_code == 422
    assert response.json()["field"] == "priority"


def test_the_online_channel_cannot_take_a_ticket(api: Api) -> None:
    response = api.post("/v1/branches/B001/tickets", {"service_type": "cash"}, "online")
    assert response.status_code == 403


def test_affluent_and_private_customers_get_priority_and_mass_customers_do_not(
    api: Api, app: FastAPI
) -> None:
    assert take(api, customer_id=customer_in(app, "affluent"))["priority"] is True
    assert take(api, customer_id=customer_in(app, "private"))["priority"] is True
    mass = customer_in(app, "mass")
    assert take(api, customer_id=mass)["priority"] is False
    assert take(api, customer_id=mass, priority=True)["priority"] is True


def test_call_next_takes_priority_tickets_first_then_first_come(api: Api) -> None:
    early, late = take(api), take(api)
    urgent = take(api, priority=True)
    assert urgent["position"] == 1
    assert [call(api)["id"] for _ in range(3)] == [urgent["id"], early["id"], late["id"]]


def test_call_next_on_an_empty_queue_answers_a_null_ticket(api: Api) -> None:
    assert call(api) is None


def test_a_called_ticket_records_its_counter(api: Api) -> None:
    kiosk = api.login("kiosk")
    ticket = take(api, channel=kiosk)
    called = call(api, "C03")
    assert (called["id"], called["status"], called["counter_id"]) == (ticket["id"], "called", "C03")
    assert called["position"] is None
    assert api.ok(api.get(f"/v1/tickets/{ticket['id']}", kiosk), 200)["status"] == "called"


def test_complete_and_no_show_need_a_called_ticket(api: Api, clock: list[float]) -> None:
    served, missing = take(api), take(api)
    assert finish(api, served).status_code == 409
    call(api)
    completed = api.ok(finish(api, served), 200)
    assert (completed["status"], completed["finished_at"]) == ("served", T0)
    for action in ("complete", "no-show"):
        again = finish(api, served, action)
        assert again.status_code == 409
        assert again.json()["field"] == "ticket_id"
    call(api)
    assert api.ok(finish(api, missing, "no-show"), 200)["status"] == "no_show"
    assert finish(api, missing).status_code == 409


def test_queue_status_counts_tickets_and_estimates_the_wait_from_service_times(
    api: Api, clock: list[float]
) -> None:
    fresh = api.ok(api.get("/v1/branches/B001/queue", "online"), 200)
    assert fresh["waiting"] == 0
    assert fresh["mean_service_seconds"] == 480
    assert fresh["counters_in_use"] == 1
    first, urgent, third, fourth = take(api), take(api, priority=True), take(api), take(api)
    call(api, "C01")
    clock[0] += 300
    api.ok(finish(api, urgent), 200)
    assert call(api, "C02")["id"] == first["id"]
    clock[0] += 100
    api.ok(finish(api, first, "no-show"), 200)
    assert call(api, "C01")["id"] == third["id"]
    late_priority = take(api, priority=True)

    status = api.ok(api.get("/v1/branches/B001/queue", "kiosk"), 200)
    assert {k: status[k] for k in status if k != "branch_id"} == {
        "waiting": 2,
        "waiting_priority": 1,
        "called": 1,
        "served_today": 1,
        "no_shows_today": 1,
        "counters": 6,
        "counters_in_use": 2,
        "mean_service_seconds": 300,
        "estimated_wait_seconds": 300,
    }
    assert late_priority["position"] == 1
    waiting = api.ok(api.get(f"/v1/tickets/{fourth['id']}"), 200)
    assert (waiting["position"], waiting["estimated_wait_seconds"]) == (2, 150)


def test_counters_idle_for_an_hour_no_longer_count_as_in_use(api: Api, clock: list[float]) -> None:
    take(api), take(api)
    call(api, "C01"), call(api, "C02")
    assert api.ok(api.get("/v1/branches/B001/queue"), 200)["counters_in_use"] == 2
    clock[0] += 3_601
    assert api.ok(api.get("/v1/branches/B001/queue"), 200)["counters_in_use"] == 1


def test_an_unknown_branch_is_404_naming_branch_id(api: Api) -> None:
    for response in (
        api.get("/v1/branches/B999/queue"),
        api.post("/v1/branches/B999/tickets", {"service_type": "cash"}),
        api.post("/v1/branches/B999/counters/C01/call-next"),
    ):
        assert response.status_code == 404
        assert response.json()["field"] == "branch_id"


@pytest.mark.parametrize("counter", ["C00", "C07", "X01", "C1"])
def test_a_counter_outside_the_branch_is_422_naming_counter_id(api: Api, counter: str) -> None:
    response = api.post(f"/v1/branches/B001/counters/{counter}/call-next")
    assert response.status_code == 422
    assert response.json()["field"] == "counter_id"


def test_an_unknown_service_type_or_customer_is_refused_naming_the_field(api: Api) -> None:
    bad_type = api.post("/v1/branches/B001/tickets", {"service_type": "mortgage"})
    assert (bad_type.status_code, bad_type.json()["field"]) == (422, "service_type")
    nobody = api.post(
        "/v1/branches/B001/tickets", {"service_type": "cash", "customer_id": "C09999999"}
    )
    assert (nobody.status_code, nobody.json()["field"]) == (404, "customer_id")


def test_every_queue_write_repeated_with_its_key_returns_the_first_answer(api: Api) -> None:
    key = uuid.uuid4().hex
    body = {"service_type": "cash"}
    first = api.ok(api.post("/v1/branches/B001/tickets", body, key=key))
    assert api.ok(api.post("/v1/branches/B001/tickets", body, key=key)) == first
    take(api)
    key = uuid.uuid4().hex
    called = api.ok(api.post("/v1/branches/B001/counters/C01/call-next", key=key), 200)
    assert api.ok(api.post("/v1/branches/B001/counters/C01/call-next", key=key), 200) == called
    assert api.ok(api.get("/v1/branches/B001/queue"), 200)["waiting"] == 1
    for action in ("complete", "no-show"):
        ticket = call(api) if action == "no-show" else called["ticket"]
        key = uuid.uuid4().hex
        done = api.ok(api.post(f"/v1/tickets/{ticket['id']}/{action}", key=key), 200)
        assert api.ok(api.post(f"/v1/tickets/{ticket['id']}/{action}", key=key), 200) == done


def test_a_customers_own_ticket_has_priority_only_when_they_are_entitled(
    app: FastAPI, api: Api
) -> None:
    """Issue 21: a mass-segment customer's kiosk session gave its own ticket priority."""
    mass, affluent = customer_in(app, "mass"), customer_in(app, "affluent")
    asked = api.post(
        "/v1/branches/B001/tickets",
        {"service_type": "cash", "priority": True},
        api.login("kiosk", mass),
    )
    assert (asked.status_code, asked.json()["field"]) == (422, "priority")
    assert take(api, channel=api.login("kiosk", mass))["priority"] is False
    assert take(api, channel=api.login("kiosk", affluent), priority=True)["priority"] is True
    assert take(api, channel=api.login("kiosk", affluent))["priority"] is True
    assert take(api, customer_id=mass, priority=True)["priority"] is True  # a teller may


def test_a_customer_holds_a_few_waiting_tickets_of_their_own_at_once(
    app: FastAPI, api: Api
) -> None:
    """Issue 21: one kiosk session took 50 of 50 tickets, the queue's estimate 24,000 s."""
    limit = app.state.core.settings.branch.tickets_per_customer
    kiosk = api.login("kiosk", "C00000003")
    taken = [take(api, "B00" + str(1 + n % 2), kiosk) for n in range(limit)]
    refused = api.post("/v1/branches/B001/tickets", {"service_type": "cash"}, kiosk)
    assert (refused.status_code, refused.json()["field"]) == (409, "customer_id")
    assert "branch.tickets_per_customer" in refused.json()["detail"]
    assert take(api, customer_id="C00000003")["customer_id"] == "C00000003"  # a teller may
    assert take(api, channel=api.login("kiosk", "C00000004"))  # another customer may
    called = [call(api, branch=b) for b in ("B001", "B002")]
    assert {t["id"] for t in called if t} & {t["id"] for t in taken}
    assert take(api, channel=kiosk)["customer_id"] == "C00000003"
