"""Staff calendars over CalDAV, against a real Radicale server started for the tests."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import caldav
import icalendar
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from sera import cli
from sera.adapters.caldav.client import GuardedAdapter, open_calendar
from sera.adapters.caldav.ical import MAX_INSTANCES, busy_from
from sera.adapters.caldav.wiring import opener
from sera.agent.service import Agent, ConversationRef
from sera.booking.service import (
    SlotUnavailableError,
    book_appointment,
    cancel_appointment,
    find_availability,
    get_appointment,
    load_schedule,
    reschedule_appointment,
)
from sera.bootstrap import Sera
from sera.calendars import busy, events
from sera.calendars.connections import CalendarView, connect_calendar, list_calendars
from sera.calendars.ports import CalendarAccount, CalendarAuthError, CalendarError, EventDetails
from sera.customers.service import create_customer
from sera.privacy.erasure import redact_customer
from sera.storage.models import Appointment, CalendarBusyTime, CalendarEventLink, StaffCalendar
from tests.conftest import NORTHSIDE, FakeClock, Personas
from tests.radicale_server import PASSWORD, RadicaleServer

CHICAGO = ZoneInfo("America/Chicago")


def at(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=CHICAGO)


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    with RadicaleServer(tmp_path_factory.mktemp("radicale"), ["dana", "luis"]) as server:
        yield server


@pytest.fixture
def calendar(radicale: RadicaleServer) -> caldav.Calendar:
    """A fresh calendar of Dana's (one per test: the server lives for the module)."""
    return radicale.calendar("dana", name=f"work-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def local_sera(sera: Sera, monkeypatch: pytest.MonkeyPatch) -> Sera:
    sera.settings = sera.settings.model_copy(update={"calendars_allow_private": True})
    monkeypatch.setattr(GuardedAdapter, "allow_private", True)  # Radicale listens on loopback
    return sera


def connect_dana(sera: Sera, personas: Personas, calendar: caldav.Calendar, **extra: Any) -> CalendarView:
    return connect_calendar(
        sera,
        opener,
        personas.northside_id,
        staff_name="Dana",
        url=str(calendar.url),
        username="dana",
        password=PASSWORD,
        actor="test",
        **extra,
    )


def add_event(calendar: caldav.Calendar, lines: str, uid: str | None = None) -> None:
    """One VEVENT (its body lines, DTSTART and the rest) saved to the calendar."""
    body = "\r\n".join(line.strip() for line in lines.strip().splitlines())
    calendar.save_event(
        ical=(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\n"
            f"{CHICAGO_VTIMEZONE}BEGIN:VEVENT\r\nUID:{uid or uuid.uuid4().hex}\r\nDTSTAMP:20261001T000000Z\r\n"
            f"{body}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        )
    )


CHICAGO_VTIMEZONE = (
    "BEGIN:VTIMEZONE\r\nTZID:America/Chicago\r\n"
    "BEGIN:DAYLIGHT\r\nTZOFFSETFROM:-0600\r\nTZOFFSETTO:-0500\r\nTZNAME:CDT\r\nDTSTART:19700308T020000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nEND:DAYLIGHT\r\n"
    "BEGIN:STANDARD\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0600\r\nTZNAME:CST\r\nDTSTART:19701101T020000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
)


def danas_starts(sera: Sera, personas: Personas, day: int, service: str = "Tune-up") -> list[datetime]:
    with sera.uow(personas.northside_id, readonly=True) as uow:
        slots = find_availability(
            uow,
            load_schedule(uow),
            service,
            window_start=at(day, 0),
            window_end=at(day + 1, 0),
            now=sera.clock(),
            staff_name="Dana",
        )
    return [slot.start for slot in slots]


def refresh(sera: Sera, view: CalendarView) -> str | None:
    return busy.refresh(sera, opener, view.id)


def write_events(sera: Sera) -> list[str | None]:
    return [events.write(sera, opener, link_id) for link_id in events.take_due(sera, sera.clock())]


def book(
    sera: Sera, personas: Personas, start: datetime, staff: str | None = "Dana", name: str = "Jordan Miles"
) -> str:
    with sera.uow(personas.northside_id) as uow:
        customer = create_customer(uow, name=name, phone="+13125550177")
        booked = book_appointment(
            uow, service_name="Tune-up", start=start, customer_id=customer.id, now=sera.clock(), staff_name=staff
        )
        uow.commit()
        return booked.id


def sera_event(calendar: caldav.Calendar, appointment_id: str) -> icalendar.Event | None:
    try:
        found = calendar.event_by_uid(f"{appointment_id}@sera")
    except caldav.lib.error.NotFoundError:
        return None
    return found.icalendar_component


# -- connecting --------------------------------------------------------------------------------


def test_wrong_credentials_are_refused_and_nothing_is_saved(
    local_sera: Sera, personas: Personas, calendar: caldav.Calendar
) -> None:
    with pytest.raises(CalendarAuthError, match="refused the username or app password"):
        connect_calendar(
            local_sera,
            opener,
            personas.northside_id,
            staff_name="Dana",
            url=str(calendar.url),
            username="dana",
            password="not-the-password",
            actor="test",
        )
    with local_sera.uow(personas.northside_id, readonly=True) as uow:
        assert list_calendars(uow) == []


def test_a_url_that_is_not_a_calendar_or_not_there_is_refused(
    local_sera: Sera, personas: Personas, radicale: RadicaleServer
) -> None:
    for url, said in [(f"{radicale.base}/dana/", "not a calendar"), (f"{radicale.base}/dana/nope/", "no calendar")]:
        with pytest.raises(CalendarError, match=said):
            connect_calendar(
                local_sera, opener, personas.northside_id, staff_name="Dana", url=url, username="dana",
                password=PASSWORD, actor="test",
            )  # fmt: skip


def test_a_host_that_resolves_to_sera_own_network_is_never_connected_to(
    radicale: RadicaleServer, calendar: caldav.Calendar
) -> None:
    # the name is checked where the connection is made, on the address it resolves to now, so
    # a hostname (not only a literal address) that points inside is refused: no request leaves
    served = urlsplit(str(calendar.url))
    for host in ("localhost", "127.0.0.1"):
        url = str(calendar.url).replace(served.netloc, f"{host}:{served.port}")
        with pytest.raises(CalendarError, match="private, loopback or link-local"):
            open_calendar(CalendarAccount(url, "dana", PASSWORD), timeout=2).check()


def test_credentials_are_sealed_and_other_shops_do_not_see_the_calendar(
    local_sera: Sera, personas: Personas, calendar: caldav.Calendar
) -> None:
    view = connect_dana(local_sera, personas, calendar)
    assert (view.staff, view.host, view.status) == ("Dana", "127.0.0.1", "connected")
    with local_sera.uow(personas.northside_id, readonly=True) as uow:
        row = uow.session.execute(select(StaffCalendar)).scalar_one()
    assert PASSWORD.encode() not in row.password and b"dana" not in row.username and b"127.0.0.1" not in row.url
    with local_sera.uow(personas.southside_id, readonly=True) as uow:
        assert list_calendars(uow) == []


def test_the_command_checks_before_saving_and_lists_what_it_saved(
    local_sera: Sera, personas: Personas, calendar: caldav.Calendar, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "_sera", lambda generate_secrets=False: local_sera)
    base = ["calendar", "connect", "--shop", NORTHSIDE, "--staff", "dana", "--url", str(calendar.url)]
    refused = CliRunner().invoke(cli.main, [*base, "--username", "dana", "--password-stdin"], input="wrong\n")
    assert refused.exit_code == 1 and "not connected: the calendar server refused" in refused.output
    done = CliRunner().invoke(cli.main, [*base, "--username", "dana", "--password-stdin"], input=f"{PASSWORD}\n")
    assert done.exit_code == 0 and "connected Dana's calendar at 127.0.0.1 (busy times refreshed)" in done.output
    listed = CliRunner().invoke(cli.main, ["calendar", "list", "--shop", NORTHSIDE])
    assert "Dana" in listed.output and "connected" in listed.output and PASSWORD not in listed.output
    assert "refreshed 1, failed 0" in CliRunner().invoke(cli.main, ["calendar", "refresh"]).output


# -- busy times block slots ----------------------------------------------------------------------


def test_a_busy_event_keeps_the_agent_from_offering_that_time(
    local_sera: Sera, personas: Personas, calendar: caldav.Calendar
) -> None:
    add_event(
        calendar,
        "DTSTART;TZID=America/Chicago:20261201T100000\nDTEND;TZID=America/Chicago:20261201T113000\nSUMMARY:Dentist",
    )
    view = connect_dana(local_sera, personas, calendar)
    before = danas_starts(local_sera, personas, 1)
    assert at(1, 10) in before  # nothing cached yet
    assert refresh(local_sera, view) == "refreshed"
    after = danas_starts(local_sera, personas, 1)
    assert after[0] == at(1, 11, 30)  # 10:00-11:30 is the dentist's
    assert set(after) == {s for s in before if s >= at(1, 11, 30)}

    agent = Agent(local_sera)
    ref = ConversationRef(personas.northside_id, "voice", uuid.uuid4().hex)
    agent.start(ref, caller_phone="+13125550170", shop_number="+13125550100")
    reply = agent.reply(ref, "can I book a tune-up with Dana on Tuesday at 10am")
    assert "10 am" not in reply.text and "10:" not in reply.text
    assert "11:30 am" in reply.text


def test_the_live_check_refuses_a_slot_made_busy_after_the_cache_was_read(
    local_sera: Sera, personas: Personas, calendar: caldav.Calendar
) -> None:
    view = connect_dana(local_sera, personas, calendar)
    refresh(local_sera, view)
    assert at(1, 14) in danas_starts(local_sera, personas, 1)
    add_event(calendar, "DTSTART;TZID=America/Chicago:20261201T140000\nDTEND;TZID=America/Chicago:20261201T150000")
    assert at(1, 14) in danas_starts(local_sera, personas, 1)  # the cache has not seen it yet
    with pytest.raises(SlotUnavailableError):
        book(local_sera, personas, at(1, 14))
    someone = book(local_sera, personas, at(1, 14), staff=None)  # whoever is free: Luis
    with local_sera.uow(personas.northside_id, readonly=True) as uow:
        assert get_appointment(uow, someone).staff == "Luis"


# -- Sera's bookings in the calendar ---------------------------------------------------------------


def test_a_booking_is_written_moved_and_cancelled_in_the_calendar(
    local_sera: Sera, personas: Personas, calendar: caldav.Calendar, clock: FakeClock
) -> None:
    view = connect_dana(local_sera, personas, calendar)
    appointment = book(local_sera, personas, at(1, 15))
    assert write_events(local_sera) == ["written"]
    event = sera_event(calendar, appointment)
    assert event is not None and str(event["SUMMARY"]) == "Tune-up: Jordan"
    assert event.decoded("DTSTART") == at(1, 15) and event.decoded("DTEND") == at(1, 16)
    assert "+1312" not in event.to_ical().decode()
    refresh(local_sera, view)
    assert at(1, 16, 15) in danas_starts(local_sera, personas, 1)  # its own event is not busy twice

    with local_sera.uow(personas.northside_id) as uow:
        reschedule_appointment(uow, appointment, new_start=at(2, 11), now=clock(), staff_name="Dana")
        uow.commit()
    assert write_events(local_sera) == ["written"]
    moved = sera_event(calendar, appointment)
    assert moved is not None and moved.decoded("DTSTART") == at(2, 11)

    with local_sera.uow(personas.northside_id) as uow:
        cancel_appointment(uow, appointment, now=clock())
        uow.commit()
    assert write_events(local_sera) == ["removed"]
    assert sera_event(calendar, appointment) is None


def test_a_move_made_while_the_event_is_being_written_is_written_too(
    local_sera: Sera, personas: Personas, calendar: caldav.Calendar, clock: FakeClock
) -> None:
    connect_dana(local_sera, personas, calendar)
    appointment = book(local_sera, personas, at(1, 15))

    class MovedMeanwhile:
        """Dana's calendar, with the appointment moved in Sera while its event is on the wire."""

        def __init__(self, account: CalendarAccount, timeout: float) -> None:
            self.client = opener(account, timeout)

        def put_event(self, event: EventDetails) -> str:
            href = self.client.put_event(event)
            with local_sera.uow(personas.northside_id) as uow:
                reschedule_appointment(uow, appointment, new_start=at(2, 11), now=clock(), staff_name="Dana")
                uow.commit()
            return href

    [link_id] = events.take_due(local_sera, clock())
    assert events.write(local_sera, MovedMeanwhile, link_id) == "settled"  # type: ignore[arg-type]
    clock.advance(minutes=2)
    assert write_events(local_sera) == ["written"]
    event = sera_event(calendar, appointment)
    assert event is not None and event.decoded("DTSTART") == at(2, 11)


def test_less_detail_leaves_the_customers_name_out(
    local_sera: Sera, personas: Personas, calendar: caldav.Calendar
) -> None:
    connect_dana(local_sera, personas, calendar, event_detail="busy")
    appointment = book(local_sera, personas, at(1, 15))
    write_events(local_sera)
    event = sera_event(calendar, appointment)
    assert event is not None and str(event["SUMMARY"]) == "Busy"
    assert "Jordan" not in event.to_ical().decode() and "Tune-up" not in event.to_ical().decode()


def test_an_erased_customers_first_name_leaves_the_calendar(
    local_sera: Sera, personas: Personas, calendar: caldav.Calendar
) -> None:
    connect_dana(local_sera, personas, calendar)
    appointment = book(local_sera, personas, at(1, 15))
    write_events(local_sera)
    with local_sera.uow(personas.northside_id, readonly=True) as uow:
        customer_id = uow.session.get(Appointment, appointment).customer_id  # type: ignore[union-attr]
    assert customer_id is not None
    redact_customer(local_sera, personas.northside_id, customer_id, actor="test")
    assert write_events(local_sera) == ["written"]
    event = sera_event(calendar, appointment)
    assert event is not None and str(event["SUMMARY"]) == "Tune-up"
    assert "Jordan" not in event.to_ical().decode()


def test_an_event_deleted_in_the_calendar_is_a_conflict_and_the_appointment_stays(
    local_sera: Sera, personas: Personas, calendar: caldav.Calendar, clock: FakeClock
) -> None:
    view = connect_dana(local_sera, personas, calendar)
    appointment = book(local_sera, personas, at(1, 15))
    write_events(local_sera)
    clock.advance(minutes=1)
    refresh(local_sera, view)
    with local_sera.uow(personas.northside_id, readonly=True) as uow:
        assert events.event_states(uow, [appointment])[appointment].state == "written"
    calendar.event_by_uid(f"{appointment}@sera").delete()
    clock.advance(minutes=5)
    refresh(local_sera, view)
    with local_sera.uow(personas.northside_id, readonly=True) as uow:
        state = events.event_states(uow, [appointment])[appointment]
        assert (state.state, state.staff) == ("conflict", "Dana")
        assert get_appointment(uow, appointment).status == "booked"
    # moving it puts it back in the calendar
    with local_sera.uow(personas.northside_id) as uow:
        reschedule_appointment(uow, appointment, new_start=at(1, 16), now=clock(), staff_name="Dana")
        uow.commit()
    write_events(local_sera)
    assert sera_event(calendar, appointment) is not None


def test_the_agents_booking_appears_in_radicale(
    local_sera: Sera, personas: Personas, calendar: caldav.Calendar, jobs: Any
) -> None:
    add_event(calendar, "DTSTART;TZID=America/Chicago:20261201T100000\nDTEND;TZID=America/Chicago:20261201T110000")
    jobs.enqueue(busy.REFRESH_JOB, connect_dana(local_sera, personas, calendar).id)  # as the 5-minute sweep does
    jobs.run_pending()
    agent = Agent(local_sera)
    ref = ConversationRef(personas.northside_id, "voice", uuid.uuid4().hex)
    agent.start(ref, caller_phone="+13125550170", shop_number="+13125550100")
    offered = agent.reply(ref, "book a tune-up with Dana on Tuesday at 10am").text
    assert "already taken" in offered and "10 am" not in offered and "11 am" in offered
    for line in ["11am then", "Grace Liu", "yes", "no that's all"]:
        agent.reply(ref, line)
    jobs.run_pending()
    with local_sera.uow(personas.northside_id, readonly=True) as uow:
        booked = uow.session.execute(select(Appointment)).scalar_one()
    assert booked.start_at == at(1, 11)
    event = sera_event(calendar, booked.id)
    assert event is not None and str(event["SUMMARY"]) == "Tune-up: Grace"


# -- calendars as they come ---------------------------------------------------------------------


def test_a_weekly_event_across_the_daylight_saving_change_blocks_the_same_local_hour(
    local_sera: Sera, personas: Personas, calendar: caldav.Calendar
) -> None:
    # every Tuesday 10:00-11:00 Chicago time, from October (CDT, UTC-5) into December (CST, UTC-6)
    add_event(
        calendar,
        "DTSTART;TZID=America/Chicago:20261020T100000\nDTEND;TZID=America/Chicago:20261020T110000\nRRULE:FREQ=WEEKLY",
    )
    refresh(local_sera, connect_dana(local_sera, personas, calendar))
    for tuesday in (1, 8, 15):
        starts = danas_starts(local_sera, personas, tuesday)
        assert at(tuesday, 10) not in starts and at(tuesday, 10, 45) not in starts
        assert at(tuesday, 11) in starts  # an hour off (UTC kept from October) would free 10:00 instead


def test_events_with_no_end_block_per_rfc_5545(local_sera: Sera, personas: Personas, calendar: caldav.Calendar) -> None:
    add_event(calendar, "DTSTART;TZID=America/Chicago:20261201T140000")  # a moment
    add_event(calendar, "DTSTART;VALUE=DATE:20261202")  # a whole day
    add_event(calendar, "DTSTART;TZID=America/Chicago:20261203T120000\nDURATION:PT2H")
    add_event(calendar, "DTSTART;TZID=America/Chicago:20261201T160000\nDURATION:PT1H\nTRANSP:TRANSPARENT")
    refresh(local_sera, connect_dana(local_sera, personas, calendar))
    tuesday = danas_starts(local_sera, personas, 1)
    # a 60-minute tune-up and its 15-minute buffer may not cover 14:00
    assert at(1, 12, 45) in tuesday and at(1, 13) not in tuesday and at(1, 14) not in tuesday
    assert at(1, 14, 15) in tuesday and at(1, 16) in tuesday  # a transparent event does not block
    assert danas_starts(local_sera, personas, 2) == []
    thursday = danas_starts(local_sera, personas, 3)
    assert at(3, 10, 45) in thursday and at(3, 11) not in thursday and at(3, 13, 45) not in thursday
    assert at(3, 14) in thursday


def test_a_malformed_calendar_does_not_stop_the_rest_from_blocking(
    local_sera: Sera, personas: Personas, calendar: caldav.Calendar, radicale: RadicaleServer
) -> None:
    add_event(calendar, "DTSTART:20261201T200000Z\nDTEND:20261201T190000Z")  # ends before it starts: read as 13-14
    add_event(calendar, "DTSTART;TZID=America/Chicago:20261201T100000\nDTEND;TZID=America/Chicago:20261201T110000")
    folder = radicale.storage / "dana" / str(calendar.url).rstrip("/").rsplit("/", 1)[-1]
    (folder / "broken.ics").write_text(
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20261201T1\n"
    )  # behind the server's back
    view = connect_dana(local_sera, personas, calendar)
    assert refresh(local_sera, view) == "refreshed"
    with local_sera.uow(personas.northside_id, readonly=True) as uow:
        assert list_calendars(uow)[0].status == "connected"
    starts = danas_starts(local_sera, personas, 1)
    assert at(1, 10) not in starts and at(1, 11) in starts
    assert at(1, 13) not in starts and at(1, 14) in starts


def test_garbage_and_huge_calendars_are_bounded() -> None:
    window = (datetime(2026, 11, 27, tzinfo=UTC), datetime(2027, 1, 22, tzinfo=UTC))
    good = (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\nBEGIN:VEVENT\nUID:g\nDTSTAMP:20261001T000000Z\n"
        "DTSTART:20261201T160000Z\nDTEND:20261201T170000Z\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    read = busy_from(
        ["not a calendar at all", "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:2026XX\n", good], *window, CHICAGO
    )
    assert read.skipped == 2 and read.problem() == "2 event(s) could not be read and were ignored"
    assert read.busy == [(datetime(2026, 12, 1, 16, tzinfo=UTC), datetime(2026, 12, 1, 17, tzinfo=UTC))]
    every_minute = good.replace("DTEND:20261201T170000Z", "DTEND:20261201T160030Z\nRRULE:FREQ=MINUTELY")
    huge = busy_from([every_minute], *window, CHICAGO)
    assert huge.truncated and huge.problem() is not None and len(huge.busy) <= MAX_INSTANCES
    assert huge.busy[0][0] == datetime(2026, 12, 1, 16, tzinfo=UTC)


def test_with_the_server_down_availability_answers_from_the_cache(
    tmp_path: Path, local_sera: Sera, personas: Personas, caplog: pytest.LogCaptureFixture
) -> None:
    with RadicaleServer(tmp_path / "radicale", ["dana"]) as server:
        calendar = server.calendar("dana")
        add_event(calendar, "DTSTART;TZID=America/Chicago:20261201T100000\nDTEND;TZID=America/Chicago:20261201T110000")
        view = connect_dana(local_sera, personas, calendar)
        refresh(local_sera, view)
    assert refresh(local_sera, view) == "error"
    with local_sera.uow(personas.northside_id, readonly=True) as uow:
        shown = list_calendars(uow)[0]
        cached = uow.session.execute(select(CalendarBusyTime)).scalars().all()
    assert shown.status == "error" and "could not reach" in (shown.last_error or "")
    assert len(cached) == 1  # the last good read stands
    starts = danas_starts(local_sera, personas, 1)
    assert at(1, 10) not in starts and at(1, 11) in starts
    with caplog.at_level(logging.WARNING, logger="sera.booking"):
        appointment = book(local_sera, personas, at(1, 11))
    assert "going by its cached busy times" in caplog.text
    with pytest.raises(SlotUnavailableError):
        book(local_sera, personas, at(1, 10))
    assert write_events(local_sera) == ["retry"]  # written once the server is back
    with local_sera.uow(personas.northside_id, readonly=True) as uow:
        link = uow.session.execute(select(CalendarEventLink)).scalar_one()
    assert link.appointment_id == appointment and link.status == "pending" and link.last_error


# -- the merchant API ------------------------------------------------------------------------------


def test_admin_keys_connect_list_and_disconnect_over_the_api(
    local_sera: Sera, personas: Personas, calendar: caldav.Calendar
) -> None:
    from fastapi.testclient import TestClient

    from sera.web.app import create_app

    with local_sera.uow(personas.northside_id, readonly=True) as uow:
        dana = next(s.id for s in load_schedule(uow).staff if s.name == "Dana")
    body = {"url": str(calendar.url), "username": "dana", "password": PASSWORD, "event_detail": "service"}

    def auth(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    with TestClient(create_app(local_sera)) as client:
        path = f"/api/v1/staff/{dana}/calendar"
        refused = client.put(path, json={**body, "password": "wrong"}, headers=auth(personas.owner_key))
        assert refused.status_code == 400 and "refused the username or app password" in refused.text
        assert client.put(path, json=body, headers=auth(personas.teammate_key)).status_code == 403
        assert client.put(path, json=body, headers=auth(personas.outsider_key)).status_code == 404
        done = client.put(path, json=body, headers=auth(personas.owner_key))
        assert done.status_code == 200, done.text
        shown = done.json()
        assert (shown["staff"], shown["host"], shown["status"], shown["event_detail"]) == (
            "Dana", "127.0.0.1", "connected", "service",
        )  # fmt: skip
        assert shown["refreshed_at"] is not None and PASSWORD not in done.text and "/dana/" not in done.text
        listed = client.get("/api/v1/staff-calendars", headers=auth(personas.owner_key)).json()["data"]
        assert [c["staff"] for c in listed] == ["Dana"]
        assert client.get("/api/v1/staff-calendars", headers=auth(personas.outsider_key)).json()["data"] == []
        assert client.delete(path, headers=auth(personas.outsider_key)).status_code == 404
        assert client.delete(path, headers=auth(personas.owner_key)).status_code == 204
        assert client.delete(path, headers=auth(personas.owner_key)).status_code == 404
