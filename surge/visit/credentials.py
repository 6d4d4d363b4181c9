"""Credentials as banks use them: a bearer token or OAuth2 client credentials, and mutual TLS.

They come from the environment or a TOML file named by `SURGE_CREDENTIALS`, never from the
command line (which run.json records, docs/credentials.md). Each value may come from either; the
environment's wins, so the file can hold the settings and the environment the secret:

    SURGE_BEARER_TOKEN                  [bearer] token
    SURGE_OAUTH2_TOKEN_URL              [oauth2] token_url
    SURGE_OAUTH2_CLIENT_ID              [oauth2] client_id
    SURGE_OAUTH2_CLIENT_SECRET          [oauth2] client_secret
    SURGE_OAUTH2_SCOPE                  [oauth2] scope
    SURGE_OAUTH2_AUTH                   [oauth2] auth ("basic", the default, or "body")
    SURGE_TLS_CERT, _KEY, _CA           [tls] cert, key, ca (a file's paths are relative to it)

One process loads them once (`from_environment`) and every Locust user in it shares them: one
OAuth2 token, fetched at start and again before it expires, one refresh at a time. The TLS
settings reach each HTTP client through its own options: `ssl_context_factory` for Locust's
`FastHttpSession` (geventhttpclient), `verify=` for the harness's own httpx clients. Nothing here
prints or returns a secret but in the `Authorization` header it builds; `describe` names only the
kinds, for run.json. Bad input (a file that does not read, a certificate that does not load, a
token endpoint that refuses) is a `BadInput`, one line.
"""

from __future__ import annotations

import os
import ssl
import threading
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx

from surge.exits import BadInput

FILE = "SURGE_CREDENTIALS"
FIELDS: dict[str, tuple[str, str]] = {
    "SURGE_BEARER_TOKEN": ("bearer", "token"),
    "SURGE_OAUTH2_TOKEN_URL": ("oauth2", "token_url"),
    "SURGE_OAUTH2_CLIENT_ID": ("oauth2", "client_id"),
    "SURGE_OAUTH2_CLIENT_SECRET": ("oauth2", "client_secret"),
    "SURGE_OAUTH2_SCOPE": ("oauth2", "scope"),
    "SURGE_OAUTH2_AUTH": ("oauth2", "auth"),
    "SURGE_TLS_CERT": ("tls", "cert"),
    "SURGE_TLS_KEY": ("tls", "key"),
    "SURGE_TLS_CA": ("tls", "ca"),
}
"""Each environment variable and the `[table] key` of the file it stands for."""
_PATHS = {("tls", "cert"), ("tls", "key"), ("tls", "ca")}
TOKEN_TIMEOUT_S = 10.0
DEFAULT_LIFETIME_S = 300.0
"""A token answered without `expires_in` (RFC 6749 only recommends it) is fetched again so often."""
REFRESH_SHARE = 0.2
"""A token is fetched again once this share of its lifetime is left, and at most
`REFRESH_LEAD_S` before it expires: requests in flight never carry an expired one."""
REFRESH_LEAD_S = 60.0


@dataclass(frozen=True, slots=True)
class Tls:
    """Mutual TLS: the client's certificate and key, and the CA bundle the target's is checked
    against (the system's when none is given)."""

    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None

    @property
    def kind(self) -> str:
        return "mutual" if self.cert is not None else "ca"

    def context(self) -> ssl.SSLContext:
        """One SSL context with both loaded; `BadInput` naming the file that does not load."""
        try:
            context = ssl.create_default_context(cafile=None if self.ca is None else str(self.ca))
        except (OSError, ssl.SSLError) as error:
            raise BadInput(f"TLS CA bundle {self.ca}: does not load: {_why(error)}") from None
        if self.cert is not None:
            key = None if self.key is None else str(self.key)
            try:
                context.load_cert_chain(str(self.cert), key)
            except (OSError, ssl.SSLError) as error:
                raise BadInput(
                    f"TLS client certificate {self.cert}: does not load: {_why(error)}"
                ) from None
        return context


@dataclass(frozen=True, slots=True)
class Token:
    value: str = field(repr=False)
    refresh_at: float
    expires_at: float
    asked_at: float
    """When it was asked for: its life runs from here to `expires_at`."""

    def late_in_life(self, now: float) -> bool:
        """Past half its life: a 401 to it may be its expiry on the way (`OAuth2.renew`)."""
        return now - self.asked_at >= (self.expires_at - self.asked_at) / 2


