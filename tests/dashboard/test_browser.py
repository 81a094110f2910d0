"""The dashboard in Debian's Chromium: logging in, with and without a second factor; every page
passes axe-core with no serious or critical violation and breaks no CSP rule."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sera.bootstrap import Sera
from sera.storage.models import StaffUser
from sera.team.second_factor import current_code
from tests.conftest import FakeClock
from tests.dashboard.conftest import PASSWORD, Team, check_accessibility, log_in, no_csp_violations

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_logging_in_and_out_in_the_browser(page: Page, server: str, team: Team) -> None:
    violations = no_csp_violations(page)
    page.goto(f"{server}/dashboard/")
    assert "/dashboard/login" in page.url  # sent to log in first
    check_accessibility(page, "login")
    page.get_by_label("Email").fill(team.owner.email)
    page.get_by_label("Password").fill("wrong-password-here")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text() == "that email and password do not match"
    log_in(page, server, team.owner.email)
    assert page.get_by_role("heading", level=1).inner_text() == "Today at Northside Cycles"
    cookies = page.context.cookies()
    assert [c["name"] for c in cookies] == ["__Host-sera_session"]
    assert cookies[0]["httpOnly"] and cookies[0]["secure"] and cookies[0]["sameSite"] == "Lax"
    check_accessibility(page, "home")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{server}/dashboard/login")
    assert not violations, violations


def test_an_owner_in_production_sets_up_a_second_factor_then_logs_in_with_it(
    page: Page, server: str, sera: Sera, team: Team, clock: FakeClock
) -> None:
    from sera.config import Environment

    sera.settings = sera.settings.model_copy(update={"env": Environment.PRODUCTION})
    page.goto(f"{server}/dashboard/login")
    page.get_by_label("Email").fill(team.owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/login/second-factor**")
    check_accessibility(page, "second-factor-setup")
    secret = page.locator("input[name=secret]").input_value()
    step = int(clock().timestamp()) // 30
    page.get_by_label("Code from the app").fill(current_code(secret, step))
    page.get_by_role("button", name="Turn on").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Your recovery codes"
    codes = page.locator(".codes code").all_inner_texts()
    assert len(codes) == 10
    page.get_by_role("link", name="Continue to the dashboard").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Today at Northside Cycles"
    page.get_by_role("button", name="Log out").click()

    page.get_by_label("Email").fill(team.owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/login/code**")
    page.get_by_label("Code").fill(current_code(secret, step))  # the code just used: refused
    page.get_by_role("button", name="Continue").click()
    assert "used already" in page.get_by_role("alert").inner_text()
    page.get_by_label("Code").fill(codes[0])  # a recovery code works once
    page.get_by_role("button", name="Continue").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Today at Northside Cycles"
    with sera.uow(team.owner.merchant_id, readonly=True) as reader:
        member = reader.session.get(StaffUser, team.owner.member_id)
        assert member is not None and len(member.recovery_codes or []) == 9
