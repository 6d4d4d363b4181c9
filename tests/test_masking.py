"""Every phone, ID and card is masked whatever its length: at most the last four characters shown,
never more than a third of the value."""

import pytest

from mock_core.masking import mask_card, mask_id_number, mask_phone
from tests.support import VALID_ID, Api

MASKS = [mask_phone, mask_id_number, mask_card]


@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("value", ["1", "12", "1234", "12345", "1234567", "12345678", "123456"])
def test_a_short_value_is_never_shown_whole(mask, value: str) -> None:
    masked = mask(value)
    assert len(masked) == len(value)
    shown = masked.lstrip("*")
    assert len(shown) * 3 <= len(value)
    assert value not in masked or not value


@pytest.mark.parametrize("mask", MASKS)
def test_a_value_of_four_characters_or_fewer_shows_nothing(mask) -> None:
    assert [mask(v) for v in ("1", "12", "123", "1234")] == ["*", "**", "***", "****"]


@pytest.mark.parametrize("mask", MASKS)
def test_a_long_value_shows_its_last_four_only(mask) -> None:
    assert mask("110101199003071234") == "*" * 14 + "1234"
    assert mask("6222021234567890123") == "*" * 15 + "0123"


def test_a_seven_digit_phone_comes_back_masked(api: Api) -> None:
    body = {"name": "李雷", "id_number": VALID_ID, "phone": "1234567", "home_branch": "B001"}
    customer = api.ok(api.post("/v1/customers", body))
    assert customer["phone"] == "*****67"
    fetched = api.ok(api.get(f"/v1/customers/{customer['id']}"), 200)
    assert fetched["phone"] == "*****67"
    assert "1234567" not in str(fetched)
