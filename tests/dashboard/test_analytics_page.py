"""The Analytics page: a period's figures as SVG charts with their numbers, the questions the agent
could not answer with a way to add an FAQ entry, and CSV a spreadsheet cannot be tricked by."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest

from sera.booking.service import book_appointment
from sera.bootstrap import Sera
from sera.calls.service import end_call, start_call
from sera.checkouts.service import CheckoutData, complete_checkout, record_checkout
from sera.outbound.drafts import RECOVERY, recovery_key
from sera.reports.questions import record_unanswered
from sera.storage.models import OutboundAction, new_id
from tests.dashboard.conftest import Browser, Team, check_accessibility, no_csp_violations

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHICAGO = ZoneInfo("America/Chicago")
TODAY = date(2026, 11, 27)  # the tests' clock: Friday 10:00 in Chicago, Northside's zone
SCRIPT = "<script>alert(1)</script> do you sell helmets for kids?"
FORMULA = '=HYPERLINK("http://x")'


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CHICAGO).astimezone(UTC)


def _conversation(sera: Sera, merchant_id: str, at: datetime, channel: str, outcome: str | None) -> None:
    with sera.uow(merchant_id) as uow:
        call = start_call(
            uow, channel=channel, direction="inbound", provider="local", from_number="+13125550142",
            to_number=None, started_at=at, provider_call_id=uuid.uuid4().hex,
        )  # fmt: skip
        if outcome is not None:
            end_call(uow, call, ended_at=at + timedelta(minutes=2), outcome=outcome)
        uow.commit()


def _question(sera: Sera, merchant_id: str, text: str, at: datetime) -> None:
    with sera.uow(merchant_id) as uow:
        record_unanswered(uow, question=text, channel="voice", asked_at=at, call_id=None, customer_id=None)
        uow.commit()


def _recovered_checkout(sera: Sera, merchant_id: str, *, texted: datetime, ordered: datetime, cents: int) -> None:
    """A checkout left, a recovery text sent, and the order placed after it."""
    external_id = uuid.uuid4().hex
    with sera.uow(merchant_id) as uow:
        data = CheckoutData(
            source="shopify", external_id=external_id, updated_at=texted - timedelta(hours=1),
            token=external_id, total_cents=cents, currency="USD",
        )  # fmt: skip
        checkout_id = record_checkout(uow, data, now=texted - timedelta(hours=1)).checkout_id
        uow.session.add(
            OutboundAction(
                id=new_id("out"), merchant_id=merchant_id, kind=RECOVERY, channel="sms", subject_id=checkout_id,
                status="sent", due_at=texted, idempotency_key=recovery_key(checkout_id, 1), created_at=texted,
                updated_at=texted, sent_at=texted,
            )
        )  # fmt: skip
        complete_checkout(
            uow, source="shopify", external_id=external_id, token=external_id, order_ref=uuid.uuid4().hex,
            completed_at=ordered, now=ordered,
        )  # fmt: skip
        uow.commit()


@pytest.fixture
def northside_month(sera: Sera, team: Team) -> None:
    """Northside's last weeks: calls, a booking by the agent, a recovered checkout, questions the
    agent could not answer (one with script in it, one a spreadsheet formula)."""
    shop = team.owner.merchant_id
    three_days_ago, twenty_days_ago = TODAY - timedelta(days=3), TODAY - timedelta(days=20)
    _conversation(sera, shop, _at(three_days_ago, 9, 10), "voice", "booked")
    _conversation(sera, shop, _at(three_days_ago, 9, 40), "voice", "transferred")
    _conversation(sera, shop, _at(three_days_ago, 14), "sms", "order_status")
    _conversation(sera, shop, _at(twenty_days_ago, 9, 5), "voice", "knowledge")
    _conversation(sera, shop, _at(TODAY - timedelta(days=60), 11), "voice", "knowledge")  # outside 30 days
    with sera.uow(shop) as uow:
        book_appointment(
            uow, service_name="Tune-up", start=_at(TODAY + timedelta(days=4), 10), customer_id=None,
            now=_at(three_days_ago, 9, 12),
        )  # fmt: skip
        uow.commit()
    _recovered_checkout(sera, shop, texted=_at(three_days_ago, 8), ordered=_at(three_days_ago, 12), cents=12345)
    _question(sera, shop, SCRIPT, _at(three_days_ago, 9, 15))
    _question(sera, shop, FORMULA, _at(twenty_days_ago, 9, 6))
    # Southside's activity: never on Northside's pages, nor Northside's on theirs
    _conversation(sera, team.outsider.merchant_id, _at(three_days_ago, 10), "voice", "booked")
    _question(sera, team.outsider.merchant_id, "Do you sharpen figure skates?", _at(three_days_ago, 10, 5))


def _card(html: str, label: str) -> str:
    found = re.search(r'<span class="figure">([^<]+)</span> <span class="label">' + re.escape(label), html)
    assert found, f"no card {label!r}"
    return found.group(1)


# -- the page -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("northside_month")
def test_the_owner_sees_the_last_30_days_with_a_chart_and_its_numbers_for_each_figure(
    as_role: Callable[[str], Browser],
) -> None:
    page = as_role("owner").get("/dashboard/analytics")
    assert page.status_code == 200
    html = page.text
    assert "29 Oct 2026 to 27 Nov 2026 (30 days)" in html
    assert _card(html, "Calls") == "3"  # the one 60 days ago is not in the period
    assert _card(html, "Text conversations") == "1"
    assert _card(html, "Handled without a person") == "3"
    assert "(75% of those that ended)" in html
    assert _card(html, "Bookings made by the agent") == "1"
    assert _card(html, "Recovered checkouts") == "1"
    assert _card(html, "Recovered revenue") == "123.45 USD"
    assert _card(html, "Questions the agent could not answer") == "2"
    for title in (
        "Calls per day",
        "Conversations handled without a person",
        "Bookings made by the agent",
        "Revenue from recovered checkouts (USD)",
        "How conversations ended",
        "Conversations started by customers, per hour of the day",
    ):
        svg = re.search(r'<svg[^>]*role="img"[^>]*><title id="[^"]+">' + re.escape(title) + "</title>", html)
        assert svg, f"no chart {title!r}"
        assert f"<caption>{title}</caption>" in html, f"no numbers for {title!r}"
    assert '<th scope="row">2026-11-24</th><td>2</td>' in html  # three days ago: two calls
    assert "Busiest: 09:00 (3)" in html
    assert "Transferred" in html and "Answered a question" in html


@pytest.mark.usefixtures("northside_month")
def test_unanswered_questions_are_grouped_with_an_example_and_a_link_to_add_an_faq_entry(
    as_role: Callable[[str], Browser],
) -> None:
    html = as_role("owner").get("/dashboard/analytics").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; do you sell helmets for kids?" in html
    assert "<script>alert(1)" not in html
    link = f'href="/dashboard/knowledge/new?question={quote(SCRIPT, safe="")}"'
    assert link in html and "Add an FAQ entry" in html
    assert "Do you sharpen figure skates" not in html  # Southside's


def test_a_viewer_sees_the_figures_but_no_link_to_change_the_faq(
    northside_month: None, as_role: Callable[[str], Browser]
) -> None:
    html = as_role("viewer").get("/dashboard/analytics").text
    assert "do you sell helmets" in html
    assert "Add an FAQ entry" not in html
    assert "Download the day-by-day figures (CSV)" in html  # viewers may export counts


@pytest.mark.usefixtures("northside_month")
@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("admin", 200), ("viewer", 200), ("agent", 403)])
def test_who_may_see_analytics_and_export_them(as_role: Callable[[str], Browser], role: str, status: int) -> None:
    client = as_role(role)
    page = client.get("/dashboard/analytics")
    export = client.get("/dashboard/analytics.csv")
    assert (page.status_code, export.status_code) == (status, status)
    if status == 403:
        assert "your role does not allow this" in page.text
        assert "2026-11-24" not in export.text and "helmets" not in page.text
        assert 'href="/dashboard/analytics"' not in client.get("/dashboard/").text  # not in the navigation
    else:
        assert export.headers["content-disposition"].startswith("attachment;")


@pytest.mark.usefixtures("northside_month")
def test_the_outsider_sees_only_their_own_shop(as_role: Callable[[str], Browser]) -> None:
    client = as_role("outsider")
    html = client.get("/dashboard/analytics").text
    assert _card(html, "Calls") == "1"
    assert "Do you sharpen figure skates?" in html
    assert "helmets" not in html and "HYPERLINK" not in html
    exported = client.get("/dashboard/analytics.csv?table=topics").text
    assert "skates" in exported and "helmets" not in exported
    days = list(csv.reader(io.StringIO(client.get("/dashboard/analytics.csv").text)))
    assert sum(int(row[1]) for row in days[1:]) == 1


def test_without_login_the_page_and_the_export_send_to_the_login_page(browser: Callable[[], Browser]) -> None:
    client = browser()
    for url in ("/dashboard/analytics", "/dashboard/analytics.csv"):
        response = client.get(url)
        assert response.status_code == 303 and "/dashboard/login?next=" in response.headers["location"]


# -- the period ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("northside_month")
def test_choosing_the_last_7_or_90_days_or_two_dates(as_role: Callable[[str], Browser]) -> None:
    client = as_role("owner")
    week = client.get("/dashboard/analytics?period=7").text
    assert "21 Nov 2026 to 27 Nov 2026 (7 days)" in week and _card(week, "Calls") == "2"
    assert '<option value="7" selected>' in week
    quarter = client.get("/dashboard/analytics?period=90").text
    assert "(90 days)" in quarter and _card(quarter, "Calls") == "4"
    dates = client.get("/dashboard/analytics?period=dates&from=2026-11-07&to=2026-11-07").text
    assert "7 Nov 2026 to 7 Nov 2026 (1 day)" in dates and _card(dates, "Calls") == "1"
    assert 'value="2026-11-07"' in dates
    linked = client.get("/dashboard/analytics?from=2026-09-01&to=2026-11-27").text  # dates alone mean dates
    assert "1 Sep 2026 to 27 Nov 2026 (88 days)" in linked and _card(linked, "Calls") == "4"


@pytest.mark.parametrize(
    ("query", "message", "field"),
    [
        ("period=dates&from=2026-11-20&to=2026-11-10", "the last day must be on or after the first day", "to"),
        ("period=dates&from=2025-01-01&to=2026-11-27", "a period is at most 366 days", "to"),
        ("period=dates&from=20-11-2026&to=2026-11-27", "enter a date as year-month-day", "from"),
        ("period=dates&from=2026-11-01", "enter a date (year-month-day)", "to"),
        ("period=365", "choose one of the periods in the list", "period"),
    ],
)
def test_a_period_that_cannot_be_shown_is_explained_next_to_the_form(
    as_role: Callable[[str], Browser], query: str, message: str, field: str
) -> None:
    response = as_role("owner").get(f"/dashboard/analytics?{query}")
    assert response.status_code == 422
    assert '<p class="error" role="alert" id="period-error">' in response.text and message in response.text
    assert re.search(
        rf'id="{field}"[^>]*aria-describedby="period-error period-hint" aria-invalid="true"', response.text
    )
    assert 'class="cards"' not in response.text
    export = as_role("owner").get(f"/dashboard/analytics.csv?{query}")
    assert export.status_code == 422 and message in export.text


def test_an_oversized_query_is_refused(as_role: Callable[[str], Browser]) -> None:
    assert as_role("owner").get("/dashboard/analytics?from=" + "2" * 200).status_code == 422


def test_htmx_gets_only_the_results_and_a_history_restore_the_whole_page(as_role: Callable[[str], Browser]) -> None:
    client = as_role("owner")
    part = client.get("/dashboard/analytics?period=7", headers={"HX-Request": "true", "HX-Target": "analytics-results"})
    assert part.status_code == 200
    assert "<html" not in part.text and "(7 days)" in part.text and "<form" in part.text
    restored = client.get(
        "/dashboard/analytics?period=7", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in restored.text and "(7 days)" in restored.text


# -- the export ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("northside_month")
def test_the_export_is_the_day_by_day_figures_of_the_period(as_role: Callable[[str], Browser]) -> None:
    response = as_role("viewer").get("/dashboard/analytics.csv?period=7")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="analytics-2026-11-21-to-2026-11-27.csv"'
    assert response.headers["cache-control"] == "no-store"
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:3] == ["date", "calls", "texts"] and rows[0][-1] == "recovered_revenue_USD"
    assert [row[0] for row in rows[1:]] == [(TODAY - timedelta(days=6 - i)).isoformat() for i in range(7)]
    assert rows[4] == ["2026-11-24", "2", "1", "0", "2", "1", "0", "1", "123.45"]


@pytest.mark.usefixtures("northside_month")
def test_a_question_that_is_a_formula_is_exported_as_text(as_role: Callable[[str], Browser]) -> None:
    response = as_role("owner").get("/dashboard/analytics.csv?period=30&table=topics")
    assert response.status_code == 200
    assert "analytics-questions-" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["topic", "count", "example"]
    examples = [row[2] for row in rows[1:]]
    assert "'" + FORMULA in examples  # a spreadsheet shows it, and does not run it
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    assert as_role("owner").get("/dashboard/analytics.csv?table=calls").status_code == 422


# -- in the browser -----------------------------------------------------------------------------


def test_the_owner_changes_the_period_and_reads_the_numbers_in_the_browser(
    northside_month: None, owner_page: Page, server: str
) -> None:
    page = owner_page
    violations = no_csp_violations(page)
    page.get_by_role("link", name="Analytics").click()
    page.wait_for_url(f"{server}/dashboard/analytics")
    assert page.get_by_role("heading", level=1).inner_text() == "Analytics"
    assert "(30 days)" in page.locator("#period-heading").inner_text()
    assert page.get_by_role("img", name="Calls per day").count() == 1

    page.get_by_label("Period").select_option("7")
    page.get_by_role("button", name="Show this period").click()
    page.wait_for_url("**/dashboard/analytics?period=7**")
    page.locator("#period-heading", has_text="(7 days)").wait_for()
    page.get_by_text("Show the numbers: Calls per day").click()
    assert page.get_by_role("table", name="Calls per day").get_by_role("row").count() == 8  # a header, 7 days
    faq = page.get_by_role("link", name="Add an FAQ entry", exact=False)
    assert faq.count() == 1  # the formula was asked 20 days ago: not in this week
    assert "/dashboard/knowledge/new?question=" in (faq.get_attribute("href") or "")
    assert page.get_by_role("cell", name=SCRIPT).count() == 1  # shown as text, never run

    page.get_by_label("Period").select_option("dates")
    page.get_by_label("First day").fill("2026-11-20")
    page.get_by_label("Last day").fill("2026-11-10")
    page.get_by_role("button", name="Show this period").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert alert.inner_text() == "the last day must be on or after the first day"
    assert not violations, violations
    # axe leaves style="" on what it measured, which a later swap would copy: so it runs last
    check_accessibility(page, "analytics-error")
    page.goto(f"{server}/dashboard/analytics?period=90")
    check_accessibility(page, "analytics")
