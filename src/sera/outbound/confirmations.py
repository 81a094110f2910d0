"""Booking confirmations: one intended message per change of an appointment (booked, moved,
cancelled), recorded in the transaction that makes the change.

Invariants:
- The booking service records each change's confirmation with the change itself
  (``record_confirmation``). Planning them later from the appointment as the dispatcher
  finds it kept only the last state: a caller who booked, moved and cancelled within a
  minute got a cancellation and nothing else, and the booked and moved messages never
  appeared in the list.
- One per appointment and start time (booked, then each move) and one for its
  cancellation (``confirmation_key``, unique), only when the shop sends confirmations and
  the appointment is still ahead. A message a newer change supersedes is skipped when it
  is due (``appointment-changed``), so the list shows every message with its outcome.
- The dispatcher queues the recorded confirmations no send job has looked at yet
  (``unqueued_confirmations``) on its next run; its ordinary re-queue of waiting rows
  catches anything that run missed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from sera.outbound.settings import ShopOutbound
from sera.storage.database import UnitOfWork, conflict_insert
from sera.storage.models import Appointment, Merchant, OutboundAction, new_id

BOOKED, MOVED, CANCELLED = "confirmation_booked", "confirmation_moved", "confirmation_cancelled"
CONFIRMATIONS = (BOOKED, MOVED, CANCELLED)
CHANNEL = "sms"
FRESH = timedelta(hours=1)  # a recorded confirmation older than this is left to the ordinary re-queue


def confirmation_key(appointment_id: str, start: datetime | None) -> str:
    """Per appointment and start time (booked or moved), or once for its cancellation."""
    return f"confirm:{appointment_id}:{'cancelled' if start is None else int(start.timestamp())}"


def record_confirmation(uow: UnitOfWork, appointment: Appointment, kind: str, now: datetime) -> None:
    """The confirmation of a change just made to ``appointment``, in the caller's transaction.

    Nothing when the shop does not send confirmations, when the appointment has begun, or
    when this start time (or the cancellation) was confirmed already: a move back to a time
    confirmed before. ``INSERT ... ON CONFLICT DO NOTHING``, so a concurrent change of the
    same appointment never fails the booking.
    """
    if kind not in CONFIRMATIONS:
        raise ValueError(f"unknown confirmation {kind!r}")
    if appointment.start_at <= now:
        return
    settings = uow.session.execute(select(Merchant.settings).where(Merchant.id == appointment.merchant_id)).scalar()
    if not ShopOutbound.parse(settings).confirmations:
        return
    key = confirmation_key(appointment.id, None if kind == CANCELLED else appointment.start_at)
    connection = uow.session.connection()
    connection.execute(
        conflict_insert(connection)(OutboundAction)
        .values(
            id=new_id("out"),
            merchant_id=appointment.merchant_id,
            customer_id=appointment.customer_id,
            kind=kind,
            channel=CHANNEL,
            subject_id=appointment.id,
            status="scheduled",
            due_at=now,
            attempt=1,
            idempotency_key=key,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
    )


def unqueued_confirmations(
    uow: UnitOfWork, now: datetime, horizon: datetime, *, limit: int = 1000
) -> list[tuple[str, datetime]]:
    """Recorded confirmations due by ``horizon`` that no send job has looked at yet (a send job
    gives every row it leaves scheduled a reason), with their due times."""
    found = uow.session.execute(
        select(OutboundAction.id, OutboundAction.due_at)
        .where(
            OutboundAction.kind.in_(CONFIRMATIONS),
            OutboundAction.status == "scheduled",
            OutboundAction.reason.is_(None),
            OutboundAction.due_at > now - FRESH,
            OutboundAction.due_at <= horizon,
        )
        .order_by(OutboundAction.due_at)
        .limit(limit)
    ).all()
    return [(row.id, row.due_at) for row in found]
