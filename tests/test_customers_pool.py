"""The harness's customers: generated people, onboarding over HTTP, the CSV data pool, the Pool.

Check digits are verified here with independent formulas (ISO 7064 MOD 11-2 with weights
2^(17-i) mod 11, and Luhn by digit sums), not with the functions under test.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
from collections import Counter
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_core.seed import Credentials
from surge.bindings.mock_core import MockCore
from surge.visit.binding import BindingOptions
from surge.visit.customers import (
    CUSTOMER_SECRET_ENV,
    ONBOARDING_CONCURRENCY,
    Pool,
    customer_secret,
    generate,
    load_pool,
    luhn_check_digit,
    onboard,
    resident_id_check_digit,
    worker_share,
)
from surge.visit.values import Customer, Person, PoolError, Tokens
from tests.support import TOKENS, Api, serve_api

MOCK_CORE = MockCore(
    BindingOptions("http://127.0.0.1", Tokens(TOKENS["teller"], TOKENS["kiosk"], TOKENS["online"]))
)

BRANCHES = ["B001", "B002", "B003", "B004"]
CJK = re.compile(r"[\u4e00-\u9fff]")


def people(
    count: int = 300,
    seed: int = 1,
    locale: str = "zh_CN",
    branches: list[str] = BRANCHES,
    high_value_share: float = 0.2,
) -> list[Person]:
    return generate(
        count, seed=seed, locale=locale, branches=branches, high_value_share=high_value_share
    )


def iso7064_valid(id_number: str) -> bool:
    """GB 11643 by its definition: Σ aᵢ·2^(17-i) over all 18 characters ≡ 1 (mod 11), X = 10."""
    values = [10 if ch == "X" else int(ch) for ch in id_number]
    return sum(v * pow(2, 17 - i, 11) for i, v in enumerate(values)) % 11 == 1


def luhn_valid(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d // 10 + d % 10
    return total % 10 == 0


# --- generation --------------------------------------------------------------------------------


def test_with_a_secret_the_seed_alone_makes_neither_the_people_nor_their_logins() -> None:
    """Issue 21: logins made again from the seed in run.json opened sessions on the target."""
    made = generate(50, seed=5, branches=BRANCHES, high_value_share=0.2, secret="s3cret")
    assert made == generate(50, seed=5, branches=BRANCHES, high_value_share=0.2, secret="s3cret")
    from_seed = people(50, seed=5)
    assert [p.pin for p in made] != [p.pin for p in from_seed]
    assert not {p.card_number for p in made} & {p.card_number for p in from_seed}
    assert not {p.password for p in made} & {p.password for p in from_seed}
    assert not {p.id_number for p in made} & {p.id_number for p in from_seed}
    other = generate(50, seed=5, branches=BRANCHES, high_value_share=0.2, secret="other")
    assert not {p.password for p in made} & {p.password for p in other}


def test_the_customer_secret_is_the_teams_else_made_for_the_run_except_for_the_embedded_core() -> (
    None
):
    assert customer_secret(True, {}) is None
    assert customer_secret(True, {CUSTOMER_SECRET_ENV: "team"}) == "team"
    assert customer_secret(False, {CUSTOMER_SECRET_ENV: "team"}) == "team"
    made = customer_secret(False, {})
    assert made is not None
    assert len(made) >= 32
    assert made != customer_secret(False, {})


def test_the_same_seed_gives_the_same_people_and_another_seed_others() -> None:
    assert people(seed=5) == people(seed=5)
    other = people(seed=6)
    assert [p.id_number for p in people(seed=5)] != [p.id_number for p in other]
    assert [p.name for p in people(seed=5)] != [p.name for p in other]


def test_the_check_digit_matches_the_standards_worked_example() -> None:
    # GB 11643-1999's own example number, and one ending in X by the definition above.
    assert resident_id_check_digit("11010519491231002") == "X"
    assert iso7064_valid("11010519491231002X")
    assert resident_id_check_digit("44030519900101123") == next(
        c for c in "0123456789X" if iso7064_valid("44030519900101123" + c)
    )


def test_every_resident_id_is_a_unique_18_digit_number_with_a_birth_date_and_check_digit() -> None:
    ids = [p.id_number for p in people(2000)]
    assert len(set(ids)) == len(ids)
    for id_number in ids:
        assert re.fullmatch(r"\d{17}[\dX]", id_number), id_number
        assert not id_number[:6].endswith("00"), id_number  # a county, not a province
        born = date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
        assert date(1940, 1, 1) < born < date(2008, 1, 1)
        assert iso7064_valid(id_number), id_number


def test_card_numbers_are_16_or_19_digits_and_pass_luhn() -> None:
    assert luhn_check_digit("7992739871") == "3"  # the textbook 79927398713
    cards = [p.card_number for p in people(1000)]
    assert {len(c) for c in cards} == {16, 19}
    assert all(c.isdigit() and luhn_valid(c) for c in cards)


def test_each_person_gets_a_pin_and_password_that_the_seed_replays() -> None:
    crowd = people(seed=5)
    assert [(p.pin, p.password) for p in crowd] == [(p.pin, p.password) for p in people(seed=5)]
    assert all(re.fullmatch(r"\d{6}", p.pin) for p in crowd)
    assert all(8 <= len(p.password) <= 64 and p.password.isalnum() for p in crowd)
    assert len({p.password for p in crowd}) == len(crowd)
    assert [p.pin for p in people(seed=6)] != [p.pin for p in crowd]
    assert all(p.pin not in repr(p) and p.password not in repr(p) for p in crowd)


def test_credentials_leave_the_people_of_a_seed_as_they_were() -> None:
    """The PINs and passwords are drawn from a stream of their own: the IDs, cards and branches
    of a seed did not move when people got credentials (a run folder of an older run replays)."""
    drawn = [(p.id_number, p.card_number, p.home_branch, p.segment) for p in people(3, seed=5)]
    assert drawn == [
        ("650107196812013674", "6205227001137032", "B001", "mass"),
        ("340207198710106644", "6217004085081090467", "B004", "mass"),
        ("410721196802145564", "6205224476074461782", "B003", "private"),
    ]


def test_chinese_people_have_chinese_names_and_mainland_mobile_numbers() -> None:
    for person in people(500):
        assert CJK.search(person.name), person.name
        assert re.fullmatch(r"1[3-9]\d{9}", person.phone), person.phone


def test_another_locale_gives_that_locales_names_and_phones_but_prc_ids() -> None:
    american = people(300, locale="en_US")
    assert not any(CJK.search(p.name) for p in american)
    assert all(re.fullmatch(r"[A-Za-z .'-]+", p.name) for p in american)
    assert all(re.fullmatch(r"\+?\d{10,20}", p.phone) for p in american)
    assert all(iso7064_valid(p.id_number) for p in american)


def test_the_high_value_share_is_kept_and_high_value_means_affluent_or_private() -> None:
    crowd = people(1000, high_value_share=0.3)
    segments = Counter(p.segment for p in crowd)
    assert segments["affluent"] + segments["private"] == 300
    assert segments["affluent"] > segments["private"] > 0
    assert all(p.high_value == (p.segment != "mass") for p in crowd)
    assert {p.segment for p in people(200, high_value_share=0)} == {"mass"}


def test_home_branches_are_drawn_from_the_given_branches() -> None:
    assert {p.home_branch for p in people(500)} == set(BRANCHES)
    assert {p.home_branch for p in people(50, branches=["B009"])} == {"B009"}


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"branches": []}, "branches is empty"),
        ({"high_value_share": 1.5}, "not between 0 and 1"),
        ({"locale": "xx_XX"}, "not a Faker locale"),
    ],
)
def test_generation_refuses_bad_arguments(options: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        people(10, **options)


# --- onboarding against a real mock core ------------------------------------------------------


def customer_count(api: Api) -> int:
    total, cursor = 0, None
    while True:
        page = api.ok(
            api.get("/v1/customers", limit=200, **({"cursor": cursor} if cursor else {})), 200
        )
        total += len(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return total


@pytest.mark.slow
def test_onboarding_creates_customers_with_cny_and_for_high_value_usd_accounts(live: Api) -> None:
    crowd = people(12, seed=101, high_value_share=0.5)
    before = customer_count(live)
    customers = onboard(live.client, crowd, binding=MOCK_CORE, key_prefix="run-a")
    assert customer_count(live) == before + 12
    assert len({c.customer_id for c in customers}) == 12
    for person, customer in zip(crowd, customers, strict=True):
        assert (customer.segment, customer.home_branch) == (person.segment, person.home_branch)
        expected = ["CNY", "USD"] if person.high_value else ["CNY"]
        assert sorted(customer.accounts) == expected
        listed = live.ok(live.get(f"/v1/customers/{customer.customer_id}/accounts"), 200)
        assert {a["id"] for a in listed} == {i for ids in customer.accounts.values() for i in ids}


def test_onboarded_customers_log_in_with_the_credentials_they_carry(live: Api) -> None:
    """The card, PIN and password go to the system with each person and stay with the customer:
    its kiosk and online sessions open, and the onboarding answer shows the card masked."""
    crowd = people(3, seed=102)
    sent = Recording(live.client)
    customers = onboard(sent, crowd, binding=MOCK_CORE, key_prefix="logins")
    for person, customer in zip(crowd, customers, strict=True):
        assert (customer.card_number, customer.pin, customer.password) == (
            person.card_number,
            person.pin,
            person.password,
        )
        given = Credentials(customer.card_number, customer.pin, customer.password)
        for channel in ("kiosk", "online"):
            session = live.login(channel, customer.customer_id, given)
            mine = live.get(f"/v1/accounts/{customer.accounts['CNY'][0]}", session)
            assert mine.status_code == 200, mine.text
    answered = " ".join(sent.bodies)
    secrets = [s for p in crowd for s in (p.card_number, p.pin, p.password)]
    assert not [s for s in secrets if re.search(rf"(?<![0-9A-Za-z]){s}(?![0-9A-Za-z])", answered)]


class Recording:
    """An httpx.Client that notes how each request was answered."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.answers: list[tuple[str, int, str | None]] = []
        self.bodies: list[str] = []

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.note("POST", self.client.post(url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.note("GET", self.client.get(url, **kwargs))

    def note(self, method: str, response: httpx.Response) -> httpx.Response:
        self.answers.append(
            (method, response.status_code, response.headers.get("Idempotent-Replayed"))
        )
        self.bodies.append(response.text)
        return response


def test_onboarding_again_is_answered_from_the_first_run_and_creates_nobody(live: Api) -> None:
    crowd = people(8, seed=202)
    first = onboard(live.client, crowd, binding=MOCK_CORE, key_prefix="run-b")
    count = customer_count(live)
    rerun = Recording(live.client)
    assert onboard(rerun, crowd, binding=MOCK_CORE, key_prefix="run-b") == first
    # Every onboarding and every opening deposit (two for high-value people) is a replay.
    deposits = sum(2 if p.high_value else 1 for p in crowd)
    assert rerun.answers == [("POST", 201, "true")] * (8 + deposits)
    # Under another prefix the keys are new: the 409 names the customer, who is looked up.
    other = Recording(live.client)
    assert onboard(other, crowd, binding=MOCK_CORE, key_prefix="run-c") == first
    assert Counter(other.answers) == {("POST", 409, None): 8, ("GET", 200, None): 8}
    assert customer_count(live) == count
    assert live.reconcile()["ok"]


class InFlight:
    """An httpx.Client shared by onboarding's threads that notes the most requests at once."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.note(lambda: self.client.post(url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.note(lambda: self.client.get(url, **kwargs))

    def note(self, send: Callable[[], httpx.Response]) -> httpx.Response:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            return send()
        finally:
            with self.lock:
                self.now -= 1


@pytest.mark.slow
def test_onboarding_runs_people_concurrently_and_keeps_one_customer_each_in_order(
    tmp_path: Path,
) -> None:
    crowd = people(40, seed=505, high_value_share=0.3)
    # Default lanes: every request holds a teller-core slot for its service time, so they overlap.
    with serve_api(tmp_path / "ledger.sqlite", "--customers", "0", "--seed", "5") as core:
        sender = InFlight(core.client)
        customers = onboard(sender, crowd, binding=MOCK_CORE, key_prefix="run-f")
        assert 1 < sender.most <= ONBOARDING_CONCURRENCY
        listed = []
        for person, customer in zip(crowd, customers, strict=True):
            assert (customer.segment, customer.home_branch) == (person.segment, person.home_branch)
            expected = ["CNY", "USD"] if person.high_value else ["CNY"]
            assert sorted(customer.accounts) == expected
            accounts = core.ok(core.get(f"/v1/customers/{customer.customer_id}/accounts"), 200)
            assert {a["id"] for a in accounts} == {
                i for ids in customer.accounts.values() for i in ids
            }
            assert all(Decimal(a["balance"]) > 0 for a in accounts)
            listed.append(customer.customer_id)
        assert len(set(listed)) == 40
        assert customer_count(core) == 40
        # Again, concurrently: every person's own keys answer with the same customer.
        assert onboard(core.client, crowd, binding=MOCK_CORE, key_prefix="run-f") == customers
        assert customer_count(core) == 40
        assert core.reconcile()["ok"]


@pytest.mark.slow
def test_a_target_too_small_for_the_concurrency_is_onboarded_one_request_at_a_time(
    tmp_path: Path,
) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(
        "[lanes.teller-core]\nslots = 1\nqueue = 1\ntimeout = 0.02\n"
        'service = { distribution = "constant", mean = 0.05 }\n',
        encoding="utf-8",
    )
    crowd = people(6, seed=707)
    with serve_api(tmp_path / "ledger.sqlite", "--config", str(config), "--customers", "0") as core:
        sender = Recording(core.client)
        customers = onboard(sender, crowd, binding=MOCK_CORE, key_prefix="run-h")
        pushed_back = [status for _, status, _ in sender.answers if status in (503, 504)]
        assert pushed_back  # the first concurrent sends were refused, and sent again
        assert len({c.customer_id for c in customers}) == 6
        assert customer_count(core) == 6
        assert core.reconcile()["ok"]


def test_a_person_listed_twice_is_onboarded_once(live: Api) -> None:
    first, second = people(2, seed=606)
    before = customer_count(live)
    customers = onboard(live.client, [first, second, first], binding=MOCK_CORE, key_prefix="run-g")
    assert customers[0] == customers[2] != customers[1]
    assert customer_count(live) == before + 2


def test_an_onboarding_refusal_is_one_line_naming_the_person_and_the_answer(live: Api) -> None:
    [stranger] = people(1, seed=303, branches=["B999"])
    with pytest.raises(PoolError) as raised:
        onboard(live.client, [stranger], binding=MOCK_CORE, key_prefix="run-d")
    message = str(raised.value)
    assert message.startswith("onboarding person 1 of 1: POST /v1/customers answered 422")
    assert "Unknown branch" in message
    assert "\n" not in message
    assert stranger.id_number not in message


def test_an_unreachable_system_is_a_pool_error() -> None:
    with (
        httpx.Client(base_url="http://127.0.0.1:9", timeout=1) as client,
        pytest.raises(
            PoolError, match=r"^onboarding person 1 of 1: POST /v1/customers failed: ConnectError"
        ),
    ):
        onboard(client, people(1), binding=MOCK_CORE, key_prefix="x")


# --- the CSV data pool --------------------------------------------------------------------------

HEADER = "customer_id,account_id,currency,segment,home_branch\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pool.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_data_pool_groups_each_customers_accounts_by_currency(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "\ufeffhome_branch,customer_id,account_id,currency,segment,note\n"  # BOM, any order, extra
        "B001,C1,6200000000000000001,CNY,mass,x\n"
        "\n"
        "B002,C2,6200000000000000002,CNY,private,\n"
        "B002,C2,6200000000000000003,USD,private,\n"
        "B002,C2,6200000000000000004,CNY,private,\n",
    )
    assert load_pool(path) == [
        Customer("C1", "mass", "B001", {"CNY": ("6200000000000000001",)}),
        Customer(
            "C2", "private", "B002",
            {"CNY": ("6200000000000000002", "6200000000000000004"), "USD": ("6200000000000000003",)},
        ),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "line 1: header: the file is empty"),
        (
            "customer_id,account_id,currency\n",
            "line 1: header: missing columns segment, home_branch",
        ),
        (HEADER, "line 2: customer_id: no customers listed"),
        (HEADER + "C1,A1,CNY,mass\n", "line 2: row: 4 values for 5 columns"),
        (HEADER + "C1,,CNY,mass,B001\n", "line 2: account_id: is empty"),
        (HEADER + "C1,A 1,CNY,mass,B001\n", "line 2: account_id: 'A 1' contains spaces"),
        (
            HEADER + "C1,A1,CNY,gold,B001\n",
            "line 2: segment: 'gold' is not one of mass, affluent, private",
        ),
        (
            HEADER + "C1,A1,yuan,mass,B001\n",
            "line 2: currency: 'yuan' is not a three-letter ISO code",
        ),
        (
            HEADER + "C1,A1,CNY,mass,B001\nC2,A1,CNY,mass,B001\n",
            "line 3: account_id: A1 is already on line 2",
        ),
        (
            HEADER + "C1,A1,CNY,mass,B001\nC2,A2,CNY,mass,B001\nC1,A3,USD,mass,B001\n",
            "line 4: customer_id: C1 reappears after other customers (first on line 2)",
        ),
        (
            HEADER + "C1,A1,CNY,mass,B001\nC1,A2,USD,private,B001\n",
            "line 3: segment: 'private' differs from 'mass' on line 2",
        ),
        (
            HEADER + "C1,A1,CNY,mass,B001\nC1,A2,USD,mass,B002\n",
            "line 3: home_branch: 'B002' differs from 'B001' on line 2",
        ),
        (
            HEADER + "C1,A1,CNY,mass,B001\nC2,A2,USD,mass,B001\n",
            "line 3: currency: C2 has no CNY account",
        ),
    ],
)
def test_a_bad_data_pool_is_refused_in_one_line(tmp_path: Path, text: str, error: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(PoolError) as raised:
        load_pool(path)
    assert str(raised.value).startswith(f"{path}: {error}")
    assert "\n" not in str(raised.value)


CARD, OTHER_CARD = "6222020000000000018", "6217000000000000014"  # Luhn-valid
LOGINS = "customer_id,account_id,currency,segment,home_branch,card_number,pin,password\n"


def test_a_data_pool_gives_each_customer_the_logins_its_rows_carry(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        LOGINS
        + f"C1,A1,CNY,mass,B001,{CARD},123456,pass word 1\n"
        + f"C1,A2,USD,mass,B001,{CARD},123456,pass word 1\n"
        + "C2,A3,CNY,mass,B001,,,\n",
    )
    first, second = load_pool(path)
    assert (first.card_number, first.pin, first.password) == (CARD, "123456", "pass word 1")
    assert (second.card_number, second.pin, second.password) == ("", "", "")
    assert not [secret for secret in ("123456", CARD, "pass") if secret in repr(first)]


@pytest.mark.parametrize(
    ("row", "error"),
    [
        ("C1,A1,CNY,mass,B001,622202000000001,123456,secret-pw", "card_number: is not 16 to 19"),
        ("C1,A1,CNY,mass,B001,6222020000000000019,123456,secret-pw", "card_number: fails the Luhn"),
        (f"C1,A1,CNY,mass,B001,{CARD},12345,secret-pw", "pin: is not 6 digits"),
        (f"C1,A1,CNY,mass,B001,{CARD},12345a,secret-pw", "pin: is not 6 digits"),
        (f"C1,A1,CNY,mass,B001,{CARD},,secret-pw", "pin: is empty, and a card_number needs one"),
        ("C1,A1,CNY,mass,B001,,123456,secret-pw", "card_number: is empty, and a pin needs one"),
        (f"C1,A1,CNY,mass,B001,{CARD},123456,secret", "password: 6 characters, not 8 to 64"),
        (f"C1,A1,CNY,mass,B001,{CARD},123456,{'p' * 65}", "password: 65 characters, not 8 to"),
        (f"C1,A1,CNY,mass,B001,{CARD},123456, secret-pw", "password: begins or ends with a space"),
        (f"C1,A1,CNY,mass,B001,{CARD},123456,secret\u202epw", "password: contains a control"),
        (
            f"C1,A1,CNY,mass,B001,{CARD},123456,secret-pw\n"
            f"C1,A2,USD,mass,B001,{CARD},654321,secret-pw",
            "line 3: pin: differs from line 2 for C1",
        ),
        (
            f"C1,A1,CNY,mass,B001,{CARD},123456,secret-pw\nC1,A2,USD,mass,B001,,,secret-pw",
            "line 3: card_number: differs from line 2 for C1",
        ),
        (
            f"C1,A1,CNY,mass,B001,{CARD},123456,secret-pw\n"
            f"C2,A2,CNY,mass,B001,{CARD},654321,secret-pw",
            "line 3: card_number: the same card as C1's on line 2",
        ),
    ],
)
def test_a_bad_login_in_a_data_pool_is_one_line_that_never_quotes_it(
    tmp_path: Path, row: str, error: str
) -> None:
    path = write(tmp_path, LOGINS + row + "\n")
    with pytest.raises(PoolError) as raised:
        load_pool(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: line ")
    assert error in message
    assert "\n" not in message
    secrets = [value for line in row.splitlines() for value in line.split(",")[5:] if value]
    assert not [secret for secret in secrets if secret in message.removeprefix(str(path))]


@pytest.mark.parametrize(
    ("text", "logins", "error"),
    [
        (HEADER + "C1,A1,CNY,mass,B001\n", ["kiosk"], "line 1: header: no card_number and no pin"),
        (
            "customer_id,account_id,currency,segment,home_branch,card_number,pin\n"
            f"C1,A1,CNY,mass,B001,{CARD},123456\n",
            ["kiosk", "online"],
            "line 1: header: no password column, and online visits log in with a password",
        ),
        (
            LOGINS + f"C1,A1,CNY,mass,B001,{CARD},123456,\nC2,A2,CNY,mass,B001,,,secret-pw\n",
            ["kiosk"],
            "line 3: card_number: C2 has none, and kiosk visits log in with a card number and PIN",
        ),
        (
            LOGINS + f"C1,A1,CNY,mass,B001,{CARD},123456,\n",
            ["online"],
            "line 2: password: C1 has none, and online visits log in with a password",
        ),
    ],
)
def test_a_data_pool_without_the_logins_of_the_days_channels_is_refused(
    tmp_path: Path, text: str, logins: list[str], error: str
) -> None:
    path = write(tmp_path, text)
    load_pool(path)  # without logins to make, the pool serves (counter visits)
    with pytest.raises(PoolError) as raised:
        load_pool(path, logins)
    assert str(raised.value).startswith(f"{path}: {error}")


def test_a_missing_data_pool_file_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(PoolError, match=r"^.*nowhere\.csv: cannot read: No such file"):
        load_pool(tmp_path / "nowhere.csv")


# --- the pool -----------------------------------------------------------------------------------


def crowd(count: int, high_every: int = 3) -> list[Customer]:
    return [
        Customer(f"C{i}", "private" if i % high_every == 0 else "mass", "B001", {"CNY": (f"A{i}",)})
        for i in range(count)
    ]


def test_picks_are_of_the_wanted_kind_and_reach_everyone_of_it() -> None:
    pool, rng = Pool(crowd(30)), random.Random(1)
    high = {pool.pick(rng, high_value=True).customer_id for _ in range(2000)}
    mass = {pool.pick(rng).customer_id for _ in range(2000)}
    assert high == {f"C{i}" for i in range(0, 30, 3)}
    assert mass == {f"C{i}" for i in range(30) if i % 3}


def test_a_pool_without_high_value_customers_serves_high_value_visits_from_everyone() -> None:
    pool = Pool(crowd(5, high_every=1000)[1:])
    assert pool.pick(random.Random(2), high_value=True).segment == "mass"


def test_picks_repeat_for_the_same_random_state() -> None:
    pool = Pool(crowd(50))
    a, b = random.Random(9), random.Random(9)
    assert [pool.pair(a) for _ in range(100)] == [pool.pair(b) for _ in range(100)]


def test_a_pair_is_two_different_customers_and_every_ordered_pair_occurs() -> None:
    pool, rng = Pool(crowd(4)), random.Random(3)
    pairs = {tuple(c.customer_id for c in pool.pair(rng)) for _ in range(2000)}
    assert pairs == set(itertools.permutations([f"C{i}" for i in range(4)], 2))
    with pytest.raises(PoolError, match="two customers"):
        Pool(crowd(1)).pair(rng)


def test_worker_shares_are_disjoint_deterministic_and_cover_the_pool() -> None:
    pool = Pool(crowd(10))
    shares = [pool.for_worker(i, 3).customers for i in range(3)]
    assert shares == [pool.for_worker(i, 3).customers for i in range(3)]
    assert sorted(c.customer_id for s in shares for c in s) == sorted(
        c.customer_id for c in pool.customers
    )
    assert [len(s) for s in shares] == [4, 3, 3]
    assert worker_share(people(9), 1, 3) == people(9)[1::3]


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: Pool([]), "the customer pool is empty"),
        (lambda: Pool(crowd(2)).for_worker(2, 3), "2 customers are too few for 3 workers"),
        (lambda: Pool(crowd(2)).for_worker(3, 3), "worker 3 is not one of 3 workers"),
    ],
)
def test_a_pool_that_cannot_serve_is_refused(build: Any, error: str) -> None:
    with pytest.raises((PoolError, ValueError), match=error):
        build()


def test_new_customers_pay_in_opening_cash_below_the_large_cash_threshold(live: Api) -> None:
    crowd = people(6, seed=404, high_value_share=0.5)
    alerts_before = len(live.ok(live.get("/admin/alerts", "admin", limit=200), 200)["items"])
    customers = onboard(live.client, crowd, binding=MOCK_CORE, key_prefix="run-e")
    for customer in customers:
        balances = {
            a["currency"]: Decimal(a["balance"])
            for a in live.ok(live.get(f"/v1/customers/{customer.customer_id}/accounts"), 200)
        }
        assert balances["CNY"] > 0
        assert ("USD" in balances) == customer.high_value
        assert balances["CNY"] + balances.get("USD", 0) * Decimal("7.15") < 50_000
    assert (
        len(live.ok(live.get("/admin/alerts", "admin", limit=200), 200)["items"]) == alerts_before
    )
    assert live.reconcile()["ok"]
