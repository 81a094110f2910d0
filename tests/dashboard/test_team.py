"""The team page: members and their roles, invitations by email link, removal and sessions."""

from __future__ import annotations

import mailbox
import re
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import pytest

from sera.bootstrap import Sera
from sera.mail.service import send_pending
from sera.team import invitations
from tests.conftest import FakeClock
from tests.dashboard.conftest import PASSWORD, Browser, Team, check_accessibility, log_in, no_csp_violations

if TYPE_CHECKING:
    from playwright.sync_api import Page

NEW_PASSWORD = "lantern-orchard-mosaic-77"
SCRIPT = "<script>alert(1)</script>"


def invitation_mails(sera: Sera) -> list[EmailMessage]:
    send_pending(sera)
    if not sera.settings.mail_dir.exists():
        return []
    found = []
    for kept in mailbox.Maildir(sera.settings.mail_dir):
        parsed = message_from_bytes(kept.as_bytes(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        if "invited" in str(parsed["Subject"]):
            found.append(parsed)
    return found


def link_for(sera: Sera, email: str) -> str:
    """The path of the invitation link mailed to ``email`` (the newest one)."""
    for message in reversed(invitation_mails(sera)):
        if message["To"] == email:
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            found = re.search(r"https?://[^/\s]+(/dashboard/invitations/\S+)", str(body.get_content()))
            assert found, "the mail carries no link"
            return found.group(1)
    raise AssertionError(f"no invitation mailed to {email}")


def invite(client: Browser, email: str, role: str = "agent") -> Any:
    return client.act("POST", "/dashboard/team/invitations", data={"email": email, "role": role})


def northside_session_id(sera: Sera, team: Team, role: str) -> str:
    from sera.team.sessions import open_sessions

    member = team.by_role(role)
    with sera.uow(member.merchant_id, readonly=True) as reader:
        return open_sessions(reader, member.member_id)[0].id


# -- who may see and change what ------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("admin", 200), ("agent", 403), ("viewer", 403)])
def test_only_owners_and_admins_see_the_team(
    as_role: Callable[[str], Browser], team: Team, role: str, status: int
) -> None:
    page = as_role(role).get("/dashboard/team")
    assert page.status_code == status
    if status == 200:
        for member in ("owner", "admin", "agent", "viewer"):
            assert team.by_role(member).email in page.text
        assert (">Send the invitation<" in page.text) == (role == "owner")  # only the owner manages


def test_an_outsider_sees_their_own_team_never_northsides(as_role: Callable[[str], Browser], team: Team) -> None:
    page = as_role("outsider").get("/dashboard/team")
    assert page.status_code == 200 and team.outsider.email in page.text
    assert "northside.example" not in page.text


@pytest.mark.parametrize("role", ["admin", "agent", "viewer"])
def test_only_the_owner_may_invite_change_remove_or_end_sessions(
    as_role: Callable[[str], Browser], sera: Sera, team: Team, role: str
) -> None:
    client = as_role(role)
    agent = team.agent.member_id
    sid = northside_session_id(sera, team, role)
    assert invite(client, "new@northside.example").status_code == 403
    assert client.act("POST", f"/dashboard/team/members/{agent}/role", data={"role": "admin"}).status_code == 403  # type: ignore[attr-defined]
    assert client.act("POST", f"/dashboard/team/members/{agent}/remove").status_code == 403  # type: ignore[attr-defined]
    url = f"/dashboard/team/members/{team.by_role(role).member_id}/sessions/{sid}/end"
    assert client.act("POST", url).status_code == 403  # type: ignore[attr-defined]
    owner = as_role("owner")
    assert team.agent.email in owner.get("/dashboard/team").text  # nothing changed
    assert "new@northside.example" not in owner.get("/dashboard/team").text


def test_another_shops_ids_are_not_found(as_role: Callable[[str], Browser], sera: Sera, team: Team) -> None:
    owner = as_role("owner")
    invite(owner, "pending@northside.example")
    with sera.uow(team.owner.merchant_id, readonly=True) as reader:
        [pending] = invitations.list_pending(reader)
    sid = northside_session_id(sera, team, "owner")
    outsider = as_role("outsider")
    agent = team.agent.member_id
    for url, data in [
        (f"/dashboard/team/members/{agent}/role", {"role": "viewer"}),
        (f"/dashboard/team/members/{agent}/remove", None),
        (f"/dashboard/team/invitations/{pending.id}/revoke", None),
        (f"/dashboard/team/members/{team.owner.member_id}/sessions/{sid}/end", None),
    ]:
        response = outsider.act("POST", url, data=data)
        assert response.status_code == 404, url  # type: ignore[attr-defined]
        assert "northside" not in response.text.lower()  # type: ignore[attr-defined]
    page = owner.get("/dashboard/team")
    assert "pending@northside.example" in page.text and team.agent.email in page.text
    assert owner.get("/dashboard/").status_code == 200  # the owner's session still open


# -- invitations ----------------------------------------------------------------------------


def test_an_invitation_becomes_a_member_once(
    as_role: Callable[[str], Browser], browser: Callable[[], Browser], sera: Sera
) -> None:
    owner = as_role("owner")
    sent = invite(owner, "dana@northside.example", "viewer")
    assert sent.status_code == 303
    listed = owner.get(sent.headers["location"])
    assert "Invitation sent" in listed.text and "dana@northside.example" in listed.text
    link = link_for(sera, "dana@northside.example")
    stranger = browser()
    form = stranger.get(link)
    assert form.status_code == 200 and "dana@northside.example" in form.text and "viewer" in form.text
    weak = stranger.post(link, data={"password": "password1234", "confirm": "password1234"})
    assert weak.status_code == 422 and "too common" in weak.text
    mismatch = stranger.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "x"})
    assert mismatch.status_code == 422 and "not the same" in mismatch.text
    done = stranger.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD, "name": SCRIPT})
    assert done.status_code == 200 and "Welcome to the team" in done.text
    assert stranger.get(link).status_code == 404  # used up
    assert stranger.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 404
    dana = browser().login("dana@northside.example", NEW_PASSWORD)
    assert dana.get("/dashboard/analytics").status_code != 403 and dana.get("/dashboard/team").status_code == 403
    page = owner.get("/dashboard/team")
    assert SCRIPT not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "No invitation is waiting" in page.text


