"""Appointments: the records the booking engine creates, read by the API and the agent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select

from sera.customers.service import PersonRef, person_refs
from sera.storage.database import UnitOfWork
from sera.storage.models import Appointment, Merchant, Service, StaffMember
from sera.storage.paging import Page, PageRequest, keyset, page_of


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


def shop_zone(uow: UnitOfWork) -> ZoneInfo:
    tz = uow.session.execute(
        select(Merchant.timezone).where(Merchant.id == uow.merchant_id)
    ).scalar_one()
    return ZoneInfo(tz)


Row = tuple[Appointment, str, str | None]


def _query() -> Select[Appointment, str, str | None]:
    return (
        select(Appointment, Service.name, StaffMember.name)
        .join(Service, Service.id == Appointment.service_id)
        .outerjoin(StaffMember, StaffMember.id == Appointment.staff_id)
    )


def _views(uow: UnitOfWork, rows: Sequence[Row]) -> list[AppointmentView]:
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
    )


def list_appointments(uow: UnitOfWork, request: PageRequest) -> Page[AppointmentView]:
    stmt = keyset(_query(), Appointment.start_at, Appointment.id, request)
    rows = [(r[0], r[1], r[2]) for r in uow.session.execute(stmt).all()]
    kept, cursor = page_of(rows, request, lambda r: (r[0].start_at, r[0].id))
    return Page(_views(uow, kept), cursor)


def get_appointment(uow: UnitOfWork, appointment_id: str) -> AppointmentView:
    row = uow.session.execute(_query().where(Appointment.id == appointment_id)).one_or_none()
    if row is None:
        raise AppointmentNotFoundError(appointment_id)
    return _views(uow, [(row[0], row[1], row[2])])[0]
