"""Strict request fields: each value has one written form, and nothing is guessed.

FastAPI hands a decoded body to pydantic as Python objects, where pydantic's lax mode reads `true`
as 1, `"12"` as 12 and the number 0 as the date 1970-01-01. `RequestBody` makes every field of a
body strict; the types here say what strictness alone does not: dates are ISO strings, query
integers are plain ASCII digits, and text holds no control or invisible formatting character.
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
    """The base of every request body: strict types, so `true` and `"12"` are not integers."""

    model_config = ConfigDict(strict=True)


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

_INVISIBLE = r"\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
"""Bidirectional controls (Trojan Source: U+202A-U+202E, U+2066-U+2069, and the marks U+061C,
U+200E, U+200F), line and paragraph separators, zero-width space, invisible operators and the
byte-order mark. ZWJ and ZWNJ (U+200C, U+200D) stay: scripts and emoji sequences need them."""
LINE_FORBIDDEN = r"\u0000-\u001f\u007f-\u009f" + _INVISIBLE
"""Every C0 and C1 control character (NUL, TAB, CR, LF, ...), and the invisible ones."""
TEXT_FORBIDDEN = r"\u0000-\u0008\u000b-\u001f\u007f-\u009f" + _INVISIBLE
"""As a line, but TAB and LF are allowed: a multi-line text (CR is not: lines end with LF)."""


def _clean(forbidden: str) -> Callable[[str], str]:
    found = re.compile(f"[{forbidden}]").search

    def check(value: str) -> str:
        bad = found(value)
        if bad is not None:
            raise PydanticCustomError(
                "control_character",
                "{char} at position {at} is a control or invisible formatting character",
                {"char": f"U+{ord(bad.group()):04X}", "at": bad.start()},
            )
        return value

    return check


def _schema(forbidden: str) -> Any:
    return Field(json_schema_extra={"pattern": f"^[^{forbidden}]*$"})


Line = Annotated[str, AfterValidator(_clean(LINE_FORBIDDEN)), _schema(LINE_FORBIDDEN)]
"""One line of free text (a name, a subject, an operator id): no control character at all."""
Text = Annotated[str, AfterValidator(_clean(TEXT_FORBIDDEN)), _schema(TEXT_FORBIDDEN)]
"""Free text that may run over several lines (an enquiry, an answer): TAB and LF allowed."""
