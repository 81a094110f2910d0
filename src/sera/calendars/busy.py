"""Busy times from staff calendars: read in the background into a cache the availability
search reads, and read live for the one slot a booking is about to take.

Invariants:
- A refresh replaces a calendar's cached busy times for the window it read, in one
  transaction; a refresh that fails keeps the last good cache and records the error, so the
  search keeps answering (from what it last knew) while a calendar server is down.
- Only times are cached, never titles. Sera's own events are not busy time (the bookings
  they mirror already are), but a missing one in the window read is a conflict.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select

from sera import audit
from sera.booking.ports import LiveCheckFailedError
from sera.bootstrap import Sera
from sera.calendars.connections import account_of
from sera.calendars.ports import BusyRead, CalendarError, Opener
from sera.storage.database import UnitOfWork
from sera.storage.models import (
    Appointment,
    CalendarBusyTime,
    CalendarEventLink,
    Merchant,
    StaffCalendar,
    new_id,
)

log = logging.getLogger("sera.calendars")

REFRESH_JOB = "calendars.refresh"  # one calendar id
HORIZON = timedelta(weeks=8)  # how far ahead busy times are cached
LOOKBEHIND = timedelta(days=1)


def calendar_ids(sera: Sera) -> list[str]:
    """Every connected calendar (those in error too: a refresh is how they recover)."""
    with sera.uow(readonly=True) as uow:
        return list(uow.session.execute(select(StaffCalendar.id).order_by(StaffCalendar.id)).scalars())


def refresh(sera: Sera, opener: Opener, calendar_id: str) -> str | None:
    """Read one calendar's busy times for the window ahead into the cache, and mark Sera's
    events the staff member deleted as conflicts. ``refreshed``, ``error``, or None (gone)."""
    with sera.uow(readonly=True) as uow:
        found = uow.session.execute(
            select(StaffCalendar, Merchant.timezone)
            .join(Merchant, Merchant.id == StaffCalendar.merchant_id)
            .where(StaffCalendar.id == calendar_id)
        ).first()
        if found is None:
            return None
        calendar, timezone = found
        account = account_of(uow, calendar)
    started = sera.clock()
    start, end = started - LOOKBEHIND, started + HORIZON
    try:
        read = opener(account, sera.settings.calendar_timeout_seconds).busy(start, end, ZoneInfo(timezone))
    except CalendarError as exc:
        _record_error(sera, calendar.merchant_id, calendar_id, str(exc))
        return "error"
    with sera.uow(calendar.merchant_id) as uow:
        row = uow.session.get(StaffCalendar, calendar_id)
        if row is None:
            return None
        _replace_busy(uow, row, read)
        _mark_conflicts(uow, row, read, start, end, started)
        row.status, row.last_error, row.refreshed_at = "connected", read.problem(), sera.clock()
        uow.commit()
    return "refreshed"


def _record_error(sera: Sera, merchant_id: str, calendar_id: str, error: str) -> None:
    with sera.uow(merchant_id) as uow:
        row = uow.session.get(StaffCalendar, calendar_id)
        if row is not None:
            row.status, row.last_error = "error", error[:200]
            uow.commit()
    log.warning("staff calendar not read: its cached busy times stand", extra={"calendar": calendar_id})


def _replace_busy(uow: UnitOfWork, calendar: StaffCalendar, read: BusyRead) -> None:
    uow.session.execute(delete(CalendarBusyTime).where(CalendarBusyTime.calendar_id == calendar.id))
    if read.busy:
        uow.session.execute(
            insert(CalendarBusyTime),
            [
                {
                    "id": new_id("cbt"),
                    "merchant_id": calendar.merchant_id,
                    "calendar_id": calendar.id,
                    "staff_id": calendar.staff_id,
                    "start_at": begins,
                    "end_at": ends,
                }
                for begins, ends in read.busy
            ],
        )


def _mark_conflicts(
    uow: UnitOfWork, calendar: StaffCalendar, read: BusyRead, start: datetime, end: datetime, started: datetime
) -> None:
    """Sera's events written before this read began, for booked appointments in the window,
    that the read did not see: the staff member deleted them."""
    written = uow.session.execute(
        select(CalendarEventLink)
        .join(Appointment, Appointment.id == CalendarEventLink.appointment_id)
        .where(
            CalendarEventLink.calendar_id == calendar.id,
            CalendarEventLink.state == "written",
            CalendarEventLink.status == "done",
            CalendarEventLink.written_at < started,
            Appointment.status == "booked",
            Appointment.staff_id == calendar.staff_id,
            Appointment.start_at >= start,
            Appointment.start_at < end,
        )
    ).scalars()
    for link in written:
        if link.uid in read.sera_uids:
            continue
        link.state = "conflict"
        audit.record(
            uow.session,
            merchant_id=uow.merchant_id,
            actor="system:calendars",
            action="calendar_event.removed_by_staff",
            target_type="appointment",
            target_id=link.appointment_id,
            details={"staff_id": calendar.staff_id},
        )
        log.warning("a booking's event was removed from the staff calendar", extra={"appointment": link.appointment_id})


class LiveCheck:
    """The booking engine's ``LiveCalendars`` port: the staff member's calendar, read now."""

    def __init__(self, opener: Opener, timeout: float) -> None:
        self._opener = opener
        self._timeout = timeout

    def busy(
        self, uow: UnitOfWork, staff_id: str, start: datetime, end: datetime
    ) -> Sequence[tuple[datetime, datetime]] | None:
        found = uow.session.execute(
            select(StaffCalendar, Merchant.timezone)
            .join(Merchant, Merchant.id == StaffCalendar.merchant_id)
            .where(StaffCalendar.staff_id == staff_id)
        ).first()
        if found is None:
            return None
        calendar, timezone = found
        try:
            client = self._opener(account_of(uow, calendar), self._timeout)
            read = client.busy(start.astimezone(UTC), end.astimezone(UTC), ZoneInfo(timezone))
        except CalendarError as exc:
            raise LiveCheckFailedError(str(exc)) from None
        except Exception as exc:  # a calendar must never stop a booking the cache allows
            raise LiveCheckFailedError(f"the calendar could not be read ({type(exc).__name__})") from None
        return read.busy
