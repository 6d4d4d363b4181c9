"""One request of a visit, sent like a real client sends it: retried when the system asks, recorded.

A write carries an `Idempotency-Key` and every retry of it carries the same key, so a retry after a
lost acknowledgement is answered from the system's record instead of posting twice. A step is
retried on 503, 504, a 409 that says when to come back (`Retry-After`: the first request with the
key is still being served), a transport error (no status) and a 2xx whose body cannot be read,
at most `RetryPolicy.max_retries` times; a transport error also for as long as the step has spent
less than `RetryPolicy.reconnect_s`, so a system restarting after a crash (seconds without a
listener) is waited for, as a client reconnects. The wait honours `Retry-After` (capped), else
backs off exponentially with jitter.

Recording is per attempt: every HTTP request sent is one `RequestRecord`, as Locust counts it, with
`retries` = the attempts of the same step before it and `outcome` saying whether the step was
settled by this attempt ("ok", "refused", "failed") or tried again ("retried"). A step's customer
time is the `end` of its settled attempt minus the visit's `scheduled` start.

Outside the measured day (the branches read before it, onboarding, a binding's own ledger check
after it), a binding's requests go through the `PlainWire`: the same wait on `Retry-After`, not
recorded, one at a time once the target pushes back.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal, NamedTuple, Protocol

import orjson

from surge.visit.values import PoolError

Outcome = Literal["ok", "refused", "retried", "failed"]
"""ok: 2xx; refused: a business refusal the customer meets (insufficient funds, sold out, slot
full), not an error; retried: this attempt failed and the step was sent again; failed: the step
gave up (an unexpected status, or retries spent): a failed request."""
ERRORS: tuple[Outcome, ...] = ("retried", "failed")
"""The outcomes of errors, attempts the system got wrong (a 5xx, a timeout, a reset, a 4xx that is
no business refusal), retried or not: the customer may not have seen a retried one, the system
still got it wrong. An error rate is their share of all attempts (profiles/README.md defines
errors, failed requests and unfinished visits)."""

# Keys: a random prefix per process and a counter, unique across processes and runs; a uuid4 per
# write cost an os.urandom call on the generator's hot path. Locust's --processes forks workers
# after importing this module: each child draws its own prefix, or the workers' keys collide.
_KEY_PREFIX = ""
_KEY_NUMBERS = itertools.count(1)


def _new_key_prefix() -> None:
    global _KEY_PREFIX
    _KEY_PREFIX = uuid.uuid4().hex[:16]


_new_key_prefix()
os.register_at_fork(after_in_child=_new_key_prefix)


def idempotency_key() -> str:
    """A key no other request of any process or run uses."""
    return f"{_KEY_PREFIX}-{next(_KEY_NUMBERS)}"


TRANSPORT_ERROR = 0
"""The status recorded when no response arrived (connection refused, reset, timeout)."""


class Response(Protocol):
    """What the journeys read of a response (httpx's and Locust's FastResponse have it)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content(self) -> bytes | None: ...

    @property
    def text(self) -> str: ...


class Client(Protocol):
    """An HTTP client on the target's base URL, e.g. Locust's `FastHttpSession` or an adapter.

    Bodies arrive already encoded (`data`, JSON bytes with their Content-Type header): orjson
    encodes and decodes them ten times faster than the stdlib `json` Locust would use, on the
    generator's hot path. A transport failure may be raised (any exception) or returned as
    status 0 (Locust's way).
    """

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
        """`refusals`: statuses that are business answers of this request, not failures."""
        ...


class RequestRecord(NamedTuple):
    """One HTTP request as the run folder keeps it; times are wall-clock seconds (epoch).

    A tuple of strings and numbers, so Python's collector stops tracking it: a run keeps every
    record in memory, and full collections scanning them paused the load for tens of ms.
    """

    channel: str
    journey: str
    step: str
    method: str
    name: str
    """The route template, e.g. /v1/accounts/{account_id}: requests group by it."""
    status: int
    """The HTTP status, or 0 when no response arrived."""
    error: str
    """Why the attempt did not succeed ("" on 2xx), e.g. "409 Sold out"."""
    retries: int
    outcome: Outcome
    start: float
    end: float
    scheduled: float
    """The visit's scheduled start: `end - scheduled` is what the customer waited."""
    customer: str
    """The visit's customer (their id at the target, never personal data)."""
    key: str
    """The write's `Idempotency-Key` ("" for a read and a login): every retry of a step carries
    the same, so the target's ledger can be checked against the acknowledged writes."""


class Recorder(Protocol):
    def __call__(self, record: RequestRecord, /) -> None: ...


