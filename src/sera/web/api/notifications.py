"""The merchant API's notifications: who at the shop is told of what
(``/api/v1/notification-contacts``), the notification log, and the mail log.

Thin: parse, call ``sera.notifications`` or ``sera.mail``, map errors. Contacts hold the
team's own addresses and numbers: admin keys only. The logs hold ids and statuses: any key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from sera.mail.service import MailError, list_mail
from sera.notifications.service import (
    EVENTS,
    ContactError,
    ContactInput,
    ContactNotFoundError,
    add_contact,
    get_contact,
    list_contacts,
    list_notifications,
    remove_contact,
    update_contact,
)
from sera.web.api.deps import AdminDep, PageDep, PrincipalDep, ReaderDep, SeraDep, invalid, read_page
from sera.web.api.responses import errors
from sera.web.api.v1 import ListOut
from sera.web.fields import IdPath

router = APIRouter(prefix="/api/v1", tags=["notifications"], responses=errors(401))

Channel = Literal["email", "sms"]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$"), Field(examples=["21:00"])]
Events = Annotated[
    dict[str, Annotated[list[Channel], Field(max_length=2)]],
    Field(max_length=len(EVENTS), description=f"event -> channels; events: {', '.join(EVENTS)}"),
]


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: Annotated[str, Field(max_length=120)] | None = None
    email: Annotated[str, Field(max_length=254, examples=["dana@northside.example"])] | None = None
    phone: Annotated[str, Field(max_length=20, examples=["+13125550123"])] | None = None
    events: Events
    quiet_start: ClockTime | None = Field(default=None, description="no texts from this time (shop's time zone)")
    quiet_end: ClockTime | None = Field(default=None, description="until this time")


class ContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str | None
    email: str | None
    phone: str | None
    events: dict[str, list[str]]
    quiet_start: str | None
    quiet_end: str | None
    created_at: datetime


class EventOut(BaseModel):
    event: str
    description: str


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    event: str
    channel: str
    contact_id: str | None = Field(description="`owner` when the shop's own email was told")
    status: str = Field(description="`pending`, `sent`, `failed` or `erased` (an email's is its mail's)")
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class MailOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    template: str
    recipients: int
    status: str = Field(description="`pending`, `sent`, `failed` (refused, or three days undeliverable), `erased`")
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


def _given(body: ContactIn) -> ContactInput:
    events: dict[str, list[str]] = {event: [str(c) for c in channels] for event, channels in body.events.items()}
    return ContactInput(body.name, body.email, body.phone, events, body.quiet_start, body.quiet_end)


@router.get("/notification-events", response_model=list[EventOut])
def events(principal: PrincipalDep) -> list[EventOut]:
    """What a contact can be told of."""
    return [EventOut(event=name, description=text) for name, text in EVENTS.items()]


@router.post("/notification-contacts", status_code=201, response_model=ContactOut, responses=errors(400, 403))
def create(sera: SeraDep, principal: AdminDep, body: ContactIn) -> ContactOut:
    """Someone to tell, per event, by email or SMS. A shop with no contacts tells its own email."""
    with sera.uow(principal.merchant_id) as uow:
        try:
            view = add_contact(uow, _given(body), actor=principal.actor)
        except (ContactError, MailError) as exc:
            raise invalid(str(exc), "body") from None
        uow.commit()
    return ContactOut.model_validate(view)


@router.get("/notification-contacts", response_model=list[ContactOut], responses=errors(403))
def contacts(principal: AdminDep, uow: ReaderDep) -> list[ContactOut]:
    return [ContactOut.model_validate(v) for v in list_contacts(uow)]


@router.get("/notification-contacts/{contact_id}", response_model=ContactOut, responses=errors(403, 404))
def contact(principal: AdminDep, uow: ReaderDep, contact_id: IdPath) -> ContactOut:
    try:
        return ContactOut.model_validate(get_contact(uow, contact_id))
    except ContactNotFoundError:
        raise HTTPException(404, "contact not found") from None


@router.put("/notification-contacts/{contact_id}", response_model=ContactOut, responses=errors(400, 403, 404))
def replace(sera: SeraDep, principal: AdminDep, contact_id: IdPath, body: ContactIn) -> ContactOut:
    with sera.uow(principal.merchant_id) as uow:
        try:
            view = update_contact(uow, contact_id, _given(body), actor=principal.actor, now=sera.clock())
        except ContactNotFoundError:
            raise HTTPException(404, "contact not found") from None
        except (ContactError, MailError) as exc:
            raise invalid(str(exc), "body") from None
        uow.commit()
    return ContactOut.model_validate(view)


@router.delete(
    "/notification-contacts/{contact_id}", status_code=204, response_class=Response, responses=errors(403, 404)
)
def remove(sera: SeraDep, principal: AdminDep, contact_id: IdPath) -> Response:
    with sera.uow(principal.merchant_id) as uow:
        try:
            remove_contact(uow, contact_id, actor=principal.actor)
        except ContactNotFoundError:
            raise HTTPException(404, "contact not found") from None
        uow.commit()
    return Response(status_code=204)


@router.get("/notifications", response_model=ListOut[NotificationOut])
def notifications(uow: ReaderDep, page: PageDep) -> ListOut[NotificationOut]:
    """The notification log, oldest first: each event, who was told how, and whether it went."""
    found = read_page(lambda: list_notifications(uow, page))
    return ListOut(data=[NotificationOut.model_validate(v) for v in found.items], next_cursor=found.next_cursor)


@router.get("/mail", response_model=ListOut[MailOut])
def mail(uow: ReaderDep, page: PageDep) -> ListOut[MailOut]:
    """Every email Sera queued for the business, oldest first (bodies are not kept once sent)."""
    found = read_page(lambda: list_mail(uow, page))
    return ListOut(data=[MailOut.model_validate(v) for v in found.items], next_cursor=found.next_cursor)
