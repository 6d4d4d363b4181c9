"""Checks on personal identifiers: PRC resident ID numbers (GB 11643-1999) and Luhn numbers."""

from __future__ import annotations

import re

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# ASCII: Python's \d also matches other scripts' digits, which int() reads as the same numbers, so
# one person's ID number written with some Arabic-Indic digits passed as another number.
_ID_SHAPE = re.compile(
    r"^\d{6}(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\d{3}[\dX]$", re.ASCII
)


def resident_id_check_digit(first17: str) -> str:
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def resident_id_problem(value: str) -> str | None:
    """Why `value` is not a valid 18-digit resident ID number, or None when it is."""
    if not _ID_SHAPE.fullmatch(value):  # match: "$" would let a trailing newline through
        return "must be 18 characters: 17 digits with a birth date, then a digit or X"
    if resident_id_check_digit(value[:17]) != value[17]:
        return "the check digit does not match"
    return None


def luhn_check_digit(payload: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return number.isdigit() and len(number) > 1 and luhn_check_digit(number[:-1]) == number[-1]
