"""Appointments: the records the booking engine creates, read by the API and the agent."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, String, literal, select, type_coerce, union_all

from sera import audit
from sera.booking.ports import LIVE_CALENDARS, LiveCalendars, LiveCheckFailedError
from sera.booking.slots import (
    Booking,
    ServiceSpec,
    ShopCalendar,
    Slot,
    StaffSpec,
    TimeRange,
    find_slots,
    is_bookable,
)
from sera.calendars.events import appointment_changed
from sera.customers.service import PersonRef, find_or_create_customer, person_refs, shop_phone
from sera.integrations.events import emit
from sera.outbound.confirmations import BOOKED, CANCELLED, MOVED, record_confirmation
from sera.storage.database import UnitOfWork
from sera.storage.models import (
    Appointment,
    CalendarBusyTime,
    Closure,
    Merchant,
    OpeningHours,
    Service,
    StaffMember,
    new_id,
)
from sera.storage.paging import Page, PageRequest, keyset, page_of

log = logging.getLogger("sera.booking")


class AppointmentNotFoundError(LookupError):
    pass


@dataclass(frozen=True)
class AppointmentView:
    id: str
    service: str
    staff: str | None
    start: datetime  # in the shop's time zone
    end: datetime
    status: str
    customer: PersonRef | None
    customer_id: str | None
    staff_id: str | None = None
    source: str = "agent"  # the channel the agent booked it on (voice, sms, web), or "dashboard"
    booked_by: str | None = None  # the team member's audit actor, for a booking made by hand
    call_id: str | None = None
    created_at: datetime | None = None


def shop_zone(uow: UnitOfWork) -> ZoneInfo:
    tz = uow.session.execute(select(Merchant.timezone).where(Merchant.id == uow.merchant_id)).scalar_one()
    return ZoneInfo(tz)


Row = tuple[Appointment, str, str | None]


def appointment_query() -> Select[Appointment, str, str | None]:
    return (
        select(Appointment, Service.name, StaffMember.name)
        .join(Service, Service.id == Appointment.service_id)
        .outerjoin(StaffMember, StaffMember.id == Appointment.staff_id)
    )


def appointment_views(uow: UnitOfWork, rows: Sequence[Row]) -> list[AppointmentView]:
    zone = shop_zone(uow)
    people = person_refs(uow, [r[0].customer_id for r in rows])
    return [_view(zone, row, people.get(row[0].customer_id or "")) for row in rows]


def _view(zone: ZoneInfo, row: Row, person: PersonRef | None) -> AppointmentView:
    appointment, service, staff = row
    return AppointmentView(
        id=appointment.id,
        service=service,
        staff=staff,
        start=appointment.start_at.astimezone(zone),
        end=appointment.end_at.astimezone(zone),
        status=appointment.status,
        customer=person,
        customer_id=appointment.customer_id,
        staff_id=appointment.staff_id,
        source=appointment.source,
        booked_by=appointment.booked_by,
        call_id=appointment.call_id,
        created_at=appointment.created_at,
    )


def list_appointments(uow: UnitOfWork, request: PageRequest) -> Page[AppointmentView]:
    stmt = keyset(appointment_query(), Appointment.start_at, Appointment.id, request)
    rows = [(r[0], r[1], r[2]) for r in uow.session.execute(stmt).all()]
    kept, cursor = page_of(rows, request, lambda r: (r[0].start_at, r[0].id))
    return Page(appointment_views(uow, kept), cursor)


def get_appointment(uow: UnitOfWork, appointment_id: str) -> AppointmentView:
    row = uow.session.execute(appointment_query().where(Appointment.id == appointment_id)).one_or_none()
    if row is None:
        raise AppointmentNotFoundError(appointment_id)
    return appointment_views(uow, [(row[0], row[1], row[2])])[0]


# -- availability and the booking engine ------------------------------------------------------


class BookingError(Exception):
    """A booking request cannot be met; the message is safe to say to a caller."""


class SlotUnavailableError(BookingError):
    pass


class UnknownServiceError(BookingError):
    pass


@dataclass(frozen=True)
class ShopSchedule:
    """Everything the availability engine needs about one shop, loaded once per turn."""

    calendar: ShopCalendar
    services: dict[str, ServiceSpec]  # by name
    staff: list[StaffSpec]

    def service(self, name: str) -> ServiceSpec:
        try:
            return self.services[name]
        except KeyError:
            raise UnknownServiceError(f"we don't offer {name}") from None

    def staff_named(self, name: str | None) -> StaffSpec | None:
        if name is None:
            return None
        return next((s for s in self.staff if s.name.lower() == name.lower()), None)

    def staff_name(self, staff_id: str) -> str:
        return next(s.name for s in self.staff if s.id == staff_id)


def _ranges(rows: Sequence[OpeningHours]) -> dict[int, list[TimeRange]]:
    hours: dict[int, list[TimeRange]] = {}
    for row in sorted(rows, key=lambda r: (r.weekday, r.opens)):
        closes = time(23, 59, 59) if row.closes == "24:00" else time.fromisoformat(row.closes)
        hours.setdefault(row.weekday, []).append(TimeRange(time.fromisoformat(row.opens), closes))
    return hours


def load_schedule(uow: UnitOfWork) -> ShopSchedule:
    session = uow.session
    hours = list(session.execute(select(OpeningHours)).scalars())
    services = list(session.execute(select(Service).order_by(Service.position)).scalars())
    staff_rows = list(session.execute(select(StaffMember).order_by(StaffMember.position)).scalars())
    closures = frozenset(session.execute(select(Closure.day)).scalars())
    ids_by_name = {s.name: s.id for s in services}
    calendar = ShopCalendar(
        tz=shop_zone(uow),
        hours=_ranges([h for h in hours if h.staff_id is None]),
        closures=closures,
    )
    staff = [
        StaffSpec(
            id=s.id,
            name=s.name,
            service_ids=None
            if s.service_names is None
            else frozenset(ids_by_name[n] for n in s.service_names if n in ids_by_name),
            hours=_ranges([h for h in hours if h.staff_id == s.id]) if s.has_own_hours else None,
        )
        for s in staff_rows
    ]
    if not staff:  # a shop without named staff books against the shop itself
        staff = [StaffSpec(id="", name="")]
    specs = {
        s.name: ServiceSpec(
            id=s.id,
            name=s.name,
            duration_min=s.duration_min,
            buffer_min=s.buffer_min,
            capacity=s.capacity,
        )
        for s in services
    }
    return ShopSchedule(calendar, specs, staff)


def _instant(value: datetime | str) -> datetime:
    """A UTC datetime from a stored value, fast: SQLite hands back text, PostgreSQL datetimes."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def load_bookings(
    uow: UnitOfWork, start: datetime, end: datetime, *, exclude: str | None = None, calendar_weight: int = 1
) -> list[Booking]:
    """Booked appointments that occupy staff in [start, end), with their buffers, and the busy
    times cached from staff members' own calendars (``sera.calendars``), in one query. A busy
    time counts ``calendar_weight`` times: the service's capacity, so it fills every place."""
    appointments = select(
        Appointment.id,
        literal(0).label("calendar"),
        Appointment.staff_id,
        type_coerce(Appointment.start_at, String),  # parsed below: 10x faster than the ORM type
        type_coerce(Appointment.busy_until, String),
    ).where(
        Appointment.merchant_id == uow.merchant_id,  # explicit: this Core query skips the ORM's scoping
        Appointment.status == "booked",
        Appointment.start_at < end,
        Appointment.busy_until > start,
    )
    busy = select(
        CalendarBusyTime.id,
        literal(1).label("calendar"),
        CalendarBusyTime.staff_id,
        type_coerce(CalendarBusyTime.start_at, String),
        type_coerce(CalendarBusyTime.end_at, String),
    ).where(
        CalendarBusyTime.merchant_id == uow.merchant_id,
        CalendarBusyTime.start_at < end,
        CalendarBusyTime.end_at > start,
    )
    found: list[Booking] = []
    rows: Sequence[Any] = uow.session.connection().execute(union_all(appointments, busy)).all()
    for row_id, calendar, staff_id, begins, until in rows:
        if row_id == exclude:
            continue
        booking = Booking(staff_id=staff_id or "", start=_instant(begins), end=_instant(until))
        found.extend([booking] * (calendar_weight if calendar else 1))
    return found


