"""Calls and messages: the list with filters, a call's transcript, tools and recording."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from sera.adapters.http import OutboundError
from sera.adapters.twilio import recordings as twilio_recordings
from sera.adapters.vapi import recordings as vapi_recordings
from sera.calls.browse import (
    CHANNELS,
    DIRECTIONS,
    SEARCH_DAYS,
    CallFilter,
    CallFilterError,
    CallNotFoundError,
    CallRow,
    RecordingNotFoundError,
    RecordingUnavailableError,
    call_detail,
    customer_matching,
    list_conversations,
    local_days,
    recording_to_play,
    search_transcripts,
)
from sera.calls.service import OUTCOMES
from sera.storage.paging import InvalidCursorError, Page, PageRequest
from sera.web.api.deps import SeraDep
from sera.web.dashboard.access import DashboardUser, PageNotFoundError, audit_read, requires
from sera.web.dashboard.render import render

router = APIRouter()
PAGE_SIZE = 50
OUTCOME_LABELS = {
    "booked": "Booked",
    "rescheduled": "Moved a booking",
    "cancelled": "Cancelled a booking",
    "order_status": "Order status",
    "knowledge": "Answered a question",
    "ticket": "Ticket opened",
    "transferred": "Transferred",
    "message": "Message taken",
    "opted_out": "Opted out",
    "privacy_request": "Privacy request",
    "abandoned": "No outcome",
}
assert set(OUTCOME_LABELS) == set(OUTCOMES)
CallsReader = Annotated[DashboardUser, Depends(requires("calls.read"))]
Player = Annotated[DashboardUser, Depends(requires("recordings.play"))]
Short = Annotated[str, Query(max_length=40)]


@dataclass(frozen=True)
class Form:
    """The filter form as the member filled it in (shown back as typed)."""

    since: str = ""
    until: str = ""
    channel: str = ""
    direction: str = ""
    outcome: str = ""
    customer: str = ""
    q: str = ""

    def query(self, **extra: str) -> str:
        values = {k: v for k, v in self.__dict__.items() if v} | {k: v for k, v in extra.items() if v}
        return urlencode(values)


def _day(text: str, what: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CallFilterError(f"the {what} date is not a date (year-month-day)") from None


@router.get("/calls")
def calls(
    request: Request,
    sera: SeraDep,
    user: CallsReader,
    since: Short = "",
    until: Short = "",
    channel: Short = "",
    direction: Short = "",
    outcome: Short = "",
    customer: Annotated[str, Query(max_length=120)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    form = Form(since, until, channel, direction, outcome, customer.strip(), " ".join(q.split()))
    zone = user.session.timezone
    page: Page[CallRow] = Page([], None)
    error, window, unknown_customer = None, None, False
    with sera.uow(user.merchant_id, readonly=True) as reader:
        try:
            starts, ends = local_days(_day(since, "start"), _day(until, "end"), ZoneInfo(zone))
            customer_id = customer_matching(reader, form.customer) if form.customer else None
            unknown_customer = bool(form.customer) and customer_id is None
            wanted = CallFilter(
                since=starts,
                until=ends,
                channel=channel or None,
                direction=direction or None,
                outcome=outcome or None,
                customer_id=customer_id,
            )
            paging = PageRequest(limit=PAGE_SIZE, cursor=cursor)
            if form.q and not unknown_customer:
                page, window = search_transcripts(reader, wanted, form.q, paging, now=reader.now())
            elif not unknown_customer:
                page = list_conversations(reader, wanted, paging)
        except CallFilterError as exc:
            error = str(exc)
        except InvalidCursorError:
            error = "that page link is no longer valid: start again from the first page"
    return render(
        request,
        "dashboard/calls.html",
        user=user,
        title="Calls and messages",
        zone=zone,
        partial="dashboard/_calls_rows.html",
        status_code=400 if error else 200,
        form=form,
        page=page,
        error=error,
        window=window,
        unknown_customer=unknown_customer,
        search_days=SEARCH_DAYS,
        channels=CHANNELS,
        directions=DIRECTIONS,
        outcomes=OUTCOME_LABELS,
    )


@router.get("/calls/{call_id}")
def call_page(request: Request, sera: SeraDep, user: CallsReader, call_id: str) -> Response:
    with sera.uow(user.merchant_id, readonly=True) as reader:
        try:
            detail = call_detail(reader, call_id[:64])
        except CallNotFoundError:
            raise PageNotFoundError(call_id) from None
    audit_read(sera, user, "call", [detail.row.id])
    channel = CHANNELS[detail.row.channel]
    return render(
        request,
        "dashboard/calls_detail.html",
        user=user,
        title=f"{channel} on {detail.row.started_at.astimezone(ZoneInfo(user.session.timezone)):%d %b %Y, %H:%M}",
        zone=user.session.timezone,
        call=detail,
        channels=CHANNELS,
        outcomes=OUTCOME_LABELS,
    )


# who streams a provider's recordings (the provider a call went through)
PLAYERS = {"twilio": twilio_recordings.open_recording, "vapi": vapi_recordings.open_recording}


@router.get("/calls/{call_id}/recording")
def recording(request: Request, sera: SeraDep, user: Player, call_id: str) -> Response:
    """The recording, streamed through Sera from the provider with the shop's credentials."""
    try:
        with sera.uow(user.merchant_id) as uow:
            ref = recording_to_play(uow, call_id[:64], actor=user.actor)
            uow.commit()
    except (CallNotFoundError, RecordingNotFoundError):
        raise PageNotFoundError(call_id) from None
    stack = ExitStack()
    try:
        if ref.provider not in PLAYERS:
            raise RecordingUnavailableError(ref.provider)
        audio = stack.enter_context(PLAYERS[ref.provider](sera, user.merchant_id, ref.reference))
    except (RecordingUnavailableError, OutboundError):
        stack.close()
        return render(
            request,
            "dashboard/error.html",
            user=user,
            title="Recording unavailable",
            message="The provider did not give us this recording: it may have been deleted there. Try again later.",
            status_code=502,
        )

    def body() -> Iterator[bytes]:
        try:
            yield from audio.chunks
        finally:
            stack.close()

    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    if audio.length is not None:
        headers["Content-Length"] = str(audio.length)
    return StreamingResponse(body(), media_type=audio.content_type, headers=headers)