Renewal = Callable[[Mapping[str, str]], dict[str, str] | None]
"""Headers to send again after a 401, with the credential renewed; None: the 401 stands."""
UNAUTHORIZED = HTTPStatus.UNAUTHORIZED.value


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 3
    base_delay: float = 0.2
    """Seconds before the first retry when the response gives no Retry-After; doubles each time."""
    max_delay: float = 5.0
    """No wait is longer, whatever Retry-After says: a customer gives up, the run moves on."""
    reconnect_s: float = 10.0
    """A step whose attempts find no system answering (a transport error) is retried beyond
    `max_retries` while its attempts and waits so far, and the next wait, stay within this: a
    mock core killed and started again is listening within a few seconds (`surge.run.crash`)."""
    reconnect_delay: float = 1.0
    """…and no wait after a transport error is longer, so the step is back within a second of
    the system listening again."""

    def again(self, attempt: int, status: int, spent: float, delay: float) -> bool:
        """Whether a retryable attempt is sent again, after `spent` seconds on the step."""
        if attempt < self.max_retries:
            return True
        return status == TRANSPORT_ERROR and spent + delay <= self.reconnect_s

    def delay(
        self, attempt: int, retry_after: float | None, jitter: random.Random, status: int = -1
    ) -> float:
        """Seconds to wait before retry number `attempt + 1` after an attempt of `status`."""
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        backoff = self.base_delay * 2.0**attempt * (0.5 + jitter.random())
        longest = self.reconnect_delay if status == TRANSPORT_ERROR else self.max_delay
        return min(backoff, longest)


class Reply(NamedTuple):
    """A settled step: its last status, its body (parsed JSON of a 2xx, else None)."""

    status: int
    body: Any
    outcome: Outcome


@dataclass(slots=True)
class Sender:
    """Sends one visit's requests: retries, keys and records. One per visit, not shared."""

    client: Client
    record: Recorder
    sleep: Callable[[float], object]
    policy: RetryPolicy
    channel: str
    journey: str
    scheduled: float
    customer: str
    jitter_seed: int
    """Drawn once from the visit's rng, so how often a step is retried never shifts the visit's
    own choices (amounts, products, slots)."""
    clock: Callable[[], float] = time.time
    renew: Renewal | None = None
    """The run's credentials' `renewed`: a 401 to a token that expired on its way is sent once
    more with a new one (docs/credentials.md)."""
    _jitter: random.Random | None = None

    def send(
        self,
        step: str,
        method: str,
        path: str,
        *,
        name: str,
        headers: dict[str, str],
        json: Any = None,
        refusals: tuple[int, ...] = (),
        keyed: bool = True,
    ) -> Reply:
        """Send until settled. `refusals`: statuses that are business outcomes of this step;
        `keyed`: a write carries an idempotency key (opening a session moves nothing: no key)."""
        data, key = None, ""
        if method != "GET":
            if json is not None:
                data = orjson.dumps(json)
            if keyed:
                key = idempotency_key()
                if data is None:
                    headers = {**headers, "Idempotency-Key": key}
                else:
                    headers = {**headers, "Idempotency-Key": key, "Content-Type": _JSON}
            elif data is not None:
                headers = {**headers, "Content-Type": _JSON}
        attempt, spent, renewed = 0, 0.0, False
        while True:
            start = self.clock()
            status, body, error, retry_after = self._attempt(
                method, path, name, headers, data, refusals
            )
            end = self.clock()
            # Counted from the attempts and the waits asked for, not from the clock alone: the
            # sleep may be simulated (tests), and a step must stay bounded all the same.
            spent += end - start
            delay = 0.0
            if not error:
                outcome: Outcome = "ok"
            elif status in refusals and retry_after is None:
                outcome = "refused"
            elif status == UNAUTHORIZED and not renewed and (fresh := self._renewed(headers)):
                headers, renewed, outcome = fresh, True, "retried"
            elif _retryable(status, body, retry_after):
                delay = self.policy.delay(attempt, retry_after, self._jitter_rng(), status)
                again = self.policy.again(attempt, status, spent, delay)
                outcome = "retried" if again else "failed"
            else:
                outcome = "failed"
            self.record(
                RequestRecord(
                    self.channel,
                    self.journey,
                    step,
                    method,
                    name,
                    status,
                    error,
                    attempt,
                    outcome,
                    start,
                    end,
                    self.scheduled,
                    self.customer,
                    key,
                )
            )
            if outcome != "retried":
                return Reply(status, body if outcome == "ok" else None, outcome)
            self.sleep(delay)
            spent += delay
            attempt += 1

    def _renewed(self, sent: dict[str, str]) -> dict[str, str] | None:
        return None if self.renew is None else self.renew(sent)

    def _jitter_rng(self) -> random.Random:
        if self._jitter is None:
            self._jitter = random.Random(self.jitter_seed)
        return self._jitter

    def _attempt(
        self,
        method: str,
        path: str,
        name: str,
        headers: dict[str, str],
        data: bytes | None,
        refusals: tuple[int, ...],
    ) -> tuple[int, Any, str, float | None]:
        """(status, parsed 2xx body or _UNREADABLE, error text, Retry-After seconds)."""
        try:
            response = self.client.request(
                method, path, data=data, headers=headers, name=name, refusals=refusals
            )
            status = response.status_code
        except Exception as exc:  # any client library's transport error: the step is retried
            return TRANSPORT_ERROR, None, f"{type(exc).__name__}: {exc}"[:200], None
        if status == TRANSPORT_ERROR:
            return status, None, str(getattr(response, "error", "no response"))[:200], None
        if 200 <= status < 300:
            try:
                return status, orjson.loads(response.content or b""), "", None
            except orjson.JSONDecodeError:  # an acknowledgement garbled: ask again, same key
                return status, _UNREADABLE, f"{status} unreadable body", None
        retry_after = _seconds(response.headers.get("Retry-After"))
        return status, None, f"{status} {_title(response)}", retry_after


