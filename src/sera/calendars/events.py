"""Sera's bookings in the staff member's own calendar: written, moved and removed with them.

Invariants:
- A booking, move or cancellation owes each calendar concerned a write, recorded in its own
  transaction (a ``CalendarEventLink`` made ``pending``); a job carrying the link's id makes
  the calendar match the appointment as it is when the job runs, so a late or repeated
  write is harmless, and the event's UID, derived from the appointment id, never changes.
- The event says what the calendar's ``event_detail`` allows: the service and the customer's
  first name, the service only, or just "Busy"; never a phone number or an address.
- An event the staff member deleted is a conflict the refresh marks (``sera.calendars.busy``);
  the appointment stays booked, and moving it writes the event again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from sera.bootstrap import Sera
from sera.calendars.connections import account_of
from sera.calendars.ports import CalendarError, EventDetails, Opener, event_uid
from sera.customers.service import person_refs
from sera.storage import attempts
from sera.storage.database import UnitOfWork, clock_of
from sera.storage.models import Appointment, CalendarEventLink, Service, StaffCalendar, StaffMember, new_id

log = logging.getLogger("sera.calendars")

WRITE_JOB = "calendars.write"  # one link id
CLAIM = timedelta(seconds=60)
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)
MAX_ATTEMPTS = 30  # 30 s doubling to an hour: about a day of tries for one change
HANDED_OVER = attempts.HandOver("calendar write")
DETAILS = ("service_first_name", "service", "busy")


def appointment_changed(uow: UnitOfWork, appointment: Appointment) -> list[str]:
    """Owe the calendars concerned a write for this appointment (its staff member's, and any
    it was written to before a move to someone else); the link ids, queued after commit."""
    if uow.merchant_id is None:
        return []
    links = {
        link.calendar_id: link
        for link in uow.session.execute(
            select(CalendarEventLink).where(CalendarEventLink.appointment_id == appointment.id)
        ).scalars()
    }
    if appointment.staff_id is not None:
        calendar_id = uow.session.execute(
            select(StaffCalendar.id).where(StaffCalendar.staff_id == appointment.staff_id)
        ).scalar_one_or_none()
        if calendar_id is not None and calendar_id not in links:
            links[calendar_id] = CalendarEventLink(
                id=new_id("cel"),
                merchant_id=uow.merchant_id,
                appointment_id=appointment.id,
                calendar_id=calendar_id,
                uid=event_uid(appointment.id),
                state="none",
                attempts=0,
            )
            uow.session.add(links[calendar_id])
    now = clock_of(uow.session)
    for link in links.values():
        link.status, link.next_attempt_at, link.claimed_until, link.attempts = "pending", now, None, 0
    if links:
        uow.session.flush()
        HANDED_OVER.after_commit(uow, [link.id for link in links.values()])
    return [link.id for link in links.values()]


def take_due(sera: Sera, now: datetime, limit: int = 2000) -> list[str]:
    with sera.uow() as uow:
        ids = attempts.take_due(uow, CalendarEventLink, now, CLAIM, limit)
        uow.commit()
    return ids


def summary(detail: str, service: str, first_name: str | None) -> str:
    if detail == "busy":
        return "Busy"
    if detail == "service" or not first_name:
        return service
    return f"{service}: {first_name}"


@dataclass(frozen=True)
class _Owed:
    merchant_id: str
    calendar_id: str
    uid: str
    event: EventDetails | None  # None: the event must go
    held_until: datetime  # this attempt's claim: a change meanwhile clears it, and its write is owed again


def _owed(sera: Sera, link_id: str, now: datetime) -> _Owed | None:
    with sera.uow() as uow:
        claimed = attempts.claim(uow, CalendarEventLink, link_id, now, CLAIM)
        uow.commit()
    if not claimed:
        return None
    with sera.uow() as uow:
        found = uow.session.execute(
            select(CalendarEventLink, Appointment, StaffCalendar, Service.name, StaffMember.name)
            .join(Appointment, Appointment.id == CalendarEventLink.appointment_id)
            .join(StaffCalendar, StaffCalendar.id == CalendarEventLink.calendar_id)
            .join(Service, Service.id == Appointment.service_id)
            .join(StaffMember, StaffMember.id == StaffCalendar.staff_id)
            .where(CalendarEventLink.id == link_id)
        ).first()
    if found is None:
        return None
    link, appointment, calendar, service, staff = found
    if appointment.status != "booked" or appointment.staff_id != calendar.staff_id:
        return _Owed(link.merchant_id, calendar.id, link.uid, None, now + CLAIM)
    with sera.uow(link.merchant_id, readonly=True) as uow:
        person = person_refs(uow, [appointment.customer_id]).get(appointment.customer_id or "")
    first = (person.name or "").split()[0] if person and person.name and person.name.split() else None
    event = EventDetails(
        uid=link.uid,
        start=appointment.start_at,
        end=appointment.end_at,
        summary=summary(calendar.event_detail, service, first),
        description=f"Booked through Sera with {staff}. Move or cancel it in Sera, not here.",
        stamp=now,
    )
    return _Owed(link.merchant_id, calendar.id, link.uid, event, now + CLAIM)


def write(sera: Sera, opener: Opener, link_id: str) -> str | None:
    """One attempt at making a calendar match an appointment: ``written``, ``removed``,
    ``retry``, ``failed`` (about a day of failures), or None when nothing is owed or another holds it."""
    now = sera.clock()
    job = _owed(sera, link_id, now)
    if job is None:
        return None
    with sera.uow(job.merchant_id, readonly=True) as uow:
        calendar = uow.session.get(StaffCalendar, job.calendar_id)
        account = account_of(uow, calendar) if calendar is not None else None
    if account is None:
        return None
    href: str | None = None
    try:
        client = opener(account, sera.settings.calendar_timeout_seconds)
        if job.event is None:
            client.delete_event(job.uid)
        else:
            href = client.put_event(job.event)
    except CalendarError as exc:
        return _failed(sera, job, link_id, str(exc))
    with sera.uow(job.merchant_id) as uow:
        link = uow.session.get(CalendarEventLink, link_id)
        if link is None or link.status != "pending" or link.claimed_until != job.held_until:
            return "settled"  # changed meanwhile: the write queued with that change does it
        outcome = "removed" if job.event is None else "written"
        link.state, link.status, link.claimed_until, link.next_attempt_at = outcome, "done", None, None
        link.href, link.last_error, link.written_at = href or link.href, None, sera.clock()
        uow.commit()
    return outcome


def _failed(sera: Sera, job: _Owed, link_id: str, error: str) -> str:
    now = sera.clock()
    with sera.uow(job.merchant_id) as uow:
        link = uow.session.get(CalendarEventLink, link_id)
        if link is None or link.status != "pending" or link.claimed_until != job.held_until:
            return "settled"
        give_up = link.attempts >= MAX_ATTEMPTS
        link.claimed_until, link.last_error = None, error[:200]
        link.status = "failed" if give_up else "pending"
        link.next_attempt_at = None if give_up else now + attempts.backoff(link.attempts, FIRST_RETRY, LONGEST_RETRY)
        uow.commit()
    log.warning("calendar event not written", extra={"link": link_id, "outcome": "failed" if give_up else "retry"})
    return "failed" if give_up else "retry"


@dataclass(frozen=True)
class EventState:
    state: str  # none | written | removed | conflict
    status: str  # pending | done | failed
    staff: str
    last_error: str | None


def event_states(uow: UnitOfWork, appointment_ids: list[str]) -> dict[str, EventState]:
    """How each appointment stands in its staff member's calendar (for the dashboard)."""
    if not appointment_ids:
        return {}
    found = uow.session.execute(
        select(CalendarEventLink, StaffMember.name)
        .join(StaffCalendar, StaffCalendar.id == CalendarEventLink.calendar_id)
        .join(StaffMember, StaffMember.id == StaffCalendar.staff_id)
        .where(CalendarEventLink.appointment_id.in_(appointment_ids))
    ).all()
    states: dict[str, EventState] = {}
    for link, staff in found:
        if link.state == "removed" and link.appointment_id in states:
            continue  # the calendar it moved from; the current one speaks
        states[link.appointment_id] = EventState(link.state, link.status, staff, link.last_error)
    return states


def forget_customer(uow: UnitOfWork, customer_id: str) -> list[str]:
    """An erased customer's first name leaves the staff calendars: their appointments' events
    are written again, with the customer gone (call before the appointments lose the id)."""
    links = list(
        uow.session.execute(
            select(CalendarEventLink)
            .join(Appointment, Appointment.id == CalendarEventLink.appointment_id)
            .where(Appointment.customer_id == customer_id, CalendarEventLink.state != "removed")
        ).scalars()
    )
    now = clock_of(uow.session)
    for link in links:
        link.status, link.next_attempt_at, link.claimed_until, link.attempts = "pending", now, None, 0
    if links:
        uow.session.flush()
        HANDED_OVER.after_commit(uow, [link.id for link in links])
    return [link.id for link in links]
