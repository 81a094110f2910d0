"""Calls and text conversations as the dashboard lists and opens them: filters, a bounded
search in transcripts, a call's page, and the audited play of its recording.

Every conversation, whatever its channel (a phone call, an SMS thread, a web chat), has a
call record; the list is of those. A transcript is sealed, so searching it means opening it:
the search opens the transcripts of a bounded window only (``SEARCH_DAYS`` at most), in
memory, and keeps nothing it read; no index of words, no plaintext, is ever written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from sera import audit
from sera.calls.service import OUTCOMES, TranscriptLine, read_transcript
from sera.customers.service import PersonRef, find_customer, person_refs, shop_phone
from sera.storage.database import UnitOfWork
from sera.storage.models import Call, Conversation, Transcript
from sera.storage.paging import AnySelect, Page, PageRequest, decode_cursor, encode_cursor, keyset, page_of

CHANNELS = {"voice": "Phone", "vapi": "Phone (Vapi)", "sms": "Text", "web": "Web chat"}
DIRECTIONS = ("inbound", "outbound")
SEARCH_DAYS = 31
SEARCH_BATCH = 200
_CUSTOMER_ID = re.compile(r"cus_[A-Za-z0-9_-]{1,60}")


class CallFilterError(ValueError):
    pass


class CallNotFoundError(LookupError):
    pass


class RecordingNotFoundError(LookupError):
    pass


@dataclass(frozen=True)
class CallFilter:
    """What the list shows: [since, until) in UTC, and exact matches on the rest."""

    since: datetime | None = None
    until: datetime | None = None
    channel: str | None = None  # a key of CHANNELS
    direction: str | None = None
    outcome: str | None = None
    customer_id: str | None = None

    def __post_init__(self) -> None:
        if self.channel is not None and self.channel not in CHANNELS:
            raise CallFilterError("choose a channel from the list")
        if self.direction is not None and self.direction not in DIRECTIONS:
            raise CallFilterError("choose a direction from the list")
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise CallFilterError("choose an outcome from the list")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise CallFilterError("the end date is before the start date")


def local_days(since: date | None, until: date | None, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """The shop's local days ``since`` to ``until``, both included, as UTC bounds."""
    starts = datetime.combine(since, time(), zone) if since else None
    ends = datetime.combine(until + timedelta(days=1), time(), zone) if until else None
    return starts, ends


def customer_matching(uow: UnitOfWork, text: str) -> str | None:
    """The customer a filter names: by id, email or phone number (blind-index lookups, so no
    name search: names are sealed). None when nobody matches."""
    text = text.strip()
    if not text:
        return None
    if _CUSTOMER_ID.fullmatch(text):
        return text
    if "@" in text:
        found = find_customer(uow, email=text.lower())
    else:
        try:
            found = find_customer(uow, phone=shop_phone(uow, text))
        except ValueError:
            return None
    return found.id if found is not None else None


@dataclass(frozen=True)
class CallRow:
    id: str
    channel: str  # a key of CHANNELS
    direction: str
    started_at: datetime
    duration_s: int | None
    outcome: str | None
    customer: PersonRef | None
    other_party: str | None  # the caller's number (the called one for an outbound call)


def _channel_key(call: Call) -> str:
    return "vapi" if call.provider == "vapi" else call.channel


def _filtered(stmt: AnySelect, wanted: CallFilter) -> AnySelect:
    if wanted.channel == "vapi":
        stmt = stmt.where(Call.provider == "vapi")
    elif wanted.channel == "voice":
        stmt = stmt.where(Call.channel == "voice", Call.provider != "vapi")
    elif wanted.channel is not None:
        stmt = stmt.where(Call.channel == wanted.channel)
    if wanted.direction is not None:
        stmt = stmt.where(Call.direction == wanted.direction)
    if wanted.outcome is not None:
        stmt = stmt.where(Call.outcome == wanted.outcome)
    if wanted.customer_id is not None:
        stmt = stmt.where(Call.customer_id == wanted.customer_id)
    return stmt


def _rows(uow: UnitOfWork, calls: list[Call]) -> list[CallRow]:
    people = person_refs(uow, [c.customer_id for c in calls])
    rows = []
    for call in calls:
        side = "to_number" if call.direction == "outbound" else "from_number"
        rows.append(
            CallRow(
                id=call.id,
                channel=_channel_key(call),
                direction=call.direction,
                started_at=call.started_at,
                duration_s=call.duration_s,
                outcome=call.outcome,
                customer=people.get(call.customer_id) if call.customer_id else None,
                other_party=uow.vault.open(call, side),
            )
        )
    return rows


def list_conversations(uow: UnitOfWork, wanted: CallFilter, request: PageRequest) -> Page[CallRow]:
    """Calls and conversations, newest first, as the filter says."""
    bounded = PageRequest(limit=request.limit, cursor=request.cursor, since=wanted.since, until=wanted.until)
    stmt = keyset(_filtered(select(Call), wanted), Call.started_at, Call.id, bounded)
    calls = uow.session.execute(stmt).scalars().all()
    kept, cursor = page_of(calls, bounded, lambda c: (c.started_at, c.id))
    return Page(_rows(uow, kept), cursor)


@dataclass(frozen=True)
class SearchWindow:
    since: datetime
    until: datetime

    @property
    def days(self) -> int:
        return max(1, round((self.until - self.since).total_seconds() / 86400))


