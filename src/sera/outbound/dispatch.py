"""The dispatcher (every minute): which intended messages to plan, and when to queue each send.

Invariants:
- A send is queued for its due time (Huey's scheduler fires it within a second or so),
  grouped with the others of that second in jobs of ``SEND_BATCH`` action ids.
- Queueing marks a scheduled row (``updated_at``) so the next run does not queue it
  again while its job waits; a due row with no trace of its job for ``REQUEUE_AFTER``
  (a worker died after taking the job) is queued again, and so is a row left
  ``sending`` for ``STALE_SENDING`` (its job reconciles it; a live worker's lock turns
  the job away). A job queued twice is harmless: the action's lock and status decide.
- Two dispatchers (one per worker process) never plan the same message: planning holds
  the shop's planning lock, and idempotency keys are unique anyway.
- Booking confirmations, recorded with the change they confirm, are queued on the first
  run after it (``unqueued_confirmations``), not after ``REQUEUE_AFTER``.
- Work is bounded per run: ``PLAN_ROUNDS`` transactions of at most ``PLAN_BATCH`` per
  kind, and ``ENQUEUE_BATCH`` rows per query.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from sera.bootstrap import Sera
from sera.feedback.asking import lookback, plan_feedback
from sera.outbound.confirmations import unqueued_confirmations
from sera.outbound.locks import one_at_a_time
from sera.outbound.planning import PLAN_BATCH, cancel_for_completed_checkouts, plan_merchant
from sera.outbound.settings import ShopOutbound
from sera.storage.models import Merchant, OutboundAction

LOOKAHEAD = timedelta(seconds=90)  # the dispatcher (every minute) queues sends due this soon, at their time
REQUEUE_AFTER = timedelta(minutes=2)  # a due action whose job left no trace this long is queued again
STALE_SENDING = timedelta(seconds=60)  # a send left ``sending`` this long is queued again (to be reconciled)
ENQUEUE_BATCH = 1000
PLAN_ROUNDS = 25
SEND_BATCH = 25  # action ids per send job: one read and one claim transaction for all of them

Enqueue = Callable[[str, list[str], float], None]  # merchant id, action ids, seconds from now


@dataclass(frozen=True)
class Dispatched:
    planned: int = 0
    queued: int = 0
    cancelled: int = 0

    def __add__(self, other: Dispatched) -> Dispatched:
        return Dispatched(self.planned + other.planned, self.queued + other.queued, self.cancelled + other.cancelled)


def dispatch(
    sera: Sera,
    enqueue: Enqueue,
    now: datetime,
    *,
    lookahead: timedelta = LOOKAHEAD,
    requeue_after: timedelta = REQUEUE_AFTER,
    stale_sending: timedelta = STALE_SENDING,
) -> Dispatched:
    """Every shop: plan what is due by ``now + lookahead``, queue each send for its due time, and
    queue again what a lost job or a dead worker left behind."""
    total = Dispatched()
    with sera.uow(readonly=True) as uow:
        merchants = list(uow.session.execute(select(Merchant.id).where(Merchant.status == "active")).scalars())
    for merchant_id in merchants:
        total += dispatch_merchant(
            sera,
            merchant_id,
            enqueue,
            now,
            lookahead=lookahead,
            requeue_after=requeue_after,
            stale_sending=stale_sending,
        )
    return total


def dispatch_merchant(
    sera: Sera,
    merchant_id: str,
    enqueue: Enqueue,
    now: datetime,
    *,
    lookahead: timedelta = LOOKAHEAD,
    requeue_after: timedelta = REQUEUE_AFTER,
    stale_sending: timedelta = STALE_SENDING,
) -> Dispatched:
    planned: list[tuple[str, datetime]] = []
    recorded: list[tuple[str, datetime]] = []
    cancelled = 0
    for round_ in range(PLAN_ROUNDS):  # each round one transaction
        with sera.uow(merchant_id) as uow:
            one_at_a_time(uow, "plan")
            merchant = uow.session.execute(select(Merchant).where(Merchant.id == merchant_id)).scalar_one()
            shop = ShopOutbound.parse(merchant.settings)
            chunk = plan_merchant(uow, shop, now, now + lookahead) if shop.anything_enabled else []
            if round_ == 0:
                cancelled = cancel_for_completed_checkouts(uow, now)
                recorded = unqueued_confirmations(uow, now, now + lookahead, limit=ENQUEUE_BATCH)
                recorded += plan_feedback(uow, now, lookback(sera.settings))  # after a conversation ended
            uow.commit()
        planned += chunk
        if len(chunk) < PLAN_BATCH:
            break
    queue = planned + recorded
    while batch := _take_waiting(sera, merchant_id, now, lookahead, requeue_after):
        queue += batch
        if len(batch) < ENQUEUE_BATCH:
            break
    queue += _stale_sending(sera, merchant_id, now, stale_sending)
    for delay, action_ids in _by_second(queue, now).items():
        for start in range(0, len(action_ids), SEND_BATCH):
            enqueue(merchant_id, action_ids[start : start + SEND_BATCH], delay)
    return Dispatched(len(planned), len(queue), cancelled)


def _by_second(queue: list[tuple[str, datetime]], now: datetime) -> dict[float, list[str]]:
    """Sends due in the same second travel in the same jobs, queued for the end of that second
    (Huey's scheduler looks once a second anyway)."""
    groups: dict[float, list[str]] = {}
    for action_id, due in sorted(queue, key=lambda item: item[1]):
        groups.setdefault(float(max(0, math.ceil((due - now).total_seconds()))), []).append(action_id)
    return groups


def _take_waiting(
    sera: Sera, merchant_id: str, now: datetime, lookahead: timedelta, requeue_after: timedelta
) -> list[tuple[str, datetime]]:
    """Scheduled actions due soon that no job has been queued for lately; marks them queued
    (``updated_at``) so the next run does not queue them again while their job waits."""
    with sera.uow(merchant_id) as uow:
        found = uow.session.execute(
            select(OutboundAction.id, OutboundAction.due_at)
            .where(
                OutboundAction.status == "scheduled",
                OutboundAction.due_at <= now + lookahead,
                OutboundAction.updated_at <= now - requeue_after,
            )
            .order_by(OutboundAction.due_at)
            .limit(ENQUEUE_BATCH)
        ).all()
        if found:
            uow.session.execute(
                update(OutboundAction)
                .where(OutboundAction.id.in_([row.id for row in found]), OutboundAction.status == "scheduled")
                .values(updated_at=now)
                .execution_options(synchronize_session=False)
            )
        uow.commit()
    return [(row.id, row.due_at) for row in found]


def _stale_sending(sera: Sera, merchant_id: str, now: datetime, stale_sending: timedelta) -> list[tuple[str, datetime]]:
    """Sends left ``sending`` this long: their job reconciles them (a live worker's lock turns it away)."""
    with sera.uow(merchant_id, readonly=True) as uow:
        found = uow.session.execute(
            select(OutboundAction.id)
            .where(OutboundAction.status == "sending", OutboundAction.updated_at <= now - stale_sending)
            .order_by(OutboundAction.updated_at)
            .limit(ENQUEUE_BATCH)
        ).scalars()
        return [(action_id, now) for action_id in found]
