"""Input is strict, as money needs: one written form per value, each refusal a 4xx naming the field.

Every test runs against a real `mock-core` process (the module's `live` server), so the body is
decoded by the server's own JSON reading, not by a test client.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import sys
import unicodedata
import uuid
from typing import Any

import httpx
import pytest

from mock_core import fields
from mock_core.identity import resident_id_check_digit
from mock_core.money import AMOUNT_PATTERN
from mock_core.seed import credentials
from tests.support import SEED, Api, Who, auth

_ids = itertools.count(1)


def problem(response: httpx.Response, status: int, field: str) -> dict[str, Any]:
    """The problem document of `response`, checked to be a `status` naming `field`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["field"] == field, body
    return body


def post_raw(api: Api, path: str, content: bytes) -> httpx.Response:
    headers = {
        **auth("teller"),
        "Idempotency-Key": uuid.uuid4().hex,
        "Content-Type": "application/json",
    }
    return api.client.post(path, content=content, headers=headers)


def deposit(api: Api, amount: object = "10.00", **extra: object) -> httpx.Response:
    body = {
        "account_id": api.customer_account()["id"],
        "amount": amount,
        "branch_id": "B001",
        "operator_id": "T01",
    }
    return api.post("/v1/cash/deposits", {**body, **extra})


def fresh_id_number() -> str:
    """A valid resident ID number no other test uses, so an accepted onboarding is a 201."""
    first17 = f"110105199001{next(_ids) % 28 + 1:02d}{next(_ids) % 1000:03d}"
    return first17 + resident_id_check_digit(first17)


def onboard(api: Api, name: str = "Li Lei", **extra: str) -> httpx.Response:
    body = {
        "name": name,
        "id_number": fresh_id_number(),
        "phone": "13812345678",
        "home_branch": "B001",
    }
    return api.post("/v1/customers", {**body, **extra})


def enquiry(api: Api, **fields: str) -> httpx.Response:
    body = {
        "customer_id": "C00000004",
        "kind": "enquiry",
        "channel": "counter",
        "subject": "Opening hours",
        "text": "When does the branch open on Saturday?",
    }
    return api.post("/v1/enquiries", {**body, **fields})


@pytest.mark.parametrize(
    "amount",
    [" 5.00 ", "+5.00", "5.", ".5", "1E2", "٥", "５", "", "05", "5.000", "\u00a05", 5, 5.5, True],
    ids=repr,
)
def test_an_amount_not_written_in_its_one_canonical_form_is_422_naming_it(
    live: Api, amount: object
) -> None:
    before = live.customer_account()["balance"]
    problem(deposit(live, amount), 422, "amount")
    assert live.customer_account()["balance"] == before


@pytest.mark.parametrize(("amount", "wire"), [("5", "5.00"), ("5.0", "5.00"), ("0.01", "0.01")])
def test_canonical_amounts_with_up_to_two_places_are_accepted(
    live: Api, amount: str, wire: str
) -> None:
    assert live.ok(deposit(live, amount))["amount"] == wire


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/v1/transfers",
            {"from_account": "6222020000000000017", "to_account": "VAULT", "amount": "1E2"},
            "amount",
        ),
        (
            "/v1/loans",
            {"customer_id": "C00000001", "amount": "+500", "term_months": 12, "purpose": "car"},
            "amount",
        ),
        (
            "/v1/fx/quotes",
            {"sell_currency": "CNY", "buy_currency": "USD", "sell_amount": 100},
            "sell_amount",
        ),
    ],
)
def test_every_amount_field_takes_only_the_canonical_form(
    live: Api, path: str, body: dict[str, Any], field: str
) -> None:
    problem(live.post(path, body), 422, field)


def test_the_openapi_document_gives_amounts_as_strings_of_the_pattern(live: Api) -> None:
    schemas = live.ok(live.client.get("/openapi.json"), 200)["components"]["schemas"]
    for model, field in [
        ("CashIn", "amount"),
        ("TransferIn", "amount"),
        ("QuoteIn", "sell_amount"),
    ]:
        amount = schemas[model]["properties"][field]
        assert amount["type"] == "string", amount
        assert amount["pattern"] == AMOUNT_PATTERN
        assert "anyOf" not in amount