def find_availability(
    uow: UnitOfWork,
    schedule: ShopSchedule,
    service_name: str,
    *,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
    staff_name: str | None = None,
    limit: int | None = None,
    exclude: str | None = None,
    step_min: int = 15,
) -> list[Slot]:
    """Bookable start times for a service in a window, earliest first, on a grid of ``step_min``."""
    service = schedule.service(service_name)
    staff = schedule.staff_named(staff_name)
    found: list[Slot] = []
    chunk_start = window_start
    # with a limit, search a week at a time so the first openings need not load every booking
    step = timedelta(days=7) if limit else window_end - window_start
    while chunk_start < window_end and (limit is None or len(found) < limit):
        chunk_end = min(chunk_start + step, window_end)
        found += find_slots(
            schedule.calendar,
            service,
            schedule.staff,
            load_bookings(
                uow,
                chunk_start - timedelta(days=1),
                chunk_end + timedelta(days=1),
                exclude=exclude,
                calendar_weight=service.capacity,
            ),
            window_start=chunk_start,
            window_end=chunk_end,
            staff_id=staff.id if staff else None,
            not_before=now,
            step_min=step_min,
            limit=None if limit is None else limit - len(found),
        )
        chunk_start = chunk_end
    return found


def available_at(
    uow: UnitOfWork,
    schedule: ShopSchedule,
    service_name: str,
    start: datetime,
    *,
    now: datetime,
    staff_name: str | None = None,
    exclude: str | None = None,
) -> Slot | None:
    """The slot at exactly ``start``, on the search's grid or off it ("a tee time at ten forty",
    "quarter past two"), or None when that time is not free."""
    service = schedule.service(service_name)
    staff = schedule.staff_named(staff_name)
    bookings = load_bookings(
        uow, start - timedelta(days=1), start + timedelta(days=1), exclude=exclude, calendar_weight=service.capacity
    )
    staff_id = staff.id if staff else None
    return is_bookable(schedule.calendar, service, schedule.staff, bookings, start, staff_id=staff_id, not_before=now)


