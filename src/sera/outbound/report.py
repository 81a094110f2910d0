"""What outbound did for a shop: sends, replies, recoveries and their revenue, skips by
reason; and each customer's outbound history.

Windows count each thing when it happened: a send at its send time, a skip or a failure
when it was decided, a recovery when its order came in. A recovery is a checkout
completed within ``ATTRIBUTION_WINDOW`` after a recovery message was sent; its revenue
goes to the last message sent before the order, in the checkout's own currency.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, func, select

from sera.integrations.events import emit
from sera.outbound.drafts import RECOVERY
from sera.storage.database import UnitOfWork
from sera.storage.models import Checkout, Merchant, Message, OutboundAction
from sera.storage.paging import Page, PageRequest, keyset, page_of

ATTRIBUTION_WINDOW = timedelta(days=7)
REPLY_WINDOW = timedelta(days=7)
AnySelect = TypeVar("AnySelect", bound="Select[*tuple[Any, ...]]")


@dataclass(frozen=True)
class Recovered:
    action_id: str
    checkout_id: str
    amount_cents: int
    currency: str
    completed_at: datetime


@dataclass(frozen=True)
class OutboundReport:
    sends: int
    sends_by_kind: dict[str, int]
    replies: int
    recoveries: int
    revenue: dict[str, int]  # cents per currency
    skips: dict[str, int]
    failures: int
    pending: int  # scheduled now, whatever their due time
    recovered: list[Recovered]


def _within(stmt: AnySelect, column: Any, since: datetime | None, until: datetime | None) -> AnySelect:
    if since is not None:
        stmt = stmt.where(column >= since)
    if until is not None:
        stmt = stmt.where(column < until)
    return stmt


def outbound_report(uow: UnitOfWork, since: datetime | None = None, until: datetime | None = None) -> OutboundReport:
    sent = uow.session.execute(
        _within(
            select(OutboundAction.kind, OutboundAction.customer_id, OutboundAction.sent_at).where(
                OutboundAction.status == "sent"
            ),
            OutboundAction.sent_at,
            since,
            until,
        )
    ).all()
    decided = uow.session.execute(
        _within(
            select(OutboundAction.status, OutboundAction.reason).where(
                OutboundAction.status.in_(("skipped", "failed"))
            ),
            OutboundAction.updated_at,
            since,
            until,
        )
    ).all()
    pending = uow.session.execute(
        select(func.count()).select_from(OutboundAction).where(OutboundAction.status == "scheduled")
    ).scalar_one()
    recovered = recoveries(uow, since, until)
    revenue: Counter[str] = Counter()
    for item in recovered:
        revenue[item.currency] += item.amount_cents
    return OutboundReport(
        sends=len(sent),
        sends_by_kind=dict(Counter(row.kind for row in sent)),
        replies=_replies(uow, [(row.customer_id, row.sent_at) for row in sent if row.customer_id]),
        recoveries=len(recovered),
        revenue=dict(revenue),
        skips=dict(Counter(row.reason or "unknown" for row in decided if row.status == "skipped")),
        failures=sum(1 for row in decided if row.status == "failed"),
        pending=pending,
        recovered=recovered,
    )


def announce_recovery(uow: UnitOfWork, checkout_id: str) -> Recovered | None:
    """A checkout just completed: if a recovery message won it back, the shop's systems hear of
    it (``checkout.recovered``, ids and the amount only); the recovery, or None."""
    checkout = uow.session.execute(
        select(Checkout.completed_at, Checkout.order_ref, Checkout.customer_id).where(Checkout.id == checkout_id)
    ).one()
    if checkout.completed_at is None:
        return None
    moment = (checkout.completed_at, checkout.completed_at + timedelta(microseconds=1))
    recovered = next((r for r in recoveries(uow, *moment) if r.checkout_id == checkout_id), None)
    if recovered is None:
        return None
    emit(
        uow,
        "checkout.recovered",
        {
            "checkout_id": checkout_id,
            "order": checkout.order_ref,
            "amount": f"{recovered.amount_cents / 100:.2f}",
            "currency": recovered.currency,
            "outbound_message_id": recovered.action_id,
            "completed_at": recovered.completed_at.isoformat(),
        },
        customer_id=checkout.customer_id,  # an erased shopper's event is never sent
    )
    return recovered


def recoveries(uow: UnitOfWork, since: datetime | None = None, until: datetime | None = None) -> list[Recovered]:
    """Checkouts completed in the window after a recovery message, each credited to the last one."""
    completed = uow.session.execute(
        _within(
            select(Checkout.id, Checkout.total_cents, Checkout.currency, Checkout.completed_at).where(
                Checkout.completed_at.is_not(None)
            ),
            Checkout.completed_at,
            since,
            until,
        )
    ).all()
    if not completed:
        return []
    shop_currency = uow.session.execute(select(Merchant.currency).where(Merchant.id == uow.merchant_id)).scalar_one()
    sends: dict[str, list[tuple[datetime, str]]] = {}
    ids = [row.id for row in completed]
    for start in range(0, len(ids), 500):
        for action in uow.session.execute(
            select(OutboundAction).where(
                OutboundAction.kind == RECOVERY,
                OutboundAction.status == "sent",
                OutboundAction.subject_id.in_(ids[start : start + 500]),
            )
        ).scalars():
            if action.subject_id and action.sent_at:
                sends.setdefault(action.subject_id, []).append((action.sent_at, action.id))
    found = []
    for row in completed:
        completed_at: datetime = row.completed_at
        before = [s for s in sends.get(row.id, []) if s[0] < completed_at <= s[0] + ATTRIBUTION_WINDOW]
        if before:
            _, action_id = max(before)
            currency = row.currency or shop_currency
            found.append(Recovered(action_id, row.id, int(row.total_cents or 0), currency, completed_at))
    return found


def _replies(uow: UnitOfWork, sent: list[tuple[str, datetime]]) -> int:
    """Sent messages the customer texted back to within ``REPLY_WINDOW``."""
    if not sent:
        return 0
    customers = sorted({customer_id for customer_id, _ in sent})
    first = min(at for _, at in sent)
    inbound: dict[str, list[datetime]] = {}
    for start in range(0, len(customers), 500):
        for message in uow.session.execute(
            select(Message).where(
                Message.direction == "inbound",
                Message.customer_id.in_(customers[start : start + 500]),
                Message.created_at > first,
            )
        ).scalars():
            if message.customer_id:
                inbound.setdefault(message.customer_id, []).append(message.created_at)
    return sum(
        1 for customer_id, at in sent if any(at < reply <= at + REPLY_WINDOW for reply in inbound.get(customer_id, []))
    )


# -- per customer ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionView:
    id: str
    kind: str
    channel: str
    status: str
    reason: str | None
    attempt: int
    customer_id: str | None
    subject_id: str | None
    provider_ref: str | None  # the provider's id of the message sent (Twilio's MessageSid)
    due_at: datetime
    sent_at: datetime | None
    created_at: datetime
    updated_at: datetime


def _view(action: OutboundAction) -> ActionView:
    return ActionView(
        id=action.id,
        kind=action.kind,
        channel=action.channel,
        status=action.status,
        reason=action.reason,
        attempt=action.attempt,
        customer_id=action.customer_id,
        subject_id=action.subject_id,
        provider_ref=action.provider_ref,
        due_at=action.due_at,
        sent_at=action.sent_at,
        created_at=action.created_at,
        updated_at=action.updated_at,
    )


def list_actions(uow: UnitOfWork, request: PageRequest, customer_id: str | None = None) -> Page[ActionView]:
    """Every intended message with its outcome and reason, newest first; one customer's when given."""
    stmt = select(OutboundAction)
    if customer_id is not None:
        stmt = stmt.where(OutboundAction.customer_id == customer_id)
    found = uow.session.execute(keyset(stmt, OutboundAction.created_at, OutboundAction.id, request)).scalars().all()
    kept, cursor = page_of(found, request, lambda a: (a.created_at, a.id))
    return Page([_view(a) for a in kept], cursor)


def customer_outbound_history(uow: UnitOfWork, customer_id: str) -> list[dict[str, Any]]:
    """A customer's outbound messages as plain data, for their access export (ids, kinds, outcomes)."""
    found = uow.session.execute(
        select(OutboundAction).where(OutboundAction.customer_id == customer_id).order_by(OutboundAction.created_at)
    ).scalars()
    return [
        {
            "kind": a.kind,
            "channel": a.channel,
            "status": a.status,
            "reason": a.reason,
            "due_at": a.due_at.isoformat(),
            "sent_at": a.sent_at.isoformat() if a.sent_at else None,
        }
        for a in found
    ]
