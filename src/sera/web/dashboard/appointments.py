"""Appointments: day and week views per staff member; book, move and cancel.

Every change goes through the booking engine the agent uses (``sera.booking.service``): the
times offered are the agent's, a time taken meanwhile is refused with nothing saved, and the
customer hears of it as the shop's outbound settings say.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from sera.booking.service import (
    AppointmentNotFoundError,
    AppointmentView,
    BookingError,
    ShopSchedule,
    SlotUnavailableError,
    appointments_between,
    book_by_hand,
    cancel_appointment,
    free_times,
    get_appointment,
    load_schedule,
    move_by_hand,
)
from sera.booking.slots import Slot, StaffSpec
from sera.calendars.events import event_states
from sera.customers.phones import InvalidPhoneError
from sera.storage.database import UnitOfWork
from sera.team.members import MemberNotFoundError, get_member
from sera.web.api.deps import SeraDep
from sera.web.dashboard.access import PREFIX, DashboardUser, PageNotFoundError, audit_read, requires
from sera.web.dashboard.render import render

router = APIRouter()
Reader = Annotated[DashboardUser, Depends(requires("appointments.read"))]
Writer = Annotated[DashboardUser, Depends(requires("appointments.write"))]
VIEWS = ("day", "week")
ShortText = Annotated[str, Form(max_length=100)]
IdField = Annotated[str, Form(max_length=64)]


@dataclass(frozen=True)
class Column:
    """One staff member's appointments on one day."""

    staff: StaffSpec
    day: date
    appointments: list[AppointmentView]


def _today(user: DashboardUser, now: datetime) -> date:
    return now.astimezone(ZoneInfo(user.session.timezone)).date()


def _day(text: str | None, today: date) -> date:
    try:
        return date.fromisoformat(text) if text else today
    except ValueError:
        return today


def _staff(schedule: ShopSchedule, staff_id: str | None) -> StaffSpec | None:
    return next((s for s in schedule.staff if s.id and s.id == staff_id), None)