def _lock_staff(uow: UnitOfWork, staff_ids: list[str]) -> None:
    """Serialise bookings per staff member (PostgreSQL row locks; SQLite's write lock)."""
    ids = sorted(i for i in staff_ids if i)
    if ids and uow.session.get_bind().dialect.name != "sqlite":
        uow.session.execute(
            select(StaffMember.id).where(StaffMember.id.in_(ids)).order_by(StaffMember.id).with_for_update()
        )


def _bookable(
    uow: UnitOfWork,
    schedule: ShopSchedule,
    service: ServiceSpec,
    start: datetime,
    staff_name: str | None,
    now: datetime,
    exclude: str | None = None,
) -> Slot:
    staff = schedule.staff_named(staff_name)
    if staff_name and staff is None:
        raise BookingError(f"{staff_name} doesn't work here")
    candidates = [staff] if staff else schedule.staff
    _lock_staff(uow, [s.id for s in candidates])
    bookings = load_bookings(
        uow, start - timedelta(days=1), start + timedelta(days=1), exclude=exclude, calendar_weight=service.capacity
    )
    for _ in range(len(candidates) + 1):  # each staff member found busy live is passed over once
        slot = is_bookable(
            schedule.calendar,
            service,
            schedule.staff,
            bookings,
            start,
            staff_id=staff.id if staff else None,
            not_before=now,
        )
        if slot is None:
            break
        busy = _busy_live(uow, slot, service)
        if not busy:
            return slot
        bookings += [Booking(slot.staff_id, begins, ends) for begins, ends in busy] * service.capacity
    raise SlotUnavailableError("that time is not available")


def _busy_live(uow: UnitOfWork, slot: Slot, service: ServiceSpec) -> list[tuple[datetime, datetime]]:
    """The chosen staff member's own calendar, read now for the slot: the cache the search used
    may be minutes old. A calendar that cannot be read leaves the cache's word standing."""
    live: LiveCalendars | None = uow.session.info.get(LIVE_CALENDARS)
    if live is None or not slot.staff_id:
        return []
    start = slot.start.astimezone(UTC)
    end = slot.end.astimezone(UTC) + timedelta(minutes=service.buffer_min)
    try:
        found = live.busy(uow, slot.staff_id, start, end)
    except LiveCheckFailedError as exc:
        log.warning(
            "staff calendar not checked live: going by its cached busy times",
            extra={"staff": slot.staff_id, "reason": str(exc)},
        )
        return []
    return [(begins, ends) for begins, ends in found or () if begins < end and ends > start]


