"""The read API for merchants' own systems (``/api/v1``). Thin: parse, call, map errors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Annotated, Generic, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query, Response
from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field, StrictBool

from sera import audit
from sera.access.api_keys import Principal
from sera.billing.usage import usage_report
from sera.booking.calendar import appointment_invite, feed_token
from sera.booking.service import (
    AppointmentNotFoundError,
    get_appointment,
    list_appointments,
)
from sera.calls.service import CallNotFoundError, get_call, list_calls
from sera.customers.phones import InvalidPhoneError, normalize_phone
from sera.customers.service import (
    CustomerNotFoundError,
    DoNotContactNotFoundError,
    correct_customer,
    find_customer,
    get_customer,
    list_customers,
    list_do_not_contact,
    record_consent,
    record_objection,
    withdraw_objection,
)
from sera.feedback.report import call_feedback, feedback_summary, list_feedback
from sera.feedback.settings import FeedbackSettingsError, feedback_settings, set_feedback_settings
from sera.outbound.report import list_actions, outbound_report
from sera.privacy.requests import Correction, complete_privacy_request
from sera.privacy.service import (
    PrivacyRequestError,
    PrivacyRequestNotFoundError,
    export_result,
    get_privacy_request,
    list_privacy_requests,
    record_privacy_request,
)
from sera.storage.paging import Page
from sera.support.service import TicketNotFoundError, get_ticket, list_tickets
from sera.web.api.deps import (
    AdminDep,
    PageDep,
    PrincipalDep,
    ReaderDep,
    SeraDep,
    invalid,
    read_page,
    require_offsets,
)
from sera.web.api.responses import content, errors, links
from sera.web.fields import ID_PATTERN, Day, IdPath, Instant, Line, Text

router = APIRouter(prefix="/api/v1", tags=["merchant API"], responses=errors(401))
T = TypeVar("T")


class _Out(BaseModel):
    """Response models read the capabilities' view dataclasses directly."""

    model_config = ConfigDict(from_attributes=True)


class Person(_Out):
    id: str
    name: str | None
    phone: str | None


class AppointmentOut(_Out):
    id: str
    service: str
    staff: str | None
    start: datetime
    end: datetime
    status: str
    customer: Person | None


class TicketOut(_Out):
    id: str
    subject: str
    description: str | None
    tags: list[str]
    status: str
    created_at: datetime
    customer: Person | None


class TranscriptLineOut(_Out):
    role: str
    text: str


class CallOut(_Out):
    id: str
    channel: str
    direction: str
    from_: str | None = Field(validation_alias=AliasChoices("from_number", "from_", "from"), serialization_alias="from")
    to: str | None = Field(validation_alias=AliasChoices("to_number", "to"))
    started_at: datetime
    ended_at: datetime | None
    duration_s: int | None
    outcome: str | None
    customer_id: str | None


class FeedbackOut(_Out):
    id: str
    score: int = Field(description="1 to 5, 5 the best")
    words: str | None = Field(description="what the customer wrote after the score")
    channel: str = Field(description="the conversation it was about: `voice` or `sms`")
    customer_id: str | None
    conversation_id: str | None
    call_id: str | None
    created_at: datetime


class CallDetailOut(CallOut):
    transcript: list[TranscriptLineOut]
    feedback: FeedbackOut | None = Field(default=None, description="the customer's answer to the feedback text")


class CustomerOut(_Out):
    id: str
    name: str | None
    phone: str | None
    email: str | None
    do_not_contact: bool
    created_at: datetime
    sources: dict[str, str] = Field(
        default_factory=dict, description='where each field came from, e.g. {"email": "agent:sms"}'
    )


class PrivacyRequestOut(_Out):
    id: str
    type: str
    status: str
    source: str
    received_at: datetime
    due_at: datetime
    completed_at: datetime | None