@pytest.mark.parametrize("units", [True, "2", 2.0], ids=repr)
def test_a_boolean_a_string_or_a_float_is_not_an_integer(live: Api, units: object) -> None:
    account = live.customer_account()["id"]
    body = {"product_id": "WP-LAUNCH", "customer_id": "C00000001", "account_id": account}
    problem(live.post("/v1/wealth/orders", {**body, "units": units}), 422, "units")


def test_a_loan_term_given_as_a_string_is_422(live: Api) -> None:
    body = {"customer_id": "C00000001", "amount": "500", "term_months": "12", "purpose": "car"}
    problem(live.post("/v1/loans", body), 422, "term_months")


def test_a_lane_change_takes_integers_only(live: Api) -> None:
    response = live.client.put(
        "/admin/capacity", json={"lanes": {"teller-core": {"slots": True}}}, headers=auth("admin")
    )
    problem(response, 422, "lanes.teller-core.slots")


def test_a_query_integer_keeps_its_bounds_in_the_openapi_document(live: Api) -> None:
    doc = live.ok(live.client.get("/openapi.json"), 200)
    (limit,) = [
        p for p in doc["paths"]["/v1/customers"]["get"]["parameters"] if p["name"] == "limit"
    ]
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 200)


@pytest.mark.parametrize("limit", [" 5", "+5", "5.0", "05"])
def test_a_query_integer_is_plain_ascii_digits(live: Api, limit: str) -> None:
    problem(live.get("/v1/customers", limit=limit), 422, "limit")


def test_a_key_named_twice_is_400_naming_the_key_and_nothing_is_posted(live: Api) -> None:
    account = live.customer_account()
    body = (
        f'{{"account_id": "{account["id"]}", "amount": "1.00", "amount": "9000.00",'
        ' "branch_id": "B001", "operator_id": "T01"}'
    )
    found = problem(post_raw(live, "/v1/cash/deposits", body.encode()), 400, "amount")
    assert found["title"] == "Duplicate key"
    assert live.customer_account()["balance"] == account["balance"]


def test_a_key_named_twice_in_a_nested_object_is_400_naming_it(live: Api) -> None:
    body = b'{"lanes": {"teller-core": {"slots": 2, "slots": 3}}}'
    response = live.client.put(
        "/admin/capacity",
        content=body,
        headers={**auth("admin"), "Content-Type": "application/json"},
    )
    problem(response, 400, "slots")


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_not_json(live: Api, constant: bytes) -> None:
    problem(post_raw(live, "/v1/cash/deposits", b'{"amount": ' + constant + b"}"), 400, "body")


@pytest.mark.parametrize(
    "day", ["0", "86400", "1", "20300101", "2030-1-1", "2030-02-30", "٢٠٣٠-٠١-٠١"]
)
def test_a_slot_day_is_an_iso_date_never_a_timestamp(live: Api, day: str) -> None:
    found = problem(live.get("/v1/branches/B001/slots", day=day), 422, "day")
    assert "1970" not in found["detail"]


def test_a_slot_day_in_iso_form_is_answered(live: Api) -> None:
    day = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()
    assert live.ok(live.get("/v1/branches/B001/slots", day=day), 200)["day"] == day


@pytest.mark.parametrize("day", [0, "0", True])
def test_an_appointment_day_given_as_a_number_is_refused_as_a_date(live: Api, day: object) -> None:
    body = {
        "branch_id": "B001",
        "day": day,
        "start": "09:00",
        "customer_id": "C00000001",
        "service_type": "cash",
    }
    found = problem(live.post("/v1/appointments", body, live.login("online")), 422, "day")
    assert found["title"] == "Invalid request"  # not 1970-01-01 refused as out of range
    assert "YYYY-MM-DD" in found["detail"]


@pytest.mark.parametrize(
    "name", ["Li\x00Lei", "Li\rLei", "Li\nLei", "Li\tLei", "\u202eieL iL", "Li\u2066Lei", "Li\x85"]
)
def test_a_control_or_bidi_character_in_a_name_is_422_naming_it(live: Api, name: str) -> None:
    found = problem(onboard(live, name), 422, "name")
    assert "U+" in found["detail"]