def test_an_invitation_expires_after_72_hours(
    as_role: Callable[[str], Browser], browser: Callable[[], Browser], sera: Sera, clock: FakeClock
) -> None:
    invite(as_role("owner"), "late@northside.example")
    link = link_for(sera, "late@northside.example")
    clock.advance(hours=71)
    assert browser().get(link).status_code == 200
    clock.advance(hours=1, seconds=1)
    expired = browser().get(link)
    assert expired.status_code == 404 and "not valid" in expired.text


def test_a_revoked_invitation_stops_working(
    as_role: Callable[[str], Browser], browser: Callable[[], Browser], sera: Sera, team: Team
) -> None:
    owner = as_role("owner")
    invite(owner, "gone@northside.example")
    link = link_for(sera, "gone@northside.example")
    with sera.uow(team.owner.merchant_id, readonly=True) as reader:
        [pending] = invitations.list_pending(reader)
    assert owner.act("POST", f"/dashboard/team/invitations/{pending.id}/revoke").status_code == 303  # type: ignore[attr-defined]
    assert "gone@northside.example" not in owner.get("/dashboard/team").text
    assert browser().get(link).status_code == 404
    assert browser().get("/dashboard/invitations/made-up-token").status_code == 404


def test_inviting_a_member_or_a_bad_address_is_refused(as_role: Callable[[str], Browser], team: Team) -> None:
    owner = as_role("owner")
    taken = invite(owner, team.agent.email)
    assert taken.status_code == 422 and "already belongs" in taken.text and 'role="alert"' in taken.text
    bad = invite(owner, "not-an-address")
    assert bad.status_code == 422 and "enter an email address" in bad.text
    odd_role = invite(owner, "x@northside.example", "emperor")
    assert odd_role.status_code == 422 and "the role must be one of" in odd_role.text


