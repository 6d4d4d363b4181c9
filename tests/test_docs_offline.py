"""`/docs` on an air-gapped network: a real `mock-core` on loopback, its pages opened
in Debian's Chromium, and every request the page makes must go to the service itself (a CDN
request would leave the page blank where there is no way out)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.support import serve


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("docs") / "ledger.sqlite"
    with serve(db, "--customers", "5", "--seed", "7", "--unlimited") as (url, _):
        yield url


def open_page(browser: Browser, base: str, path: str, selector: str) -> tuple[list[str], int]:
    """The URLs the page at `path` asked for until `selector` rendered, and how many elements
    match it."""
    requested: list[str] = []
    context = browser.new_context()
    # Anything off the machine is refused at once, as on the closed network, instead of hanging
    # the page until a timeout; the request is still recorded above.
    context.route(lambda url: not url.startswith(f"{base}/"), lambda route: route.abort())
    page = context.new_page()
    page.on("request", lambda request: requested.append(request.url))
    try:
        page.goto(f"{base}{path}")
        try:
            page.wait_for_selector(selector, timeout=15_000)
            page.wait_for_load_state("networkidle")
        except PlaywrightTimeout:
            pass  # the test names what the page asked for instead of only "timed out"
        return requested, page.locator(selector).count()
    finally:
        context.close()


@pytest.mark.slow
def test_swagger_ui_requests_only_the_service(browser: Browser, base: str) -> None:
    requested, operations = open_page(browser, base, "/docs", ".opblock")
    assert requested, "the page made no request at all"
    outside = [u for u in requested if not u.startswith(f"{base}/")]
    assert outside == [], outside
    assert f"{base}/openapi.json" in requested
    assert operations >= 10


def test_no_redoc(base: str) -> None:
    # ReDoc's bundle fetches its logo from cdn.redoc.ly whatever its options say: not served.
    assert httpx.get(f"{base}/redoc").status_code == 404


def test_doc_assets_are_served_locally(base: str) -> None:
    html = httpx.get(f"{base}/docs").text
    assert "http://" not in html
    assert "https://" not in html
    expected = {
        "/docs/static/swagger-ui-bundle.js": "text/javascript",
        "/docs/static/swagger-ui.css": "text/css",
        "/docs/static/favicon.png": "image/png",
    }
    for path, media_type in expected.items():
        response = httpx.get(f"{base}{path}")
        assert response.status_code == 200, path
        assert response.headers["content-type"].split(";")[0] == media_type, path
        assert int(response.headers["content-length"]) > 1000, path


def test_docs_and_openapi_need_no_token(base: str) -> None:
    for path in ("/docs", "/openapi.json", "/docs/static/swagger-ui.css"):
        assert httpx.get(f"{base}{path}").status_code == 200, path
    # The static folder serves files, not a listing, and nothing outside it.
    assert httpx.get(f"{base}/docs/static/").status_code == 404
    assert httpx.get(f"{base}/docs/static/../app.py").status_code == 404


def test_docs_pages_are_not_in_the_schema(base: str) -> None:
    paths = httpx.get(f"{base}/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith(("/docs", "/redoc"))]
