"""Today at a glance, for the dashboard's home: the shop's local day so far, counted.

Every figure is an aggregate query (a count or a sum in SQL, or the per-hour slices of
``sera.reports.aggregates``), so the page costs the same with a hundred calls or a hundred
thousand. Only the sections asked for are counted: a member sees what their role may read.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select

from sera.outbound.report import recoveries
from sera.reports.aggregates import agent_bookings, conversations, messages_taken, total, window
from sera.storage.database import UnitOfWork
from sera.storage.models import Base, OutboundAction, PrivacyRequest, UsageRecord
from sera.support.service import count_by_status

SECTIONS = frozenset({"conversations", "bookings", "tickets", "privacy", "outbound", "usage"})
DEADLINES_SHOWN = 5


@dataclass(frozen=True)
class Deadline:
    """A privacy request still to answer: ids and dates only."""

    id: str
    type: str
    received_at: datetime
    due_at: datetime
    overdue: bool


@dataclass(frozen=True)
class Conversations:
    calls: int
    texts: int
    web_chats: int


@dataclass(frozen=True)
class Tickets:
    messages_taken: int  # today
    open: int  # whenever opened


@dataclass(frozen=True)
class Privacy:
    pending: int
    overdue: int
    nearest: list[Deadline]  # the nearest deadlines first


@dataclass(frozen=True)
class Outbound:
    sent: int
    failed: int
    recovered_checkouts: int


@dataclass(frozen=True)
class Usage:
    month: date  # its first day
    billed_minutes: int
    sms_segments: int


@dataclass(frozen=True)
class Glance:
    day: date
    conversations: Conversations | None = None
    bookings: int | None = None
    tickets: Tickets | None = None
    privacy: Privacy | None = None
    outbound: Outbound | None = None
    usage: Usage | None = None


def glance(uow: UnitOfWork, now: datetime, zone: ZoneInfo, sections: Collection[str]) -> Glance:
    """The local day of ``now`` so far, for the ``sections`` asked for (names of ``SECTIONS``)."""
    unknown = set(sections) - SECTIONS
    if unknown:
        raise ValueError(f"unknown sections {sorted(unknown)}")
    today = now.astimezone(zone).date()
    starts = datetime.combine(today, time(), zone)
    ends = datetime.combine(today + timedelta(days=1), time(), zone)
    win = window(starts, ends, zone)
    talks = conversations(uow, win) if "conversations" in sections else None
    return Glance(
        day=today,
        conversations=Conversations(
            calls=total(talks, "voice_inbound") + total(talks, "voice_outbound"),
            texts=total(talks, "sms"),
            web_chats=total(talks, "web"),
        )
        if talks is not None
        else None,
        bookings=total(agent_bookings(uow, win)) if "bookings" in sections else None,
        tickets=Tickets(messages_taken=total(messages_taken(uow, win)), open=count_by_status(uow)["open"])
        if "tickets" in sections
        else None,
        privacy=_privacy(uow, now) if "privacy" in sections else None,
        outbound=_outbound(uow, starts, ends) if "outbound" in sections else None,
        usage=_usage(uow, today) if "usage" in sections else None,
    )


def _count(uow: UnitOfWork, model: type[Base], *where: ColumnElement[bool]) -> int:
    return int(uow.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def _privacy(uow: UnitOfWork, now: datetime) -> Privacy:
    pending = (PrivacyRequest.merchant_id == uow.merchant_id, PrivacyRequest.status == "pending")
    nearest = uow.session.execute(
        select(PrivacyRequest.id, PrivacyRequest.type, PrivacyRequest.received_at, PrivacyRequest.due_at)
        .where(*pending)
        .order_by(PrivacyRequest.due_at, PrivacyRequest.id)
        .limit(DEADLINES_SHOWN)
    ).all()
    return Privacy(
        pending=_count(uow, PrivacyRequest, *pending),
        overdue=_count(uow, PrivacyRequest, *pending, PrivacyRequest.due_at < now),
        nearest=[Deadline(r.id, r.type, r.received_at, r.due_at, r.due_at < now) for r in nearest],
    )


def _outbound(uow: UnitOfWork, since: datetime, until: datetime) -> Outbound:
    mine = OutboundAction.merchant_id == uow.merchant_id
    sent = _count(
        uow,
        OutboundAction,
        mine,
        OutboundAction.status == "sent",
        OutboundAction.sent_at >= since,
        OutboundAction.sent_at < until,
    )
    failed = _count(
        uow,
        OutboundAction,
        mine,
        OutboundAction.status == "failed",
        OutboundAction.updated_at >= since,
        OutboundAction.updated_at < until,
    )
    # one definition of a recovery (the outbound report's), over today's completed checkouts only
    return Outbound(sent=sent, failed=failed, recovered_checkouts=len(recoveries(uow, since, until)))


def _usage(uow: UnitOfWork, today: date) -> Usage:
    month = today.replace(day=1)
    following = (month + timedelta(days=32)).replace(day=1)
    rows = uow.session.execute(
        select(UsageRecord.metric, func.sum(UsageRecord.quantity))
        .where(UsageRecord.merchant_id == uow.merchant_id, UsageRecord.day >= month, UsageRecord.day < following)
        .group_by(UsageRecord.metric)
    ).all()
    summed = {metric: int(quantity or 0) for metric, quantity in rows}
    return Usage(
        month=month,
        billed_minutes=summed.get("billed_minutes", 0),
        sms_segments=summed.get("sms_segments_inbound", 0) + summed.get("sms_segments_outbound", 0),
    )
