"""The appointments page: day and week views per staff member, and booking, moving and cancelling
through the agent's own booking engine, with the customer told and every change audited."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from sera.agent.service import Agent, ConversationRef
from sera.booking.service import book_appointment, get_appointment
from sera.calls.service import end_call, start_call
from sera.customers.service import find_or_create_customer
from sera.storage.models import Appointment, AuditEntry, Conversation, OutboundAction
from tests.dashboard.conftest import Browser, Team, check_accessibility, no_csp_violations

if TYPE_CHECKING:
    from playwright.sync_api import Page

from sera.bootstrap import Sera

CHICAGO = ZoneInfo("America/Chicago")
MONDAY = "2026-11-30"  # the clock says Friday 27 November, 10:00 in Chicago
SCRIPT = "<script>alert(1)</script>"


@dataclass(frozen=True)
class Booked:
    appointment_id: str
    call_id: str
    customer_id: str


def at(hour: int, minute: int = 0, day: str = MONDAY) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02}:{minute:02}").replace(tzinfo=CHICAGO)


@pytest.fixture
def booked_by_agent(sera: Sera, team: Team) -> Booked:
    """A tune-up with Dana on Monday at 11:00, booked by the agent on a call from a caller whose
    name is a script."""
    now = sera.clock()
    with sera.uow(team.owner.merchant_id) as uow:
        customer = find_or_create_customer(uow, name=SCRIPT, phone="+13125550199")
        call = start_call(
            uow,
            channel="voice",
            direction="inbound",
            provider="twilio",
            from_number="+13125550199",
            to_number="+13125550100",
            started_at=now - timedelta(minutes=2),
            customer_id=customer.id,
        )
        appointment = book_appointment(
            uow,
            service_name="Tune-up",
            start=at(11),
            customer_id=customer.id,
            now=now,
            staff_name="Dana",
            source="voice",
            call_id=call.id,
        )
        end_call(uow, call, ended_at=now, outcome="booked")
        uow.commit()
    return Booked(appointment.id, call.id, customer.id)


def _times(html: str) -> list[str]:
    return re.findall(r'name="start" value="([^"]+)"', html)


def _book(client: Browser, start: str, staff: str = "", name: str = "Ada Lovelace") -> object:
    data = {"service": "Tune-up", "start": start, "staff": staff, "date": MONDAY, "name": name, "phone": "312 555 0123"}
    return client.act("POST", "/dashboard/appointments", data=data)


def _staff_id(html: str, name: str) -> str:
    found = re.search(rf'<option value="([^"]+)"[^>]*>{name}</option>', html)
    assert found, f"{name} is not offered"
    return found.group(1)


def _audit(sera: Sera, merchant_id: str, action: str) -> list[AuditEntry]:
    with sera.uow(merchant_id, readonly=True) as reader:
        return list(reader.session.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars())


def _confirmations(sera: Sera, merchant_id: str, appointment_id: str) -> list[str]:
    with sera.uow(merchant_id, readonly=True) as reader:
        stmt = select(OutboundAction.kind).where(OutboundAction.subject_id == appointment_id)
        return sorted(reader.session.execute(stmt).scalars())


def test_the_day_view_shows_each_staff_members_appointments_escaped(
    as_role: Callable[[str], Browser], booked_by_agent: Booked
) -> None:
    page = as_role("viewer").get(f"/dashboard/appointments?view=day&date={MONDAY}")
    assert page.status_code == 200
    assert "<caption>Dana</caption>" in page.text and "<caption>Luis</caption>" in page.text
    assert "11:00–12:00" in page.text and f"/dashboard/appointments/{booked_by_agent.appointment_id}" in page.text
    assert SCRIPT not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "date=2026-11-29" in page.text and "date=2026-12-01" in page.text  # previous and next day
    assert "date=2026-11-27" in page.text  # today
    assert "Book an appointment" not in page.text  # a viewer only reads


def test_the_week_view_starts_on_monday_and_filters_by_staff(
    as_role: Callable[[str], Browser], booked_by_agent: Booked
) -> None:
    client = as_role("agent")
    week = client.get("/dashboard/appointments?view=week&date=2026-12-02")
    assert week.status_code == 200
    assert "Week of 30 November 2026" in week.text and "Mon 30 Nov" in week.text and "Sun 06 Dec" in week.text
    assert "11:00–12:00 Tune-up" in week.text
    assert "date=2026-11-23" in week.text and "date=2026-12-07" in week.text  # previous and next week
    luis = _staff_id(week.text, "Luis")
    only_luis = client.get(f"/dashboard/appointments?view=week&date={MONDAY}&staff={luis}")
    assert "11:00–12:00 Tune-up" not in only_luis.text and "0 appointments" in only_luis.text


def test_nonsense_in_the_query_shows_today(as_role: Callable[[str], Browser]) -> None:
    page = as_role("owner").get("/dashboard/appointments?view=year&date=not-a-day&staff=nobody")
    assert page.status_code == 200 and "Friday 27 November 2026 (today)" in page.text


def test_an_appointment_shows_where_it_came_from(as_role: Callable[[str], Browser], booked_by_agent: Booked) -> None:
    page = as_role("viewer").get(f"/dashboard/appointments/{booked_by_agent.appointment_id}")
    assert page.status_code == 200
    assert "the agent (voice)" in page.text and f"/dashboard/calls/{booked_by_agent.call_id}" in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and SCRIPT not in page.text
    assert "Cancel this appointment" not in page.text  # a viewer only reads


def test_a_booking_the_agent_makes_on_a_call_links_to_that_call(
    sera: Sera, team: Team, as_role: Callable[[str], Browser]
) -> None:
    agent = Agent(sera)
    ref = ConversationRef(team.owner.merchant_id, "voice", "CA" + "1" * 32)
    agent.start(ref, caller_phone="+13125550188", shop_number="+13125550100")
    for line in ["book a brake service saturday at 1pm", "Grace Liu", "yes"]:
        agent.reply(ref, line)
    with sera.uow(team.owner.merchant_id, readonly=True) as reader:
        call_id = reader.session.execute(select(Conversation.call_id)).scalar_one()
        appointment_id = reader.session.execute(select(Appointment.id)).scalar_one()
    page = as_role("agent").get(f"/dashboard/appointments/{appointment_id}")
    assert f'href="/dashboard/calls/{call_id}"' in page.text and "the agent (voice)" in page.text


def test_booking_offers_the_engines_free_times_and_tells_the_customer(
    sera: Sera, team: Team, as_role: Callable[[str], Browser], booked_by_agent: Booked
) -> None:
    client = as_role("agent")
    form = client.get(f"/dashboard/appointments/new?service=Tune-up&date={MONDAY}")
    dana = _staff_id(form.text, "Dana")
    with_dana = _times(client.get(f"/dashboard/appointments/new?service=Tune-up&date={MONDAY}&staff={dana}").text)
    assert with_dana[0] == at(12, 15).isoformat()  # Dana is busy from 11:00, and cleans up until 12:15
    response = _book(client, at(14).isoformat(), dana)
    assert response.status_code == 303  # type: ignore[attr-defined]
    detail = client.get(response.headers["location"])  # type: ignore[attr-defined]
    assert "Booked." in detail.text and "agent@northside.example" in detail.text and "Ada Lovelace" in detail.text
    appointment_id = detail.url.path.rsplit("/", 1)[-1]
    with sera.uow(team.owner.merchant_id, readonly=True) as reader:
        made = get_appointment(reader, appointment_id)
    assert made.staff == "Dana" and made.start == at(14) and made.customer and made.customer.phone == "+13125550123"
    assert _confirmations(sera, team.owner.merchant_id, appointment_id) == ["confirmation_booked"]
    [entry] = _audit(sera, team.owner.merchant_id, "appointment.booked")
    assert entry.actor == f"team_member:{team.agent.member_id}" and entry.target_id == appointment_id
    assert "Ada" not in str(entry.details)


def test_a_time_taken_meanwhile_is_refused_and_nothing_is_saved(
    sera: Sera, team: Team, as_role: Callable[[str], Browser]
) -> None:
    first, second = as_role("owner"), as_role("agent")
    dana = _staff_id(first.get("/dashboard/appointments/new").text, "Dana")
    assert _book(first, at(15).isoformat(), dana).status_code == 303  # type: ignore[attr-defined]
    late = _book(second, at(15).isoformat(), dana, name="Grace Hopper")
    assert late.status_code == 409  # type: ignore[attr-defined]
    assert "Someone took that time" in late.text and 'role="alert"' in late.text  # type: ignore[attr-defined]
    assert at(15).isoformat() not in _times(late.text)  # type: ignore[attr-defined]
    with sera.uow(team.owner.merchant_id, readonly=True) as reader:
        starts = list(reader.session.execute(select(Appointment.start_at).where(Appointment.status == "booked")))
    assert len(starts) == 1


def test_a_booking_needs_a_time_a_name_and_a_real_phone(as_role: Callable[[str], Browser]) -> None:
    client = as_role("owner")
    assert _book(client, "").status_code == 422  # type: ignore[attr-defined]
    assert _book(client, at(10).isoformat(), name=" ").status_code == 422  # type: ignore[attr-defined]
    data = {"service": "Tune-up", "start": at(10).isoformat(), "date": MONDAY, "name": "Ada", "phone": "12"}
    refused = client.act("POST", "/dashboard/appointments", data=data)
    assert refused.status_code == 422 and "phone number does not look right" in refused.text  # type: ignore[attr-defined]


def test_moving_and_cancelling_go_through_the_engine(
    sera: Sera, team: Team, as_role: Callable[[str], Browser], booked_by_agent: Booked
) -> None:
    client = as_role("agent")
    url = f"/dashboard/appointments/{booked_by_agent.appointment_id}"
    offered = _times(client.get(f"{url}/move?date=2026-12-01").text)
    assert at(10, day="2026-12-01").isoformat() in offered
    moved = client.act("POST", f"{url}/move", data={"start": at(16).isoformat(), "date": MONDAY})
    assert moved.status_code == 303  # type: ignore[attr-defined]
    assert "16:00–17:00" in client.get(url).text
    cancelled = client.act("POST", f"{url}/cancel")
    assert cancelled.status_code == 303  # type: ignore[attr-defined]
    page = client.get(url)
    assert "Cancelled" in page.text and "Move to another time" not in page.text
    kinds = _confirmations(sera, team.owner.merchant_id, booked_by_agent.appointment_id)
    assert kinds == ["confirmation_booked", "confirmation_cancelled", "confirmation_moved"]
    for action in ("appointment.moved", "appointment.cancelled"):
        assert [e.actor for e in _audit(sera, team.owner.merchant_id, action)] == [
            f"team_member:{team.agent.member_id}"
        ]
    again = client.act("POST", f"{url}/move", data={"start": at(10).isoformat(), "date": MONDAY})
    assert again.status_code == 422  # type: ignore[attr-defined]


def test_a_move_to_a_taken_time_keeps_the_appointment(
    sera: Sera, team: Team, as_role: Callable[[str], Browser], booked_by_agent: Booked
) -> None:
    client = as_role("owner")
    dana = _staff_id(client.get("/dashboard/appointments/new").text, "Dana")
    assert _book(client, at(13).isoformat(), dana).status_code == 303  # type: ignore[attr-defined]
    url = f"/dashboard/appointments/{booked_by_agent.appointment_id}/move"
    taken = client.act("POST", url, data={"start": at(13).isoformat(), "staff": dana, "date": MONDAY})
    assert taken.status_code == 409  # type: ignore[attr-defined]
    with sera.uow(team.owner.merchant_id, readonly=True) as reader:
        assert get_appointment(reader, booked_by_agent.appointment_id).start == at(11)


@pytest.mark.parametrize("role", ["owner", "admin", "agent", "viewer"])
def test_every_role_reads_and_only_the_viewer_cannot_change(
    role: str, as_role: Callable[[str], Browser], booked_by_agent: Booked
) -> None:
    client = as_role(role)
    url = f"/dashboard/appointments/{booked_by_agent.appointment_id}"
    assert client.get("/dashboard/appointments").status_code == 200
    assert client.get(url).status_code == 200
    writes = (
        client.get("/dashboard/appointments/new").status_code,
        client.get(f"{url}/move").status_code,
        _book(client, at(14).isoformat()).status_code,  # type: ignore[attr-defined]
        client.act("POST", f"{url}/cancel").status_code,  # type: ignore[attr-defined]
    )
    assert writes == ((403, 403, 403, 403) if role == "viewer" else (200, 200, 303, 303))


def test_the_outsider_finds_none_of_northsides_appointments(
    sera: Sera, team: Team, as_role: Callable[[str], Browser], booked_by_agent: Booked
) -> None:
    client = as_role("outsider")
    url = f"/dashboard/appointments/{booked_by_agent.appointment_id}"
    assert client.get(url).status_code == 404
    assert client.get(f"{url}/move").status_code == 404
    assert client.act("POST", f"{url}/move", data={"start": at(16).isoformat()}).status_code == 404  # type: ignore[attr-defined]
    assert client.act("POST", f"{url}/cancel").status_code == 404  # type: ignore[attr-defined]
    calendar = client.get(f"/dashboard/appointments?view=week&date={MONDAY}")
    assert calendar.status_code == 200 and booked_by_agent.appointment_id not in calendar.text
    with sera.uow(team.owner.merchant_id, readonly=True) as reader:
        assert get_appointment(reader, booked_by_agent.appointment_id).status == "booked"


def test_a_form_without_the_csrf_token_is_refused(as_role: Callable[[str], Browser], booked_by_agent: Booked) -> None:
    client = as_role("owner")
    response = client.post(f"/dashboard/appointments/{booked_by_agent.appointment_id}/cancel")
    assert response.status_code == 403


# -- in Chromium --------------------------------------------------------------------------------


def test_booking_moving_and_cancelling_from_the_calendar(
    owner_page: Page, server: str, booked_by_agent: Booked
) -> None:
    page = owner_page
    violations = no_csp_violations(page)
    page.goto(f"{server}/dashboard/appointments?date={MONDAY}")
    check_accessibility(page, "appointments-day")
    page.get_by_label("View").select_option("week")
    page.get_by_role("button", name="Show").click()
    assert "Week of 30 November 2026" in page.inner_text("main")
    check_accessibility(page, "appointments-week")
    page.get_by_role("link", name="Book an appointment").click()
    page.get_by_label("Service").select_option("Tune-up")
    page.get_by_label("Staff").select_option(label="Dana")
    page.get_by_label("Day").fill(MONDAY)
    page.get_by_role("button", name="Find free times").click()
    check_accessibility(page, "appointments-new")
    page.get_by_label("14:00").check()
    page.get_by_label("Customer's name").fill("Ada Lovelace")
    page.get_by_label("Customer's phone").fill("312 555 0123")
    page.get_by_role("button", name="Book appointment").click()
    assert page.get_by_role("status").inner_text().startswith("Booked.")
    assert "14:00" in page.get_by_role("heading", level=1).inner_text()
    check_accessibility(page, "appointments-detail")
    page.get_by_role("link", name="Move to another time").click()
    check_accessibility(page, "appointments-move")
    page.get_by_label("Day").fill("2026-12-01")
    page.get_by_role("button", name="Find free times").click()
    page.get_by_label("15:30").check()
    page.get_by_role("button", name="Move to this time").click()
    assert page.get_by_role("status").inner_text().startswith("Moved.")
    assert "Tue 01 Dec 2026, 15:30" in page.get_by_role("heading", level=1).inner_text()
    page.get_by_role("button", name="Cancel this appointment").click()
    assert page.get_by_role("status").inner_text().startswith("Cancelled.")
    page.get_by_role("link", name="Back to the calendar").click()
    assert "15:30" not in page.inner_text("main")  # a cancelled appointment leaves the calendar
    assert not violations, violations
