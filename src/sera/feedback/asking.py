"""The feedback question: which ended conversations get one, and what it says when it goes.

Invariants:
- It is one more kind of outbound action (``FEEDBACK``): the outbound engine sends it with
  every rule its other messages obey (do-not-contact, quiet hours in the recipient's time,
  the daily cap, the number's rate, exactly once). Nothing here sends anything.
- Planned by the dispatcher (every minute) for each call or text conversation that ended
  since the shop turned feedback on, with a known customer: one action per conversation
  (``feedback_key``, unique), due at once. The end of a text thread is only known once it
  has been quiet for the channel's idle timeout (24 h), so the look-back covers it.
- At most one question per customer per 30 days (``ONCE_PER``), checked when planning (a
  conversation of someone asked lately is recorded ``skipped``/``recently-asked``) and again
  when sending.
- Checked when sending, as every outbound message is: feedback still on, the customer still
  known with a phone, SMS consent (the latest SMS consent, for either purpose, is a yes),
  not on the do-not-contact list, not asked lately.
- Quiet hours move the text to the next allowed moment; one that could not go within
  ``STALE_AFTER`` of its planning (it would be about yesterday's visit, or older) is
  dropped as ``expired``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, func, literal, or_, select

from sera.config import Settings
from sera.customers.service import is_do_not_contact
from sera.feedback.settings import feedback_settings
from sera.storage.database import UnitOfWork
from sera.storage.models import Call, Consent, Conversation, Customer, OutboundAction, new_id

if TYPE_CHECKING:  # the outbound engine imports this module to render its feedback actions
    from sera.outbound.drafts import Draft, Skip, Subjects

FEEDBACK = "feedback"
CHANNELS = ("voice", "sms")  # a call or a text conversation; web chats are not asked
ONCE_PER = timedelta(days=30)
STALE_AFTER = timedelta(hours=24)
GRACE = timedelta(hours=6)  # beyond a channel's idle timeout: how far back an ended conversation is looked for
PLAN_BATCH = 500
RECENTLY_ASKED = "recently-asked"


def feedback_key(conversation_id: str) -> str:
    return f"feedback:{conversation_id}"


def lookback(settings: Settings) -> dict[str, timedelta]:
    """Per channel, how long after its end a conversation may still be asked about: its idle
    timeout (a conversation closed for going quiet ends at its last activity) and some slack."""
    return {channel: settings.idle_timeout(channel) + GRACE for channel in CHANNELS}


def plan_feedback(uow: UnitOfWork, now: datetime, windows: Mapping[str, timedelta]) -> list[tuple[str, datetime]]:
    """Record a question for each conversation that ended lately; returns the (action id, due)
    pairs to send. Nothing when the shop does not ask for feedback."""
    config = feedback_settings(uow)
    if not config.enabled or config.enabled_at is None or uow.merchant_id is None:
        return []
    customer = func.coalesce(Conversation.customer_id, Call.customer_id)
    planned = select(OutboundAction.id).where(OutboundAction.idempotency_key == literal("feedback:") + Conversation.id)
    ended = uow.session.execute(
        select(Conversation.id, customer.label("customer_id"), Call.ended_at)
        .join(Call, Call.id == Conversation.call_id)
        .where(
            Conversation.status == "ended",
            or_(*(and_(Conversation.channel == ch, Call.ended_at >= now - window) for ch, window in windows.items())),
            Call.ended_at > config.enabled_at,
            Call.ended_at <= now,
            customer.is_not(None),
            ~planned.exists(),
        )
        .order_by(Call.ended_at, Conversation.id)
        .limit(PLAN_BATCH)
    ).all()
    asked = asked_lately(uow, {row.customer_id for row in ended}, now)
    created: list[tuple[str, datetime]] = []
    for row in ended:
        fresh = row.customer_id not in asked
        asked.add(row.customer_id)  # a second conversation of the same customer in this batch waits its turn
        action = OutboundAction(
            id=new_id("out"),
            merchant_id=uow.merchant_id,
            customer_id=row.customer_id,
            kind=FEEDBACK,
            channel="sms",
            subject_id=row.id,
            status="scheduled" if fresh else "skipped",
            reason=None if fresh else RECENTLY_ASKED,
            due_at=now,
            attempt=1,
            idempotency_key=feedback_key(row.id),
            created_at=now,
            updated_at=now,
        )
        uow.session.add(action)
        if fresh:
            created.append((action.id, now))
    uow.session.flush()
    return created


def asked_lately(uow: UnitOfWork, customer_ids: set[str], now: datetime, *, besides: str | None = None) -> set[str]:
    """Customers with a question on its way, or sent within ``ONCE_PER``."""
    if not customer_ids:
        return set()
    statement = select(OutboundAction.customer_id).where(
        OutboundAction.kind == FEEDBACK,
        OutboundAction.customer_id.in_(customer_ids),
        or_(
            OutboundAction.status.in_(("scheduled", "sending")),
            and_(OutboundAction.status == "sent", OutboundAction.sent_at >= now - ONCE_PER),
        ),
    )
    if besides is not None:
        statement = statement.where(OutboundAction.id != besides)
    return {customer_id for customer_id in uow.session.execute(statement).scalars() if customer_id}


def sms_consented(uow: UnitOfWork, customer_id: str) -> bool:
    """The customer's latest SMS consent, for either purpose, is a yes."""
    latest: dict[str, bool] = {}
    for purpose, granted in uow.session.execute(
        select(Consent.purpose, Consent.granted)
        .where(Consent.customer_id == customer_id, Consent.channel == "sms")
        .order_by(Consent.recorded_at, Consent.id)
    ):
        latest[purpose] = granted
    return any(latest.values())


def render_feedback(uow: UnitOfWork, subjects: Subjects, action: OutboundAction, now: datetime) -> Draft | Skip:
    """The question, when it may go (quiet hours, caps and rate aside); else why not."""
    from sera.outbound.drafts import Draft, Skip

    config = feedback_settings(uow)
    if not config.enabled:
        return Skip("disabled")
    if now - action.created_at > STALE_AFTER:
        return Skip("expired")
    customer = None
    if action.customer_id is not None:
        customer = uow.session.execute(select(Customer).where(Customer.id == action.customer_id)).scalar_one_or_none()
    phone = uow.vault.open(customer, "phone") if customer is not None else None
    if customer is None or not phone:
        return Skip("no-phone")
    if subjects.sender is None:
        return Skip("channel-unavailable")
    if is_do_not_contact(uow, phone):
        return Skip("do-not-contact")
    if not sms_consented(uow, customer.id):
        return Skip("no-consent")
    if asked_lately(uow, {customer.id}, now, besides=action.id):
        return Skip(RECENTLY_ASKED)
    return Draft(phone, subjects.sender, config.question, customer.id)
