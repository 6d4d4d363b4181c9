"""Request bodies decoded as strict JSON: a key named twice, NaN, Infinity or a string that is not
Unicode text is refused.

Python's `json.loads`, which FastAPI reads bodies with, keeps the last of two equal keys, so
`{"amount": "1.00", "amount": "9000.00"}` is read as 9000 here and maybe as 1 by a proxy or an
audit log in front (RFC 8259 leaves duplicate names to the parser). It also reads NaN and
Infinity, which are not JSON. orjson would be faster but keeps the last duplicate silently too.

JSON's `\\u` escapes can also write half of a UTF-16 surrogate pair on its own (`"\\ud800"`),
which Python decodes to a string that is not Unicode text: it cannot be stored, compared or
answered as UTF-8. A body that holds one, in a key or a value, is refused like invalid UTF-8.

The hook costs one Python call per object of the body, and the decoder is built once. Only a body
with an escape in it is searched for lone surrogates.
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

from starlette.requests import Request

from mock_core.problems import BodyProblem, Problem


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def _not_json(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON value")


_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(value: Any) -> str | None:
    """The first lone surrogate in `value`'s strings and keys, as U+XXXX; None if none."""
    if isinstance(value, str):
        found = _SURROGATE.search(value)
        return f"U+{ord(found.group()):04X}" if found else None
    if isinstance(value, dict):
        return next(
            (s for item in value.items() for part in item if (s := _lone_surrogate(part))), None
        )
    if isinstance(value, list):
        return next((s for part in value if (s := _lone_surrogate(part))), None)
    return None


_DECODER = json.JSONDecoder(object_pairs_hook=_unique, parse_constant=_not_json)


def decode(body: bytes) -> Any:
    """The JSON value of `body` (UTF-8, as RFC 8259 requires between systems).

    Syntax errors stay `json.JSONDecodeError`, which FastAPI answers as malformed JSON; the rest
    is a `BodyProblem`, the one kind of error FastAPI lets out of its body reading unchanged.
    """
    try:
        value = _DECODER.decode(body.decode("utf-8"))
    except json.JSONDecodeError:
        raise
    except _DuplicateKey as duplicate:
        raise BodyProblem(
            Problem(
                400,
                "Duplicate key",
                f"the body names {duplicate.key!r} more than once; each key must be unique",
                field=duplicate.key,
            )
        ) from None
    except (ValueError, RecursionError) as error:  # not UTF-8, NaN, an integer of 4,300 digits
        raise _malformed(str(error)) from None
    if b"\\u" in body and (surrogate := _lone_surrogate(value)):
        raise _malformed(f"the escape of {surrogate}, half of a surrogate pair, is not text")
    return value


def _malformed(reason: str) -> BodyProblem:
    return BodyProblem(
        Problem(400, "Malformed JSON", f"the body is not valid JSON: {reason}", field="body")
    )


class StrictJSONRequest(Request):
    """A request whose `json()` is `decode`: what FastAPI reads a JSON body with."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = decode(await self.body())
        return self._json
