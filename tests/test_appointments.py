import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi import FastAPI

from tests.support import Api, Who

T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC).timestamp()
DAY = "2026-12-03"


@pytest.fixture
def clock(app: FastAPI) -> list[float]:
    now = [T0]
    app.state.core.clock = lambda: now[0]
    return now


def booking(customer: int = 1, day: str = DAY, start: str = "09:30", **extra: object) -> dict:
    body = {
        "branch_id": "B001",
        "day": day,
        "start": start,
        "customer_id": f"C{customer:08d}",
        "service_type": "loan",
    }
    return {**body, **extra}


def book(api: Api, customer: int = 1, as_customer: int | None = None, **kwargs: object):
    """Book in the online session of `as_customer` (default: the customer booked for)."""
    session = api.login("online", f"C{as_customer or customer:08d}")
    return api.post("/v1/appointments", booking(customer, **kwargs), session)


def owner(api: Api, channel: str, appointment: dict) -> Who:
    """The appointment's customer's session on `channel`; the teller acts for them as staff."""
    return channel if channel == "teller" else api.login(channel, appointment["customer_id"])


def slot(api: Api, start: str = "09:30", day: str = DAY) -> dict:
    slots = api.ok(api.get("/v1/branches/B001/slots", "online", day=day), 200)["slots"]
    return next(s for s in slots if s["start"] == start)


def slots_check(api: Api) -> dict:
    report = api.reconcile()
    assert report["ok"], report
    return next(c for c in report["checks"] if c["name"] == "slots_within_capacity")


def test_a_day_lists_every_window_from_opening_to_closing_with_free_capacity(
    api: Api, clock: list[float]
) -> None:
    day = api.ok(api.get("/v1/branches/B001/slots", "teller", day=DAY), 200)
    starts = [s["start"] for s in day["slots"]]
    assert (starts[0], starts[-1], len(starts)) == ("09:00", "16:30", 16)
    assert day["slots"][-1]["end"] == "17:00"
    assert day["slots"][1] == {
        "id": "B001-2026-12-03-0930",
        "start": "09:30",
        "end": "10:00",
        "capacity": 4,
        "booked": 0,
        "available": 4,
    }


def test_a_booking_holds_a_place_in_its_slot(api: Api, clock: list[float]) -> None:
    appointment = api.ok(book(api))
    assert appointment["id"].startswith("AP")
    assert (appointment["slot_id"], appointment["status"]) == ("B001-2026-12-03-0930", "booked")
    assert (slot(api)["booked"], slot(api)["available"]) == (1, 3)
    assert api.ok(api.get(f"/v1/appointments/{appointment['id']}", "teller"), 200) == appointment


def test_a_slot_books_up_to_capacity_then_refuses_with_409_and_stays_reconciled(
    api: Api, clock: list[float]
) -> None:
    for customer in range(1, 5):
        api.ok(book(api, customer=customer))
    full = book(api, customer=5)
    assert full.status_code == 409
    assert (full.json()["title"], full.json()["field"]) == ("Slot full", "start")
    assert slot(api)["booked"] == 4
    assert slots_check(api)["figures"]["slots"] == 1


def test_cancelling_frees_the_place_once(api: Api, clock: list[float]) -> None:
    held = [api.ok(book(api, customer=c)) for c in range(1, 5)]
    cancelled = api.ok(
        api.post(f"/v1/appointments/{held[0]['id']}/cancel", channel=owner(api, "online", held[0])),
        200,
    )
    assert cancelled["status"] == "cancelled"
    assert slot(api)["booked"] == 3
    again = api.post(
        f"/v1/appointments/{held[0]['id']}/cancel", channel=owner(api, "online", held[0])
    )
    assert (again.status_code, again.json()["field"]) == (409, "appointment_id")
    api.ok(book(api, customer=5))
    assert slot(api)["booked"] == 4
    slots_check(api)


