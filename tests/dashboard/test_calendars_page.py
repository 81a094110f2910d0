"""The staff calendars page: owners and admins connect a staff member's CalDAV calendar (checked
against a real Radicale first), check it now and disconnect it; the appointments pages show an
event the staff member deleted from their calendar as a conflict, the booking still standing."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sera.adapters.caldav.client import GuardedAdapter
from sera.adapters.caldav.wiring import opener
from sera.booking.service import book_appointment
from sera.bootstrap import Sera
from sera.calendars import busy, events
from sera.calendars.connections import list_calendars
from sera.storage.models import StaffMember
from tests.conftest import FakeClock, Personas
from tests.dashboard.conftest import Browser
from tests.radicale_server import PASSWORD, RadicaleServer

TUESDAY_3PM = datetime(2026, 12, 1, 15, tzinfo=ZoneInfo("America/Chicago"))


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    with RadicaleServer(tmp_path_factory.mktemp("radicale"), ["dana"]) as server:
        yield server


@pytest.fixture(autouse=True)
def local_calendars(sera: Sera, monkeypatch: pytest.MonkeyPatch) -> None:
    sera.settings = sera.settings.model_copy(update={"calendars_allow_private": True})
    monkeypatch.setattr(GuardedAdapter, "allow_private", True)  # Radicale listens on loopback


def dana(sera: Sera, merchant_id: str) -> str:
    with sera.uow(merchant_id, readonly=True) as reader:
        return reader.session.query(StaffMember).filter(StaffMember.name == "Dana").one().id


def followed(client: Browser, response: Any) -> Any:
    assert response.status_code == 303, response.text[:300]
    return client.get(response.headers["location"])


def connect(client: Browser, staff_id: str, url: str, password: str = PASSWORD) -> Any:
    form = {"url": url, "username": "dana", "password": password, "detail": "service_first_name"}
    return client.act("POST", f"/dashboard/calendars/{staff_id}/connect", data=form)


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("admin", 200), ("agent", 403), ("viewer", 403)])
def test_only_owners_and_admins_manage_staff_calendars(
    as_role: Callable[[str], Browser], role: str, status: int
) -> None:
    assert as_role(role).get("/dashboard/calendars").status_code == status


def test_a_calendar_is_checked_connected_and_disconnected(
    sera: Sera, personas: Personas, as_role: Callable[[str], Browser], radicale: RadicaleServer
) -> None:
    owner = as_role("owner")
    staff_id = dana(sera, personas.northside_id)
    url = str(radicale.calendar("dana", name=f"work-{uuid.uuid4().hex[:8]}").url)
    refused = connect(owner, staff_id, url, password="wrong")
    assert refused.status_code == 422 and "refused the username or app password" in refused.text
    assert "wrong" not in refused.text
    done = followed(owner, connect(owner, staff_id, url))
    assert "Calendar connected" in done.text and "127.0.0.1" in done.text
    with sera.uow(personas.northside_id, readonly=True) as reader:
        [view] = list_calendars(reader)
    assert view.refreshed_at is not None
    assert "Calendar read again" in followed(owner, owner.act("POST", f"/dashboard/calendars/{staff_id}/refresh")).text
    gone = followed(owner, owner.act("POST", f"/dashboard/calendars/{staff_id}/disconnect"))
    assert "Calendar disconnected" in gone.text
    with sera.uow(personas.northside_id, readonly=True) as reader:
        assert list_calendars(reader) == []


def test_another_shops_staff_member_is_not_found(
    sera: Sera, personas: Personas, as_role: Callable[[str], Browser], radicale: RadicaleServer
) -> None:
    northside_dana = dana(sera, personas.northside_id)
    outsider = as_role("outsider")
    url = str(radicale.calendar("dana", name=f"work-{uuid.uuid4().hex[:8]}").url)
    assert connect(outsider, northside_dana, url).status_code == 404
    assert outsider.act("POST", f"/dashboard/calendars/{northside_dana}/disconnect").status_code == 404
    with sera.uow(personas.northside_id, readonly=True) as reader:
        assert list_calendars(reader) == []


def test_a_removed_event_shows_as_a_conflict_on_the_appointments_pages(
    sera: Sera, personas: Personas, as_role: Callable[[str], Browser], radicale: RadicaleServer, clock: FakeClock
) -> None:
    owner = as_role("owner")
    staff_id = dana(sera, personas.northside_id)
    calendar = radicale.calendar("dana", name=f"work-{uuid.uuid4().hex[:8]}")
    connect(owner, staff_id, str(calendar.url))
    with sera.uow(personas.northside_id) as uow:
        appointment = book_appointment(
            uow, service_name="Tune-up", start=TUESDAY_3PM, customer_id=None, now=clock(), staff_name="Dana"
        ).id
        uow.commit()
    for link_id in events.take_due(sera, clock()):
        events.write(sera, opener, link_id)
    calendar.event_by_uid(f"{appointment}@sera").delete()
    clock.advance(minutes=5)
    with sera.uow(personas.northside_id, readonly=True) as reader:
        [view] = list_calendars(reader)
    busy.refresh(sera, opener, view.id)
    day = owner.get("/dashboard/appointments", params={"date": "2026-12-01"})
    assert "Conflict" in day.text and "removed from Dana's calendar" in day.text
    detail = owner.get(f"/dashboard/appointments/{appointment}")
    assert "removed from Dana's calendar" in detail.text and "Booked" in detail.text
