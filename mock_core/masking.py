"""Masking of personal data: nothing the service returns or logs shows a whole name, ID or phone."""

from __future__ import annotations

SHOWN_AT_MOST = 4
"""A tail of four lets a clerk confirm "the phone ending 5678" without reading the number out."""


def mask_name(name: str) -> str:
    """Keep the family name (first character): 王小明 -> 王**."""
    return name[:1] + "*" * max(len(name) - 1, 1)


def _mask_tail(value: str) -> str:
    """Stars for all but the last `SHOWN_AT_MOST` characters, and never more than a third shown.

    One rule whatever the length: a fixed prefix-and-suffix pattern shows all of a value too short
    for it (a 7-digit landline came back whole), so a value of four characters or fewer shows
    nothing and a longer one shows at most a third of itself.
    """
    shown = min(SHOWN_AT_MOST, len(value) // 3) if len(value) > SHOWN_AT_MOST else 0
    return "*" * (len(value) - shown) + value[len(value) - shown :]


def mask_id_number(value: str) -> str:
    """110101199003071234 -> **************1234; a short ID is masked the same way."""
    return _mask_tail(value)


def mask_phone(value: str) -> str:
    """13812345678 -> ********678; 1234567 -> *****67."""
    return _mask_tail(value)


def mask_card(value: str) -> str:
    """6222021234567890123 -> ***************0123, for any card number shown to people."""
    return _mask_tail(value)
