"""Calls and conversations: the record of each call, its transcript and messages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select

from sera.integrations.events import emit
from sera.storage.database import MERCHANT, UnitOfWork, prescoped
from sera.storage.models import Call, Transcript, new_id
from sera.storage.paging import Page, PageRequest, keyset, page_of

OUTCOMES = (
    "booked",
    "rescheduled",
    "cancelled",
    "order_status",
    "knowledge",
    "ticket",
    "transferred",
    "message",  # a message was taken for the team (instead of a transfer)
    "opted_out",
    "privacy_request",
    "abandoned",
)


class CallNotFoundError(LookupError):
    pass


@dataclass(frozen=True)
class TranscriptLine:
    role: str  # agent | caller
    text: str


@dataclass(frozen=True)
class CallView:
    id: str
    channel: str
    direction: str
    from_number: str | None
    to_number: str | None
    started_at: datetime
    ended_at: datetime | None
    duration_s: int | None
    outcome: str | None
    customer_id: str | None
    transcript: list[TranscriptLine] | None = None


def start_call(
    uow: UnitOfWork,
    *,
    channel: str,
    direction: str,
    provider: str,
    from_number: str | None,
    to_number: str | None,
    started_at: datetime,
    customer_id: str | None = None,
    provider_call_id: str | None = None,
) -> Call:
    if uow.merchant_id is None:
        raise RuntimeError("calls need a merchant-scoped unit of work")
    call = Call(
        id=new_id("call"),
        merchant_id=uow.merchant_id,
        customer_id=customer_id,
        channel=channel,
        direction=direction,
        provider=provider,
        provider_call_id=provider_call_id,
        started_at=started_at,
    )
    uow.vault.seal(call, from_number=from_number, to_number=to_number)
    uow.session.add(call)
    uow.session.flush()
    return call


def end_call(
    uow: UnitOfWork, call: Call, *, ended_at: datetime, outcome: str | None, reason: str | None = None
) -> None:
    """``reason``: why it ended, when Sera knows better than "the conversation finished" (``idle-timeout``)."""
    if outcome is not None and outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    call.ended_at = ended_at
    call.duration_s = max(0, round((ended_at - call.started_at).total_seconds()))
    call.outcome = outcome
    if reason is not None:
        call.ended_reason = reason[:60]
    data = {
        "id": call.id,
        "channel": call.channel,
        "direction": call.direction,
        "outcome": outcome,
        "started_at": call.started_at,
        "ended_at": ended_at,
        "duration_s": call.duration_s,
        "customer_id": call.customer_id,
    }
    emit(uow, "call.completed", data, customer_id=call.customer_id)


def record_call_report(
    uow: UnitOfWork,
    call: Call,
    *,
    started_at: datetime,
    ended_at: datetime,
    duration_s: int,
    outcome: str,
    ended_reason: str | None,
    cost_cents: int | None,
    recording_url: str | None,
    summary: str | None,
) -> None:
    """A provider's final report on a call: its figures replace Sera's own estimates."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    call.started_at = started_at
    call.ended_at = ended_at
    call.duration_s = max(0, duration_s)
    call.outcome = outcome
    call.ended_reason = ended_reason[:60] if ended_reason else None
    call.cost_cents = cost_cents
    uow.vault.seal(call, recording_url=recording_url, summary=summary)


def find_call(uow: UnitOfWork, *, provider: str, provider_call_id: str) -> Call | None:
    """This merchant's call by the provider's id for it; None when it is not theirs."""
    return uow.session.execute(
        select(Call).where(Call.provider == provider, Call.provider_call_id == provider_call_id)
    ).scalar_one_or_none()


def attach_recording(uow: UnitOfWork, call: Call, reference: str) -> None:
    """A provider finished recording this call: keep where the audio is (sealed, it is personal data)."""
    uow.vault.seal(call, recording_url=reference)


_TRANSCRIPT = prescoped(
    select(Transcript).where(Transcript.merchant_id == MERCHANT, Transcript.call_id == bindparam("call_id"))
)


def transcript_of(uow: UnitOfWork, call: Call) -> Transcript | None:
    return uow.run(_TRANSCRIPT, call_id=call.id).scalar_one_or_none()


def link_customer(uow: UnitOfWork, call: Call, customer_id: str) -> None:
    """The caller became known mid-call: the call and its transcript move under their key."""
    uow.vault.assign_customer(call, customer_id)
    transcript = transcript_of(uow, call)
    if transcript is not None:
        uow.vault.assign_customer(transcript, customer_id)


def save_transcript(
    uow: UnitOfWork, call: Call, lines: list[TranscriptLine], *, row: Transcript | None = None
) -> Transcript:
    """Write the call's whole transcript (``row``: its transcript row when the caller has it loaded)."""
    if row is None:
        row = transcript_of(uow, call)
    if row is None:
        row = Transcript(id=new_id("trn"), merchant_id=call.merchant_id, call_id=call.id, customer_id=call.customer_id)
        uow.session.add(row)
    payload = json.dumps([{"role": line.role, "text": line.text} for line in lines])
    uow.vault.seal(row, content=payload)
    return row


def append_transcript(uow: UnitOfWork, call: Call, row: Transcript | None, lines: list[TranscriptLine]) -> Transcript:
    """Add lines to a call's transcript; ``row`` is its transcript row, None when it has none yet."""
    return save_transcript(uow, call, (read_transcript(uow, row) if row else []) + lines, row=row)


def read_transcript(uow: UnitOfWork, row: Transcript) -> list[TranscriptLine]:
    raw: list[dict[str, Any]] = json.loads(uow.vault.open(row, "content") or "[]")
    return [TranscriptLine(role=item["role"], text=item["text"]) for item in raw]


def call_view(uow: UnitOfWork, call: Call, transcript: list[TranscriptLine] | None = None) -> CallView:
    numbers = uow.vault.open_many(call, "from_number", "to_number")
    return CallView(
        id=call.id,
        channel=call.channel,
        direction=call.direction,
        from_number=numbers["from_number"],
        to_number=numbers["to_number"],
        started_at=call.started_at,
        ended_at=call.ended_at,
        duration_s=call.duration_s,
        outcome=call.outcome,
        customer_id=call.customer_id,
        transcript=transcript,
    )


def list_calls(uow: UnitOfWork, request: PageRequest) -> Page[CallView]:
    rows = uow.session.execute(keyset(select(Call), Call.started_at, Call.id, request)).scalars().all()
    kept, cursor = page_of(rows, request, lambda c: (c.started_at, c.id))
    if uow.merchant_id:
        uow.vault.prefetch(uow.merchant_id, [c.customer_id for c in kept])
    return Page([call_view(uow, c) for c in kept], cursor)


def get_call(uow: UnitOfWork, call_id: str) -> CallView:
    call = uow.session.execute(select(Call).where(Call.id == call_id)).scalar_one_or_none()
    if call is None:
        raise CallNotFoundError(call_id)
    row = transcript_of(uow, call)
    return call_view(uow, call, read_transcript(uow, row) if row is not None else [])
