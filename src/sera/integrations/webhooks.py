"""Signed webhooks: a shop's own systems (a CRM, an automation tool, its code) hear of events.

Invariants:
- An event becomes one delivery per enabled endpoint subscribed to it, in the transaction
  of the change it reports: a change that rolls back sends nothing, one that commits is
  delivered at least once. A delivery's id is its stable ``webhook-id``; retries reuse it.
- Payloads carry ids and what the event needs (a contact's number only in events about
  contacts), never transcripts or summaries. A body is sealed, under the customer's key
  when the event is about one (erasure shreds it), and dropped once delivered.
- Delivery is claimed before the endpoint is called; failures are retried with backoff
  for three days, then the delivery is ``failed`` (and can be replayed); an endpoint that
  has failed for a day is disabled, audited, logged, and the shop told (``webhook_endpoint_disabled``).
- An erased customer's undelivered events are never sent or replayed (``customer.erased``
  itself carries ids only, and goes).
- Endpoint URLs are checked here (https, no credentials, no literal private address);
  the sender checks the address it connects to (``sera.adapters.webhooks``).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy import select, update

from sera import audit
from sera.bootstrap import Sera
from sera.crypto.envelope import DecryptionError
from sera.notifications.service import notify
from sera.storage import attempts
from sera.storage.database import UnitOfWork, clock_of, rows
from sera.storage.models import WebhookDelivery, WebhookEndpoint, new_id
from sera.storage.paging import Page, PageRequest, keyset, page_of

log = logging.getLogger("sera.webhooks")

EVENTS = (
    "call.completed",
    "appointment.booked",
    "appointment.moved",
    "appointment.cancelled",
    "ticket.created",
    "ticket.updated",
    "customer.opted_out",
    "customer.opted_in",
    "customer.erased",
    "privacy_request.received",
    "privacy_request.completed",
    "checkout.recovered",
)
RETRY_FOR = timedelta(days=3)
DISABLE_AFTER = timedelta(days=1)
FIRST_RETRY = timedelta(seconds=10)
LONGEST_RETRY = timedelta(hours=6)
CLAIM = timedelta(seconds=60)
DELIVER_JOB = "webhooks.deliver"  # one delivery id


class WebhookError(ValueError):
    """The endpoint cannot be saved as asked (the message says why)."""


class EndpointNotFoundError(LookupError):
    pass


class DeliveryNotFoundError(LookupError):
    pass


class Sender(Protocol):
    """Posts a signed event; returns the HTTP status, raises ``sera.adapters.http`` errors."""

    def deliver(self, url: str, secret: str, message_id: str, timestamp: datetime, body: str) -> int: ...


@dataclass(frozen=True)
class EndpointView:
    id: str
    url: str
    events: list[str]
    enabled: bool
    created_at: datetime
    failing_since: datetime | None
    disabled_reason: str | None


@dataclass(frozen=True)
class DeliveryView:
    id: str
    endpoint_id: str
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def _endpoint_view(row: WebhookEndpoint) -> EndpointView:
    return EndpointView(
        row.id, row.url, list(row.events), row.enabled, row.created_at, row.failing_since, row.disabled_reason
    )


def _delivery_view(row: WebhookDelivery) -> DeliveryView:
    return DeliveryView(
        row.id,
        row.endpoint_id,
        row.event_type,
        row.status,
        row.attempts,
        row.last_status_code,
        row.last_error,
        row.created_at,
        row.delivered_at,
    )


# -- endpoints ---------------------------------------------------------------------------------


def check_url(url: str, *, allow_private: bool, require_https: bool) -> str:
    """The endpoint URL, or WebhookError saying what is wrong with it."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise WebhookError("the URL must be an absolute http(s) URL")
    if require_https and parts.scheme != "https":
        raise WebhookError("the URL must use https")
    if parts.username or parts.password:
        raise WebhookError("the URL must not carry credentials")
    if not allow_private:
        host = parts.hostname.rstrip(".").lower()
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if host == "localhost" or host.endswith(".localhost") or (address is not None and not address.is_global):
            raise WebhookError("the URL must not point at a private, loopback or link-local address")
    return url.strip()


def _events(events: Sequence[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise WebhookError(f"unknown events: {', '.join(unknown)} (known: {', '.join(EVENTS)})")
    if not events:
        raise WebhookError("subscribe to at least one event")
    return sorted(set(events))


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def create_endpoint(
    uow: UnitOfWork, url: str, events: Sequence[str], *, actor: str, allow_private: bool, require_https: bool
) -> tuple[EndpointView, str]:
    """A new endpoint and its signing secret (shown once)."""
    if uow.merchant_id is None:
        raise RuntimeError("endpoints belong to a merchant")
    row = WebhookEndpoint(
        id=new_id("whe"),
        merchant_id=uow.merchant_id,
        url=check_url(url, allow_private=allow_private, require_https=require_https),
        events=_events(events),
        enabled=True,
    )
    secret = new_secret()
    uow.vault.seal(row, secret=secret)
    uow.session.add(row)
    uow.session.flush()
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action="webhook_endpoint.created",
        target_type="webhook_endpoint",
        target_id=row.id,
        details={"events": row.events},
    )
    return _endpoint_view(row), secret


def _endpoint(uow: UnitOfWork, endpoint_id: str) -> WebhookEndpoint:
    row = uow.session.execute(select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)).scalar_one_or_none()
    if row is None:
        raise EndpointNotFoundError(endpoint_id)
    return row


