"""The landing page and the API docs: they render with nothing but this server.

The browser tests refuse every request that leaves the server (as on a machine without
internet) and check what a newcomer sees.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sera.bootstrap import Sera
from sera.config import Environment
from sera.web.app import create_app
from sera.web.home import STATIC
from tests.conftest import ROOT, Personas

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route


@pytest.fixture
def client(sera: Sera, personas: Personas) -> Iterator[TestClient]:
    with TestClient(create_app(sera)) as test_client:
        yield test_client


def test_the_landing_page_says_what_this_server_is_and_links_its_pages(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    for href in ('href="/try"', 'href="/docs"', 'href="/redoc"', 'href="/healthz"', 'href="/readyz"'):
        assert href in response.text
    assert "AI voice agent" in response.text


def test_production_does_not_link_or_document_the_try_page(sera: Sera, personas: Personas) -> None:
    production = dataclasses.replace(sera, settings=sera.settings.model_copy(update={"env": Environment.PRODUCTION}))
    with TestClient(create_app(production)) as prod:
        page = prod.get("/").text
        documented = prod.get("/openapi.json").json()["paths"]
    assert 'href="/docs"' in page and 'href="/try"' not in page
    assert "/api/v1/customers" in documented and not any(path.startswith("/try") for path in documented)


def test_the_docs_load_their_scripts_from_this_server(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        page = client.get(path).text
        assert "cdn." not in page and "https://" not in page, path
        for asset in (
            "/static/vendor/swagger-ui-dist/swagger-ui-bundle.js",
            "/static/vendor/redoc/redoc.standalone.js",
        ):
            if asset.split("/")[3] in page:
                assert client.get(asset).status_code == 200


@pytest.mark.parametrize(
    ("home", "packages"),
    [
        (STATIC / "vendor", {"swagger-ui-dist", "redoc", "htmx.org"}),  # served
        (ROOT / "tests" / "vendor", {"axe-core"}),  # the browser tests' accessibility checks
        (ROOT / "src" / "sera" / "team" / "vendor", {"@zxcvbn-ts/language-common"}),  # common passwords
    ],
    ids=["served", "tests", "passwords"],
)
def test_vendored_assets_are_the_pinned_packages_files(home: Path, packages: set[str]) -> None:
    """scripts/vendor-assets wrote them from the npm registry; nobody edited them since."""
    manifest = json.loads((home / "assets.json").read_text())
    assert set(manifest) == packages
    for package, entry in manifest.items():
        for name, digest in entry["files"].items():
            path = home / package.split("/")[-1] / name
            assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def _offline(page: Page, server: str) -> list[str]:
    """Refuse every request to another origin, as a machine without internet would; return them."""
    refused: list[str] = []

    def route(route: Route) -> None:
        if route.request.url.startswith(server):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    return refused


url_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=30)
ESCAPED = ["%00", "%2e%2e", "%2F"]  # sent as they are; any other part is percent-encoded (a raw "%\x1f" is no URL)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    page=st.sampled_from(["/", "/docs", "/redoc", "/openapi.json", "/static/", "/static/vendor/"]),
    rest=st.lists(url_text.filter(bool) | st.sampled_from(["..", ".", *ESCAPED, "try.html"]), max_size=4),
    query=st.dictionaries(url_text, url_text, max_size=3),
)
def test_pages_and_static_files_answer_any_url_without_a_server_error(
    client: TestClient, page: str, rest: list[str], query: dict[str, str]
) -> None:
    path = page + "/".join(part if part in ESCAPED else quote(part, safe="") for part in rest)
    params = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query.items())
    response = client.get(f"{path}?{params}", follow_redirects=False)
    assert response.status_code < 500, (path, response.text[:300])
    if path.startswith("/static/"):
        assert response.status_code in {200, 304, 307, 404, 405}, path


@pytest.mark.browser
def test_landing_and_api_docs_render_offline_in_chromium(page: Page, server: str) -> None:
    from playwright.sync_api import expect

    refused = _offline(page, server)
    page.goto(f"{server}/")
    expect(page.get_by_role("heading", name="Sera", exact=True)).to_be_visible()
    page.get_by_role("link", name="API reference", exact=True).click()

    # the bundle is large: on a busy machine it takes seconds to parse before it renders
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Sera", timeout=20_000)
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/customers").first).to_be_visible()

    page.goto(f"{server}/redoc")
    expect(page.get_by_role("heading", name="Sera", level=1)).to_be_visible()
    expect(page.get_by_text("/api/v1/customers").first).to_be_attached()
    assert refused == []
