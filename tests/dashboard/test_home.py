"""Home: today at a glance in the shop's time zone, each figure linking to its page, and only
what the member's role may read."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from sera.billing.usage import record_usage
from sera.bootstrap import Sera
from sera.customers.service import find_or_create_customer
from sera.privacy.service import record_privacy_request
from sera.reports.glance import SECTIONS, glance
from sera.support.service import Callback, create_ticket
from tests.conftest import FakeClock, Personas
from tests.dashboard.conftest import Browser, check_accessibility, no_csp_violations
from tests.dashboard.test_calls import SCRIPT, add_call

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHICAGO = ZoneInfo("America/Chicago")


def figure(html: str, label: str) -> int:
    """The number on the card with this label (``3 calls``)."""
    found = re.search(r'<span class="figure">(\d+)</span> <span class="label">' + re.escape(label) + "</span>", html)
    assert found, f"no {label!r} card"
    return int(found.group(1))


@pytest.fixture
def busy_day(sera: Sera, personas: Personas, clock: FakeClock) -> dict[str, str]:
    """Northside's Friday so far (10:00 in Chicago): calls, texts, a chat, messages taken, privacy requests."""
    north = personas.northside_id
    add_call(sera, north, ago=timedelta(hours=1))
    add_call(sera, north, ago=timedelta(hours=2), direction="outbound")
    add_call(sera, north, ago=timedelta(hours=3), channel="sms")
    add_call(sera, north, ago=timedelta(minutes=30), channel="web", name=SCRIPT, phone="+13125550188")
    add_call(sera, north, ago=timedelta(hours=11))  # 23:00 yesterday in Chicago, 05:00 UTC today
    add_call(sera, personas.southside_id, ago=timedelta(hours=1))
    now = clock()
    with sera.uow(north) as uow:
        customer = find_or_create_customer(uow, name="Rosa Diaz", phone="+13125550170")
        callback = Callback(name="Rosa Diaz", phone="+13125550170", message="Call me about my wheel")
        create_ticket(
            uow,
            subject="Call back",
            description="x",
            tags=["callback"],
            customer_id=customer.id,
            now=now,
            callback=callback,
        )
        overdue = record_privacy_request(
            uow,
            request_type="erasure",
            customer_id=customer.id,
            source="agent",
            now=now - timedelta(days=40),
            actor="t",
        )
        soon = record_privacy_request(
            uow, request_type="access", customer_id=None, source="api", now=now - timedelta(days=1), actor="t"
        )
        record_usage(uow, now.astimezone(CHICAGO).date(), "billed_minutes", 7)
        record_usage(uow, now.astimezone(CHICAGO).date().replace(day=1), "sms_segments_outbound", 4)
        record_usage(uow, now.astimezone(CHICAGO).date().replace(day=1) - timedelta(days=1), "billed_minutes", 99)
        uow.commit()
        return {"overdue": overdue.id, "soon": soon.id}


def test_the_owner_sees_the_whole_day(as_role: Callable[[str], Browser], busy_day: dict[str, str]) -> None:
    html = as_role("owner").get("/dashboard/").text
    assert "<h1>Today at Northside Cycles</h1>" in html
    assert "Friday 27 November 2026" in html
    assert figure(html, "calls") == 2  # not yesterday's, not Southside's
    assert figure(html, "text conversation") == 1
    assert figure(html, "web chat") == 1
    assert figure(html, "message taken") == 1
    assert figure(html, "open ticket") == 1
    assert figure(html, "billed minutes") == 7  # this month only
    assert figure(html, "SMS segments") == 4
    assert figure(html, "bookings made by the agent") == 0
    assert figure(html, "recovered checkouts") == 0
    assert "2 to answer" in html and "1 overdue" in html
    rows = re.findall(r'<a href="/dashboard/privacy/(prq_\w+)">', html)
    assert rows == [busy_day["overdue"], busy_day["soon"]]  # the nearest deadline first
    assert "Due in 1 day<" in html
    assert '<span class="badge danger">Overdue</span>' in html
    assert 'href="/dashboard/calls?channel=voice&amp;since=2026-11-27&amp;until=2026-11-27"' in html
    assert SCRIPT not in html


@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        ("admin", ["calls", "open ticket", "billed minutes"], []),
        ("agent", ["calls", "open ticket", "bookings made by the agent"], ["billed minutes", "sent"]),
        ("viewer", ["calls", "billed minutes", "sent"], []),
    ],
)
def test_each_role_sees_what_it_may_read(
    as_role: Callable[[str], Browser], busy_day: dict[str, str], role: str, shown: list[str], hidden: list[str]
) -> None:
    html = as_role(role).get("/dashboard/").text
    for label in shown:
        figure(html, label)
    for label in hidden:
        assert f'<span class="label">{label}</span>' not in html
    privacy_shown = "Privacy requests" in html
    assert privacy_shown == (role != "agent")  # the front desk does not see privacy requests


def test_the_outsider_sees_only_their_own_shop(as_role: Callable[[str], Browser], busy_day: dict[str, str]) -> None:
    html = as_role("outsider").get("/dashboard/").text
    assert "Today at Southside Skates" in html
    assert figure(html, "call") == 1
    assert busy_day["overdue"] not in html and "Every privacy request is answered" in html


def test_logged_out_visitors_are_sent_to_log_in(browser: Callable[[], Browser]) -> None:
    answer = browser().get("/dashboard/")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/dashboard/login")


@contextmanager
def counted_queries(sera: Sera) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(sera.db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(sera.db.engine, "before_cursor_execute", count)


def test_the_figures_are_counted_in_sql_not_by_loading_rows(sera: Sera, personas: Personas, clock: FakeClock) -> None:
    """The same few aggregate queries whatever the number of calls: no row of a call is read."""

    def run() -> list[str]:
        with sera.uow(personas.northside_id, readonly=True) as reader, counted_queries(sera) as seen:
            glance(reader, clock(), CHICAGO, SECTIONS)
        return seen

    add_call(sera, personas.northside_id)
    few = run()
    for i in range(30):
        add_call(sera, personas.northside_id, ago=timedelta(minutes=i + 2))
    many = run()
    assert len(many) == len(few)
    assert not any(re.search(r"SELECT calls\.id\b", q) for q in many)


def test_home_in_the_browser(owner_page: Page, server: str, busy_day: dict[str, str]) -> None:
    violations = no_csp_violations(owner_page)
    owner_page.goto(f"{server}/dashboard/")
    check_accessibility(owner_page, "home-with-activity")
    owner_page.get_by_role("link", name="2 calls").click()
    owner_page.wait_for_url("**/dashboard/calls?channel=voice*")
    assert owner_page.locator("#calls-results tbody tr").count() == 2
    assert not violations, violations
