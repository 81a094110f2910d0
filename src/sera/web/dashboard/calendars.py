"""Staff calendars: connect each staff member's own calendar (CalDAV), check it now, see when
it was last read and what went wrong, disconnect it. The services of ``sera calendar``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from sera.adapters.caldav.wiring import opener
from sera.booking.service import load_schedule
from sera.bootstrap import Sera
from sera.calendars.busy import refresh
from sera.calendars.connections import (
    DETAILS,
    CalendarNotFoundError,
    CalendarSetupError,
    connect_calendar,
    disconnect_calendar,
    list_calendars,
)
from sera.calendars.ports import CalendarError
from sera.web.api.deps import SeraDep
from sera.web.dashboard.access import PREFIX, DashboardUser, PageNotFoundError, requires
from sera.web.dashboard.render import render

router = APIRouter()
Manager = Annotated[DashboardUser, Depends(requires("calendars.manage"))]
StaffId = Annotated[str, Path(max_length=64)]
NOTICES = {
    "connected": "Calendar connected: its busy times now block the agent's offers.",
    "refreshed": "Calendar read again.",
    "error": "The calendar could not be read: its last busy times still count (see its error).",
    "disconnected": "Calendar disconnected: Sera's events already in it stay there.",
}


def _page(request: Request, sera: Sera, user: DashboardUser, *, status_code: int = 200, **context: Any) -> Response:
    with sera.uow(user.merchant_id, readonly=True) as reader:
        staff = [s for s in load_schedule(reader).staff if s.id]
        calendars = {c.staff_id: c for c in list_calendars(reader)}
    return render(
        request,
        "dashboard/calendars.html",
        user=user,
        title="Staff calendars",
        zone=user.session.timezone,
        staff=staff,
        calendars=calendars,
        details=DETAILS,
        notice=NOTICES.get(request.query_params.get("done", "")),
        status_code=status_code,
        **context,
    )


def _staff_name(sera: Sera, user: DashboardUser, staff_id: str) -> str:
    with sera.uow(user.merchant_id, readonly=True) as reader:
        found = next((s.name for s in load_schedule(reader).staff if s.id and s.id == staff_id), None)
    if found is None:
        raise PageNotFoundError
    return found


def _done(done: str) -> Response:
    return RedirectResponse(f"{PREFIX}/calendars?done={done}", status_code=303)


@router.get("/calendars")
def calendars_page(request: Request, sera: SeraDep, user: Manager) -> Response:
    return _page(request, sera, user)


@router.post("/calendars/{staff_id}/connect")
def connect(
    request: Request,
    sera: SeraDep,
    user: Manager,
    staff_id: StaffId,
    url: Annotated[str, Form(max_length=2000)] = "",
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    detail: Annotated[str, Form(max_length=30)] = "service_first_name",
) -> Response:
    name = _staff_name(sera, user, staff_id)
    if not url.strip():
        return _page(request, sera, user, status_code=422, error_for=staff_id, error="Give the calendar's URL.")
    try:
        view = connect_calendar(
            sera,
            opener,
            user.merchant_id,
            staff_name=name,
            url=url,
            username=username,
            password=password,
            actor=user.actor,
            event_detail=detail,
        )
    except (CalendarError, CalendarSetupError) as exc:
        error = f"Not connected: {exc}."
        return _page(request, sera, user, status_code=422, error_for=staff_id, error=error, url=url, username=username)
    return _done("connected" if refresh(sera, opener, view.id) == "refreshed" else "error")


@router.post("/calendars/{staff_id}/refresh")
def check_now(sera: SeraDep, user: Manager, staff_id: StaffId) -> Response:
    with sera.uow(user.merchant_id, readonly=True) as reader:
        found = next((c for c in list_calendars(reader) if c.staff_id == staff_id), None)
    if found is None:
        raise PageNotFoundError
    return _done("refreshed" if refresh(sera, opener, found.id) == "refreshed" else "error")


@router.post("/calendars/{staff_id}/disconnect")
def disconnect(sera: SeraDep, user: Manager, staff_id: StaffId) -> Response:
    try:
        with sera.uow(user.merchant_id) as uow:
            disconnect_calendar(uow, staff_id, actor=user.actor)
            uow.commit()
    except CalendarNotFoundError:
        raise PageNotFoundError from None
    return _done("disconnected")
