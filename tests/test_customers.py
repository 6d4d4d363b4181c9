from mock_core.identity import resident_id_problem
from tests.support import VALID_ID, Api


def onboard(api: Api, id_number: str = VALID_ID, **extra: object) -> dict:
    body = {"name": "王小明", "id_number": id_number, "phone": "13812345678", "home_branch": "B001"}
    return api.ok(api.post("/v1/customers", {**body, **extra}))


def test_onboarding_opens_accounts_and_masks_personal_data(api: Api) -> None:
    customer = onboard(api, open_accounts=["CNY", "USD"])
    assert customer["name"] == "王**"
    assert customer["id_number"] == "*" * 14 + VALID_ID[-4:]
    assert customer["phone"] == "********678"
    assert sorted(a["currency"] for a in customer["accounts"]) == ["CNY", "USD"]
    fetched = api.ok(api.get(f"/v1/customers/{customer['id']}"), 200)
    assert VALID_ID not in str(fetched)
    assert "13812345678" not in str(fetched)


def test_a_wrong_check_digit_is_refused_naming_the_field(api: Api) -> None:
    wrong = VALID_ID[:17] + ("0" if VALID_ID[17] != "0" else "1")
    response = api.post(
        "/v1/customers",
        {"name": "李雷", "id_number": wrong, "phone": "13812345678", "home_branch": "B001"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == "id_number"


def test_the_same_person_cannot_be_onboarded_twice(api: Api) -> None:
    first = onboard(api)
    response = api.post(
        "/v1/customers",
        {"name": "王小明", "id_number": VALID_ID, "phone": "13900000000", "home_branch": "B002"},
    )
    assert response.status_code == 409
    assert first["id"] in response.json()["detail"]


def test_seeded_customers_have_valid_resident_ids(app) -> None:
    conn = app.state.core.conn
    ids = [r[0] for r in conn.execute("SELECT id_number FROM customers")]
    assert len(ids) == 30
    assert all(resident_id_problem(i) is None for i in ids)


def test_seeding_is_deterministic(tmp_path, settings) -> None:
    from mock_core.app import create_app

    def snapshot(name: str) -> list:
        conn = create_app(settings, tmp_path / name).state.core.conn
        return conn.execute(
            "SELECT c.name, c.id_number, c.phone, a.id, a.balance FROM customers c"
            " JOIN accounts a ON a.customer_n = c.n ORDER BY a.id"
        ).fetchall()

    first, second = snapshot("a.sqlite"), snapshot("b.sqlite")
    assert [tuple(r) for r in first] == [tuple(r) for r in second]


def test_customer_list_pages_with_a_cursor(api: Api) -> None:
    seen, cursor = [], None
    while True:
        page = api.ok(
            api.get("/v1/customers", limit=7, **({"cursor": cursor} if cursor else {})), 200
        )
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 30


def test_a_cursor_that_is_not_ascii_digits_is_422(api: Api) -> None:
    response = api.get("/v1/customers", cursor="²7")
    assert response.status_code == 422
    assert response.json()["field"] == "cursor"
