"""The privacy page: the request queue with its deadlines, retention periods (previewed, then
saved), the audit log and its chain check, and deleting all of a shop's data."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from sera.bootstrap import Sera
from sera.customers.service import create_customer
from sera.privacy.retention import merchant_retention_days
from sera.privacy.service import get_privacy_request, record_privacy_request
from sera.storage.models import AuditEntry, Merchant
from tests.conftest import FakeClock, Personas
from tests.dashboard.conftest import PASSWORD, Browser, Team, check_accessibility, log_in, no_csp_violations

if TYPE_CHECKING:
    from playwright.sync_api import Page

PERIODS = {"recordings_transcripts": "365", "call_logs": "180", "abandoned_checkouts": "30", "audit_logs": "730"}


def open_request(sera: Sera, merchant_id: str, kind: str = "objection", source: str = "shopify") -> str:
    with sera.uow(merchant_id) as uow:
        customer = create_customer(uow, name="Grace Hopper", phone="+13125550177")
        request = record_privacy_request(
            uow, request_type=kind, customer_id=customer.id, source=source, now=sera.clock(), actor="test"
        )
        uow.commit()
        return request.id


@pytest.fixture
def pending(sera: Sera, personas: Personas) -> str:
    return open_request(sera, personas.northside_id)


@pytest.mark.parametrize(
    ("role", "read", "complete", "retention", "audit", "delete"),
    [
        ("owner", 200, 303, 200, 200, 200),
        ("admin", 200, 303, 200, 200, 403),
        ("agent", 403, 403, 403, 403, 403),
        ("viewer", 200, 403, 403, 200, 403),
    ],
)
def test_each_role_may_do_what_the_table_says(
    as_role: Callable[[str], Browser],
    pending: str,
    role: str,
    read: int,
    complete: int,
    retention: int,
    audit: int,
    delete: int,
) -> None:
    client = as_role(role)
    assert client.get("/dashboard/privacy").status_code == read
    assert client.get("/dashboard/privacy/audit").status_code == audit
    assert client.get("/dashboard/privacy/delete-shop").status_code == delete
    preview = client.act("POST", "/dashboard/privacy/retention/preview", data=PERIODS)
    assert preview.status_code == retention  # type: ignore[attr-defined]
    done = client.act("POST", f"/dashboard/privacy/requests/{pending}/complete")
    assert done.status_code == complete  # type: ignore[attr-defined]


def test_the_outsider_sees_none_of_northside(as_role: Callable[[str], Browser], pending: str) -> None:
    outsider = as_role("outsider")
    assert pending not in outsider.get("/dashboard/privacy").text
    refused = outsider.act("POST", f"/dashboard/privacy/requests/{pending}/complete")
    assert refused.status_code == 404  # type: ignore[attr-defined]
    assert outsider.get(f"/dashboard/privacy/requests/{pending}/export").status_code == 404


def test_an_overdue_request_is_flagged_and_completed_in_one_click(
    sera: Sera, personas: Personas, clock: FakeClock, as_role: Callable[[str], Browser], pending: str
) -> None:
    admin = as_role("admin")
    assert "Pending" in admin.get("/dashboard/privacy").text
    clock.advance(hours=49)
    admin = as_role("admin")
    assert "Overdue" in admin.get("/dashboard/privacy").text
    done = admin.act("POST", f"/dashboard/privacy/requests/{pending}/complete")
    assert done.headers["location"] == "/dashboard/privacy?done=completed"  # type: ignore[attr-defined]
    with sera.uow(personas.northside_id, readonly=True) as reader:
        assert get_privacy_request(reader, pending).status == "completed"
    again = admin.act("POST", f"/dashboard/privacy/requests/{pending}/complete")
    assert again.status_code == 409 and "already completed" in again.text  # type: ignore[attr-defined]


def test_a_correction_request_takes_the_corrected_details(
    sera: Sera, personas: Personas, as_role: Callable[[str], Browser]
) -> None:
    correction = open_request(sera, personas.northside_id, kind="correction", source="api")
    owner = as_role("owner")
    refused = owner.act("POST", f"/dashboard/privacy/requests/{correction}/complete")
    assert refused.status_code == 409  # type: ignore[attr-defined]
    done = owner.act("POST", f"/dashboard/privacy/requests/{correction}/complete", data={"name": "Grace Murray"})
    assert done.status_code == 303  # type: ignore[attr-defined]


def test_retention_is_previewed_then_saved_and_audited(
    sera: Sera, personas: Personas, as_role: Callable[[str], Browser]
) -> None:
    owner = as_role("owner")
    too_short = owner.act("POST", "/dashboard/privacy/retention/preview", data={**PERIODS, "audit_logs": "30"})
    assert too_short.status_code == 400  # type: ignore[attr-defined]
    assert "from 730 to 3650" in too_short.text  # type: ignore[attr-defined]
    too_long = owner.act("POST", "/dashboard/privacy/retention", data={**PERIODS, "call_logs": "9999"})
    assert too_long.status_code == 400  # type: ignore[attr-defined]
    preview = owner.act("POST", "/dashboard/privacy/retention/preview", data=PERIODS)
    assert "Nothing is deleted yet" in preview.text  # type: ignore[attr-defined]
    assert merchant_retention_days(sera, personas.northside_id)["call_logs"] == 365  # not saved by a preview
    saved = owner.act("POST", "/dashboard/privacy/retention", data=PERIODS)
    assert saved.status_code == 303  # type: ignore[attr-defined]
    days = merchant_retention_days(sera, personas.northside_id)
    assert days == {k: int(v) for k, v in PERIODS.items()}
    with sera.uow(personas.northside_id, readonly=True) as reader:
        entry = reader.session.execute(select(AuditEntry).where(AuditEntry.action == "retention.changed")).scalar_one()
        assert entry.details["after"]["call_logs"] == 180 and entry.details["before"]["call_logs"] == 365


def test_the_preview_counts_what_the_next_sweep_deletes(
    sera: Sera, personas: Personas, clock: FakeClock, as_role: Callable[[str], Browser]
) -> None:
    from sera.calls.service import start_call

    with sera.uow(personas.northside_id) as uow:
        start_call(
            uow,
            channel="voice",
            direction="inbound",
            provider="twilio",
            from_number="+13125550177",
            to_number=None,
            started_at=clock(),
        )
        uow.commit()
    clock.advance(days=200)
    preview = as_role("owner").act("POST", "/dashboard/privacy/retention/preview", data=PERIODS)
    assert "1 calls older than" in preview.text  # type: ignore[attr-defined]


def test_the_audit_log_filters_pages_and_verifies(
    sera: Sera, personas: Personas, as_role: Callable[[str], Browser], pending: str
) -> None:
    viewer = as_role("viewer")
    filtered = viewer.get("/dashboard/privacy/audit", params={"action": "privacy_request.received"})
    assert pending in filtered.text and "login" not in filtered.text.split("<tbody>")[1]
    checked = viewer.get("/dashboard/privacy/audit", params={"verify": "1"})
    assert "Intact" in checked.text
    with sera.uow(personas.northside_id) as uow:  # someone edits an entry behind the log's back
        entry = uow.session.execute(
            select(AuditEntry).where(AuditEntry.chain == personas.northside_id).limit(1)
        ).scalar_one()
        entry.action = "nothing.happened"
        uow.commit()
    assert "was changed after it was written" in viewer.get("/dashboard/privacy/audit", params={"verify": "1"}).text


def test_deleting_the_shop_needs_the_password_and_the_domain(
    sera: Sera, personas: Personas, team: Team, as_role: Callable[[str], Browser]
) -> None:
    owner = as_role("owner")
    refused = owner.act("POST", "/dashboard/privacy/delete-shop", data={"domain": "northside-cycles.example"})
    assert refused.status_code == 403  # type: ignore[attr-defined]
    owner.act("POST", "/dashboard/reauthenticate", data={"password": PASSWORD, "next": "/dashboard/"})
    wrong = owner.act("POST", "/dashboard/privacy/delete-shop", data={"domain": "southside.example"})
    assert wrong.status_code == 400 and "nothing was deleted" in wrong.text  # type: ignore[attr-defined]
    with sera.uow(readonly=True) as reader:
        domain = reader.session.execute(
            select(Merchant.domain).where(Merchant.id == personas.northside_id)
        ).scalar_one()
    done = owner.act("POST", "/dashboard/privacy/delete-shop", data={"domain": domain})
    assert done.status_code == 200 and "data is deleted" in done.text  # type: ignore[attr-defined]
    with sera.uow(readonly=True) as reader:
        assert reader.session.get(Merchant, personas.northside_id) is None
    assert owner.get("/dashboard/").status_code == 303  # logged out
    assert as_role("outsider").get("/dashboard/privacy").status_code == 200  # Southside untouched


def test_a_privacy_request_is_completed_in_the_browser(owner_page: Page, server: str, pending: str) -> None:
    page = owner_page
    violations = no_csp_violations(page)
    page.goto(f"{server}/dashboard/privacy")
    check_accessibility(page, "privacy")
    page.get_by_role("button", name="Complete this objection request").click()
    assert page.get_by_role("status").inner_text() == "The request is completed."
    page.get_by_role("link", name="The audit log").click()
    page.get_by_role("button", name="Verify the chain").click()
    assert "Intact" in page.get_by_role("status").inner_text()
    check_accessibility(page, "privacy-audit")
    assert not violations, violations


def test_an_owner_changes_a_retention_period_and_an_agent_cannot(
    page: Page, server: str, sera: Sera, personas: Personas, team: Team
) -> None:
    log_in(page, server, team.owner.email)
    page.goto(f"{server}/dashboard/privacy")
    page.get_by_label("Call logs: days kept").fill("180")
    page.get_by_role("button", name="Show what this would delete").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Retention periods: before you save"
    check_accessibility(page, "privacy-retention-preview")
    page.get_by_role("button", name="Save these periods").click()
    assert "saved" in page.get_by_role("status").inner_text()
    assert merchant_retention_days(sera, personas.northside_id)["call_logs"] == 180
    page.get_by_role("button", name="Log out").click()

    log_in(page, server, team.agent.email)
    assert page.get_by_role("link", name="Privacy").count() == 0  # not in the agent's navigation
    response = page.goto(f"{server}/dashboard/privacy")
    assert response is not None and response.status == 403


def test_deleting_the_shop_in_the_browser(owner_page: Page, server: str, sera: Sera, personas: Personas) -> None:
    page = owner_page
    page.goto(f"{server}/dashboard/privacy/delete-shop")
    check_accessibility(page, "privacy-delete")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm my password").click()
    page.get_by_label("Type the shop’s domain").fill("not-this-shop.example")
    page.get_by_role("button", name="Delete all of").click()
    assert "nothing was deleted" in page.get_by_role("alert").inner_text()
    with sera.uow(readonly=True) as reader:
        domain = reader.session.execute(
            select(Merchant.domain).where(Merchant.id == personas.northside_id)
        ).scalar_one()
    page.get_by_label("Type the shop’s domain").fill(domain)
    page.get_by_role("button", name="Delete all of").click()
    assert "data is deleted" in page.get_by_role("heading", level=1).inner_text()
    check_accessibility(page, "privacy-deleted")
    page.goto(f"{server}/dashboard/")
    assert "/dashboard/login" in page.url
