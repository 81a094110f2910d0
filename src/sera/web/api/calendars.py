"""The merchant API's staff calendars (``/api/v1/staff-calendars``, ``/api/v1/staff/{id}/calendar``).

Thin: parse, call ``sera.calendars.connections``, map errors. Admin keys only; the URL's path,
the username and the app password go in and are never given back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field

from sera.adapters.caldav.wiring import opener
from sera.booking.service import load_schedule
from sera.calendars.busy import refresh
from sera.calendars.connections import (
    CalendarNotFoundError,
    CalendarSetupError,
    connect_calendar,
    disconnect_calendar,
    list_calendars,
)
from sera.calendars.ports import CalendarError
from sera.web.api.deps import AdminDep, ReaderDep, SeraDep
from sera.web.api.responses import errors
from sera.web.fields import IdPath

router = APIRouter(prefix="/api/v1", tags=["calendars"], responses=errors(401))


class CalendarIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    url: str = Field(min_length=1, max_length=2000, description="the calendar's own CalDAV URL (https)")
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=200, description="an app password, never the account's own")
    event_detail: Literal["service_first_name", "service", "busy"] = Field(
        default="service_first_name", description="what Sera's events say: the service and first name, less, or Busy"
    )


class CalendarOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    staff_id: str
    staff: str
    host: str = Field(description="the calendar server (the URL's path is not shown)")
    event_detail: str
    status: str = Field(description="`connected`, or `error` (the last read failed: see last_error)")
    last_error: str | None
    refreshed_at: datetime | None = Field(description="when its busy times were last read")


class CalendarListOut(BaseModel):
    data: list[CalendarOut]


@router.get("/staff-calendars", response_model=CalendarListOut, responses=errors(403))
def staff_calendars(principal: AdminDep, uow: ReaderDep) -> CalendarListOut:
    """Every staff member's connected calendar: where, its state, when it was last read."""
    return CalendarListOut(data=[CalendarOut.model_validate(view) for view in list_calendars(uow)])


def _staff_name(uow: ReaderDep, staff_id: str) -> str:
    found = next((s.name for s in load_schedule(uow).staff if s.id and s.id == staff_id), None)
    if found is None:
        raise HTTPException(404, "no such staff member")
    return found


@router.put("/staff/{staff_id}/calendar", response_model=CalendarOut, responses=errors(400, 403, 404))
def connect_staff_calendar(
    sera: SeraDep, principal: AdminDep, uow: ReaderDep, staff_id: IdPath, body: CalendarIn
) -> CalendarOut:
    """Connect the staff member's calendar: the credentials are checked against the server
    first (a 400 says what it answered, or that it did not), then kept sealed, and its busy
    times read."""
    name = _staff_name(uow, staff_id)
    try:
        view = connect_calendar(
            sera,
            opener,
            principal.merchant_id,
            staff_name=name,
            url=body.url,
            username=body.username,
            password=body.password,
            actor=principal.actor,
            event_detail=body.event_detail,
        )
    except (CalendarError, CalendarSetupError) as exc:  # a server that does not answer included: not saved
        raise HTTPException(400, str(exc)) from None
    refresh(sera, opener, view.id)
    with sera.uow(principal.merchant_id, readonly=True) as reader:
        found = next(v for v in list_calendars(reader) if v.id == view.id)
    return CalendarOut.model_validate(found)


@router.delete("/staff/{staff_id}/calendar", status_code=204, response_class=Response, responses=errors(403, 404))
def disconnect_staff_calendar(sera: SeraDep, principal: AdminDep, staff_id: IdPath) -> Response:
    """Forget the calendar and its cached busy times (Sera's events already in it stay)."""
    with sera.uow(principal.merchant_id) as uow:
        try:
            disconnect_calendar(uow, staff_id, actor=principal.actor)
        except CalendarNotFoundError:
            raise HTTPException(404, "that staff member has no calendar connected") from None
        uow.commit()
    return Response(status_code=204)