class ListOut(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None


def _audit_read(sera: SeraDep, principal: Principal, target_type: str, ids: Sequence[str]) -> None:
    """Every API read of personal data is in the audit log (ids only)."""
    with sera.uow(principal.merchant_id) as uow:
        audit.record_read(
            uow.session,
            merchant_id=principal.merchant_id,
            actor=principal.actor,
            action="api.read",
            target_type=target_type,
            ids=list(ids),
        )
        uow.commit()


def _read_one(sera: SeraDep, principal: Principal, target: str, load: Callable[[], T], missing: type[LookupError]) -> T:
    """One record by id: another shop's id (or none) is a 404, and the read is audited."""
    try:
        view = load()
    except missing:
        raise HTTPException(404, f"{target.replace('_', ' ')} not found") from None
    _audit_read(sera, principal, target, [getattr(view, "id", "")])
    return view


def _listing(
    sera: SeraDep, principal: Principal, target: str, load: Callable[[], Page[T]]
) -> tuple[list[T], str | None]:
    page = read_page(load)
    _audit_read(sera, principal, target, [getattr(item, "id", "") for item in page.items])
    return page.items, page.next_cursor


@router.get(
    "/appointments",
    response_model=ListOut[AppointmentOut],
    responses=links(
        200,
        "$response.body#/data/0/id",
        "get /api/v1/appointments/{appointment_id}",
        "get /api/v1/appointments/{appointment_id}/invite.ics",
    ),
)
def appointments(sera: SeraDep, principal: PrincipalDep, uow: ReaderDep, page: PageDep) -> ListOut[AppointmentOut]:
    items, cursor = _listing(sera, principal, "appointment", lambda: list_appointments(uow, page))
    return ListOut(data=[AppointmentOut.model_validate(v) for v in items], next_cursor=cursor)


@router.get("/appointments/{appointment_id}", responses=errors(404), response_model=AppointmentOut)
def appointment(sera: SeraDep, principal: PrincipalDep, uow: ReaderDep, appointment_id: IdPath) -> AppointmentOut:
    view = _read_one(
        sera, principal, "appointment", lambda: get_appointment(uow, appointment_id), AppointmentNotFoundError
    )
    return AppointmentOut.model_validate(view)


@router.get(
    "/appointments/{appointment_id}/invite.ics",
    response_class=Response,
    responses={**errors(404), **content(200, "text/calendar", "The appointment as an iCalendar invite")},
)
def appointment_invite_ics(sera: SeraDep, principal: PrincipalDep, uow: ReaderDep, appointment_id: IdPath) -> Response:
    """The appointment as a calendar invite, to send to the customer."""
    view = _read_one(
        sera, principal, "appointment", lambda: get_appointment(uow, appointment_id), AppointmentNotFoundError
    )
    return Response(appointment_invite(uow, view, sera.clock()), media_type="text/calendar; charset=utf-8")


class CalendarFeedOut(BaseModel):
    url: str
    merchant_id: str
    token: str = Field(description="the feed's secret (in the url): whoever has it can read the appointments")


@router.get(
    "/calendar-feed",
    response_model=CalendarFeedOut,
    responses={
        **errors(503),
        **links(
            200,
            {"merchant_id": "$response.body#/merchant_id", "token": "$response.body#/token"},
            "get /calendar/{merchant_id}/{token}.ics",
        ),
    },
)
def calendar_feed_url(sera: SeraDep, principal: PrincipalDep) -> CalendarFeedOut:
    """The shop's secret calendar-feed URL (subscribe to it from any calendar app)."""
    secret = sera.settings.secret_key.get_secret_value() if sera.settings.secret_key else ""
    if not secret:
        raise HTTPException(503, "SERA_SECRET_KEY is not configured")
    token = feed_token(secret, principal.merchant_id)
    url = f"{sera.settings.public_url.rstrip('/')}/calendar/{principal.merchant_id}/{token}.ics"
    return CalendarFeedOut(url=url, merchant_id=principal.merchant_id, token=token)


class UsageDayOut(BaseModel):
    day: date
    inbound_calls: int
    outbound_calls: int
    billed_minutes: int
    sms_segments_inbound: int
    sms_segments_outbound: int


class UsageOut(BaseModel):
    data: list[UsageDayOut]


@router.get("/usage", response_model=UsageOut)
def usage(
    uow: ReaderDep,
    since: Annotated[Day | None, Query(description="first day (YYYY-MM-DD, the shop's days)")] = None,
    until: Annotated[Day | None, Query(description="day after the last")] = None,
) -> UsageOut:
    """Per day: inbound and outbound calls, billed minutes (per call, rounded up), SMS segments."""
    return UsageOut(data=[UsageDayOut(day=d.day, **d.counts) for d in usage_report(uow, since, until)])


@router.get(
    "/tickets",
    response_model=ListOut[TicketOut],
    responses=links(200, "$response.body#/data/0/id", "get /api/v1/tickets/{ticket_id}"),
)
def tickets(sera: SeraDep, principal: PrincipalDep, uow: ReaderDep, page: PageDep) -> ListOut[TicketOut]:
    items, cursor = _listing(sera, principal, "ticket", lambda: list_tickets(uow, page))
    return ListOut(data=[TicketOut.model_validate(v) for v in items], next_cursor=cursor)


@router.get("/tickets/{ticket_id}", responses=errors(404), response_model=TicketOut)
def ticket(sera: SeraDep, principal: PrincipalDep, uow: ReaderDep, ticket_id: IdPath) -> TicketOut:
    view = _read_one(sera, principal, "ticket", lambda: get_ticket(uow, ticket_id), TicketNotFoundError)
    return TicketOut.model_validate(view)


@router.get(
    "/calls",
    response_model=ListOut[CallOut],
    response_model_by_alias=True,
    responses=links(200, "$response.body#/data/0/id", "get /api/v1/calls/{call_id}"),
)
def calls(sera: SeraDep, principal: PrincipalDep, uow: ReaderDep, page: PageDep) -> ListOut[CallOut]:
    items, cursor = _listing(sera, principal, "call", lambda: list_calls(uow, page))
    return ListOut(data=[CallOut.model_validate(v) for v in items], next_cursor=cursor)


@router.get("/calls/{call_id}", response_model=CallDetailOut, response_model_by_alias=True, responses=errors(404))
def call(sera: SeraDep, principal: PrincipalDep, uow: ReaderDep, call_id: IdPath) -> CallDetailOut:
    view = _read_one(sera, principal, "call", lambda: get_call(uow, call_id), CallNotFoundError)
    detail = CallDetailOut.model_validate(view)
    answer = call_feedback(uow, call_id)
    detail.feedback = FeedbackOut.model_validate(answer) if answer is not None else None
    return detail


@router.get(
    "/customers",
    response_model=ListOut[CustomerOut],
    responses=links(
        200,
        "$response.body#/data/0/id",
        "get /api/v1/customers/{customer_id}",
        "patch /api/v1/customers/{customer_id}",
        "post /api/v1/customers/{customer_id}/consents",
        "delete /api/v1/customers/{customer_id}",
    ),
)
def customers(
    sera: SeraDep,
    principal: PrincipalDep,
    uow: ReaderDep,
    page: PageDep,
    phone: Annotated[
        Line | None,
        Query(min_length=1, max_length=32, description="only this number's customers (E.164, or as written locally)"),
    ] = None,
) -> ListOut[CustomerOut]:
    try:
        items, cursor = _listing(sera, principal, "customer", lambda: list_customers(uow, page, phone=phone))
    except InvalidPhoneError:
        raise invalid("not a valid phone number", "query", "phone") from None
    return ListOut(data=[CustomerOut.model_validate(v) for v in items], next_cursor=cursor)


@router.get("/customers/{customer_id}", response_model=CustomerOut, responses=errors(404))
def customer(sera: SeraDep, principal: PrincipalDep, uow: ReaderDep, customer_id: IdPath) -> CustomerOut:
    view = _read_one(sera, principal, "customer", lambda: get_customer(uow, customer_id), CustomerNotFoundError)
    return CustomerOut.model_validate(view)


PRIVACY_REQUEST_OPERATIONS = (  # what a listed or newly recorded request links to
    "get /api/v1/privacy-requests/{request_id}",
    "post /api/v1/privacy-requests/{request_id}/complete",
    "get /api/v1/privacy-requests/{request_id}/export",
)


@router.get(
    "/privacy-requests",
    response_model=ListOut[PrivacyRequestOut],
    responses=links(
        200,
        "$response.body#/data/0/id",
        *PRIVACY_REQUEST_OPERATIONS,
    ),
)
def privacy_requests(
    sera: SeraDep, principal: PrincipalDep, uow: ReaderDep, page: PageDep
) -> ListOut[PrivacyRequestOut]:
    items, cursor = _listing(sera, principal, "privacy_request", lambda: list_privacy_requests(uow, page))
    return ListOut(data=[PrivacyRequestOut.model_validate(v) for v in items], next_cursor=cursor)


@router.get("/privacy-requests/{request_id}", responses=errors(404), response_model=PrivacyRequestOut)
def privacy_request(sera: SeraDep, principal: PrincipalDep, uow: ReaderDep, request_id: IdPath) -> PrivacyRequestOut:
    try:
        view = get_privacy_request(uow, request_id)
    except PrivacyRequestNotFoundError:
        raise HTTPException(404, "privacy request not found") from None
    return PrivacyRequestOut.model_validate(view)


# -- data-subject rights, with the merchant acting ------------------------------------------------


def _e164(value: str) -> str:
    try:
        return normalize_phone(value)
    except InvalidPhoneError:
        raise ValueError("not a valid phone number") from None


E164 = Annotated[Line, AfterValidator(_e164)]
"""A phone number, stored and compared as E.164: one that is not is a 422 naming the field."""


class PrivacyRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["access", "erasure", "correction", "objection"]
    customer_id: str | None = Field(default=None, pattern=ID_PATTERN)
    phone: E164 | None = Field(
        default=None, max_length=32, description="find the customer by phone (E.164)", examples=["+13125550142"]
    )
    email: Line | None = Field(default=None, max_length=254, description="or by email")
    details: Text | None = Field(default=None, max_length=4000)


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Line | None = Field(default=None, min_length=1, max_length=200)
    phone: E164 | None = Field(default=None, max_length=32, examples=["+13125550142"])
    email: Line | None = Field(default=None, max_length=254)


class CompleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    correction: CorrectionIn | None = None


class CompletedOut(BaseModel):
    id: str
    status: str
    result: str


@router.post(
    "/privacy-requests",
    response_model=PrivacyRequestOut,
    status_code=201,
    responses={
        **errors(400, 403, 404),
        **links(
            201,
            "$response.body#/id",
            *PRIVACY_REQUEST_OPERATIONS,
        ),
    },
)
def create_privacy_request(sera: SeraDep, principal: AdminDep, body: PrivacyRequestIn) -> PrivacyRequestOut:
    """Record a request a customer made to the shop; due in 48 hours."""
    with sera.uow(principal.merchant_id) as uow:
        customer_id = body.customer_id
        if customer_id is None and (body.phone or body.email):
            found = find_customer(uow, phone=body.phone, email=body.email)
            customer_id = found.id if found else None
        elif customer_id is not None:
            try:
                get_customer(uow, customer_id)
            except CustomerNotFoundError:
                raise HTTPException(404, "customer not found") from None
        request = record_privacy_request(
            uow,
            request_type=body.type,
            customer_id=customer_id,
            source="api",
            now=sera.clock(),
            actor=principal.actor,
            details=body.details,
        )
        uow.commit()
        return PrivacyRequestOut.model_validate(get_privacy_request(uow, request.id))


@router.post(
    "/privacy-requests/{request_id}/complete", response_model=CompletedOut, responses=errors(400, 403, 404, 409)
)
def complete_request(
    sera: SeraDep, principal: AdminDep, request_id: IdPath, body: CompleteIn | None = None
) -> CompletedOut:
    correction = Correction(**body.correction.model_dump()) if body and body.correction else None
    try:
        result = complete_privacy_request(
            sera, principal.merchant_id, request_id, actor=principal.actor, correction=correction
        )
    except PrivacyRequestNotFoundError:
        raise HTTPException(404, "privacy request not found") from None
    except PrivacyRequestError as exc:
        raise HTTPException(409, str(exc)) from None
    return CompletedOut(id=request_id, status="completed", result=result)


@router.get(
    "/privacy-requests/{request_id}/export",
    response_class=Response,
    responses={**errors(403, 404, 409), **content(200, "application/json", "Everything held on the customer")},
)
def privacy_export(sera: SeraDep, principal: AdminDep, request_id: IdPath) -> Response:
    """Everything held on the customer, as JSON, for the merchant to send them."""
    with sera.uow(principal.merchant_id) as uow:
        try:
            body = export_result(uow, request_id, actor=principal.actor)
        except PrivacyRequestNotFoundError:
            raise HTTPException(404, "privacy request not found") from None
        except PrivacyRequestError as exc:
            raise HTTPException(409, str(exc)) from None
        uow.commit()
    headers = {"Content-Disposition": f'attachment; filename="{request_id}.json"'}
    return Response(body, media_type="application/json", headers=headers)


@router.patch("/customers/{customer_id}", response_model=CustomerOut, responses=errors(400, 403, 404))
def correct(sera: SeraDep, principal: AdminDep, customer_id: IdPath, body: CorrectionIn) -> CustomerOut:
    """The right to rectification, with the merchant acting."""
    with sera.uow(principal.merchant_id) as uow:
        try:
            view = correct_customer(uow, customer_id, **body.model_dump())
        except CustomerNotFoundError:
            raise HTTPException(404, "customer not found") from None
        audit.record(
            uow.session,
            merchant_id=principal.merchant_id,
            actor=principal.actor,
            action="customer.corrected",
            target_type="customer",
            target_id=customer_id,
            details={"fields": sorted(k for k, v in body.model_dump().items() if v)},
        )
        uow.commit()
    return CustomerOut.model_validate(view)


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: Literal["sms", "voice", "email"]
    purpose: Literal["marketing", "transactional"]
    granted: StrictBool  # a consent is a yes or a no, never a 0 or a "false" read as one
    source: Line = Field(min_length=1, max_length=40, examples=["signed web form 2026-11-30"])


class ConsentOut(BaseModel):
    id: str
    customer_id: str
    channel: str
    purpose: str
    granted: bool
    source: str
    recorded_at: datetime


@router.post(
    "/customers/{customer_id}/consents", status_code=201, response_model=ConsentOut, responses=errors(400, 403, 404)
)
def consent(sera: SeraDep, principal: AdminDep, customer_id: IdPath, body: ConsentIn) -> ConsentOut:
    """Record a customer's consent, or its withdrawal (the latest record counts). Calls by Sera's
    AI voice need ``voice`` consent in writing: ``source`` says where it is kept."""
    with sera.uow(principal.merchant_id) as uow:
        try:
            view = record_consent(uow, customer_id, **body.model_dump(), actor=principal.actor, now=sera.clock())
        except CustomerNotFoundError:
            raise HTTPException(404, "customer not found") from None
        uow.commit()
    return ConsentOut.model_validate(view, from_attributes=True)


@router.delete("/customers/{customer_id}", status_code=204, response_class=Response, responses=errors(403, 404))
def erase(sera: SeraDep, principal: AdminDep, customer_id: IdPath) -> Response:
    """Erase a customer now (recorded as a completed erasure request)."""
    with sera.uow(principal.merchant_id) as uow:
        try:
            get_customer(uow, customer_id)
        except CustomerNotFoundError:
            raise HTTPException(404, "customer not found") from None
        request = record_privacy_request(
            uow, request_type="erasure", customer_id=customer_id, source="api", now=sera.clock(), actor=principal.actor
        )
        uow.commit()
    complete_privacy_request(sera, principal.merchant_id, request.id, actor=principal.actor)
    return Response(status_code=204)


# -- the do-not-contact list (the right to object) --------------------------------------------------


class DoNotContactOut(_Out):
    id: str
    phone: str | None = Field(
        description="E.164; null once the customer it belonged to is erased (the number stays blocked)"
    )
    source: str = Field(
        description="how it got on the list: `sms` (a STOP text), `agent:voice`, `agent:sms` or `agent:web` "
        "(asked Sera), `carrier` (the carrier reported an opt-out), `privacy_request` (an objection), `api`"
    )
    reason: str | None
    customer_id: str | None
    created_at: datetime


class DoNotContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: Line = Field(
        min_length=1, max_length=32, description="E.164, or as written in the shop's country", examples=["+13125550142"]
    )
    reason: Text | None = Field(default=None, max_length=500, description="why (kept sealed, like the number)")


@router.get(
    "/do-not-contact",
    response_model=ListOut[DoNotContactOut],
    responses=links(200, "$response.body#/data/0/id", "delete /api/v1/do-not-contact/{phone}"),
)
def do_not_contact(sera: SeraDep, principal: PrincipalDep, uow: ReaderDep, page: PageDep) -> ListOut[DoNotContactOut]:
    """Numbers Sera never calls or texts, customers or not, with how and when they were listed."""
    items, cursor = _listing(sera, principal, "do_not_contact", lambda: list_do_not_contact(uow, page))
    return ListOut(data=[DoNotContactOut.model_validate(v) for v in items], next_cursor=cursor)


@router.post(
    "/do-not-contact",
    response_model=DoNotContactOut,
    status_code=201,
    responses={
        200: {"model": DoNotContactOut, "description": "Already on the list: nothing changed"},
        **errors(400, 403),
        **links(201, "$response.body#/id", "delete /api/v1/do-not-contact/{phone}"),
    },
)
def add_to_do_not_contact(
    sera: SeraDep, principal: AdminDep, body: DoNotContactIn, response: Response
) -> DoNotContactOut:
    """Put a number on the list (201), or confirm it is there (200)."""
    with sera.uow(principal.merchant_id) as uow:
        try:
            objection = record_objection(
                uow, body.phone, source="api", reason=body.reason, actor=principal.actor, now=sera.clock()
            )
        except InvalidPhoneError:
            raise invalid("not a valid phone number", "body", "phone") from None
        uow.commit()
    if not objection.created:
        response.status_code = 200
    return DoNotContactOut.model_validate(objection.entry)


@router.delete("/do-not-contact/{phone}", status_code=204, response_class=Response, responses=errors(403, 404))
def remove_from_do_not_contact(
    sera: SeraDep, principal: AdminDep, phone: Annotated[Line, Path(max_length=64)]
) -> Response:
    """Take a number off the list (the number, or the entry's id to keep numbers out of URLs)."""
    with sera.uow(principal.merchant_id) as uow:
        try:
            withdraw_objection(uow, phone, actor=principal.actor)
        except InvalidPhoneError:
            raise invalid("not a valid phone number", "path", "phone") from None
        except DoNotContactNotFoundError:
            raise HTTPException(404, "not on the do-not-contact list") from None
        uow.commit()
    return Response(status_code=204)


# -- outbound engagement --------------------------------------------------------------------------


class RecoveredOut(_Out):
    action_id: str
    checkout_id: str
    amount_cents: int
    currency: str
    completed_at: datetime


class OutboundReportOut(_Out):
    sends: int
    sends_by_kind: dict[str, int]
    replies: int
    recoveries: int
    revenue: dict[str, int] = Field(description="recovered revenue in cents, per currency")
    skips: dict[str, int] = Field(description="skipped messages by reason")
    failures: int
    pending: int
    recovered: list[RecoveredOut] = Field(description="each recovered checkout and the message it is credited to")


class OutboundActionOut(_Out):
    id: str
    kind: str
    channel: str
    status: str
    reason: str | None
    attempt: int
    customer_id: str | None
    subject_id: str | None
    provider_ref: str | None
    due_at: datetime
    sent_at: datetime | None
    created_at: datetime
    updated_at: datetime


@router.get("/outbound", response_model=OutboundReportOut)
def outbound(
    uow: ReaderDep,
    since: Annotated[Instant | None, Query(description="ISO 8601 with offset, inclusive")] = None,
    until: Annotated[Instant | None, Query(description="ISO 8601 with offset, exclusive")] = None,
) -> OutboundReportOut:
    """Sends and replies (by send time), recoveries and their revenue (by order time), skips by reason."""
    require_offsets(since=since, until=until)
    return OutboundReportOut.model_validate(outbound_report(uow, since, until))


@router.get("/outbound/actions", response_model=ListOut[OutboundActionOut], responses=errors(404))
def outbound_actions(
    sera: SeraDep,
    principal: PrincipalDep,
    uow: ReaderDep,
    page: PageDep,
    customer_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="one customer's history")] = None,
) -> ListOut[OutboundActionOut]:
    """Every intended message with its status and reason (sent, deferred, skipped and why), newest first."""
    if customer_id is not None:
        try:
            get_customer(uow, customer_id)
        except CustomerNotFoundError:
            raise HTTPException(404, "customer not found") from None
    items, cursor = _listing(sera, principal, "outbound_action", lambda: list_actions(uow, page, customer_id))
    return ListOut(data=[OutboundActionOut.model_validate(v) for v in items], next_cursor=cursor)


