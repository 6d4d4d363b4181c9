"""Request bodies decoded as strict JSON: a key named twice, NaN or Infinity is refused.

Python's `json.loads`, which FastAPI reads bodies with, keeps the last of two equal keys, so
`{"amount": "1.00", "amount": "9000.00"}` is read as 9000 here and maybe as 1 by a proxy or an
audit log in front (RFC 8259 leaves duplicate names to the parser). It also reads NaN and
Infinity, which are not JSON. orjson would be faster but keeps the last duplicate silently too.

The hook costs one Python call per object of the body, and the decoder is built once.
"""

from __future__ import annotations

import json
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


_DECODER = json.JSONDecoder(object_pairs_hook=_unique, parse_constant=_not_json)


def decode(body: bytes) -> Any:
    """The JSON value of `body` (UTF-8, as RFC 8259 requires between systems).

    Syntax errors stay `json.JSONDecodeError`, which FastAPI answers as malformed JSON; the rest
    is a `BodyProblem`, the one kind of error FastAPI lets out of its body reading unchanged.
    """
    try:
        return _DECODER.decode(body.decode("utf-8"))
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
        raise BodyProblem(
            Problem(400, "Malformed JSON", f"the body is not valid JSON: {error}", field="body")
        ) from None


class StrictJSONRequest(Request):
    """A request whose `json()` is `decode`: what FastAPI reads a JSON body with."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = decode(await self.body())
        return self._json
