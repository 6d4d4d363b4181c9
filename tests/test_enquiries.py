import uuid

import pytest
from fastapi import FastAPI

from tests.support import Api

T0 = 1_800_000_000.0


@pytest.fixture
def clock(app: FastAPI) -> list[float]:
    now = [T0]
    app.state.core.clock = lambda: now[0]
    return now


def enquiry(**extra: object) -> dict:
    body = {
        "customer_id": "C00000004",
        "kind": "complaint",
        "channel": "counter",
        "subject": "Waited too long",
        "text": "I waited forty minutes for a cash deposit.",
    }
    return {**body, **extra}


def open_one(api: Api, **extra: object) -> dict:
    return api.ok(api.post("/v1/enquiries", enquiry(**extra)))


def answer(api: Api, enquiry_id: str, text: str = "We are sorry; two more counters open today."):
    return api.post(f"/v1/enquiries/{enquiry_id}/answers", {"text": text})


def test_an_opened_enquiry_is_open_with_the_customers_message_and_no_answer_yet(
    api: Api, clock: list[float]
) -> None:
    opened = open_one(api)
    assert opened["id"].startswith("E")
    assert len(opened["id"]) == 9
    assert (opened["status"], opened["kind"], opened["channel"]) == ("open", "complaint", "counter")
    assert (opened["opened_at"], opened["first_answer_at"]) == (T0, None)
    assert opened["seconds_to_first_answer"] is None
    assert opened["messages"] == [
        {"author": "customer", "text": enquiry()["text"], "created_at": T0}
    ]
    assert api.ok(api.get(f"/v1/enquiries/{opened['id']}"), 200) == opened


def test_the_time_to_the_first_answer_is_recorded_and_later_answers_keep_it(
    api: Api, clock: list[float]
) -> None:
    opened = open_one(api)
    clock[0] += 125
    answered = api.ok(answer(api, opened["id"]), 200)
    assert answered["status"] == "answered"
    assert (answered["first_answer_at"], answered["seconds_to_first_answer"]) == (T0 + 125, 125)
    clock[0] += 600
    api.ok(answer(api, opened["id"], "Follow-up: the queue is now under ten minutes."), 200)
    stored = api.ok(api.get(f"/v1/enquiries/{opened['id']}"), 200)
    assert stored["seconds_to_first_answer"] == 125
    assert [m["author"] for m in stored["messages"]] == ["customer", "bank", "bank"]
    assert stored["messages"][-1]["created_at"] == T0 + 725


def test_a_closed_enquiry_is_final(api: Api, clock: list[float]) -> None:
    opened = open_one(api, kind="enquiry", channel="phone")
    clock[0] += 60
    closed = api.ok(api.post(f"/v1/enquiries/{opened['id']}/close"), 200)
    assert (closed["status"], closed["closed_at"]) == ("closed", T0 + 60)
    for response in (answer(api, opened["id"]), api.post(f"/v1/enquiries/{opened['id']}/close")):
        assert response.status_code == 409
        assert response.json()["field"] == "enquiry_id"
    assert api.ok(api.get(f"/v1/enquiries/{opened['id']}"), 200)["seconds_to_first_answer"] is None


def test_an_answered_enquiry_can_be_closed(api: Api) -> None:
    opened = open_one(api)
    api.ok(answer(api, opened["id"]), 200)
    closed = api.ok(api.post(f"/v1/enquiries/{opened['id']}/close"), 200)
    assert closed["status"] == "closed"
    assert closed["first_answer_at"] is not None


@pytest.mark.parametrize(
    ("field", "value"),
    [("kind", "praise"), ("channel", "email"), ("subject", ""), ("text", ""), ("customer_id", "7")],
)
def test_bad_fields_are_422_naming_the_field(api: Api, field: str, value: str) -> None:
    response = api.post("/v1/enquiries", enquiry(**{field: value}))
    assert (response.status_code, response.json()["field"]) == (422, field)


def test_unknown_customers_and_enquiries_are_404_naming_the_field(api: Api) -> None:
    nobody = api.post("/v1/enquiries", enquiry(customer_id="C09999999"))
    assert (nobody.status_code, nobody.json()["field"]) == (404, "customer_id")
    for response in (api.get("/v1/enquiries/E09999999"), answer(api, "E09999999")):
        assert (response.status_code, response.json()["field"]) == (404, "enquiry_id")


@pytest.mark.parametrize("channel", ["kiosk", "online"])
def test_only_tellers_handle_enquiries(api: Api, channel: str) -> None:
    assert api.post("/v1/enquiries", enquiry(), channel).status_code == 403
    opened = open_one(api)
    assert api.get(f"/v1/enquiries/{opened['id']}", channel).status_code == 403


def test_opening_answering_and_closing_repeated_with_their_keys_apply_once(api: Api) -> None:
    key = uuid.uuid4().hex
    opened = api.ok(api.post("/v1/enquiries", enquiry(), key=key))
    assert api.ok(api.post("/v1/enquiries", enquiry(), key=key)) == opened
    path, body, key = f"/v1/enquiries/{opened['id']}/answers", {"text": "Noted."}, uuid.uuid4().hex
    answered = api.ok(api.post(path, body, key=key), 200)
    assert api.ok(api.post(path, body, key=key), 200) == answered
    assert len(answered["messages"]) == 2
    path, key = f"/v1/enquiries/{opened['id']}/close", uuid.uuid4().hex
    closed = api.ok(api.post(path, key=key), 200)
    assert api.ok(api.post(path, key=key), 200) == closed
    stored = api.ok(api.get(f"/v1/enquiries/{opened['id']}"), 200)
    assert (stored["status"], len(stored["messages"])) == ("closed", 2)
