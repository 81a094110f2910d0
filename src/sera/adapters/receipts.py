"""Webhook deliveries seen before: a retried delivery finds its receipt and does nothing."""

from __future__ import annotations

from sera.storage.database import UnitOfWork, conflict_insert, rows
from sera.storage.models import WebhookReceipt, new_id


def first_delivery(uow: UnitOfWork, *, provider: str, event_id: str, topic: str | None = None) -> bool:
    """Record this delivery in the caller's transaction; False if it was seen already.

    The receipt commits (or rolls back) together with the work it guards, so a crash
    half-way leaves no receipt and the provider's retry does the work again. One
    ``INSERT ... ON CONFLICT DO NOTHING`` (no savepoint): a concurrent delivery of the
    same event waits for the first transaction and then finds its receipt.
    """
    connection = uow.session.connection()
    statement = (
        conflict_insert(connection)(WebhookReceipt)
        .values(
            id=new_id("whr"),
            provider=provider,
            event_id=event_id[:200],
            merchant_id=uow.merchant_id,
            topic=topic,
            received_at=uow.now(),
        )
        .on_conflict_do_nothing(index_elements=["provider", "event_id"])
    )
    return rows(connection.execute(statement, execution_options={"preserve_rowcount": True})) == 1