# -- customer feedback ----------------------------------------------------------------------------


class FeedbackSummaryOut(_Out):
    count: int
    average: float | None = Field(description="the average score, none when nobody answered")
    by_score: dict[int, int] = Field(description="how many gave each score from 1 to 5")


class FeedbackSettingsOut(_Out):
    enabled: bool
    wording: str | None = Field(description="the question sent; none: the default")
    question: str = Field(description="the question as it is sent")
    enabled_at: datetime | None


class FeedbackSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: StrictBool
    wording: Line | None = Field(
        default=None,
        max_length=160,
        description="one text message that says how to answer and how to opt out; none: the default",
        examples=["How did we do today? Reply 1-5 (5 = great). Reply STOP to opt out."],
    )


@router.get(
    "/feedback",
    response_model=ListOut[FeedbackOut],
    responses=links(200, "$response.body#/data/0/call_id", "get /api/v1/calls/{call_id}"),
)
def feedback(sera: SeraDep, principal: PrincipalDep, uow: ReaderDep, page: PageDep) -> ListOut[FeedbackOut]:
    """Customers' answers to the feedback text (score and words), newest first."""
    items, cursor = _listing(sera, principal, "feedback", lambda: list_feedback(uow, page))
    return ListOut(data=[FeedbackOut.model_validate(v) for v in items], next_cursor=cursor)


