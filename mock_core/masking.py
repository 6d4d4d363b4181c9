"""Masking of personal data: nothing the service returns or logs shows a whole name, ID or phone."""

from __future__ import annotations


def mask_name(name: str) -> str:
    """Keep the family name (first character): 王小明 -> 王**."""
    return name[:1] + "*" * max(len(name) - 1, 1)


def mask_id_number(value: str) -> str:
    """Keep the region prefix and the last four: 110101199003071234 -> 1101**********1234."""
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str) -> str:
    """Keep the carrier prefix and the last four: 13812345678 -> 138****5678."""
    return value[:3] + "*" * (len(value) - 7) + value[-4:]
