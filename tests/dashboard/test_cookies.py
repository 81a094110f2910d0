"""The cookie page lists every cookie Sera sets, and nothing else is set."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tests.dashboard.conftest import Browser, check_accessibility, no_csp_violations

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_the_cookie_page_needs_no_login(browser: Callable[[], Browser]) -> None:
    page = browser().get("/dashboard/cookies")
    assert page.status_code == 200 and "__Host-sera_session" in page.text and "12 hours" in page.text
    assert "Strictly necessary" in page.text and "No analytics cookie is set" in page.text


def test_every_role_reads_the_same_cookie_page(as_role: Callable[[str], Browser]) -> None:
    for role in ("owner", "admin", "agent", "viewer", "outsider"):
        assert "__Host-sera_session" in as_role(role).get("/dashboard/cookies").text


def test_the_listed_cookies_are_the_ones_a_browser_gets_on_every_page(owner_page: Page, server: str) -> None:
    page = owner_page
    violations = no_csp_violations(page)
    nav = page.get_by_role("navigation", name="Dashboard").get_by_role("link")
    paths = [href for href in (link.get_attribute("href") for link in nav.all()) if href]
    assert len(paths) >= 10
    for path in [*paths, "/dashboard/account", "/dashboard/account/second-factor"]:
        page.goto(server + path)
    page.get_by_role("link", name="Cookies").click()
    page.wait_for_url("**/dashboard/cookies")
    check_accessibility(page, "cookies")
    listed = set(page.locator("code.cookie-name").all_inner_texts())
    rows = page.locator("table tbody tr").count()
    set_by_sera = {cookie["name"] for cookie in page.context.cookies()}
    assert set_by_sera == {"__Host-sera_session"}
    assert set_by_sera <= listed and rows == len(set_by_sera)  # one row per cookie, each one set
    assert not violations, violations