_UNREADABLE = object()
_JSON = "application/json"


def _retryable(status: int, body: Any, retry_after: float | None) -> bool:
    if status in (TRANSPORT_ERROR, 503, 504) or body is _UNREADABLE:
        return True
    # 409 with Retry-After: the first request with this key is still running. A 409 without it
    # (sold out, slot full, already decided) is an answer, and asking again changes nothing.
    return status == 409 and retry_after is not None


def _seconds(value: str | Sequence[str] | None) -> float | None:
    """Retry-After as seconds; the HTTP-date form is not used by the systems under test. A
    header sent twice counts by its first value: geventhttpclient (Locust's FastHttpSession)
    gives it as a list, httpx as one string joined by commas."""
    if value is not None and not isinstance(value, str):
        value = value[0] if value else None
    if value is None:
        return None
    try:
        seconds = float(value.split(",", 1)[0])
    except ValueError:
        return None
    return max(seconds, 0.0)


def _title(response: Response) -> str:
    """How the record words an error answer: a problem document's `title`, else an error code
    the body names as a bare word (`code`, `error`, `error.code`: other APIs' shapes, see
    docs/bindings.md), else the status's own phrase. Never the body's free text, which may name
    an account or a customer."""
    try:
        body = orjson.loads(response.content or b"")
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        title = body.get("title")
        if isinstance(title, str) and title:
            return title[:_TITLE_MAX]
        error = body.get("error")
        nested = error.get("code") if isinstance(error, dict) else None
        for code in (body.get("code"), error, nested):
            if isinstance(code, str) and _CODE.fullmatch(code):
                return code
    try:
        return HTTPStatus(response.status_code).phrase
    except ValueError:
        return "unknown status"


_TITLE_MAX = 80
_CODE = re.compile(r"[A-Za-z][A-Za-z_.-]{0,63}")
"""An error code as APIs name them: a word, with no digits that could be an account's."""


@dataclass(slots=True)
class Wire:
    """One visit's send-retry-record path: every request of its steps goes through `send`."""

    sender: Sender
    failed_step: str | None = None
    """The step that failed after its retries, which left the visit unfinished."""

    def send(
        self,
        step: str,
        method: str,
        path: str,
        *,
        name: str,
        headers: dict[str, str],
        json: Any = None,
        refusals: tuple[int, ...] = (),
        keyed: bool = True,
    ) -> Reply:
        """`Sender.send`: `name` is the route template the record groups by; `refusals` the
        statuses that are business answers of the step; `keyed`: see `Sender.send`."""
        reply = self.sender.send(
            step,
            method,
            path,
            name=name,
            headers=headers,
            json=json,
            refusals=refusals,
            keyed=keyed,
        )
        if reply.outcome == "failed":
            self.failed_step = step
        return reply


