"""The developer page: the shop's mail log and its API keys (never a secret)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from sera.access.api_keys import create_api_key
from sera.bootstrap import Sera
from sera.mail.service import send_pending
from sera.team import invitations
from tests.dashboard.conftest import Browser, Team, check_accessibility

if TYPE_CHECKING:
    from playwright.sync_api import Page

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def keys(sera: Sera, team: Team) -> str:
    """A Northside key labelled with script, a Southside key, and a mail queued for each shop."""
    key = create_api_key(sera, team.owner.merchant_id, role="admin", label=SCRIPT, actor="test")
    create_api_key(sera, team.outsider.merchant_id, role="viewer", label="southside-only", actor="test")
    for member in (team.owner, team.outsider):
        with sera.uow(member.merchant_id) as uow:
            invitations.invite(uow, sera, email="new@example.com", role="agent", actor="test", invited_by="test")
            uow.commit()
    return key


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("admin", 200), ("agent", 403), ("viewer", 403)])
def test_the_developer_page_by_role(as_role: Callable[[str], Browser], keys: str, role: str, status: int) -> None:
    page = as_role(role).get("/dashboard/developer")
    assert page.status_code == status
    if status == 200:
        prefix = keys.split("_")[1]
        assert prefix in page.text and keys not in page.text and keys.split("_", 2)[2] not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and SCRIPT not in page.text
        assert "southside-only" not in page.text
        assert "Team invitation" in page.text and "pending" in page.text


def test_the_mail_log_shows_a_sent_mail_and_the_outsider_only_theirs(
    as_role: Callable[[str], Browser], sera: Sera, keys: str
) -> None:
    send_pending(sera)
    page = as_role("owner").get("/dashboard/developer")
    assert ">sent<" in page.text and ">pending<" not in page.text
    outsider = as_role("outsider").get("/dashboard/developer")
    assert outsider.status_code == 200 and "southside-only" in outsider.text and keys.split("_")[1] not in outsider.text
    assert as_role("owner").get("/dashboard/developer?cursor=not-a-cursor").status_code == 404


def test_the_developer_page_in_the_browser(owner_page: Page, keys: str) -> None:
    owner_page.get_by_role("link", name="Developer").click()
    owner_page.wait_for_url("**/dashboard/developer")
    assert owner_page.get_by_role("cell", name=SCRIPT).is_visible()  # shown as text, never run
    check_accessibility(owner_page, "developer")