def _start(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _one(reader: UnitOfWork, appointment_id: str) -> AppointmentView:
    try:
        return get_appointment(reader, appointment_id)
    except AppointmentNotFoundError:
        raise PageNotFoundError from None


def _detail_url(appointment_id: str, done: str) -> str:
    return f"{PREFIX}/appointments/{appointment_id}?done={done}"


@router.get("/appointments")
def calendar(
    request: Request,
    sera: SeraDep,
    user: Reader,
    view: Annotated[str, Query(max_length=5)] = "day",
    day: Annotated[str | None, Query(alias="date", max_length=10)] = None,
    staff: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    view = view if view in VIEWS else "day"
    today = _today(user, sera.clock())
    shown = _day(day, today)
    if view == "week":
        shown -= timedelta(days=shown.weekday())  # weeks start on Monday
    days = [shown + timedelta(days=i) for i in range(7 if view == "week" else 1)]
    with sera.uow(user.merchant_id, readonly=True) as reader:
        schedule = load_schedule(reader)
        chosen = _staff(schedule, staff)
        found = appointments_between(reader, days[0], len(days), staff_id=chosen.id if chosen else None)
        calendar_events = event_states(reader, [a.id for a in found])
    people = [chosen] if chosen else schedule.staff
    grid = [
        [Column(s, d, [a for a in found if a.start.date() == d and (a.staff_id or "") == s.id]) for s in people]
        for d in days
    ]
    step = timedelta(days=len(days))
    return render(
        request,
        "dashboard/appointments.html",
        user=user,
        title="Appointments",
        zone=user.session.timezone,
        view=view,
        days=days,
        today=today,
        grid=grid,
        people=people,
        schedule=schedule,
        chosen=chosen,
        previous=days[0] - step,
        following=days[0] + step,
        total=len(found),
        calendar_events=calendar_events,
    )


def _new_page(
    request: Request,
    sera: SeraDep,
    user: DashboardUser,
    *,
    service: str | None,
    staff: str | None,
    day: str | None,
    error: str | None = None,
    status_code: int = 200,
    name: str = "",
    phone: str = "",
) -> Response:
    now = sera.clock()
    today = _today(user, now)
    chosen_day = _day(day, today)
    with sera.uow(user.merchant_id, readonly=True) as reader:
        schedule = load_schedule(reader)
        chosen = _staff(schedule, staff)
        slots: list[Slot] | None = None
        if service in schedule.services:
            slots = free_times(reader, service, chosen_day, now=now, staff_id=chosen.id if chosen else None)
    return render(
        request,
        "dashboard/appointments_new.html",
        user=user,
        title="Book an appointment",
        zone=user.session.timezone,
        status_code=status_code,
        schedule=schedule,
        service=service if service in schedule.services else None,
        chosen=chosen,
        day=chosen_day,
        today=today,
        slots=slots,
        error=error,
        name=name,
        phone=phone,
    )


@router.get("/appointments/new")
def new_appointment(
    request: Request,
    sera: SeraDep,
    user: Writer,
    service: Annotated[str | None, Query(max_length=100)] = None,
    staff: Annotated[str | None, Query(max_length=64)] = None,
    day: Annotated[str | None, Query(alias="date", max_length=10)] = None,
) -> Response:
    return _new_page(request, sera, user, service=service, staff=staff, day=day)


@router.post("/appointments")
def book(
    request: Request,
    sera: SeraDep,
    user: Writer,
    service: ShortText,
    start: Annotated[str, Form(max_length=40)] = "",
    staff: Annotated[str, Form(max_length=64)] = "",
    day: Annotated[str, Form(alias="date", max_length=10)] = "",
    name: ShortText = "",
    phone: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    moment = _start(start)

    def again(error: str, status_code: int) -> Response:
        return _new_page(
            request,
            sera,
            user,
            service=service,
            staff=staff,
            day=day,
            error=error,
            status_code=status_code,
            name=name,
            phone=phone,
        )

    if moment is None:
        return again("Choose one of the free times.", 422)
    if not name.strip() or not phone.strip():
        return again("Enter the customer's name and phone number.", 422)
    try:
        with sera.uow(user.merchant_id) as uow:
            appointment = book_by_hand(
                uow,
                service_name=service,
                start=moment,
                staff_id=staff or None,
                customer_name=name,
                customer_phone=phone,
                actor=user.actor,
                now=sera.clock(),
            )
            uow.commit()
    except InvalidPhoneError:
        return again("That phone number does not look right: enter it as the customer would dial it.", 422)
    except SlotUnavailableError:
        return again("Someone took that time a moment ago: nothing was booked. Choose another free time.", 409)
    except BookingError as exc:
        return again(f"This booking cannot be made: {exc}.", 422)
    return RedirectResponse(_detail_url(appointment.id, "booked"), status_code=303)


def _creator(reader: UnitOfWork, view: AppointmentView) -> str:
    if view.booked_by is None:
        return "the agent" + (f" ({view.source})" if view.source else "")
    member_id = view.booked_by.removeprefix("team_member:")
    try:
        member = get_member(reader, member_id)
    except MemberNotFoundError:
        return "a former member of the team"
    return member.name or member.email


@router.get("/appointments/{appointment_id}")
def appointment_detail(
    request: Request,
    sera: SeraDep,
    user: Reader,
    appointment_id: str,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    with sera.uow(user.merchant_id, readonly=True) as reader:
        view = _one(reader, appointment_id)
        creator = _creator(reader, view)
        calendar_event = event_states(reader, [view.id]).get(view.id)
    audit_read(sera, user, "appointment", [view.id])
    return render(
        request,
        "dashboard/appointments_detail.html",
        user=user,
        title="Appointment",
        zone=user.session.timezone,
        appointment=view,
        creator=creator,
        done=done,
        calendar_event=calendar_event,
    )


def _move_page(
    request: Request,
    sera: SeraDep,
    user: DashboardUser,
    appointment_id: str,
    *,
    staff: str | None,
    day: str | None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    now = sera.clock()
    with sera.uow(user.merchant_id, readonly=True) as reader:
        view = _one(reader, appointment_id)
        schedule = load_schedule(reader)
        chosen = _staff(schedule, view.staff_id if staff is None else staff)
        chosen_day = _day(day, view.start.date())
        slots: list[Slot] = []
        if view.status == "booked" and view.service in schedule.services:
            slots = free_times(
                reader, view.service, chosen_day, now=now, staff_id=chosen.id if chosen else None, moving=view.id
            )
    return render(
        request,
        "dashboard/appointments_move.html",
        user=user,
        title="Move an appointment",
        zone=user.session.timezone,
        status_code=status_code,
        appointment=view,
        schedule=schedule,
        chosen=chosen,
        day=chosen_day,
        slots=slots,
        error=error,
    )


@router.get("/appointments/{appointment_id}/move")
def move_form(
    request: Request,
    sera: SeraDep,
    user: Writer,
    appointment_id: str,
    staff: Annotated[str | None, Query(max_length=64)] = None,
    day: Annotated[str | None, Query(alias="date", max_length=10)] = None,
) -> Response:
    return _move_page(request, sera, user, appointment_id, staff=staff, day=day)


@router.post("/appointments/{appointment_id}/move")
def move(
    request: Request,
    sera: SeraDep,
    user: Writer,
    appointment_id: str,
    start: Annotated[str, Form(max_length=40)] = "",
    staff: Annotated[str, Form(max_length=64)] = "",
    day: Annotated[str, Form(alias="date", max_length=10)] = "",
) -> Response:
    moment = _start(start)

    def again(error: str, status_code: int) -> Response:
        return _move_page(
            request, sera, user, appointment_id, staff=staff, day=day, error=error, status_code=status_code
        )

    if moment is None:
        return again("Choose one of the free times.", 422)
    try:
        with sera.uow(user.merchant_id) as uow:
            move_by_hand(
                uow, appointment_id, new_start=moment, staff_id=staff or None, actor=user.actor, now=sera.clock()
            )
            uow.commit()
    except AppointmentNotFoundError:
        raise PageNotFoundError from None
    except SlotUnavailableError:
        return again("Someone took that time a moment ago: the appointment was not moved. Choose another.", 409)
    except BookingError as exc:
        return again(f"The appointment cannot be moved: {exc}.", 422)
    return RedirectResponse(_detail_url(appointment_id, "moved"), status_code=303)


@router.post("/appointments/{appointment_id}/cancel")
def cancel(request: Request, sera: SeraDep, user: Writer, appointment_id: str) -> Response:
    try:
        with sera.uow(user.merchant_id) as uow:
            cancel_appointment(uow, appointment_id, now=sera.clock(), actor=user.actor)
            uow.commit()
    except AppointmentNotFoundError:
        raise PageNotFoundError from None
    except BookingError:
        pass  # cancelled already (another tab, a teammate): the page shows it is
    return RedirectResponse(_detail_url(appointment_id, "cancelled"), status_code=303)
