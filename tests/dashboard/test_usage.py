"""Usage per day and month, and the shop's invoices with their PDFs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sera.billing.accounts import set_billing
from sera.billing.invoices import Month, invoice_pdf, issue_invoice
from sera.billing.pricing import load_pricing
from sera.billing.usage import record_usage
from sera.bootstrap import Sera
from tests.conftest import FakeClock
from tests.dashboard.conftest import Browser, Team, check_accessibility

if TYPE_CHECKING:
    from playwright.sync_api import Page

EXAMPLE = Path(__file__).resolve().parents[2] / "pricing.example.yaml"


def use(sera: Sera, merchant_id: str, day: date, metric: str, quantity: int) -> None:
    with sera.uow(merchant_id) as uow:
        record_usage(uow, day, metric, quantity)
        uow.commit()


@pytest.fixture
def billed(sera: Sera, team: Team, clock: FakeClock) -> str:
    """Northside on the starter plan with usage this month and last, and last month invoiced;
    returns the invoice's id."""
    sera.pricing = load_pricing(EXAMPLE)
    north = team.owner.merchant_id
    with sera.uow(north) as uow:
        set_billing(
            uow,
            sera.pricing,
            actor="test",
            plan="starter",
            company="Northside Cycles LLC",
            email="accounts@northside.example",
        )
        uow.commit()
    today = clock().date()
    last = Month.before(today)
    use(sera, north, today.replace(day=1), "billed_minutes", 17)
    use(sera, north, today.replace(day=1), "sms_segments_outbound", 5)
    use(sera, north, last.first, "billed_minutes", 260)
    use(sera, north, last.last, "inbound_calls", 9)
    use(sera, team.outsider.merchant_id, today.replace(day=1), "billed_minutes", 4321)
    outcome = issue_invoice(sera, north, last, actor="test")
    assert outcome.invoice is not None
    return outcome.invoice.id


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("admin", 200), ("agent", 403), ("viewer", 200)])
def test_usage_by_role_and_invoices_only_for_billing(
    as_role: Callable[[str], Browser], billed: str, clock: FakeClock, role: str, status: int
) -> None:
    page = as_role(role).get("/dashboard/usage")
    assert page.status_code == status
    if status == 200:
        assert ">17<" in page.text and ">260<" in page.text and f"{clock():%Y-%m}" in page.text
        assert "4321" not in page.text
        assert ("INV-000001" in page.text) == (role in ("owner", "admin"))


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("admin", 200), ("agent", 403), ("viewer", 403)])
def test_the_invoice_pdf_is_the_apis(
    as_role: Callable[[str], Browser], sera: Sera, team: Team, billed: str, role: str, status: int
) -> None:
    response = as_role(role).get(f"/dashboard/usage/invoices/{billed}.pdf")
    assert response.status_code == status
    if status == 200:
        with sera.uow(team.owner.merchant_id, readonly=True) as reader:
            _, pdf = invoice_pdf(reader, billed)
        assert response.headers["content-type"] == "application/pdf" and response.content == pdf
        assert 'filename="INV-000001.pdf"' in response.headers["content-disposition"]


def test_an_outsider_gets_no_northside_invoice_or_usage(as_role: Callable[[str], Browser], billed: str) -> None:
    outsider = as_role("outsider")
    assert outsider.get(f"/dashboard/usage/invoices/{billed}.pdf").status_code == 404
    page = outsider.get("/dashboard/usage")
    assert (
        page.status_code == 200 and "4321" in page.text and "INV-000001" not in page.text and ">260<" not in page.text
    )


def test_a_month_shows_its_days(as_role: Callable[[str], Browser], billed: str, clock: FakeClock) -> None:
    last = Month.before(clock().date())
    page = as_role("owner").get(f"/dashboard/usage?month={last}")
    assert (
        f"Per day in {last.label}" in page.text and ">9<" in page.text and ">17<" not in page.text.split("Per day")[1]
    )
    assert as_role("owner").get("/dashboard/usage?month=2026-13").status_code == 404


def test_the_usage_page_in_the_browser(owner_page: Page, server: str, billed: str) -> None:
    owner_page.get_by_role("link", name="Usage and invoices").click()
    owner_page.wait_for_url("**/dashboard/usage")
    check_accessibility(owner_page, "usage")
    with owner_page.expect_download() as download:
        owner_page.get_by_role("link", name="Download INV-000001 (PDF)").click()
    assert download.value.suggested_filename == "INV-000001.pdf"