class OAuth2:
    """OAuth2 client credentials (RFC 6749 §4.4): a token fetched from `token_url`, shared by
    every caller in the process, and fetched again before it expires by one caller alone while
    the others go on with the one still valid."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str | None = None,
        auth: str = "basic",
        verify: ssl.SSLContext | bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if auth not in ("basic", "body"):
            raise BadInput(f"oauth2 auth: 'basic' or 'body', not {auth!r}")
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self.scope = scope
        self.auth = auth
        self._verify = verify
        self._clock = clock
        self._lock = threading.Lock()  # gevent's under Locust's monkey-patching
        self._token: Token | None = None
        self._replaced: str | None = None
        """The token the held one replaced: a request may still be carrying it."""
        self.fetches = 0
        """Tokens fetched so far (each refresh is one)."""

    def __repr__(self) -> str:
        return f"OAuth2({self.token_url!r}, client_id={self.client_id!r})"

    def token(self) -> str:
        """A token valid now: the one held, or a new one once it is due for refreshing."""
        held = self._token
        if held is not None and self._clock() < held.refresh_at:
            return held.value
        if held is not None and self._clock() < held.expires_at:
            if not self._lock.acquire(blocking=False):
                return held.value  # another caller is fetching; this one is still good
        else:
            self._lock.acquire()
        try:
            held = self._token
            if held is None or self._clock() >= held.refresh_at:
                held = self._replace(held)
            return held.value
        finally:
            self._lock.release()

    def renew(self, refused: str) -> str | None:
        """A token to send again in place of `refused`, which the target answered 401: a new
        one when `refused` is the one held and past half its life (it expired on its way, in a
        queue longer than the refresh lead), the one held when another caller already replaced
        it; None when `refused` is no token of this client's, or one refused early in its life
        for another reason, which a new token would not mend: a target refusing every request
        makes at most two fetches a token's life, not one a request."""
        with self._lock:
            held = self._token
            if held is not None and refused == held.value:
                if not held.late_in_life(self._clock()):
                    return None
                held = self._replace(held)
            elif held is None or refused != self._replaced:
                return None
            return held.value

    def _replace(self, held: Token | None) -> Token:
        """Fetch a token in place of `held` (the lock held)."""
        self._token = self._fetch()
        self._replaced = held.value if held is not None else None
        return self._token

    def _fetch(self) -> Token:
        form = {"grant_type": "client_credentials", **({"scope": self.scope} if self.scope else {})}
        basic: tuple[str, str] | None = (self.client_id, self._secret)
        if self.auth == "body":
            form.update(client_id=self.client_id, client_secret=self._secret)
            basic = None
        asked = self._clock()
        try:
            answer = httpx.post(
                self.token_url, data=form, auth=basic, timeout=TOKEN_TIMEOUT_S, verify=self._verify
            )
        except httpx.HTTPError as error:
            raise BadInput(f"OAuth2 token endpoint {self.token_url}: {_why(error)}") from None
        try:
            body = answer.json()
        except ValueError:
            body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        if answer.status_code != 200 or not isinstance(token, str) or not token:
            # RFC 6749 §5.2: `error` names why; the rest of the answer may echo what was sent.
            why = body.get("error") if isinstance(body, dict) else None
            raise BadInput(
                f"OAuth2 token endpoint {self.token_url} refused client {self.client_id!r}: "
                f"{answer.status_code}{f' {why}' if isinstance(why, str) else ''}"
            )
        lifetime = body.get("expires_in", DEFAULT_LIFETIME_S)
        if not isinstance(lifetime, int | float) or lifetime <= 0:
            lifetime = DEFAULT_LIFETIME_S
        lead = min(REFRESH_LEAD_S, REFRESH_SHARE * lifetime)
        self.fetches += 1
        return Token(token, asked + lifetime - lead, asked + lifetime, asked)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a binding puts on each request (`headers`) and what each HTTP client connects
    with (`ssl_context`). Empty: no credentials of the bank's (the mock core's channel tokens
    are the mock core binding's own)."""

    bearer: str | None = field(default=None, repr=False)
    oauth2: OAuth2 | None = None
    tls: Tls | None = None
    _context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    @property
    def kind(self) -> str:
        """Which credential the requests carry: `bearer`, `oauth2` or `none`."""
        return "bearer" if self.bearer else "oauth2" if self.oauth2 else "none"

    def headers(self, channel: str = "") -> dict[str, str]:
        """The `Authorization` header for a request of `channel` (one credential serves every
        channel); none without a token."""
        if self.bearer:
            return {"Authorization": f"Bearer {self.bearer}"}
        if self.oauth2 is not None:
            return {"Authorization": f"Bearer {self.oauth2.token()}"}
        return {}

    def renewed(self, sent: Mapping[str, str]) -> dict[str, str] | None:
        """`sent` again with a new OAuth2 token, when the target answered 401 to the token it
        carried (`OAuth2.renew`); None when there is nothing to renew (a fixed bearer token, or
        an `Authorization` that is not this credential's), and the 401 stands."""
        carried = sent.get("Authorization", "")
        if self.oauth2 is None or not carried.startswith("Bearer "):
            return None
        fresh = self.oauth2.renew(carried.removeprefix("Bearer "))
        return None if fresh is None else {**sent, "Authorization": f"Bearer {fresh}"}

    def check(self) -> None:
        """Fetch the first OAuth2 token now, so that a refusing endpoint is bad input at start
        rather than a failure of every visit."""
        if self.oauth2 is not None:
            self.oauth2.token()

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS settings as one context, or None: the clients' own defaults."""
        return self._context

    def ssl_context_factory(self) -> Callable[..., ssl.SSLContext] | None:
        """For Locust's `FastHttpUser.ssl_context_factory`: geventhttpclient calls it with
        `cafile=` (its own default bundle) per connection pool; the one context is returned
        instead, with the bundle given here."""
        context = self._context
        if context is None:
            return None

        def factory(**_: Any) -> ssl.SSLContext:
            return context

        return factory

    def http_client(self, base_url: str, timeout: float) -> httpx.Client:
        """An httpx client for the harness's own calls (onboarding, admin, scraping)."""
        verify: ssl.SSLContext | bool = self._context if self._context is not None else True
        return httpx.Client(base_url=base_url, timeout=timeout, verify=verify)

    def describe(self) -> dict[str, str]:
        """Which kinds were used, for run.json: never a value."""
        return {"token": self.kind, "tls": "none" if self.tls is None else self.tls.kind}


