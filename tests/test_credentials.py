"""Credentials as banks use them (`surge.visit.credentials`): read from the environment or a file, an
OAuth2 token shared and refreshed before it expires, mutual TLS through each client's options.

The token endpoint and the TLS server are real loopback servers in this process; the CA and the
certificates are made for the test with the `openssl` command.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from geventhttpclient import HTTPClient

from surge.exits import BadInput
from surge.visit import credentials
from surge.visit.credentials import Credentials, OAuth2

SECRET = "s3cret-of-the-client"


@dataclass
class TokenEndpoint:
    """What the loopback token endpoint answered: each fetch's form, the `Authorization`
    header it came with."""

    url: str
    expires_in: int = 60
    refuse: bool = False
    fetches: list[dict[str, Any]] = field(default_factory=list)
    delay_s: float = 0.0
    """How long each answer takes: callers arriving meanwhile pile up behind the first."""


@contextmanager
def token_endpoint(**given: Any) -> Iterator[TokenEndpoint]:
    endpoint = TokenEndpoint(url="", **given)
    counter = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            form = dict(p.split("=", 1) for p in self.rfile.read(length).decode().split("&"))
            with counter:
                endpoint.fetches.append({**form, "auth": self.headers.get("Authorization")})
                n = len(endpoint.fetches)
            time.sleep(endpoint.delay_s)
            if endpoint.refuse:
                status, body = 401, {"error": "invalid_client", "error_description": SECRET}
            else:
                status, body = (
                    200,
                    {"access_token": f"token-{n}", "expires_in": endpoint.expires_in},
                )
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: Any) -> None:
            pass

    with _serving(Handler) as (_server, base):
        endpoint.url = f"{base}/oauth/token"
        yield endpoint


@contextmanager
def _serving(
    handler: type[BaseHTTPRequestHandler], context: ssl.SSLContext | None = None
) -> Iterator[tuple[ThreadingHTTPServer, str]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    scheme = "http"
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bearer_token_from_the_environment_is_the_header_of_every_channel() -> None:
    given = credentials.from_environment({"SURGE_BEARER_TOKEN": "abc"})
    assert given.headers("teller") == given.headers("kiosk") == {"Authorization": "Bearer abc"}
    assert given.describe() == {"token": "bearer", "tls": "none"}
    assert "abc" not in repr(given)


def test_no_credentials_add_no_header() -> None:
    given = credentials.from_environment({})
    assert given.headers("online") == {}
    assert given.ssl_context is None
    assert given.describe() == {"token": "none", "tls": "none"}


def test_file_holds_the_settings_and_the_environment_the_secret(tmp_path: Path) -> None:
    with token_endpoint() as endpoint:
        path = tmp_path / "credentials.toml"
        path.write_text(
            f'[oauth2]\ntoken_url = "{endpoint.url}"\nclient_id = "surge"\nscope = "payments"\n'
        )
        given = credentials.from_environment(
            {"SURGE_CREDENTIALS": str(path), "SURGE_OAUTH2_CLIENT_SECRET": SECRET}
        )
        given.check()
        assert given.headers("teller") == {"Authorization": "Bearer token-1"}
    [fetch] = endpoint.fetches
    assert fetch["grant_type"] == "client_credentials"
    assert fetch["scope"] == "payments"
    assert fetch["auth"].startswith("Basic ")  # RFC 6749 §2.3.1: the client authenticates so
    assert SECRET not in repr(given)
    assert given.describe()["token"] == "oauth2"


def test_the_same_settings_share_one_set_of_credentials() -> None:
    environ = {"SURGE_BEARER_TOKEN": "shared"}
    assert credentials.from_environment(environ) is credentials.from_environment(dict(environ))


def test_body_auth_sends_the_client_in_the_form() -> None:
    with token_endpoint() as endpoint:
        OAuth2(endpoint.url, "surge", SECRET, auth="body").token()
    [fetch] = endpoint.fetches
    assert fetch["client_id"] == "surge"
    assert fetch["auth"] is None


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"SURGE_CREDENTIALS": "/nowhere/credentials.toml"}, "cannot read it"),
        ({"SURGE_BEARER_TOKEN": "a", "SURGE_OAUTH2_TOKEN_URL": "http://x"}, "not both"),
        ({"SURGE_OAUTH2_TOKEN_URL": "http://x"}, "client_id, client_secret missing"),
        ({"SURGE_TLS_KEY": "/k.pem"}, "without its certificate"),
        ({"SURGE_TLS_CERT": "/nowhere/cert.pem"}, "does not load"),
        ({"SURGE_TLS_CA": "/nowhere/ca.pem"}, "does not load"),
    ],
)
def test_bad_credentials_are_one_line(environ: dict[str, str], says: str) -> None:
    with pytest.raises(BadInput, match=says) as refused:
        credentials.from_environment(environ)
    assert "\n" not in str(refused.value)


def test_a_file_that_is_not_toml_or_has_an_unknown_table_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "credentials.toml"
    path.write_text("[oauth2\n")
    with pytest.raises(BadInput, match="not TOML"):
        credentials.from_environment({"SURGE_CREDENTIALS": str(path)})
    path.write_text('[password]\nvalue = "x"\n')
    with pytest.raises(BadInput, match=r"\[password\]: unknown"):
        credentials.from_environment({"SURGE_CREDENTIALS": str(path)})


def test_a_refusing_token_endpoint_is_bad_input_without_the_secret() -> None:
    with token_endpoint(refuse=True) as endpoint:
        given = credentials.from_environment(
            {
                "SURGE_OAUTH2_TOKEN_URL": endpoint.url,
                "SURGE_OAUTH2_CLIENT_ID": "surge",
                "SURGE_OAUTH2_CLIENT_SECRET": SECRET,
            }
        )
        with pytest.raises(BadInput, match="refused client 'surge': 401 invalid_client") as no:
            given.check()
    assert SECRET not in str(no.value)


def test_an_unreachable_token_endpoint_is_bad_input() -> None:
    with token_endpoint() as endpoint:
        url = endpoint.url
    with pytest.raises(BadInput, match="OAuth2 token endpoint"):
        OAuth2(url, "surge", SECRET).token()


def test_concurrent_callers_share_one_fetch_and_refresh_before_expiry() -> None:
    clock = Clock()
    with token_endpoint(expires_in=10, delay_s=0.2) as endpoint:
        client = OAuth2(endpoint.url, "surge", SECRET, clock=clock)
        assert _all_at_once(client.token, 8) == {"token-1"}  # the first: everyone waits for it
        clock.now += 7.9  # still more than 20% of its 10 s left: held
        assert client.token() == "token-1"
        clock.now += 0.2  # due for refreshing, not expired: one fetches, the rest go on
        seen = _all_at_once(client.token, 8)
        assert seen <= {"token-1", "token-2"}
        assert client.token() == "token-2"
        assert len(endpoint.fetches) == client.fetches == 2
        clock.now += 11  # expired: every caller waits for the one new token
        assert _all_at_once(client.token, 8) == {"token-3"}
    assert len(endpoint.fetches) == 3


def test_a_token_the_target_refused_is_renewed_once_for_every_request_that_carried_it() -> None:
    """A 401 to the token held, past half its life, fetches a new one; a 401 to the token it
    replaced (a request that set out before the renewal) gets the new one without another
    fetch; a 401 early in a token's life, or to a header that carried no token of this
    client's, has nothing to renew."""
    clock = Clock()
    with token_endpoint(expires_in=10) as endpoint:
        given = Credentials(oauth2=OAuth2(endpoint.url, "surge", SECRET, clock=clock))
        sent = {**given.headers(), "Idempotency-Key": "k1"}
        assert sent["Authorization"] == "Bearer token-1"
        clock.now += 4.9  # refused for some other reason than its age: no new token
        assert given.renewed(sent) is None
        clock.now += 0.2
        again = given.renewed(sent)
        assert again == {"Authorization": "Bearer token-2", "Idempotency-Key": "k1"}
        assert given.renewed(sent) == again  # another request that carried token-1
        assert len(endpoint.fetches) == 2
        assert given.renewed({"Authorization": "Bearer someone-elses"}) is None
        assert given.renewed({}) is None
    assert Credentials(bearer="fixed").renewed({"Authorization": "Bearer fixed"}) is None