def test_a_name_keeps_the_joiners_its_script_needs(live: Api) -> None:
    assert live.ok(onboard(live, "Mehr\u200cnaz"))["name"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("operator", {"operator_id": "T01\x00"}, "operator_id"),
        ("transfer", {"reference": "rent\u202e"}, "reference"),
        ("loan", {"purpose": "car\r\n"}, "purpose"),
        ("enquiry", {"subject": "hours\n"}, "subject"),
        ("enquiry", {"text": "line one\r\nline two"}, "text"),
        ("enquiry", {"text": "safe\u2067text"}, "text"),
    ],
)
def test_control_characters_are_refused_in_every_free_text_field(
    live: Api, path: str, body: dict[str, str], field: str
) -> None:
    account = live.customer_account()["id"]
    if path == "operator":
        response = deposit(live, **body)
    elif path == "transfer":
        other = live.customer_account("C00000002")["id"]
        response = live.post(
            "/v1/transfers",
            {"from_account": account, "to_account": other, "amount": "1.00", **body},
        )
    elif path == "loan":
        loan = {"customer_id": "C00000001", "amount": "500", "term_months": 12, "purpose": "car"}
        response = live.post("/v1/loans", {**loan, **body})
    else:
        response = enquiry(live, **body)
    problem(response, 422, field)


def test_an_enquiry_text_may_run_over_lines_ended_by_lf(live: Api) -> None:
    text = "First line.\nSecond line,\tindented."
    opened = live.ok(enquiry(live, text=text))
    assert opened["messages"][0]["text"] == text


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/v1/customers", {"GET", "POST"}),
        ("PUT", "/admin/faults", {"GET", "POST", "DELETE"}),
        ("POST", "/admin/capacity", {"GET", "PUT"}),
    ],
)
def test_a_405_lists_every_method_the_path_answers_to(
    live: Api, method: str, path: str, allowed: set[str]
) -> None:
    response = live.client.request(method, path, headers=auth("admin"))
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed


def test_an_id_with_arabic_indic_digits_names_no_customer(live: Api) -> None:
    problem(live.get("/v1/customers/C٠٠٠٠٠٠٠١"), 422, "customer_id")
    body = {"customer_id": "C٠٠٠٠٠٠٠٤", "kind": "enquiry", "channel": "counter"}
    problem(live.post("/v1/enquiries", {**body, "subject": "s", "text": "t"}), 422, "customer_id")


def test_an_id_number_is_ascii_digits_and_nothing_after_them(live: Api) -> None:
    valid = fresh_id_number()
    arabic = valid[:6].translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")) + valid[6:]
    for id_number in (arabic, valid + "\n"):
        problem(onboard(live, id_number=id_number), 422, "id_number")
    problem(onboard(live, phone="13812345678\n"), 422, "phone")


LONE_SURROGATES = [
    b'{"\\ud800": 1, "\\ud800": 2}',
    b'{"\\udfff": "x"}',
    b'{"name": "Li \\ud800"}',
    b'{"lanes": {"\\ud800": {"slots": 1}}}',
]
"""Bodies whose keys or values are half a UTF-16 surrogate pair: valid JSON syntax, not text."""


def test_no_body_with_a_lone_surrogate_gets_a_500_from_any_route_or_caller(live: Api) -> None:
    """Issue 21: a key named twice made an error document orjson could not write (a 500), with
    the bare kiosk token, a session or the teller's."""
    doc = live.client.get("/openapi.json").json()
    callers: list[Who] = ["teller", "kiosk", "online", "admin", live.login("kiosk")]
    seen = 0
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            if "requestBody" not in operation:
                continue
            url = re.sub(r"\{[^}]+\}", "X00000001", path)
            for who in [None, *callers]:
                for body in LONE_SURROGATES:
                    headers = {
                        **(auth(who) if who else {}),
                        "Content-Type": "application/json",
                        "Idempotency-Key": uuid.uuid4().hex,
                    }
                    response = live.client.request(method, url, content=body, headers=headers)
                    assert 400 <= response.status_code < 500, (method, url, who, response.text)
                    assert response.headers["content-type"] == "application/problem+json"
                    assert response.json()["status"] == response.status_code
                    seen += 1
    assert seen > 100