def book_appointment(
    uow: UnitOfWork,
    *,
    service_name: str,
    start: datetime,
    customer_id: str | None,
    now: datetime,
    staff_name: str | None = None,
    source: str = "agent",
    call_id: str | None = None,
    actor: str | None = None,
) -> Appointment:
    """Book one appointment; two callers can never get the same slot. The shop's confirmation
    text, if it sends them, is recorded with it. ``actor``: the team member booking by hand
    (kept on the appointment and audited)."""
    if uow.merchant_id is None:
        raise RuntimeError("booking needs a merchant-scoped unit of work")
    schedule = load_schedule(uow)
    service = schedule.service(service_name)
    slot = _bookable(uow, schedule, service, start, staff_name, now)
    appointment = Appointment(
        id=new_id("apt"),
        merchant_id=uow.merchant_id,
        customer_id=customer_id,
        service_id=service.id,
        staff_id=slot.staff_id or None,
        start_at=slot.start.astimezone(UTC),
        end_at=slot.end.astimezone(UTC),
        busy_until=slot.end.astimezone(UTC) + timedelta(minutes=service.buffer_min),
        status="booked",
        source=source,
        call_id=call_id,
        booked_by=actor,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(appointment)
    uow.session.flush()
    record_confirmation(uow, appointment, BOOKED, now)
    _announce(uow, appointment, "appointment.booked", service.name)
    _audit(uow, actor, "appointment.booked", appointment, now)
    return appointment


def _appointment(uow: UnitOfWork, appointment_id: str) -> Appointment:
    row = uow.session.execute(select(Appointment).where(Appointment.id == appointment_id)).scalar_one_or_none()
    if row is None:
        raise AppointmentNotFoundError(appointment_id)
    return row


def reschedule_appointment(
    uow: UnitOfWork,
    appointment_id: str,
    *,
    new_start: datetime,
    now: datetime,
    staff_name: str | None = None,
    actor: str | None = None,
) -> Appointment:
    appointment = _appointment(uow, appointment_id)
    if appointment.status != "booked":
        raise BookingError("that appointment is cancelled")
    schedule = load_schedule(uow)
    service = next(s for s in schedule.services.values() if s.id == appointment.service_id)
    slot = _bookable(uow, schedule, service, new_start, staff_name, now, exclude=appointment.id)
    appointment.start_at = slot.start.astimezone(UTC)
    appointment.end_at = slot.end.astimezone(UTC)
    appointment.busy_until = appointment.end_at + timedelta(minutes=service.buffer_min)
    appointment.staff_id = slot.staff_id or None
    appointment.updated_at = now
    uow.session.flush()
    record_confirmation(uow, appointment, MOVED, now)
    _announce(uow, appointment, "appointment.moved", service.name)
    _audit(uow, actor, "appointment.moved", appointment, now)
    return appointment


def cancel_appointment(uow: UnitOfWork, appointment_id: str, *, now: datetime, actor: str | None = None) -> Appointment:
    appointment = _appointment(uow, appointment_id)
    if actor is not None and appointment.status != "booked":  # the agent's cancel stays idempotent
        raise BookingError("that appointment is cancelled already")
    appointment.status = "cancelled"
    appointment.cancelled_at = appointment.updated_at = now
    uow.session.flush()
    record_confirmation(uow, appointment, CANCELLED, now)
    _announce(uow, appointment, "appointment.cancelled", None)
    _audit(uow, actor, "appointment.cancelled", appointment, now)
    return appointment


def _audit(uow: UnitOfWork, actor: str | None, action: str, appointment: Appointment, now: datetime) -> None:
    """A change a team member made by hand (the agent's are in its call's record)."""
    if actor is None:
        return
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action=action,
        target_type="appointment",
        target_id=appointment.id,
        details={"staff_id": appointment.staff_id, "starts_at": appointment.start_at.isoformat()},
        at=now,
    )


def _announce(uow: UnitOfWork, appointment: Appointment, event: str, service: str | None) -> None:
    """The shop's integrations hear of the change (ids and times; the service by name)."""
    data = {
        "id": appointment.id,
        "status": appointment.status,
        "service": service,
        "staff_id": appointment.staff_id,
        "starts_at": appointment.start_at,
        "ends_at": appointment.end_at,
        "customer_id": appointment.customer_id,
    }
    emit(uow, event, data, customer_id=appointment.customer_id)
    appointment_changed(uow, appointment)