def get_endpoint(uow: UnitOfWork, endpoint_id: str) -> EndpointView:
    return _endpoint_view(_endpoint(uow, endpoint_id))


def list_endpoints(uow: UnitOfWork, request: PageRequest) -> Page[EndpointView]:
    stmt = keyset(select(WebhookEndpoint), WebhookEndpoint.created_at, WebhookEndpoint.id, request)
    found = uow.session.execute(stmt).scalars().all()
    kept, cursor = page_of(found, request, lambda r: (r.created_at, r.id))
    return Page([_endpoint_view(r) for r in kept], cursor)


def update_endpoint(
    uow: UnitOfWork,
    endpoint_id: str,
    *,
    actor: str,
    allow_private: bool,
    require_https: bool,
    url: str | None = None,
    events: Sequence[str] | None = None,
    enabled: bool | None = None,
) -> EndpointView:
    """Change an endpoint; turning it on again clears its failure record."""
    row = _endpoint(uow, endpoint_id)
    if url is not None:
        row.url = check_url(url, allow_private=allow_private, require_https=require_https)
    if events is not None:
        row.events = _events(events)
    if enabled is not None:
        row.enabled = enabled
        if enabled:
            row.failing_since, row.disabled_reason = None, None
    row.updated_at = clock_of(uow.session)
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action="webhook_endpoint.updated",
        target_type="webhook_endpoint",
        target_id=row.id,
        details={"events": row.events, "enabled": row.enabled},
    )
    return _endpoint_view(row)


def delete_endpoint(uow: UnitOfWork, endpoint_id: str, *, actor: str) -> None:
    row = _endpoint(uow, endpoint_id)
    uow.session.delete(row)
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action="webhook_endpoint.deleted",
        target_type="webhook_endpoint",
        target_id=endpoint_id,
    )


# -- events ------------------------------------------------------------------------------------


def emit(uow: UnitOfWork, event_type: str, data: dict[str, Any], *, customer_id: str | None = None) -> list[str]:
    """Queue the event for every enabled endpoint of the shop subscribed to it (in the caller's
    transaction); returns the delivery ids. ``customer_id``: whom the event is about, if anyone."""
    if event_type not in EVENTS:
        raise ValueError(f"unknown event {event_type!r}")
    if uow.merchant_id is None:
        raise RuntimeError("events belong to a merchant")
    endpoints = uow.session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.events).where(
            WebhookEndpoint.merchant_id == uow.merchant_id, WebhookEndpoint.enabled.is_(True)
        )
    ).all()
    now = clock_of(uow.session)
    ids = []
    for endpoint_id, events in endpoints:
        if event_type not in events:
            continue
        delivery = WebhookDelivery(
            id=new_id("msg"),
            merchant_id=uow.merchant_id,
            endpoint_id=endpoint_id,
            event_type=event_type,
            customer_id=customer_id,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        body = {"type": event_type, "timestamp": now.isoformat(timespec="seconds"), "data": data}
        uow.vault.seal(delivery, payload=json.dumps(body, separators=(",", ":"), default=str))
        uow.session.add(delivery)
        ids.append(delivery.id)
    if ids:
        uow.session.flush()
        HANDED_OVER.after_commit(uow, ids)
    return ids


HANDED_OVER = attempts.HandOver("webhook delivery")


def forget_customer(uow: UnitOfWork, customer_id: str) -> int:
    """An erased customer's undelivered events are never sent: their bodies go."""
    return rows(
        uow.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.customer_id == customer_id, WebhookDelivery.status.in_(("pending", "failed")))
            .values(status="erased", payload=None, next_attempt_at=None),
            execution_options={"synchronize_session": False},
        )
    )


# -- deliveries --------------------------------------------------------------------------------


def list_deliveries(uow: UnitOfWork, endpoint_id: str, request: PageRequest) -> Page[DeliveryView]:
    _endpoint(uow, endpoint_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    stmt = keyset(query, WebhookDelivery.created_at, WebhookDelivery.id, request)
    found = uow.session.execute(stmt).scalars().all()
    kept, cursor = page_of(found, request, lambda r: (r.created_at, r.id))
    return Page([_delivery_view(r) for r in kept], cursor)


def replay(uow: UnitOfWork, delivery_id: str, *, actor: str) -> DeliveryView:
    """Send a failed delivery again, under the same ``webhook-id``."""
    row = uow.session.execute(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)).scalar_one_or_none()
    if row is None:
        raise DeliveryNotFoundError(delivery_id)
    if row.status == "erased" or (row.status != "delivered" and row.payload is None):
        raise WebhookError("this event was about a customer since erased: it is never sent again")
    if row.status == "delivered":
        raise WebhookError("this event was delivered, and its body is not kept after delivery")
    row.status, row.next_attempt_at, row.claimed_until = "pending", clock_of(uow.session), None
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action="webhook_delivery.replayed",
        target_type="webhook_delivery",
        target_id=row.id,
    )
    HANDED_OVER.after_commit(uow, [row.id])
    return _delivery_view(row)


