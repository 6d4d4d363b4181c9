"""Strict request fields: each value has one written form, and nothing is guessed.

FastAPI hands a decoded body to pydantic as Python objects, where pydantic's lax mode reads `true`
as 1, `"12"` as 12 and the number 0 as the date 1970-01-01. `RequestBody` makes every field of a
body strict and refuses fields it does not define; the types here say what strictness alone does
not: dates are ISO strings, query integers are plain ASCII digits, and text holds no control or
invisible character.
The rules are listed in docs/mock-core.md, "Input rules".
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError


class RequestBody(BaseModel):
    """The base of every request body: strict types, so `true` and `"12"` are not integers, and
    no field the body does not define: `"Amount"` beside `"amount"` is a 422 naming `Amount`,
    not a field quietly ignored (which one would a system in front have read?)."""

    model_config = ConfigDict(strict=True, extra="forbid")


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: object) -> dt.date:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise PydanticCustomError("iso_date", "a date is a string YYYY-MM-DD, e.g. 2030-01-31")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as error:  # e.g. 2030-02-30
        raise PydanticCustomError(
            "iso_date", "not a calendar date: {reason}", {"reason": str(error)}
        ) from None


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
"""A calendar date written YYYY-MM-DD, in a body or a query; never a number of seconds."""

_DIGITS = re.compile(r"0|[1-9][0-9]*")


def _digits(value: object) -> object:
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise PydanticCustomError("digits", "an integer is written in ASCII digits, e.g. 50")
    return value


ASCII_DIGITS = BeforeValidator(_digits)
"""Put after `Query(...)` on an integer in a query string: `50`, not ` 50`, `+50`, `050` or `50.0`.
(Before it, FastAPI writes the query's bounds into the schema as `ge`/`le`, not as `minimum`.)"""

REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
"""Unicode's general categories of characters that are not text a person typed: controls,
format characters (bidirectional controls, as in Trojan Source, zero-width spaces, the soft
hyphen, tags, the byte-order mark), surrogates, private use, and the line and paragraph
separators. A list of characters always left some out (U+180E, U+00AD, U+E0001 and U+FFF9 were
stored); `tests/test_strict_input.py` checks `_CATEGORY_RANGES` against the categories of the
Python it runs on."""
ALLOWED_FORMAT = "\u200c\u200d"
"""ZWNJ and ZWJ, format characters that Persian and Indic scripts and emoji sequences need."""
_CATEGORY_BMP = (
    r"\u0000-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2"
    r"\u180e\u200b\u200e-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\uf8ff\ufeff"
    r"\ufff9-\ufffb"
)
_CATEGORY_ASTRAL = (
    r"\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    r"\U000e0001\U000e0020-\U000e007f\U000f0000-\U000ffffd\U00100000-\U0010fffd"
)
"""Every character of `REFUSED_CATEGORIES` but `ALLOWED_FORMAT`, as regex ranges (constants:
walking all of Unicode at start-up would cost a third of a second), in the Basic Multilingual
Plane and beyond it."""
_IGNORABLE_BMP = r"\u034f\u115f-\u1160\u17b4-\u17b5\u3164\uffa0\ufff0-\ufff8"
_IGNORABLE_ASTRAL = r"\U000e0000-\U000e00ff"
IGNORABLE = _IGNORABLE_BMP + _IGNORABLE_ASTRAL
"""Unicode's other default-ignorable code points, invisible whatever their category: the
combining grapheme joiner, the Hangul fillers (letters that show nothing), Khmer's inherent
vowels, and the unassigned ones kept invisible. Variation selectors (U+FE00-U+FE0F,
U+E0100-U+E01EF) stay: they choose how the character before them looks (emoji, CJK)."""
_LINE_BMP = _CATEGORY_BMP + _IGNORABLE_BMP
LINE_FORBIDDEN = _LINE_BMP + _CATEGORY_ASTRAL + _IGNORABLE_ASTRAL
"""Every character refused in one line of text (TAB, CR and LF among them), as regex ranges."""
_TEXT_BMP = _LINE_BMP.replace(r"\u0000-\u001f", r"\u0000-\u0008\u000b-\u001f")
TEXT_FORBIDDEN = _TEXT_BMP + _CATEGORY_ASTRAL + _IGNORABLE_ASTRAL
"""As a line, but TAB and LF are allowed: a multi-line text (CR is not: lines end with LF)."""


def _clean(forbidden: str) -> Callable[[str], str]:
    found = re.compile(f"[{forbidden}]").search

    def check(value: str) -> str:
        bad = found(value)
        if bad is not None:
            raise PydanticCustomError(
                "control_character",
                "{char} at position {at} is a control or invisible character",
                {"char": f"U+{ord(bad.group()):04X}", "at": bad.start()},
            )
        return value

    return check


def _schema(forbidden_bmp: str) -> Any:
    """The OpenAPI pattern: the refused characters of the Basic Multilingual Plane, written as
    `\\uXXXX`, which every JSON Schema regex dialect reads; none has one way to write the others."""
    return Field(json_schema_extra={"pattern": f"^[^{forbidden_bmp}]*$"})


Line = Annotated[str, AfterValidator(_clean(LINE_FORBIDDEN)), _schema(_LINE_BMP)]
"""One line of free text (a name, a subject, an operator id): no control character at all."""
Text = Annotated[str, AfterValidator(_clean(TEXT_FORBIDDEN)), _schema(_TEXT_BMP)]
"""Free text that may run over several lines (an enquiry, an answer): TAB and LF allowed."""
