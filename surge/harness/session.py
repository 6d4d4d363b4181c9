"""Locust's `FastHttpSession` as the journeys' client: Locust still counts every request.

Two settings differ from a plain `FastHttpUser`'s session, both because one Locust user here
serves many customers' visits in turn, not one customer's:
- No cookie jar. One customer's cookies must not ride along with the next customer's requests;
  the systems under test authenticate every request with a bearer token. (The jar also cost
  about 7% of each request's time in Locust's client.)
- A business refusal the step expects (insufficient funds, sold out, slot full) is an answer,
  not a failure, in Locust's statistics too, as it is in the harness's records (`outcome`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

from locust.contrib.fasthttp import FastHttpSession, LocustUserAgent

from surge.visit.wire import Response

_ANSWERS: frozenset[int] = LocustUserAgent.valid_response_codes
"""The statuses Locust's client accepts as answers (2xx and redirects)."""


@lru_cache(maxsize=64)
def _answers(refusals: tuple[int, ...]) -> frozenset[int]:
    return _ANSWERS.union(refusals)


class _Request(Protocol):
    """`FastHttpSession.request`, as this session calls it."""

    def __call__(
        self,
        method: str,
        url: str,
        *,
        name: str | None,
        data: bytes | None,
        headers: dict[str, str] | None,
    ) -> Response: ...


class Session:
    """One Locust user's HTTP session, as `surge.visit.wire.Client`."""

    def __init__(self, session: FastHttpSession) -> None:
        # Locust's types for this are not what it does. It types `data` as text or a dict, but
        # sends bytes as they are (its docstring says so). Its FastResponse is typed looser than
        # `Response`: `headers` and `text` are None only on its ErrorResponse, status 0, a
        # transport error, whose headers the wire never reads; a header's value is a list only
        # for a header sent twice.
        self._request: _Request = session.request  # type: ignore[assignment]
        self._agent = session.client
        self._agent.cookiejar = None

    def request(
        self,
        method: str,
        path: str,
        *,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        name: str | None = None,
        refusals: tuple[int, ...] = (),
    ) -> Response:
        if not refusals:
            return self._request(method, path, name=name, data=data, headers=headers)
        # Locust's client raises (and Locust counts a failure) for a status outside this set;
        # the user runs one request at a time, so setting it for this request is safe.
        # geventhttpclient declares the set a ClassVar, but reads it through the instance.
        self._agent.valid_response_codes = _answers(refusals)  # type: ignore[misc]
        try:
            return self._request(method, path, name=name, data=data, headers=headers)
        finally:
            self._agent.valid_response_codes = _ANSWERS  # type: ignore[misc]