def test_a_customer_cannot_hold_two_bookings_of_one_slot(api: Api, clock: list[float]) -> None:
    first = api.ok(book(api))
    twice = book(api, service_type="fx")
    assert (twice.status_code, twice.json()["field"]) == (409, "customer_id")
    api.ok(book(api, start="10:00"))
    api.ok(
        api.post(f"/v1/appointments/{first['id']}/cancel", channel=owner(api, "online", first)), 200
    )
    api.ok(book(api))
    assert slot(api)["booked"] == 1
    slots_check(api)


def test_check_in_issues_a_priority_ticket_at_the_appointments_branch(
    api: Api, clock: list[float]
) -> None:
    appointment = api.ok(book(api, customer=3))
    walk_in = api.login("kiosk", "C00000002")
    ordinary = api.ok(api.post("/v1/branches/B001/tickets", {"service_type": "cash"}, walk_in))
    checked = api.ok(
        api.post(
            f"/v1/appointments/{appointment['id']}/check-in",
            channel=owner(api, "kiosk", appointment),
        ),
        200,
    )
    ticket = checked["ticket"]
    assert (checked["status"], checked["ticket_id"]) == ("checked_in", ticket["id"])
    assert (ticket["branch_id"], ticket["service_type"], ticket["number"]) == (
        "B001",
        "loan",
        "C002",
    )
    assert (ticket["priority"], ticket["position"]) == (True, 1)
    assert (ticket["customer_id"], ticket["appointment_id"]) == ("C00000003", appointment["id"])
    called = api.ok(api.post("/v1/branches/B001/counters/C01/call-next"), 200)["ticket"]
    assert called["id"] == ticket["id"] != ordinary["id"]
    stored = api.ok(
        api.get(f"/v1/appointments/{appointment['id']}", owner(api, "online", appointment)), 200
    )
    assert stored["ticket_id"] == ticket["id"]


def test_only_a_booked_appointment_can_be_checked_in_or_cancelled(
    api: Api, clock: list[float]
) -> None:
    checked, cancelled = api.ok(book(api, customer=1)), api.ok(book(api, customer=2))
    api.ok(api.post(f"/v1/appointments/{checked['id']}/check-in", channel="teller"), 200)
    api.ok(
        api.post(
            f"/v1/appointments/{cancelled['id']}/cancel", channel=owner(api, "online", cancelled)
        ),
        200,
    )
    for appointment, action in [
        (checked, "check-in"),
        (checked, "cancel"),
        (cancelled, "check-in"),
    ]:
        response = api.post(
            f"/v1/appointments/{appointment['id']}/{action}",
            channel=owner(api, "online", appointment),
        )
        assert response.status_code == 409
    assert slot(api)["booked"] == 1
    slots_check(api)


@pytest.mark.parametrize("day", ["2026-11-30", "not-a-day", "2026-12-32", "2027-01-01"])
def test_a_day_outside_today_to_the_booking_horizon_is_422_naming_day(
    api: Api, clock: list[float], day: str
) -> None:
    response = book(api, day=day)
    assert (response.status_code, response.json()["field"]) == (422, "day")


def test_today_and_the_last_bookable_day_are_accepted(api: Api, clock: list[float]) -> None:
    api.ok(book(api, day="2026-12-01"))
    api.ok(book(api, day="2026-12-31"))


@pytest.mark.parametrize("start", ["09:15", "08:30", "17:00", "16:59", "9:30"])
def test_a_start_that_is_not_a_window_is_422_naming_start(
    api: Api, clock: list[float], start: str
) -> None:
    response = book(api, start=start)
    assert (response.status_code, response.json()["field"]) == (422, "start")


def test_unknown_branches_customers_and_appointments_are_404_naming_the_field(
    api: Api, clock: list[float]
) -> None:
    branch = book(api, branch_id="B999")
    assert (branch.status_code, branch.json()["field"]) == (404, "branch_id")
    customer = book(api, customer=99_999, as_customer=1)
    assert (customer.status_code, customer.json()["field"]) == (404, "customer_id")
    missing = api.get("/v1/appointments/AP09999999", api.login("online"))
    assert (missing.status_code, missing.json()["field"]) == (404, "appointment_id")
    slots = api.get("/v1/branches/B999/slots", "online", day=DAY)
    assert (slots.status_code, slots.json()["field"]) == (404, "branch_id")


