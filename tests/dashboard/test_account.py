"""Your account: sessions, password, second factor and preferences, for every member."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from sera.bootstrap import Sera
from sera.team.second_factor import current_code
from sera.team.sessions import open_sessions
from tests.conftest import FakeClock
from tests.dashboard.conftest import PASSWORD, Browser, Team, check_accessibility

if TYPE_CHECKING:
    from playwright.sync_api import Page

NEW_PASSWORD = "granite-meadow-falcon-58"


def sessions_of(sera: Sera, team: Team, role: str) -> list[str]:
    member = team.by_role(role)
    with sera.uow(member.merchant_id, readonly=True) as reader:
        return [s.id for s in open_sessions(reader, member.member_id)]


@pytest.mark.parametrize("role", ["owner", "admin", "agent", "viewer", "outsider"])
def test_every_member_has_their_own_account_page(as_role: Callable[[str], Browser], team: Team, role: str) -> None:
    page = as_role(role).get("/dashboard/account")
    assert page.status_code == 200 and team.by_role(role).email in page.text
    others = [
        m.email for r in ("owner", "admin", "agent", "viewer", "outsider") if r != role for m in [team.by_role(r)]
    ]
    assert not any(email in page.text for email in others)
    assert "this session" in page.text


def test_a_member_ends_another_session_of_theirs_but_no_one_elses(
    as_role: Callable[[str], Browser], sera: Sera, team: Team
) -> None:
    laptop, phone = as_role("agent"), as_role("agent")
    mine = sessions_of(sera, team, "agent")
    assert len(mine) == 2
    page = laptop.get("/dashboard/account")
    assert all(sid[:8] in page.text for sid in mine) and page.text.count("End it") == 1
    as_role("admin")
    [admin_sid] = sessions_of(sera, team, "admin")
    assert laptop.act("POST", f"/dashboard/account/sessions/{admin_sid}/end").status_code == 404  # type: ignore[attr-defined]
    assert as_role("outsider").act("POST", f"/dashboard/account/sessions/{mine[0]}/end").status_code == 404  # type: ignore[attr-defined]
    this_one = re.search(r"<code>(\w{8})</code> \(password\) <span class=\"badge ok\">this session", page.text)
    assert this_one
    this_sid = next(sid for sid in mine if sid.startswith(this_one.group(1)))
    own = laptop.act("POST", f"/dashboard/account/sessions/{this_sid}/end")
    assert own.status_code == 404  # type: ignore[attr-defined]
    phone_sid = [sid for sid in mine if not sid.startswith(this_one.group(1))]
    ended = laptop.act("POST", f"/dashboard/account/sessions/{phone_sid[0]}/end")
    assert ended.status_code == 303  # type: ignore[attr-defined]
    assert phone.get("/dashboard/").status_code == 303 and laptop.get("/dashboard/").status_code == 200


def test_changing_the_password_ends_the_other_sessions(
    as_role: Callable[[str], Browser], browser: Callable[[], Browser], team: Team
) -> None:
    here, elsewhere = as_role("viewer"), as_role("viewer")
    wrong = here.act(
        "POST",
        "/dashboard/account/password",
        data={"current": "nope-nope-nope", "new": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert wrong.status_code == 422 and "current password is not right" in wrong.text  # type: ignore[attr-defined]
    weak = here.act(
        "POST",
        "/dashboard/account/password",
        data={"current": PASSWORD, "new": "password1234", "confirm": "password1234"},
    )
    assert weak.status_code == 422 and "too common" in weak.text  # type: ignore[attr-defined]
    done = here.act(
        "POST", "/dashboard/account/password", data={"current": PASSWORD, "new": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert done.status_code == 303  # type: ignore[attr-defined]
    assert here.get("/dashboard/").status_code == 200 and elsewhere.get("/dashboard/").status_code == 303
    assert (
        browser().post("/dashboard/login", data={"email": team.viewer.email, "password": PASSWORD}).status_code == 401
    )
    browser().login(team.viewer.email, NEW_PASSWORD)


def test_preferences_are_kept_on_the_server_and_shape_the_pages(as_role: Callable[[str], Browser], team: Team) -> None:
    client = as_role("agent")
    saved = client.act(
        "POST",
        "/dashboard/account/preferences",
        data={"timezone": "Asia/Tokyo", "density": "compact", "analytics": "on"},
    )
    assert saved.status_code == 303 and "set-cookie" not in saved.headers  # type: ignore[attr-defined]
    page = client.get("/dashboard/account")
    assert '<body class="compact">' in page.text
    assert (
        '<option value="Asia/Tokyo" selected>' in page.text
        and 'id="analytics" name="analytics" value="on" checked' in page.text
    )
    assert "(JST)" not in page.text  # times carry no zone name, but are shown in Tokyo time:
    other = as_role("agent").get("/dashboard/account")  # another session of the same member
    assert '<body class="compact">' in other.text
    bad = client.act("POST", "/dashboard/account/preferences", data={"timezone": "Mars/Olympus", "density": "normal"})
    assert bad.status_code == 422 and "choose a time zone" in bad.text  # type: ignore[attr-defined]
    assert '<body class="compact">' not in as_role("viewer").get("/dashboard/account").text


def test_times_follow_the_members_time_zone(as_role: Callable[[str], Browser], clock: FakeClock) -> None:
    client = as_role("admin")
    client.act("POST", "/dashboard/account/preferences", data={"timezone": "Asia/Tokyo", "density": "normal"})
    tokyo = client.get("/dashboard/account").text
    client.act("POST", "/dashboard/account/preferences", data={"timezone": "America/Los_Angeles", "density": "normal"})
    la = client.get("/dashboard/account").text
    started = re.compile(r"<td>(\w{3} \d{2} \w{3} \d{4}, \d{2}:\d{2})</td>")
    assert started.findall(tokyo)[0] != started.findall(la)[0]


def test_a_member_turns_on_the_second_factor_and_renews_recovery_codes(
    as_role: Callable[[str], Browser], clock: FakeClock
) -> None:
    client = as_role("agent")
    setup = client.get("/dashboard/account/second-factor")
    assert setup.status_code == 200
    found = re.search(r'name="secret" value="([A-Z2-7]+=*)"', setup.text)
    assert found
    secret = found.group(1)
    wrong = client.act("POST", "/dashboard/account/second-factor", data={"secret": secret, "code": "000000"})
    assert wrong.status_code == 400 and "not right" in wrong.text  # type: ignore[attr-defined]
    step = int(clock().timestamp()) // 30
    on = client.act(
        "POST", "/dashboard/account/second-factor", data={"secret": secret, "code": current_code(secret, step)}
    )
    assert on.status_code == 200 and on.text.count("<li><code>") == 10  # type: ignore[attr-defined]
    first_codes = re.findall(r"<li><code>([^<]+)</code>", on.text)  # type: ignore[attr-defined]
    assert ">On<" in client.get("/dashboard/account").text
    clock.advance(seconds=30)
    renewed = client.act("POST", "/dashboard/account/recovery-codes", data={"code": current_code(secret, step + 1)})
    new_codes = re.findall(r"<li><code>([^<]+)</code>", renewed.text)  # type: ignore[attr-defined]
    assert len(new_codes) == 10 and not set(new_codes) & set(first_codes)
    again = client.act("POST", "/dashboard/account/recovery-codes", data={"code": current_code(secret, step + 1)})
    assert again.status_code == 422 and "used already" in again.text  # type: ignore[attr-defined]


def test_the_account_page_needs_a_login(browser: Callable[[], Browser]) -> None:
    assert browser().get("/dashboard/account").status_code == 303


def test_the_account_page_in_the_browser(owner_page: Page, server: str) -> None:
    owner_page.get_by_role("link", name="Your account").click()
    owner_page.wait_for_url("**/dashboard/account")
    check_accessibility(owner_page, "account")
    owner_page.get_by_label("Compact").check()
    owner_page.get_by_role("button", name="Save preferences").click()
    assert "Preferences saved" in owner_page.get_by_role("status").inner_text()
    assert owner_page.locator("body.compact").count() == 1
    owner_page.get_by_role("link", name="Turn on the second factor").click()
    check_accessibility(owner_page, "account-second-factor")