NONE = Credentials()


def from_environment(environ: Mapping[str, str] | None = None) -> Credentials:
    """The process's credentials, from `SURGE_CREDENTIALS`'s file and the `SURGE_*` variables;
    the same object for the same settings, so every caller shares one OAuth2 token."""
    given = os.environ if environ is None else environ
    return _load(tuple((name, given[name]) for name in (FILE, *FIELDS) if given.get(name)))


@lru_cache(maxsize=8)
def _load(given: tuple[tuple[str, str], ...]) -> Credentials:
    values = dict(given)
    tables: dict[str, dict[str, str]] = {}
    if FILE in values:
        tables = _read_file(Path(values[FILE]))
    for name, (table, key) in FIELDS.items():
        if name in values:
            tables.setdefault(table, {})[key] = values[name]
    bearer = tables.get("bearer", {}).get("token")
    oauth2 = tables.get("oauth2")
    if bearer and oauth2:
        raise BadInput("credentials: a bearer token or OAuth2 client credentials, not both")
    tls = _tls(tables.get("tls"))
    context = None if tls is None else tls.context()
    return Credentials(
        bearer=bearer or None,
        oauth2=_oauth2(oauth2, context) if oauth2 else None,
        tls=tls,
        _context=context,
    )


def _read_file(path: Path) -> dict[str, dict[str, str]]:
    where = f"{FILE}={path}"
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise BadInput(f"{where}: cannot read it: {_why(error)}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise BadInput(f"{where}: not TOML: {error}") from None
    tables: dict[str, dict[str, str]] = {}
    known = {
        table: {key for t, key in FIELDS.values() if t == table} for table, _ in FIELDS.values()
    }
    for table, entries in document.items():
        if table not in known or not isinstance(entries, dict):
            raise BadInput(f"{where}: [{table}]: unknown; [bearer], [oauth2] or [tls]")
        for key, value in entries.items():
            if key not in known[table] or not isinstance(value, str):
                raise BadInput(f"{where}: [{table}] {key}: unknown, or not a string")
            resolved = str(path.parent / value) if (table, key) in _PATHS else value
            tables.setdefault(table, {})[key] = resolved
    return tables


def _oauth2(given: dict[str, str], context: ssl.SSLContext | None) -> OAuth2:
    missing = [k for k in ("token_url", "client_id", "client_secret") if not given.get(k)]
    if missing:
        raise BadInput(f"OAuth2 client credentials: {', '.join(missing)} missing")
    return OAuth2(
        given["token_url"],
        given["client_id"],
        given["client_secret"],
        scope=given.get("scope") or None,
        auth=given.get("auth", "basic"),
        verify=context if context is not None else True,
    )


def _tls(given: dict[str, str] | None) -> Tls | None:
    if not given:
        return None
    if given.get("key") and not given.get("cert"):
        raise BadInput("TLS: a client key without its certificate (SURGE_TLS_CERT)")
    path = {name: Path(value) for name, value in given.items() if value}
    return Tls(cert=path.get("cert"), key=path.get("key"), ca=path.get("ca"))


def _why(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__
