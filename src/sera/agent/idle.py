"""Conversations end: one that goes quiet is closed after its channel's idle timeout.

Invariants:
- A conversation is over once it has been quiet (no turn, no tool call) for its channel's
  ``Settings.idle_timeout``: web 30 minutes, SMS 24 hours, voice 2 hours (a call whose end
  Twilio or Vapi never reported). This sweep and the caller's next message apply the same
  rule (``sera.agent.service.is_over``), whichever comes first; a caller who writes again
  afterwards starts a new conversation.
- Its call record ends at the conversation's last activity, not at the moment of the sweep,
  with the most important outcome its tools achieved (``abandoned`` when none) and the
  ended reason ``idle-timeout``. A provider's end-of-call report arriving later still
  counts its usage and sets the provider's duration.
- Bounded work: batches of at most ``BATCH`` conversations, each its own transaction, at
  most ``ROUNDS`` batches a shop per run; what is left waits for the next run. Rows are
  locked and checked again inside their batch, so a turn that arrives meanwhile keeps its
  conversation open, and a sweep run twice (or retried) closes nothing twice.
- Each batch is audited in its own transaction with counts only (no ids of people), and
  counted in ``sera_conversations_closed_idle_total`` by channel.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from datetime import datetime

from prometheus_client import Counter
from sqlalchemy import ColumnElement, and_, or_, select

from sera import audit
from sera.agent.service import IDLE, close_conversation
from sera.bootstrap import Sera
from sera.storage.models import Call, Conversation

log = logging.getLogger("sera.agent")

CHANNELS = ("web", "sms", "voice")
BATCH = 200  # conversations per transaction
ROUNDS = 25  # batches per shop per run

CLOSED_IDLE = Counter("sera_conversations_closed_idle_total", "Conversations closed after going quiet", ["channel"])


def idle_conversations(sera: Sera, now: datetime) -> ColumnElement[bool]:
    """Active conversations quiet for at least their channel's idle timeout at ``now``."""
    quiet = [
        and_(Conversation.channel == channel, Conversation.updated_at <= now - sera.settings.idle_timeout(channel))
        for channel in CHANNELS
    ]
    return and_(Conversation.status == "active", or_(*quiet))


def close_idle_conversations(sera: Sera, now: datetime, *, batch: int = BATCH) -> dict[str, int]:
    """Every shop: close the conversations that have gone quiet; returns how many, per shop."""
    with sera.uow(readonly=True) as uow:
        statement = select(Conversation.merchant_id).where(idle_conversations(sera, now)).distinct()
        merchant_ids = sorted(uow.session.execute(statement).scalars())
    closed = {merchant_id: close_idle_for_merchant(sera, merchant_id, now, batch=batch) for merchant_id in merchant_ids}
    return {merchant_id: count for merchant_id, count in closed.items() if count}


def close_idle_for_merchant(sera: Sera, merchant_id: str, now: datetime, *, batch: int = BATCH) -> int:
    """One shop's quiet conversations, closed in batches; returns how many."""
    total = 0
    for _ in range(ROUNDS):
        count = _close_batch(sera, merchant_id, now, batch)
        total += count
        if count < batch:
            break
    return total


def _close_batch(sera: Sera, merchant_id: str, now: datetime, batch: int) -> int:
    with sera.uow(merchant_id) as uow:
        found = uow.session.execute(
            select(Conversation, Call)
            .outerjoin(Call, Call.id == Conversation.call_id)
            .where(idle_conversations(sera, now))
            .order_by(Conversation.updated_at, Conversation.id)
            .limit(batch)
            .with_for_update(of=Conversation)
        ).all()
        if not found:
            return 0
        uow.vault.prefetch(merchant_id, [conversation.customer_id for conversation, _ in found])
        channels: Tally[str] = Tally()
        for conversation, call in found:
            close_conversation(uow, conversation, call, ended_at=conversation.updated_at, reason=IDLE)
            channels[conversation.channel] += 1
        audit.record(
            uow.session,
            merchant_id=merchant_id,
            actor="system:idle-sweep",
            action="conversations.closed_idle",
            target_type="merchant",
            target_id=merchant_id,
            details={"closed": len(found), "channels": dict(sorted(channels.items()))},
            at=now,
        )
        uow.commit()
    for channel, count in channels.items():
        CLOSED_IDLE.labels(channel=channel).inc(count)
    log.info("idle conversations closed", extra={"merchant": merchant_id, "closed": len(found)})
    return len(found)