def test_a_lane_named_by_a_lone_surrogate_is_400_and_nothing_is_applied(live: Api) -> None:
    before = live.ok(live.get("/admin/capacity", "admin"), 200)
    for body in (b'{"lanes": {"\\ud800": {"slots": 1}}}', b'{"unlimited": true, "\\ud800": 1}'):
        response = live.client.put(
            "/admin/capacity",
            content=body,
            headers={**auth("admin"), "Content-Type": "application/json"},
        )
        assert problem(response, 400, "body")["title"] == "Malformed JSON"
        assert "U+D800" in response.json()["detail"]
    after = live.ok(live.get("/admin/capacity", "admin"), 200)
    assert after["unlimited"] == before["unlimited"]
    assert {n: lane["slots"] for n, lane in after["lanes"].items()} == {
        n: lane["slots"] for n, lane in before["lanes"].items()
    }


def test_a_pair_of_surrogates_written_as_escapes_is_the_character_they_make(live: Api) -> None:
    """An emoji escaped as JSON writes it (`\\ud83d\\ude00`) is text: only a lone half is not."""
    body = json.dumps(
        {
            "name": "Li Lei \U0001f600",
            "id_number": fresh_id_number(),
            "phone": "13812345678",
            "home_branch": "B001",
        }
    ).encode()
    assert b"\\ud83d\\ude00" in body
    headers = {**auth("teller"), "Content-Type": "application/json", "Idempotency-Key": "emoji"}
    assert live.ok(live.client.post("/v1/customers", content=body, headers=headers))["name"]


def test_a_field_the_body_does_not_define_is_422_naming_it_and_nothing_is_posted(
    live: Api,
) -> None:
    """Issue 21: `"Amount"` beside `"amount"` was ignored (201): which did a proxy read?"""
    account = live.customer_account("C00000005")
    response = deposit(live, Amount="9000.00")
    # The deposit names C00000001's account; C00000005's stands for "nothing else moved".
    refused = problem(response, 422, "Amount")
    assert "Extra inputs are not permitted" in refused["detail"]
    assert live.customer_account("C00000005") == account
    given = credentials(SEED, 1)
    login = {"card_number": given.card_number, "pin": given.pin, "otp": "123456"}
    problem(live.client.post("/v1/sessions", json=login, headers=auth("kiosk")), 422, "otp")


@pytest.mark.parametrize(
    "char", ["\u180e", "\u00ad", "\u034f", "\u115f", "\U000e0001", "\ufff9", "\u2029", "\ue000"]
)
def test_invisible_characters_are_refused_by_their_category_not_a_list(
    live: Api, char: str
) -> None:
    """Issue 21: six invisible characters outside the old list were stored."""
    found = problem(onboard(live, f"Li{char}Lei"), 422, "name")
    assert f"U+{ord(char):04X}" in found["detail"]


def test_a_variation_selector_stays_with_the_character_it_chooses_a_look_for(live: Api) -> None:
    assert live.ok(onboard(live, "Li Lei \u2764\ufe0f"))["name"]


def test_the_refused_ranges_are_exactly_the_refused_categories_of_this_python() -> None:
    """`fields` spells the categories out as ranges (walking Unicode at start-up is slow): a
    Python with a newer Unicode fails here until they are brought up to date."""
    refused = re.compile(f"[{fields.LINE_FORBIDDEN}]")
    ignorable = re.compile(f"[{fields.IGNORABLE}]")
    wrong = [
        f"U+{code:04X}"
        for code in range(sys.maxunicode + 1)
        if (refused.match(chr(code)) is not None)
        != (
            (
                unicodedata.category(chr(code)) in fields.REFUSED_CATEGORIES
                and chr(code) not in fields.ALLOWED_FORMAT
            )
            or ignorable.match(chr(code)) is not None
        )
    ]
    assert not wrong, wrong[:20]
