"""The one entry point through which a change reaches the shop's integrations.

A capability reports what happened here, in the transaction of the change: the signed webhooks
(``sera.integrations.webhooks``) and HubSpot (``sera.integrations.hubspot``) each take what they
need from it, so a new integration hooks in here rather than at every place an event starts.
"""

from __future__ import annotations

from typing import Any

from sera.integrations import hubspot, webhooks
from sera.storage.database import UnitOfWork


def emit(uow: UnitOfWork, event_type: str, data: dict[str, Any], *, customer_id: str | None = None) -> list[str]:
    """Queue the event for the shop's integrations; returns the webhook delivery ids.
    ``customer_id``: whom the event is about, if anyone."""
    ids = webhooks.emit(uow, event_type, data, customer_id=customer_id)
    hubspot.on_event(uow, event_type, data, customer_id=customer_id)
    return ids


def forget_customer(uow: UnitOfWork, customer_id: str) -> int:
    """An erased customer's events not yet sent to any integration are never sent."""
    return webhooks.forget_customer(uow, customer_id) + hubspot.forget_customer(uow, customer_id)
