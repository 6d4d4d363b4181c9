"""Who may call Branch API v2: OAuth2 client credentials, channels, and customer logins.

A client gets an access token at `POST /oauth/token` (RFC 6749 §4.4: a form with
`grant_type=client_credentials`, the client's id and secret in HTTP Basic or in the form), valid
for `expires_in` seconds and refused once expired. Each request names its channel in `X-Channel`
("branch", "kiosk" or "web"), which the token's scopes must include; the channel decides which
of the core's channel tokens the request is sent with. A kiosk or web customer logs in at
`POST /api/v2/customer-logins` and sends the login's id in `X-Customer-Login` beside the bearer
token: the request then acts as that customer alone (the core's session behind it).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from examples.bindings.branch_api_server.errors import ApiError

CHANNELS = {"branch": "teller", "kiosk": "kiosk", "web": "online"}
"""This API's channels and the mock core channel each is sent to the core as."""
LEDGER_SCOPE = "ledger"
"""The scope that reads the ledger's integrity checks."""
SCOPES = frozenset({*CHANNELS, LEDGER_SCOPE})


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    secret: str = field(repr=False)
    scopes: frozenset[str]


@dataclass(frozen=True, slots=True)
class Grant:
    client_id: str
    scopes: frozenset[str]
    expires_at: float


@dataclass(frozen=True, slots=True)
class Login:
    channel: str
    customer_ref: str
    core_token: str = field(repr=False)
    """The core session's bearer token: the gateway's, never shown to the caller."""
    expires_at: float


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer of the token endpoint."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status, self.error = status, error


class Access:
    """The tokens and logins issued, in memory: one gateway process."""

    def __init__(
        self, clients: Mapping[str, Client], ttl_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.clients, self.ttl_s, self.clock = dict(clients), ttl_s, clock
        self._grants: dict[str, Grant] = {}
        self._logins: dict[str, Login] = {}

    def issue(self, form: bytes, authorization: str | None) -> dict[str, object]:
        """The token endpoint's answer to a form; raises `OAuthError`."""
        fields = {k: v[0] for k, v in parse_qs(form.decode("utf-8", "replace")).items()}
        if fields.get("grant_type") != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type")
        client_id, secret = _basic(authorization) or (
            fields.get("client_id", ""),
            fields.get("client_secret", ""),
        )
        client = self.clients.get(client_id)
        if client is None or not secrets.compare_digest(client.secret, secret):
            raise OAuthError(401, "invalid_client")
        asked = frozenset(fields.get("scope", "").split()) or client.scopes
        if not asked <= client.scopes:
            raise OAuthError(400, "invalid_scope")
        token = secrets.token_urlsafe(24)
        self._grants[token] = Grant(client_id, asked, self.clock() + self.ttl_s)
        self._forget_expired()
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(self.ttl_s),
            "scope": " ".join(sorted(asked)),
        }

    def grant(self, authorization: str | None, scope: str) -> Grant:
        """The valid grant of a request's bearer token that includes `scope`."""
        scheme, _, token = (authorization or "").partition(" ")
        grant = self._grants.get(token) if scheme.lower() == "bearer" else None
        if grant is None:
            raise ApiError(401, "unauthenticated", "a bearer access token from /oauth/token")
        if self.clock() >= grant.expires_at:
            raise ApiError(401, "token_expired", "the access token has expired; get a new one")
        if scope not in grant.scopes:
            raise ApiError(403, "scope", f"the access token's scopes do not include {scope}")
        return grant

    def open_login(self, channel: str, customer_ref: str, core_token: str, until: float) -> str:
        login_id = secrets.token_urlsafe(18)
        self._logins[login_id] = Login(channel, customer_ref, core_token, until)
        self._forget_expired()
        return login_id

    def login(self, login_id: str, channel: str) -> Login:
        """The live login `login_id` of `channel`."""
        login = self._logins.get(login_id)
        if login is None or login.channel != channel:
            raise ApiError(401, "login_unknown", "no such customer login on this channel")
        if self.clock() >= login.expires_at:
            raise ApiError(401, "login_expired", "the customer login has expired; log in again")
        return login

    def _forget_expired(self) -> None:
        """Drop what expired, now and then: a long run issues many tokens and logins."""
        if len(self._grants) + len(self._logins) < 10_000:
            return
        now = self.clock()
        self._grants = {t: g for t, g in self._grants.items() if g.expires_at > now}
        self._logins = {i: lo for i, lo in self._logins.items() if lo.expires_at > now}


def _basic(authorization: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return client_id, secret
