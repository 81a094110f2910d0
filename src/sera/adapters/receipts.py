"""Webhook deliveries seen before: a retried delivery finds its receipt and does nothing."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from sera.storage.database import UnitOfWork
from sera.storage.models import WebhookReceipt, new_id


def first_delivery(uow: UnitOfWork, *, provider: str, event_id: str, topic: str | None = None) -> bool:
    """Record this delivery in the caller's transaction; False if it was seen already.

    The receipt commits (or rolls back) together with the work it guards, so a crash
    half-way leaves no receipt and the provider's retry does the work again.
    """
    try:
        with uow.session.begin_nested():
            uow.session.add(
                WebhookReceipt(
                    id=new_id("whr"),
                    provider=provider,
                    event_id=event_id[:200],
                    merchant_id=uow.merchant_id,
                    topic=topic,
                )
            )
        return True
    except IntegrityError:
        return False