class PlainResponse(Protocol):
    """What a binding reads of an answer on the `PlainWire` (httpx's responses have it)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def json(self) -> Any: ...


class PlainClient(Protocol):
    """What the `PlainWire` needs of an HTTP client on the target: httpx.Client fits."""

    def post(self, url: str, *, json: Any, headers: Mapping[str, str]) -> PlainResponse: ...

    def get(self, url: str, *, headers: Mapping[str, str]) -> PlainResponse: ...


PUSH_BACK_TRIES = 4
"""Sends of one request the target may refuse with 503/504 before the `PlainWire` gives up."""
PUSH_BACK_WAIT_S = 10.0
"""The longest wait before sending a refused request again, whatever `Retry-After` says."""


class PushBack:
    """The `PlainWire`'s requests in flight: up to a limit, one at a time once the target pushes
    back.

    A target whose lane for these routes is smaller than the limit (a test system, a lane shrunk
    to rehearse saturation; onboarding's is `surge.visit.customers.ONBOARDING_CONCURRENCY`)
    answers the excess 503 or 504 before doing anything, and is then sent one request after
    another, as it always could be.
    """

    def __init__(self, limit: int) -> None:
        self._free = threading.Condition()
        self._limit = limit
        self._busy = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._free:
            self._free.wait_for(lambda: self._busy < self._limit)
            self._busy += 1
        try:
            yield
        finally:
            with self._free:
                self._busy -= 1
                self._free.notify_all()

    def push_back(self) -> None:
        with self._free:
            self._limit = 1


class PlainWire:
    """Every request a binding sends outside the measured day: the branches read before it, each
    person's onboarding, its own ledger check after it (`Binding.branches`, `onboard`,
    `reconcile`). Plain HTTP, not recorded as the day's requests; each is sent again (same key)
    while the target lacks the capacity (503, 504), and one at a time from then on; a transport
    error is a `PoolError` that says `where`."""

    def __init__(self, client: PlainClient, gate: PushBack, where: str) -> None:
        self._client = client
        self._gate = gate
        self.where = where
        """What the requests are for, for the one line of a `PoolError`."""

    def post(self, url: str, body: Any, headers: Mapping[str, str]) -> PlainResponse:
        return self._send(f"POST {url}", self._client.post, url, body, headers)

    def get(self, url: str, headers: Mapping[str, str]) -> PlainResponse:
        return self._send(f"GET {url}", self._client.get, url, None, headers)

    def request(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None, json: Any = None
    ) -> PlainResponse:
        """What `branches` and `reconcile` called on the httpx client they were given before
        they were given this wire (docs/bindings.md, "Upgrading"), with a warning."""
        warnings.warn(
            f"{self.where}: the binding called wire.request({method!r}, …), the httpx client's "
            "call that branches() and reconcile() were given until they got a PlainWire: "
            "call wire.get(url, headers) or wire.post(url, body, headers) (docs/bindings.md)",
            FutureWarning,
            stacklevel=2,
        )
        if method.upper() == "GET":
            return self.get(url, headers or {})
        if method.upper() == "POST":
            return self.post(url, json, headers or {})
        raise PoolError(f"{self.where}: {method} {url} is not sent outside the day (GET or POST)")

    def _send(
        self,
        what: str,
        method: Callable[..., PlainResponse],
        url: str,
        body: Any,
        headers: Mapping[str, str],
    ) -> PlainResponse:
        for sent in range(1, PUSH_BACK_TRIES + 1):
            with self._gate.slot():
                try:
                    if body is None:
                        response: PlainResponse = method(url, headers=headers)
                    else:
                        response = method(url, json=body, headers=headers)
                except Exception as error:  # the client's own transport errors, whichever client
                    raise PoolError(
                        f"{self.where}: {what} failed: {type(error).__name__}: {error}"
                    ) from error
            if response.status_code not in (503, 504) or sent == PUSH_BACK_TRIES:
                break
            self._gate.push_back()
            time.sleep(_retry_after(response))
        return response


def _retry_after(response: PlainResponse) -> float:
    """`Retry-After` in seconds (capped), or one second when it is missing or a date."""
    seconds = _seconds(response.headers.get("Retry-After"))
    return 1.0 if seconds is None else min(seconds, PUSH_BACK_WAIT_S)


RENAMED = {"OnboardingWire": "PlainWire", "OnboardingResponse": "PlainResponse"}
"""Names a binding imported before every request outside the day went through one wire."""


def renamed(old: str, module: str) -> Any:
    """`old`'s new name's value, with a warning naming both; AttributeError for any other name
    (a module's `__getattr__`, here and in `surge.visit`)."""
    new = RENAMED.get(old)
    if new is None:
        raise AttributeError(f"module {module!r} has no attribute {old!r}")
    warnings.warn(
        f"{module}.{old} is {new} now; the old name goes in a later release (docs/bindings.md)",
        FutureWarning,
        stacklevel=3,
    )
    return globals()[new]


def __getattr__(name: str) -> Any:
    return renamed(name, __name__)