def take_due(sera: Sera, now: datetime, limit: int = 2000) -> list[str]:
    """Pending deliveries due now that no worker holds."""
    with sera.uow() as uow:
        ids = attempts.take_due(uow, WebhookDelivery, now, CLAIM, limit)
        uow.commit()
    return ids


def backoff(tries: int) -> timedelta:
    return attempts.backoff(tries, FIRST_RETRY, LONGEST_RETRY)


@dataclass(frozen=True)
class _Claimed:
    merchant_id: str
    url: str
    secret: str
    body: str
    created_at: datetime


def _claim(sera: Sera, delivery_id: str, now: datetime) -> _Claimed | None:
    with sera.uow() as uow:
        claimed = attempts.claim(uow, WebhookDelivery, delivery_id, now, CLAIM)
        found = uow.session.execute(
            select(WebhookDelivery, WebhookEndpoint)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(WebhookDelivery.id == delivery_id)
        ).first()
        uow.commit()
        if not claimed or found is None:
            return None
        delivery, endpoint = found
        if not endpoint.enabled:
            return None
        try:
            body = uow.vault.open(delivery, "payload")
        except DecryptionError:  # the customer was erased: their key is gone
            body = None
        if body is None:
            _finish(sera, delivery_id, status="erased")
            return None
        return _Claimed(
            delivery.merchant_id, endpoint.url, uow.vault.open(endpoint, "secret") or "", body, delivery.created_at
        )


def _finish(sera: Sera, delivery_id: str, *, status: str) -> None:
    with sera.uow() as uow:
        uow.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(status=status, payload=None, claimed_until=None, next_attempt_at=None)
        )
        uow.commit()


def deliver(sera: Sera, sender: Sender, delivery_id: str) -> str | None:
    """One attempt at a delivery: ``delivered``, ``retry``, ``failed`` (three days of failures),
    or None when it is not due, held by another worker, or nothing is left to send."""
    now = sera.clock()
    claimed = _claim(sera, delivery_id, now)
    if claimed is None:
        return None
    status: int | None = None
    error = None
    try:
        status = sender.deliver(claimed.url, claimed.secret, delivery_id, now, claimed.body)
    except Exception as exc:  # whatever went wrong, the delivery is tried again
        status = getattr(exc, "status", None)
        error = str(exc)[:120] or type(exc).__name__
    ok = status is not None and 200 <= status < 300
    if not ok and error is None:
        error = f"answered {status}"
    return _settle(sera, claimed, delivery_id, ok, status, error)


def _settle(sera: Sera, claimed: _Claimed, delivery_id: str, ok: bool, status: int | None, error: str | None) -> str:
    now = sera.clock()
    with sera.uow(claimed.merchant_id) as uow:
        row = uow.session.get(WebhookDelivery, delivery_id)
        if row is None or row.status != "pending":
            return "settled"
        endpoint = uow.session.get(WebhookEndpoint, row.endpoint_id)
        row.claimed_until, row.last_status_code, row.last_error = None, status, error
        if ok:
            row.status, row.delivered_at, row.payload = "delivered", now, None
            outcome = "delivered"
            if endpoint is not None:
                endpoint.failing_since = None
        else:
            give_up = now - claimed.created_at >= RETRY_FOR
            row.status = "failed" if give_up else "pending"
            row.next_attempt_at = None if give_up else now + backoff(row.attempts)
            outcome = "failed" if give_up else "retry"
            if endpoint is not None:
                _failing(uow, endpoint, now)
        uow.commit()
    if not ok:
        log.warning("webhook not delivered", extra={"delivery": delivery_id, "status": status, "outcome": outcome})
    return outcome


def _failing(uow: UnitOfWork, endpoint: WebhookEndpoint, now: datetime) -> None:
    if endpoint.failing_since is None:
        endpoint.failing_since = now
    elif endpoint.enabled and now - endpoint.failing_since >= DISABLE_AFTER:
        endpoint.enabled = False
        endpoint.disabled_reason = "failing for a day"
        audit.record(
            uow.session,
            merchant_id=uow.merchant_id,
            actor="system:webhooks",
            action="webhook_endpoint.disabled",
            target_type="webhook_endpoint",
            target_id=endpoint.id,
            details={"reason": endpoint.disabled_reason},
            at=now,
        )
        log.warning("webhook endpoint disabled after a day of failures", extra={"endpoint": endpoint.id})
        context = {"endpoint_id": endpoint.id, "host": urlsplit(endpoint.url).hostname or "its address"}
        notify(uow, "webhook_endpoint_disabled", key=f"webhook_endpoint:{endpoint.id}:disabled:{now.isoformat()}",
               context=context, now=now)  # fmt: skip