def test_only_the_online_channel_books_and_cancels(api: Api, clock: list[float]) -> None:
    assert api.post("/v1/appointments", booking(), "teller").status_code == 403
    appointment = api.ok(book(api))
    kiosk = api.login("kiosk", appointment["customer_id"])
    assert (
        api.post(f"/v1/appointments/{appointment['id']}/cancel", channel=kiosk).status_code == 403
    )


def test_booking_cancelling_and_check_in_repeated_with_their_keys_apply_once(
    api: Api, clock: list[float]
) -> None:
    key, session = uuid.uuid4().hex, api.login("online")
    first = api.ok(api.post("/v1/appointments", booking(), session, key))
    assert api.ok(api.post("/v1/appointments", booking(), session, key)) == first
    assert slot(api)["booked"] == 1
    path = f"/v1/appointments/{first['id']}/check-in"
    key = uuid.uuid4().hex
    kiosk = api.login("kiosk")
    checked = api.ok(api.post(path, channel=kiosk, key=key), 200)
    assert api.ok(api.post(path, channel=kiosk, key=key), 200) == checked
    queue = api.ok(api.get("/v1/branches/B001/queue"), 200)
    assert queue["waiting"] == 1
    other = api.ok(book(api, customer=2))
    key = uuid.uuid4().hex
    path = f"/v1/appointments/{other['id']}/cancel"
    online = api.login("online", other["customer_id"])
    cancelled = api.ok(api.post(path, channel=online, key=key), 200)
    assert api.ok(api.post(path, channel=online, key=key), 200) == cancelled
    assert slot(api)["booked"] == 1
    slots_check(api)


@pytest.mark.slow
def test_simultaneous_bookings_of_one_slot_never_overbook_it(live: Api) -> None:
    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    bookings = [
        (booking(customer=c, day=day.isoformat(), start="11:00"), live.login("online", f"C{c:08d}"))
        for c in range(1, 21)
    ]
    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(lambda b: live.post("/v1/appointments", *b).status_code, bookings))
    assert sorted(statuses) == [201] * 4 + [409] * 16
    listed = live.ok(live.get("/v1/branches/B001/slots", "online", day=day.isoformat()), 200)
    assert next(s for s in listed["slots"] if s["start"] == "11:00")["booked"] == 4
    assert live.reconcile()["ok"]


def test_a_customer_holds_at_most_a_few_booked_appointments(
    app: FastAPI, api: Api, clock: list[float]
) -> None:
    """Issue 21: one online session booked 48 of 48 appointments."""
    limit = app.state.core.settings.branch.appointments_per_customer
    windows = [f"{9 + n // 2:02d}:{30 * (n % 2):02d}" for n in range(16)]  # 09:00 to 16:30
    slots = [(day, start) for day in (DAY, "2026-12-04") for start in windows][: limit + 1]
    booked = [api.ok(book(api, 5, day=day, start=start)) for day, start in slots[:limit]]
    last_day, last_start = slots[limit]
    refused = book(api, 5, day=last_day, start=last_start)
    assert (refused.status_code, refused.json()["field"]) == (409, "customer_id")
    assert "branch.appointments_per_customer" in refused.json()["detail"]
    assert api.ok(book(api, 6, day=last_day, start=last_start))  # another customer may
    online = api.login("online", "C00000005")
    api.ok(api.post(f"/v1/appointments/{booked[-1]['id']}/cancel", None, online), 200)
    assert api.ok(book(api, 5, day=last_day, start=last_start))
    clock[0] += 3 * 86_400  # the booked days are past: those no longer count
    assert api.ok(book(api, 5, day="2026-12-05"))