def _all_at_once(call: Any, n: int) -> set[str]:
    barrier = threading.Barrier(n)
    seen: list[str] = []

    def one() -> None:
        barrier.wait()
        seen.append(call())

    threads = [threading.Thread(target=one) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == n
    return set(seen)


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, both signed by it."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make the test's certificates")
    folder = tmp_path_factory.mktemp("pki")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    rsa = ("-newkey", "rsa:2048", "-nodes")
    openssl(
        "req",
        "-x509",
        *rsa,
        "-subj",
        "/CN=surge test CA",
        "-days",
        "1",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    )
    for name, extension in (
        ("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        (folder / f"{name}.ext").write_text(extension + "\n")
        openssl(
            "req",
            *rsa,
            "-subj",
            f"/CN=surge {name}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
        )
        openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            f"{name}.ext",
            "-out",
            f"{name}.pem",
        )
    return Pki(
        folder / "ca.pem",
        folder / "server.pem",
        folder / "server.key",
        folder / "client.pem",
        folder / "client.key",
    )


@contextmanager
def mutual_tls_server(pki: Pki) -> Iterator[str]:
    """An HTTPS server on loopback that asks every client for a certificate signed by the CA."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            subject = dict(x[0] for x in self.connection.getpeercert()["subject"])  # type: ignore[attr-defined]
            data = json.dumps({"client": subject["commonName"]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: Any) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.load_verify_locations(pki.ca)
    context.verify_mode = ssl.CERT_REQUIRED
    with _serving(Handler, context) as (_, base):
        yield base


def _mutual(pki: Pki) -> Credentials:
    return credentials.from_environment(
        {
            "SURGE_TLS_CERT": str(pki.client_cert),
            "SURGE_TLS_KEY": str(pki.client_key),
            "SURGE_TLS_CA": str(pki.ca),
        }
    )


def test_mutual_tls_through_httpx_works_with_the_certificate_and_fails_without(pki: Pki) -> None:
    mutual = _mutual(pki)
    assert mutual.describe() == {"token": "none", "tls": "mutual"}
    anonymous = credentials.from_environment({"SURGE_TLS_CA": str(pki.ca)})
    with mutual_tls_server(pki) as base:
        with mutual.http_client(base, timeout=5) as client:
            assert client.get("/").json() == {"client": "surge client"}
        with anonymous.http_client(base, timeout=5) as client, pytest.raises(httpx.HTTPError):
            client.get("/")


def test_mutual_tls_through_locusts_client_factory(pki: Pki) -> None:
    """geventhttpclient, as Locust's `FastHttpSession` builds it, with the factory and
    `insecure=False` that `surge.harness.users` gives it."""
    mutual = _mutual(pki)
    without = credentials.from_environment({"SURGE_TLS_CA": str(pki.ca)})
    with mutual_tls_server(pki) as base:
        client = HTTPClient.from_url(
            base, ssl_context_factory=mutual.ssl_context_factory(), insecure=False
        )
        try:
            answer = client.get("/")
            assert answer.status_code == 200
            assert json.loads(answer.read()) == {"client": "surge client"}
        finally:
            client.close()
        client = HTTPClient.from_url(
            base, ssl_context_factory=without.ssl_context_factory(), insecure=False
        )
        try:
            with pytest.raises((ssl.SSLError, OSError)):
                client.get("/")
        finally:
            client.close()


def test_a_certificate_that_is_not_one_does_not_load(tmp_path: Path) -> None:
    junk = tmp_path / "cert.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(BadInput, match=f"TLS client certificate {junk}: does not load"):
        credentials.from_environment({"SURGE_TLS_CERT": str(junk)})
