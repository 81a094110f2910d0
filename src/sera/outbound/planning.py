"""Which messages a shop's settings call for: one OutboundAction per intended message,
created once (its idempotency key is unique) shortly before it is due.

- Abandoned-checkout recovery: attempt 1 is due ``delay_min`` after the checkout's last
  update; attempt n+1 a day after attempt n was sent (and never before ``delay_min``
  after the last update), up to ``max_attempts`` per checkout. A checkout more than a
  day past its moment is not chased (Sera was down, or recovery was switched on later).
  By call, the next attempt follows only a call nobody answered (no answer, busy, failed):
  a person spoken to, or a voicemail left, is not called again about the same cart.
- Confirmations are not planned here: the booking service records each one with the
  change it confirms (``sera.outbound.confirmations``), so a quick second change cannot
  erase the first one's message.
- Reminders: ``hours_before`` the start, for appointments booked before that moment (a
  later booking got its confirmation instead).

Whether a message may go (consent, do-not-contact, quiet hours, caps) is decided when it
is sent, not here: planning records the intent, and every skip is then visible with its
reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import literal, or_, select, update

from sera.outbound.calls import UNREACHED
from sera.outbound.drafts import RECOVERY, REMINDER, recovery_key, reminder_key
from sera.outbound.settings import Recovery, Reminders, ShopOutbound
from sera.storage.database import UnitOfWork, rows
from sera.storage.models import Appointment, Checkout, OutboundAction, new_id

RECOVERY_GAP = timedelta(hours=24)  # between recovery attempts
NOT_CHASED_AFTER = timedelta(hours=24)  # a recovery this late is not sent at all
PLAN_BATCH = 2000


def plan_merchant(uow: UnitOfWork, shop: ShopOutbound, now: datetime, horizon: datetime) -> list[tuple[str, datetime]]:
    """Create the actions due by ``horizon``; returns the new (action id, due) pairs."""
    created: list[tuple[str, datetime]] = []
    if shop.recovery.enabled:
        created += _plan_first_recoveries(uow, shop.recovery, now, horizon)
        created += _plan_next_recoveries(uow, shop.recovery, now, horizon)
    if shop.reminders.enabled:
        created += _plan_reminders(uow, shop.reminders, now, horizon)
    return created


def cancel_for_completed_checkouts(uow: UnitOfWork, now: datetime) -> int:
    """An order stops recovery at once: pending recovery messages of completed checkouts are skipped."""
    completed = select(Checkout.id).where(Checkout.completed_at.is_not(None))
    return rows(
        uow.session.execute(
            update(OutboundAction)
            .where(
                OutboundAction.kind == RECOVERY,
                OutboundAction.status == "scheduled",
                OutboundAction.subject_id.in_(completed),
            )
            .values(status="skipped", reason="order-completed", updated_at=now)
            .execution_options(synchronize_session=False)
        )
    )


def _existing_keys(uow: UnitOfWork, keys: Iterable[str]) -> set[str]:
    wanted = list(set(keys))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update(
            uow.session.execute(
                select(OutboundAction.idempotency_key).where(OutboundAction.idempotency_key.in_(chunk))
            ).scalars()
        )
    return found


def _intend(
    uow: UnitOfWork,
    *,
    kind: str,
    key: str,
    subject_id: str,
    customer_id: str | None,
    due: datetime,
    now: datetime,
    channel: str = "sms",
    attempt: int = 1,
) -> tuple[str, datetime]:
    action = OutboundAction(
        id=new_id("out"),
        merchant_id=uow.merchant_id,
        customer_id=customer_id,
        kind=kind,
        channel=channel,
        subject_id=subject_id,
        status="scheduled",
        due_at=due,
        attempt=attempt,
        idempotency_key=key,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(action)
    return action.id, due


def _plan_first_recoveries(
    uow: UnitOfWork, recovery: Recovery, now: datetime, horizon: datetime
) -> list[tuple[str, datetime]]:
    planned = select(OutboundAction.id).where(  # recovery_key(checkout id, 1), in SQL: the unique index answers
        OutboundAction.idempotency_key == literal("checkout:") + Checkout.id + literal(":1")
    )
    candidates = uow.session.execute(
        select(Checkout.id, Checkout.customer_id, Checkout.provider_updated_at)
        .where(
            Checkout.completed_at.is_(None),
            Checkout.provider_updated_at <= horizon - recovery.delay,
            Checkout.provider_updated_at > now - recovery.delay - NOT_CHASED_AFTER,
            ~planned.exists(),
        )
        .order_by(Checkout.provider_updated_at)
        .limit(PLAN_BATCH)
    ).all()
    created = []
    for row in candidates:
        updated_at: datetime = row.provider_updated_at
        created.append(
            _intend(
                uow,
                kind=RECOVERY,
                key=recovery_key(row.id, 1),
                subject_id=row.id,
                customer_id=row.customer_id,
                due=updated_at + recovery.delay,
                now=now,
                channel=recovery.channel,
            )
        )
    return created


def _plan_next_recoveries(
    uow: UnitOfWork, recovery: Recovery, now: datetime, horizon: datetime
) -> list[tuple[str, datetime]]:
    if recovery.max_attempts < 2:
        return []
    sent = uow.session.execute(
        select(OutboundAction, Checkout)
        .join(Checkout, Checkout.id == OutboundAction.subject_id)
        .where(
            OutboundAction.kind == RECOVERY,
            OutboundAction.status == "sent",
            OutboundAction.attempt < recovery.max_attempts,
            or_(OutboundAction.channel != "call", OutboundAction.reason.in_(UNREACHED)),
            OutboundAction.sent_at <= horizon - RECOVERY_GAP,
            OutboundAction.sent_at > now - RECOVERY_GAP - NOT_CHASED_AFTER,
            Checkout.completed_at.is_(None),
        )
        .limit(PLAN_BATCH)
    ).all()
    existing = _existing_keys(uow, (recovery_key(checkout.id, action.attempt + 1) for action, checkout in sent))
    created = []
    for action, checkout in sent:
        key = recovery_key(checkout.id, action.attempt + 1)
        if key in existing or checkout.provider_updated_at is None or action.sent_at is None:
            continue
        due = max(action.sent_at + RECOVERY_GAP, checkout.provider_updated_at + recovery.delay)
        if due > horizon:
            continue
        created.append(
            _intend(
                uow,
                kind=RECOVERY,
                key=key,
                subject_id=checkout.id,
                customer_id=checkout.customer_id,
                due=due,
                now=now,
                channel=recovery.channel,
                attempt=action.attempt + 1,
            )
        )
    return created


def _plan_reminders(
    uow: UnitOfWork, reminders: Reminders, now: datetime, horizon: datetime
) -> list[tuple[str, datetime]]:
    upcoming = (
        uow.session.execute(
            select(Appointment)
            .where(
                Appointment.status == "booked",
                Appointment.start_at > now,
                Appointment.start_at <= horizon + reminders.before,
            )
            .order_by(Appointment.start_at)
            .limit(PLAN_BATCH)
        )
        .scalars()
        .all()
    )
    wanted = [a for a in upcoming if a.updated_at <= a.start_at - reminders.before]
    existing = _existing_keys(uow, (reminder_key(a.id, a.start_at) for a in wanted))
    return [
        _intend(
            uow,
            kind=REMINDER,
            key=reminder_key(a.id, a.start_at),
            subject_id=a.id,
            customer_id=a.customer_id,
            due=a.start_at - reminders.before,
            now=now,
            channel=reminders.channel,
        )
        for a in wanted
        if reminder_key(a.id, a.start_at) not in existing
    ]