@router.get("/feedback/summary", response_model=FeedbackSummaryOut, responses=errors(400))
def feedback_totals(
    uow: ReaderDep,
    since: Annotated[Instant, Query(description="ISO 8601 with offset, inclusive")],
    until: Annotated[Instant, Query(description="ISO 8601 with offset, exclusive")],
) -> FeedbackSummaryOut:
    """How many answered, the average score and how many gave each score, by when they answered."""
    require_offsets(since=since, until=until)
    return FeedbackSummaryOut.model_validate(feedback_summary(uow, since, until))


@router.get("/feedback/settings", response_model=FeedbackSettingsOut)
def feedback_settings_read(uow: ReaderDep) -> FeedbackSettingsOut:
    """Whether the shop texts customers "How did we do?" after a call or text conversation."""
    return FeedbackSettingsOut.model_validate(feedback_settings(uow))


@router.put("/feedback/settings", response_model=FeedbackSettingsOut, responses=errors(400, 403))
def feedback_settings_write(sera: SeraDep, principal: AdminDep, body: FeedbackSettingsIn) -> FeedbackSettingsOut:
    """Turn the feedback text on or off, and set its wording (admin keys)."""
    with sera.uow(principal.merchant_id) as uow:
        try:
            config = set_feedback_settings(
                uow, enabled=body.enabled, wording=body.wording, actor=principal.actor, now=sera.clock()
            )
        except FeedbackSettingsError as exc:
            raise invalid(str(exc), "body", "wording") from None
        uow.commit()
    return FeedbackSettingsOut.model_validate(config)


# the weekly report and the unanswered questions (their routes live beside their models)
from sera.web.api.reports import router as reports_router  # noqa: E402

router.include_router(reports_router)
