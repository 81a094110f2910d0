"""Data-subject requests (access, erasure, correction, objection), answered within 48 hours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from sera import audit
from sera.integrations.events import emit
from sera.notifications.service import notify
from sera.storage.database import UnitOfWork
from sera.storage.models import Merchant, PrivacyRequest, new_id
from sera.storage.paging import Page, PageRequest, keyset, page_of

REQUEST_TYPES = ("access", "erasure", "correction", "objection")
ANSWER_WITHIN = timedelta(hours=48)


class PrivacyRequestNotFoundError(LookupError):
    pass


@dataclass(frozen=True)
class PrivacyRequestView:
    id: str
    type: str
    status: str
    source: str
    received_at: datetime
    due_at: datetime
    completed_at: datetime | None
    customer_id: str | None


def record_privacy_request(
    uow: UnitOfWork,
    *,
    request_type: str,
    customer_id: str | None,
    source: str,
    now: datetime,
    actor: str,
    details: str | None = None,
) -> PrivacyRequest:
    if request_type not in REQUEST_TYPES:
        raise ValueError(f"request type must be one of {', '.join(REQUEST_TYPES)}")
    if uow.merchant_id is None:
        raise RuntimeError("privacy requests need a merchant-scoped unit of work")
    request = PrivacyRequest(
        id=new_id("prq"),
        merchant_id=uow.merchant_id,
        customer_id=customer_id,
        type=request_type,
        status="pending",
        source=source,
        received_at=now,
        due_at=now + ANSWER_WITHIN,
    )
    uow.vault.seal(request, details=details)
    uow.session.add(request)
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action="privacy_request.received",
        target_type="privacy_request",
        target_id=request.id,
        details={"type": request_type, "source": source},
        at=now,
    )
    data = {
        "id": request.id,
        "type": request_type,
        "source": source,
        "customer_id": customer_id,
        "due_at": request.due_at,
    }
    emit(uow, "privacy_request.received", data)
    tell_deadline(uow, request, "received", now)
    return request


# When the business is told a pending request's deadline comes near: (name, hours before it).
REMINDERS = (("24h", 24), ("6h", 6))


def tell_deadline(uow: UnitOfWork, request: PrivacyRequest, stage: str, now: datetime) -> None:
    """Tell the business of a request: ``received``, a reminder (``24h``, ``6h``) or ``overdue``;
    once per request and stage. Ids, the type and the deadline only."""
    merchant = uow.session.get(Merchant, request.merchant_id)
    zone = ZoneInfo(merchant.timezone if merchant is not None else "UTC")
    event = {"received": "privacy_request_received", "overdue": "privacy_request_overdue"}.get(
        stage, "privacy_request_due_soon"
    )
    context = {
        "request_id": request.id,
        "request_type": request.type,
        "deadline": request.due_at.astimezone(zone).strftime("%a %d %b %Y %H:%M %Z"),
        "hours_left": max(0, round((request.due_at - now).total_seconds() / 3600)),
    }
    notify(uow, event, key=f"privacy:{request.id}:{stage}", context=context, now=now)


def tell_deadlines(uow: UnitOfWork, now: datetime) -> None:
    """Reminders for the shop's pending requests near their deadline, and word of those past it."""
    soonest = now + timedelta(hours=max(hours for _, hours in REMINDERS))
    pending = uow.session.execute(
        select(PrivacyRequest).where(PrivacyRequest.status == "pending", PrivacyRequest.due_at <= soonest)
    ).scalars()
    for request in pending:
        if request.due_at < now:
            tell_deadline(uow, request, "overdue", now)
            continue
        due = [name for name, hours in REMINDERS if request.due_at - now <= timedelta(hours=hours)]
        tell_deadline(uow, request, due[-1], now)  # the nearest; one skipped while down is not sent late


def _view(request: PrivacyRequest) -> PrivacyRequestView:
    return PrivacyRequestView(
        id=request.id,
        type=request.type,
        status=request.status,
        source=request.source,
        received_at=request.received_at,
        due_at=request.due_at,
        completed_at=request.completed_at,
        customer_id=request.customer_id,
    )


def list_privacy_requests(uow: UnitOfWork, request: PageRequest) -> Page[PrivacyRequestView]:
    stmt = keyset(select(PrivacyRequest), PrivacyRequest.received_at, PrivacyRequest.id, request)
    rows = uow.session.execute(stmt).scalars().all()
    kept, cursor = page_of(rows, request, lambda r: (r.received_at, r.id))
    return Page([_view(r) for r in kept], cursor)


def get_privacy_request(uow: UnitOfWork, request_id: str) -> PrivacyRequestView:
    row = uow.session.execute(select(PrivacyRequest).where(PrivacyRequest.id == request_id)).scalar_one_or_none()
    if row is None:
        raise PrivacyRequestNotFoundError(request_id)
    return _view(row)


class PrivacyRequestError(ValueError):
    """The request cannot be completed as asked (the message says why)."""


def load_request(uow: UnitOfWork, request_id: str) -> PrivacyRequest:
    row = uow.session.execute(select(PrivacyRequest).where(PrivacyRequest.id == request_id)).scalar_one_or_none()
    if row is None:
        raise PrivacyRequestNotFoundError(request_id)
    return row


def overdue_requests(uow: UnitOfWork, now: datetime) -> list[PrivacyRequestView]:
    rows = uow.session.execute(
        select(PrivacyRequest)
        .where(PrivacyRequest.status == "pending", PrivacyRequest.due_at < now)
        .order_by(PrivacyRequest.due_at)
    ).scalars()
    return [_view(r) for r in rows]


def export_result(uow: UnitOfWork, request_id: str, *, actor: str) -> str:
    """The access export of a completed request; each download is audited."""
    row = load_request(uow, request_id)
    if row.type != "access" or row.status != "completed" or row.result is None:
        raise PrivacyRequestError("no export for this request")
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action="privacy_request.export_downloaded",
        target_type="privacy_request",
        target_id=row.id,
    )
    return uow.vault.open(row, "result") or ""