def search_window(wanted: CallFilter, now: datetime) -> SearchWindow:
    """The filter's dates, cut to the last ``SEARCH_DAYS`` days of them (ending now without an end)."""
    until = min(wanted.until or now, now)
    since = max(wanted.since or until - timedelta(days=SEARCH_DAYS), until - timedelta(days=SEARCH_DAYS))
    return SearchWindow(since, max(since, until))


def search_transcripts(
    uow: UnitOfWork, wanted: CallFilter, words: str, request: PageRequest, *, now: datetime
) -> tuple[Page[CallRow], SearchWindow]:
    """The filter's conversations in the search window whose transcript holds ``words`` (any
    case), newest first. Each transcript is opened in memory and dropped; nothing is stored."""
    needle = " ".join(words.split()).casefold()
    win = search_window(wanted, now)
    limit = max(1, min(request.limit, 200))
    found: list[Call] = []
    scan_cursor = request.cursor
    if scan_cursor:
        decode_cursor(scan_cursor)  # a bad cursor is refused before anything is opened
    while len(found) <= limit:
        scan = PageRequest(limit=SEARCH_BATCH, cursor=scan_cursor, since=win.since, until=win.until)
        joined = select(Call, Transcript).join(Transcript, Transcript.call_id == Call.id)
        batch = uow.session.execute(keyset(_filtered(joined, wanted), Call.started_at, Call.id, scan)).all()
        rows = batch[:SEARCH_BATCH]
        if uow.merchant_id:
            uow.vault.prefetch(uow.merchant_id, [transcript.customer_id for _, transcript in rows])
        for call, transcript in rows:
            if any(needle in " ".join(line.text.split()).casefold() for line in read_transcript(uow, transcript)):
                found.append(call)
                if len(found) > limit:
                    break
        if len(batch) <= SEARCH_BATCH:
            break
        scan_cursor = encode_cursor(rows[-1][0].started_at, rows[-1][0].id)
    kept, next_cursor = page_of(found, PageRequest(limit=limit), lambda c: (c.started_at, c.id))
    return Page(_rows(uow, kept), next_cursor), win


@dataclass(frozen=True)
class ToolUse:
    tool: str
    at: datetime | None
    outcome: str | None
    waiting: bool  # it asked for the caller's yes first, and did nothing yet
    result: str


@dataclass(frozen=True)
class CallDetail:
    row: CallRow
    ended_at: datetime | None
    ended_reason: str | None
    provider: str
    transcript: list[TranscriptLine]
    tools: list[ToolUse]
    summary: str | None
    has_recording: bool


def _tools_used(uow: UnitOfWork, call: Call) -> list[ToolUse]:
    conversation = uow.session.execute(
        select(Conversation).where(Conversation.call_id == call.id).limit(1)
    ).scalar_one_or_none()
    if conversation is None:
        return []
    state: dict[str, Any] = json.loads(uow.vault.open(conversation, "state") or "{}")
    used = []
    for item in state.get("tools_used", []):
        try:
            at = datetime.fromisoformat(str(item.get("at")))
        except ValueError:
            at = None
        used.append(
            ToolUse(
                tool=str(item.get("tool", "")),
                at=at,
                outcome=item.get("outcome"),
                waiting=bool(item.get("waiting")),
                result=str(item.get("result", "")),
            )
        )
    return used


def _call(uow: UnitOfWork, call_id: str) -> Call:
    call = uow.session.execute(select(Call).where(Call.id == call_id)).scalar_one_or_none()
    if call is None:
        raise CallNotFoundError(call_id)
    return call


def call_detail(uow: UnitOfWork, call_id: str) -> CallDetail:
    """A call (or conversation) of this shop, with its transcript and the tools the agent used."""
    call = _call(uow, call_id)
    transcript = uow.session.execute(select(Transcript).where(Transcript.call_id == call.id)).scalar_one_or_none()
    return CallDetail(
        row=_rows(uow, [call])[0],
        ended_at=call.ended_at,
        ended_reason=call.ended_reason,
        provider=call.provider,
        transcript=read_transcript(uow, transcript) if transcript is not None else [],
        tools=_tools_used(uow, call),
        summary=uow.vault.open(call, "summary"),
        has_recording=call.recording_url is not None,
    )


class RecordingUnavailableError(LookupError):
    """The provider cannot be asked for this recording: no credentials for the account that
    holds it, a reference Sera did not make, or a provider whose recordings Sera cannot fetch."""


@dataclass(frozen=True)
class Audio:
    """A recording as its provider streams it."""

    content_type: str
    length: int | None
    chunks: Iterator[bytes]


@dataclass(frozen=True)
class RecordingRef:
    call_id: str
    provider: str
    reference: str  # where the provider keeps it: personal data, never shown or logged


def recording_to_play(uow: UnitOfWork, call_id: str, *, actor: str) -> RecordingRef:
    """Where the call's recording is, for one play; the play is audited (ids only)."""
    call = _call(uow, call_id)
    reference = uow.vault.open(call, "recording_url")
    if not reference:
        raise RecordingNotFoundError(call_id)
    audit.record(
        uow.session,
        merchant_id=call.merchant_id,
        actor=actor,
        action="recording_played",
        target_type="call",
        target_id=call.id,
        details={"provider": call.provider},
    )
    return RecordingRef(call.id, call.provider, reference)
