"""Connecting a staff member's calendar: checked against the server before it is saved."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import func, select

from sera import audit
from sera.bootstrap import Sera
from sera.calendars.ports import CalendarAccount, Opener
from sera.integrations.webhooks import WebhookError, check_url
from sera.storage.database import UnitOfWork, clock_of
from sera.storage.models import StaffCalendar, StaffMember, new_id

DETAILS = {
    "service_first_name": "the service and the customer's first name",
    "service": "the service only",
    "busy": "just \u201cBusy\u201d",
}


class CalendarSetupError(ValueError):
    """The calendar cannot be connected as asked (the message says why)."""


class CalendarNotFoundError(LookupError):
    pass


@dataclass(frozen=True)
class CalendarView:
    id: str
    staff_id: str
    staff: str
    host: str  # where the calendar is, without the path (which often names the person)
    event_detail: str
    status: str  # connected | error
    last_error: str | None
    refreshed_at: datetime | None


def _staff(uow: UnitOfWork, name: str) -> StaffMember:
    found = uow.session.execute(
        select(StaffMember).where(func.lower(StaffMember.name) == name.strip().lower())
    ).scalar_one_or_none()
    if found is None:
        raise CalendarSetupError(f"no staff member is called {name!r}")
    return found


def account_of(uow: UnitOfWork, calendar: StaffCalendar) -> CalendarAccount:
    plain = uow.vault.open_many(calendar, "url", "username", "password")
    return CalendarAccount(plain["url"] or "", plain["username"] or "", plain["password"] or "")


def _view(uow: UnitOfWork, calendar: StaffCalendar, staff: str) -> CalendarView:
    url = uow.vault.open(calendar, "url") or ""
    return CalendarView(
        id=calendar.id,
        staff_id=calendar.staff_id,
        staff=staff,
        host=urlsplit(url).hostname or "",
        event_detail=calendar.event_detail,
        status=calendar.status,
        last_error=calendar.last_error,
        refreshed_at=calendar.refreshed_at,
    )


def checked_url(sera: Sera, url: str) -> str:
    allow = sera.settings.calendars_allow_private
    try:
        return check_url(url, allow_private=allow, require_https=not allow)
    except WebhookError as exc:
        raise CalendarSetupError(str(exc).replace("The URL", "the calendar URL")) from None


def connect_calendar(
    sera: Sera,
    opener: Opener,
    merchant_id: str,
    *,
    staff_name: str,
    url: str,
    username: str,
    password: str,
    actor: str,
    event_detail: str = "service_first_name",
) -> CalendarView:
    """Check the account can read the calendar (raises ``CalendarAuthError``, ``CalendarError``,
    ``CalendarSetupError``), then save it for the staff member, replacing one they had."""
    if event_detail not in DETAILS:
        raise CalendarSetupError(f"event detail must be one of {', '.join(DETAILS)}")
    if not username.strip() or not password:
        raise CalendarSetupError("give the calendar's username and an app password")
    with sera.uow(merchant_id, readonly=True) as uow:
        staff = _staff(uow, staff_name)
    account = CalendarAccount(checked_url(sera, url), username.strip(), password)
    opener(account, sera.settings.calendar_timeout_seconds).check()  # before anything is saved
    with sera.uow(merchant_id) as uow:
        calendar = uow.session.execute(
            select(StaffCalendar).where(StaffCalendar.staff_id == staff.id)
        ).scalar_one_or_none()
        if calendar is not None and uow.vault.open(calendar, "url") != account.url:
            uow.session.delete(calendar)  # another calendar: its busy times and events are not this one's
            uow.session.flush()
            calendar = None
        if calendar is None:
            calendar = StaffCalendar(id=new_id("cal"), merchant_id=merchant_id, staff_id=staff.id)
            uow.session.add(calendar)
        uow.vault.seal(calendar, url=account.url, username=account.username, password=account.password)
        calendar.event_detail, calendar.status, calendar.last_error = event_detail, "connected", None
        calendar.updated_at = clock_of(uow.session)
        uow.session.flush()
        audit.record(
            uow.session,
            merchant_id=merchant_id,
            actor=actor,
            action="staff_calendar.connected",
            target_type="staff_member",
            target_id=staff.id,
            details={"host": urlsplit(account.url).hostname, "event_detail": event_detail},
        )
        view = _view(uow, calendar, staff.name)
        uow.commit()
    return view


def _calendar(uow: UnitOfWork, staff_id: str) -> StaffCalendar:
    found = uow.session.execute(select(StaffCalendar).where(StaffCalendar.staff_id == staff_id)).scalar_one_or_none()
    if found is None:
        raise CalendarNotFoundError(staff_id)
    return found


def disconnect_calendar(uow: UnitOfWork, staff_id: str, *, actor: str) -> None:
    """Forget the calendar, its cached busy times and which events Sera wrote (they stay in it)."""
    uow.session.delete(_calendar(uow, staff_id))
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action="staff_calendar.disconnected",
        target_type="staff_member",
        target_id=staff_id,
    )


def set_event_detail(uow: UnitOfWork, staff_id: str, detail: str, *, actor: str) -> None:
    """How much new and moved events say (those written before keep their words until moved)."""
    if detail not in DETAILS:
        raise CalendarSetupError(f"event detail must be one of {', '.join(DETAILS)}")
    calendar = _calendar(uow, staff_id)
    calendar.event_detail, calendar.updated_at = detail, clock_of(uow.session)
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action="staff_calendar.updated",
        target_type="staff_member",
        target_id=staff_id,
        details={"event_detail": detail},
    )


def list_calendars(uow: UnitOfWork) -> list[CalendarView]:
    found = uow.session.execute(
        select(StaffCalendar, StaffMember.name)
        .join(StaffMember, StaffMember.id == StaffCalendar.staff_id)
        .order_by(StaffMember.position, StaffMember.name)
    ).all()
    return [_view(uow, calendar, staff) for calendar, staff in found]