def upcoming_appointments(uow: UnitOfWork, customer_id: str, now: datetime) -> list[AppointmentView]:
    stmt = (
        appointment_query()
        .where(
            Appointment.customer_id == customer_id,
            Appointment.status == "booked",
            Appointment.start_at >= now,
        )
        .order_by(Appointment.start_at)
    )
    rows = [(r[0], r[1], r[2]) for r in uow.session.execute(stmt).all()]
    return appointment_views(uow, rows)


def appointments_for_name(uow: UnitOfWork, name: str, day: date, zone: ZoneInfo) -> list[AppointmentView]:
    """Booked appointments on a local day whose customer has this name (case-insensitive)."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    stmt = (
        appointment_query()
        .where(
            Appointment.status == "booked",
            Appointment.start_at >= start,
            Appointment.start_at < start + timedelta(days=1),
        )
        .order_by(Appointment.start_at)
    )
    views = appointment_views(uow, [(r[0], r[1], r[2]) for r in uow.session.execute(stmt).all()])
    wanted = " ".join(name.lower().split())
    return [v for v in views if v.customer and v.customer.name and " ".join(v.customer.name.lower().split()) == wanted]


# -- the dashboard's calendar ---------------------------------------------------------------------


def appointments_between(
    uow: UnitOfWork, first_day: date, days: int, *, staff_id: str | None = None
) -> list[AppointmentView]:
    """Booked appointments starting on ``days`` local days from ``first_day`` (the shop's zone),
    earliest first; only one staff member's when ``staff_id`` is given."""
    zone = shop_zone(uow)
    start = datetime.combine(first_day, time(0), tzinfo=zone)
    end = datetime.combine(first_day + timedelta(days=days), time(0), tzinfo=zone)
    stmt = appointment_query().where(
        Appointment.status == "booked",
        Appointment.start_at >= start.astimezone(UTC),
        Appointment.start_at < end.astimezone(UTC),
    )
    if staff_id is not None:
        stmt = stmt.where(Appointment.staff_id == staff_id)
    rows = [(r[0], r[1], r[2]) for r in uow.session.execute(stmt.order_by(Appointment.start_at, Appointment.id))]
    return appointment_views(uow, rows)


def free_times(
    uow: UnitOfWork,
    service_name: str,
    day: date,
    *,
    now: datetime,
    staff_id: str | None = None,
    moving: str | None = None,
) -> list[Slot]:
    """The start times the agent would offer for a service on a local day (for one staff member
    when ``staff_id`` is given); ``moving``: the appointment being moved, whose own time is free."""
    schedule = load_schedule(uow)
    staff = next((s.name for s in schedule.staff if s.id == staff_id), None) if staff_id else None
    zone = schedule.calendar.tz
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return find_availability(
        uow, schedule, service_name, window_start=start, window_end=end, now=now, staff_name=staff, exclude=moving
    )


def book_by_hand(
    uow: UnitOfWork,
    *,
    service_name: str,
    start: datetime,
    staff_id: str | None,
    customer_name: str,
    customer_phone: str,
    actor: str,
    now: datetime,
) -> Appointment:
    """A booking a team member makes for a customer (found by phone, or created), through the same
    engine as the agent's: a time taken meanwhile raises ``SlotUnavailableError`` and saves nothing.
    Raises ``InvalidPhoneError`` for a number that is not one."""
    phone = shop_phone(uow, customer_phone)
    schedule = load_schedule(uow)
    staff = next((s.name for s in schedule.staff if s.id == staff_id and s.id), None) if staff_id else None
    if staff_id and staff is None:
        raise BookingError("that staff member is not on the schedule")
    customer = find_or_create_customer(uow, name=customer_name.strip() or None, phone=phone, source="dashboard")
    return book_appointment(
        uow,
        service_name=service_name,
        start=start,
        customer_id=customer.id,
        now=now,
        staff_name=staff,
        source="dashboard",
        actor=actor,
    )


def move_by_hand(
    uow: UnitOfWork, appointment_id: str, *, new_start: datetime, staff_id: str | None, actor: str, now: datetime
) -> Appointment:
    """Move an appointment to a free time (of ``staff_id``, or whoever is free then)."""
    schedule = load_schedule(uow)
    staff = next((s.name for s in schedule.staff if s.id == staff_id and s.id), None) if staff_id else None
    return reschedule_appointment(uow, appointment_id, new_start=new_start, now=now, staff_name=staff, actor=actor)