def test_the_invitation_form_refuses_a_post_from_another_site(
    as_role: Callable[[str], Browser], browser: Callable[[], Browser], sera: Sera
) -> None:
    invite(as_role("owner"), "forged@northside.example")
    link = link_for(sera, "forged@northside.example")
    forged = browser().post(
        link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert forged.status_code == 403
    assert browser().get(link).status_code == 200  # still open


# -- roles, removal, sessions ---------------------------------------------------------------


def test_the_owner_changes_a_role_but_never_leaves_the_shop_without_an_owner(
    as_role: Callable[[str], Browser], team: Team
) -> None:
    owner = as_role("owner")
    viewer = as_role("viewer")
    assert viewer.get("/dashboard/team").status_code == 403
    changed = owner.act("POST", f"/dashboard/team/members/{team.viewer.member_id}/role", data={"role": "admin"})
    assert changed.status_code == 303  # type: ignore[attr-defined]
    assert viewer.get("/dashboard/team").status_code == 200  # an admin now: the next request knows
    last = owner.act("POST", f"/dashboard/team/members/{team.owner.member_id}/role", data={"role": "viewer"})
    assert last.status_code == 422 and "needs an owner" in last.text  # type: ignore[attr-defined]


def test_a_removed_member_is_logged_out_at_once(as_role: Callable[[str], Browser], team: Team) -> None:
    agent = as_role("agent")
    assert agent.get("/dashboard/").status_code == 200
    owner = as_role("owner")
    removed = owner.act("POST", f"/dashboard/team/members/{team.agent.member_id}/remove")
    assert removed.status_code == 303  # type: ignore[attr-defined]
    after = agent.get("/dashboard/")
    assert after.status_code == 303 and "/dashboard/login" in after.headers["location"]
    assert team.agent.email not in owner.get("/dashboard/team").text
    refused = agent.post("/dashboard/login", data={"email": team.agent.email, "password": PASSWORD})
    assert refused.status_code == 401


def test_the_owner_ends_a_members_session(as_role: Callable[[str], Browser], sera: Sera, team: Team) -> None:
    admin = as_role("admin")
    owner = as_role("owner")
    sid = northside_session_id(sera, team, "admin")
    assert sid[:8] in owner.get("/dashboard/team").text
    ended = owner.act("POST", f"/dashboard/team/members/{team.admin.member_id}/sessions/{sid}/end")
    assert ended.status_code == 303  # type: ignore[attr-defined]
    assert admin.get("/dashboard/").status_code == 303
    assert sid[:8] not in owner.get("/dashboard/team").text


# -- in the browser -------------------------------------------------------------------------


def test_a_teammate_is_invited_joins_and_is_removed_in_the_browser(owner_page: Page, server: str, sera: Sera) -> None:
    page = owner_page
    violations = no_csp_violations(page)
    page.get_by_role("link", name="Team").click()
    page.wait_for_url("**/dashboard/team")
    check_accessibility(page, "team")
    page.get_by_label("Email").fill("sam@northside.example")
    page.get_by_label("Role", exact=True).select_option("agent")
    page.get_by_role("button", name="Send the invitation").click()
    assert "Invitation sent" in page.get_by_role("status").inner_text()
    assert page.get_by_role("cell", name="sam@northside.example", exact=True).is_visible()

    link = link_for(sera, "sam@northside.example")
    browser = page.context.browser
    assert browser is not None
    fresh = browser.new_context().new_page()
    fresh_violations = no_csp_violations(fresh)
    fresh.goto(server + link)
    check_accessibility(fresh, "invitation")
    fresh.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    fresh.get_by_label("The same password again").fill(NEW_PASSWORD)
    fresh.get_by_role("button", name="Join the team").click()
    assert fresh.get_by_role("heading", level=1).inner_text() == "Welcome to the team"
    check_accessibility(fresh, "invitation-done")
    fresh.get_by_role("link", name="Log in").click()
    log_in(fresh, server, "sam@northside.example", NEW_PASSWORD)
    nav = fresh.get_by_role("navigation", name="Dashboard").get_by_role("link").all_inner_texts()
    assert "Calls and messages" in nav and "Tickets" in nav
    assert "Team" not in nav and "Agent settings" not in nav and "Developer" not in nav  # an agent's nav

    page.reload()
    row = page.get_by_role("row").filter(has_text="sam@northside.example").first
    row.get_by_role("button", name="Remove").click()
    assert "Member removed" in page.get_by_role("status").inner_text()
    fresh.reload()
    assert "/dashboard/login" in fresh.url  # logged out at once
    assert not violations and not fresh_violations, violations + fresh_violations
