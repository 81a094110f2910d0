"""The customers pages: search, a customer's profile and history, and what each role may do to
them (correct, export, do-not-contact, erase after re-entering the password)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from sera.bootstrap import Sera
from sera.customers.service import create_customer, get_customer, record_consent
from sera.storage.models import AuditEntry, Customer
from tests.conftest import Personas
from tests.dashboard.conftest import PASSWORD, Browser, Team, check_accessibility, no_csp_violations

if TYPE_CHECKING:
    from playwright.sync_api import Page

SCRIPT = "<script>alert(1)</script>"


def add_customer(sera: Sera, merchant_id: str, name: str, phone: str, email: str | None = None) -> str:
    with sera.uow(merchant_id) as uow:
        customer = create_customer(uow, name=name, phone=phone, email=email, source="agent:voice")
        record_consent(
            uow,
            customer.id,
            channel="sms",
            purpose="marketing",
            granted=True,
            source="web form",
            actor="test",
            now=sera.clock(),
        )
        uow.commit()
        return customer.id


@pytest.fixture
def ada(sera: Sera, personas: Personas) -> str:
    return add_customer(sera, personas.northside_id, "Ada Lovelace", "+13125550142", "ada@example.com")


def test_a_customer_is_found_by_name_phone_or_email(as_role: Callable[[str], Browser], ada: str) -> None:
    viewer = as_role("viewer")
    for query in ("lovelace", "+1 312 555 0142", "ADA@example.com"):
        found = viewer.get("/dashboard/customers", params={"q": query})
        assert found.status_code == 200
        assert f"/dashboard/customers/{ada}" in found.text, query
    missing = viewer.get("/dashboard/customers", params={"q": "Babbage"})
    assert ada not in missing.text and "No customer matches" in missing.text


def test_the_profile_shows_sources_consent_and_escapes_script(
    sera: Sera, personas: Personas, as_role: Callable[[str], Browser]
) -> None:
    evil = add_customer(sera, personas.northside_id, SCRIPT, "+13125550199")
    page = as_role("agent").get(f"/dashboard/customers/{evil}")
    assert page.status_code == 200
    assert SCRIPT not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "(from agent:voice)" in page.text and "web form" in page.text
    listing = as_role("agent").get("/dashboard/customers")
    assert SCRIPT not in listing.text


@pytest.mark.parametrize(
    ("role", "read", "correct", "listing", "export", "erase"),
    [
        ("owner", 200, 303, 303, 200, 200),
        ("admin", 200, 303, 303, 200, 200),
        ("agent", 200, 303, 303, 403, 403),
        ("viewer", 200, 403, 403, 403, 403),
        ("outsider", 404, 404, 404, 404, 404),
    ],
)
def test_each_role_may_do_what_the_table_says(
    as_role: Callable[[str], Browser],
    ada: str,
    role: str,
    read: int,
    correct: int,
    listing: int,
    export: int,
    erase: int,
) -> None:
    client = as_role(role)
    assert client.get(f"/dashboard/customers/{ada}").status_code == read
    assert client.get("/dashboard/customers").status_code == 200  # their own shop's list, for every member
    done = client.act("POST", f"/dashboard/customers/{ada}/correct", data={"name": "Ada King"})
    assert done.status_code == correct  # type: ignore[attr-defined]
    done = client.act("POST", f"/dashboard/customers/{ada}/do-not-contact", data={"listed": "yes"})
    assert done.status_code == listing  # type: ignore[attr-defined]
    done = client.act("POST", f"/dashboard/customers/{ada}/export")
    assert done.status_code == export  # type: ignore[attr-defined]
    assert client.get(f"/dashboard/customers/{ada}/erase").status_code == erase
    refused = client.act("POST", f"/dashboard/customers/{ada}/erase")
    assert refused.status_code in (403, 404)  # type: ignore[attr-defined]


def test_the_outsider_never_sees_northside_customers(as_role: Callable[[str], Browser], ada: str) -> None:
    outsider = as_role("outsider")
    assert "Lovelace" not in outsider.get("/dashboard/customers", params={"q": "Ada"}).text
    assert "Lovelace" not in outsider.get("/dashboard/customers").text


def test_a_correction_is_validated_as_the_api_does_and_audited(
    sera: Sera, personas: Personas, as_role: Callable[[str], Browser], ada: str
) -> None:
    agent = as_role("agent")
    bad = agent.act("POST", f"/dashboard/customers/{ada}/correct", data={"phone": "call me maybe"})
    assert bad.status_code == 400  # type: ignore[attr-defined]
    assert "international form" in bad.text  # type: ignore[attr-defined]
    good = agent.act("POST", f"/dashboard/customers/{ada}/correct", data={"phone": "+13125550143"})
    assert good.status_code == 303  # type: ignore[attr-defined]
    with sera.uow(personas.northside_id, readonly=True) as reader:
        assert get_customer(reader, ada).phone == "+13125550143"
        actions = reader.session.execute(select(AuditEntry.action).where(AuditEntry.target_id == ada)).scalars()
        assert "customer.corrected" in list(actions)


def test_the_export_is_the_access_export_as_a_download(as_role: Callable[[str], Browser], ada: str) -> None:
    download = as_role("admin").act("POST", f"/dashboard/customers/{ada}/export")
    assert download.headers["content-disposition"] == f'attachment; filename="{ada}.json"'  # type: ignore[attr-defined]
    body = json.loads(download.text)  # type: ignore[attr-defined]
    assert body["customer"]["email"] == "ada@example.com"
    assert body["consents"][0]["channel"] == "sms"
    queue = as_role("admin").get("/dashboard/privacy")
    assert "Access" in queue.text and "dashboard" in queue.text  # recorded as a completed access request


def test_do_not_contact_is_added_and_removed(as_role: Callable[[str], Browser], ada: str) -> None:
    agent = as_role("agent")
    agent.act("POST", f"/dashboard/customers/{ada}/do-not-contact", data={"listed": "yes"})
    assert "On the do-not-contact list" in agent.get(f"/dashboard/customers/{ada}").text
    agent.act("POST", f"/dashboard/customers/{ada}/do-not-contact", data={"listed": "no"})
    assert "Not on the do-not-contact list" in agent.get(f"/dashboard/customers/{ada}").text


def test_erasing_needs_the_password_first(
    sera: Sera, personas: Personas, as_role: Callable[[str], Browser], ada: str
) -> None:
    owner = as_role("owner")
    first = owner.get(f"/dashboard/customers/{ada}/erase")
    assert "Enter your password first" in first.text and "1 consent record" in first.text
    assert owner.act("POST", f"/dashboard/customers/{ada}/erase").status_code == 403  # type: ignore[attr-defined]
    owner.act("POST", "/dashboard/reauthenticate", data={"password": PASSWORD, "next": "/dashboard/"})
    assert "Erase Ada Lovelace now" in owner.get(f"/dashboard/customers/{ada}/erase").text
    gone = owner.act("POST", f"/dashboard/customers/{ada}/erase")
    assert gone.headers["location"] == "/dashboard/customers?done=erased"  # type: ignore[attr-defined]
    assert owner.get(f"/dashboard/customers/{ada}").status_code == 404
    with sera.uow(personas.northside_id, readonly=True) as reader:
        assert reader.session.get(Customer, ada) is None
        erased = reader.session.execute(select(AuditEntry).where(AuditEntry.action == "customer.erased")).scalars()
        assert [e.target_id for e in erased] == [ada]


def test_a_customer_found_corrected_and_erased_in_the_browser(
    owner_page: Page, server: str, team: Team, sera: Sera, personas: Personas
) -> None:
    page = owner_page
    ada = add_customer(sera, personas.northside_id, "Ada Lovelace", "+13125550142", "ada@example.com")
    violations = no_csp_violations(page)
    page.goto(f"{server}/dashboard/customers")
    page.get_by_label("Name, phone or email").fill("lovelace")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/customers?q=lovelace*")  # the results, not the list the search replaces
    page.get_by_role("link", name="Ada Lovelace").click()
    page.wait_for_url(f"**/customers/{ada}")
    check_accessibility(page, "customers-detail")
    page.get_by_label("Corrected name").fill("Ada King")
    page.get_by_role("button", name="Save the corrections").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Ada King"
    page.get_by_role("link", name="Erase this customer…").click()
    check_accessibility(page, "customers-erase")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm my password").click()
    page.get_by_role("button", name="Erase Ada King now").click()
    assert "is erased" in page.get_by_role("status").inner_text()
    check_accessibility(page, "customers")
    assert not violations, violations
