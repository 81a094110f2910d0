"""Shopify webhooks after their signature was checked: recorded fast, carried out in jobs.

Invariants:
- A delivery is recorded at most once (a receipt keyed by shop, topic and event id),
  together with its payload, sealed, in a ``shopify_events`` row: one transaction. The
  queue only ever gets that row's id (jobs carry ids, never personal data).
- A job deletes the row in the transaction that does the work, after locking it, so a
  job run twice (or two at once) does the work once. Compliance webhooks open privacy
  requests first and remember their ids on the row; a retry completes those instead of
  opening new ones.
- Rows still there after a few minutes are queued again by the outbox sweep: a lost
  enqueue costs minutes, never the event.
- Logs name the topic, the merchant and the row, never anything from the payload.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select

from sera.adapters.receipts import first_delivery
from sera.adapters.shopify.catalogue import remove_product, sync_product
from sera.adapters.shopify.installs import COMPLIANCE_TOPICS, WEBHOOK_TOPICS, mark_uninstalled
from sera.adapters.shopify.payloads import (
    SOURCE,
    CustomerRequest,
    PayloadError,
    parse_checkout,
    parse_customer_request,
    parse_order,
    parse_product,
    parse_product_deletion,
)
from sera.adapters.shopify.signatures import is_shop_domain
from sera.bootstrap import Sera
from sera.checkouts.service import complete_checkout, delete_checkouts_for_orders, record_checkout
from sera.crypto.envelope import DecryptionError
from sera.customers.phones import region_of_locale
from sera.merchants.service import merchant_id_for_domain
from sera.orders.service import redact_orders
from sera.outbound.report import announce_recovery
from sera.privacy.erasure import delete_shop, redact_customer
from sera.privacy.requests import complete_privacy_request
from sera.privacy.service import PrivacyRequestError, load_request, record_privacy_request
from sera.storage.database import UnitOfWork
from sera.storage.models import Customer, Merchant, ShopifyEvent, new_id

log = logging.getLogger("sera.shopify")

TOPICS = WEBHOOK_TOPICS + COMPLIANCE_TOPICS
PROCESS_JOB = "shopify.process_event"
ACTOR = "shopify:webhook"
REQUEUE_AFTER = timedelta(minutes=5)
REQUEUE_BATCH = 500


@dataclass(frozen=True)
class Delivery:
    """One verified webhook, as its headers and body described it."""

    topic: str
    shop: str
    event_id: str
    body: str  # the JSON exactly as Shopify signed it


def receive(sera: Sera, delivery: Delivery) -> str:
    """Record the delivery once and queue its job. Returns what happened (for logs and tests)."""
    if delivery.topic not in TOPICS:
        log.info("shopify webhook topic not handled", extra={"topic": delivery.topic[:80]})
        return "ignored_topic"
    merchant_id = merchant_id_for_domain(sera, delivery.shop) if is_shop_domain(delivery.shop) else None
    if merchant_id is None:
        log.info("shopify webhook for an unknown shop", extra={"topic": delivery.topic})
        return "unknown_shop"
    with sera.uow(merchant_id) as uow:
        key = f"{delivery.shop}:{delivery.topic}:{delivery.event_id}"
        if not first_delivery(uow, provider=SOURCE, event_id=key, topic=delivery.topic):
            return "duplicate"
        row = ShopifyEvent(id=new_id("she"), merchant_id=merchant_id, topic=delivery.topic, received_at=sera.clock())
        uow.vault.seal(row, payload=delivery.body)
        uow.session.add(row)
        uow.commit()
    _enqueue(sera, merchant_id, row.id)
    return "accepted"


def _enqueue(sera: Sera, merchant_id: str, event_id: str) -> None:
    if sera.jobs is None:
        log.warning("no job queue: shopify event left for the outbox sweep", extra={"event": event_id})
        return
    sera.jobs.enqueue(PROCESS_JOB, merchant_id, event_id)


def requeue_stale_events(sera: Sera, now: datetime) -> int:
    """Queue again the events whose job never ran (or keeps failing); returns how many."""
    with sera.uow(readonly=True) as uow:
        stale = uow.session.execute(
            select(ShopifyEvent.merchant_id, ShopifyEvent.id)
            .where(ShopifyEvent.received_at < now - REQUEUE_AFTER)
            .order_by(ShopifyEvent.received_at)
            .limit(REQUEUE_BATCH)
        ).all()
    for merchant_id, event_id in stale:
        _enqueue(sera, merchant_id, event_id)
    return len(stale)


# -- the job ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    merchant_id: str
    id: str
    topic: str
    payload: dict[str, Any]
    request_ids: list[str] | None
    region: str  # the shop's region, for phone numbers written without a country code


class _GoneError(Exception):
    """The event row was consumed by another run (or its shop deleted)."""


def process_event(sera: Sera, merchant_id: str, event_id: str) -> str:
    """Carry out one recorded webhook; safe to run twice. Returns what happened."""
    event = _load(sera, merchant_id, event_id)
    if event is None:
        return "gone"
    try:
        return _HANDLERS[event.topic](sera, event)
    except _GoneError:
        return "gone"
    except PayloadError:
        log.warning("shopify webhook payload unusable; dropped", extra={"topic": event.topic, "event": event.id})
        _drop(sera, event)
        return "dropped"


def _load(sera: Sera, merchant_id: str, event_id: str) -> Event | None:
    with sera.uow(merchant_id, readonly=True) as uow:
        row = uow.session.execute(select(ShopifyEvent).where(ShopifyEvent.id == event_id)).scalar_one_or_none()
        if row is None:
            return None
        locale = uow.session.execute(select(Merchant.locale).where(Merchant.id == merchant_id)).scalar_one()
        try:
            payload = json.loads(uow.vault.open(row, "payload") or "{}")
        except DecryptionError:
            payload = None  # the shop's key is gone: it is being deleted
    if not isinstance(payload, dict) or row.topic not in _HANDLERS:
        _drop(sera, Event(merchant_id, event_id, row.topic, {}, None, "US"))
        return None
    return Event(merchant_id, event_id, row.topic, payload, row.request_ids, region_of_locale(locale))


@contextmanager
def _consuming(sera: Sera, event: Event) -> Iterator[UnitOfWork]:
    """A transaction that holds the event row, does the work, and deletes the row with it."""
    with sera.uow(event.merchant_id) as uow:
        held = uow.session.execute(
            select(ShopifyEvent.id).where(ShopifyEvent.id == event.id).with_for_update()
        ).scalar_one_or_none()
        if held is None:
            raise _GoneError
        yield uow
        uow.session.execute(delete(ShopifyEvent).where(ShopifyEvent.id == event.id))
        uow.commit()


def _drop(sera: Sera, event: Event) -> None:
    with sera.uow(event.merchant_id) as uow:
        uow.session.execute(delete(ShopifyEvent).where(ShopifyEvent.id == event.id))
        uow.commit()


def _checkout(sera: Sera, event: Event) -> str:
    with _consuming(sera, event) as uow:
        recorded = record_checkout(uow, parse_checkout(event.payload, default_region=event.region), now=sera.clock())
    return "stale" if recorded.stale else "recorded"


def _order(sera: Sera, event: Event) -> str:
    order = parse_order(event.payload)
    now = sera.clock()
    with _consuming(sera, event) as uow:
        completed = complete_checkout(
            uow,
            source=SOURCE,
            external_id=order.checkout_id,
            token=order.checkout_token,
            order_ref=order.order_ref,
            completed_at=order.placed_at or now,
            now=now,
        )
        if completed is not None and completed.newly:
            announce_recovery(uow, completed.checkout_id)
    return "checkout_completed" if completed else "no_checkout"


def _product(sera: Sera, event: Event) -> str:
    with _consuming(sera, event) as uow:
        if event.topic == "products/delete":
            removed = remove_product(uow, parse_product_deletion(event.payload), now=sera.clock())
            return "removed" if removed else "ignored"
        return sync_product(uow, parse_product(event.payload), now=sera.clock())


def _uninstalled(sera: Sera, event: Event) -> str:
    mark_uninstalled(sera, event.merchant_id)
    _drop(sera, event)
    return "uninstalled"


def _shop_redact(sera: Sera, event: Event) -> str:
    """Shopify's last word on an uninstalled shop: delete it now (the event row goes with it)."""
    delete_shop(sera, event.merchant_id, actor="shopify:shop_redact")
    return "shop_deleted"


# -- compliance: customers/data_request and customers/redact ----------------------------------------


def _customer_request(sera: Sera, event: Event) -> str:
    """Open one privacy request per matching customer (one no-op request if none), complete them."""
    kind = "access" if event.topic == "customers/data_request" else "erasure"
    request_ids = event.request_ids
    if request_ids is None:
        request_ids = _open_requests(sera, event, kind)
    for request_id in request_ids:
        _complete(sera, event.merchant_id, request_id)
    _drop(sera, event)
    return f"{kind}_completed"


def _matching_customers(uow: UnitOfWork, request: CustomerRequest) -> list[str]:
    """Customers Shopify's customer may be: by their Shopify id, email or phone."""
    merchant_id = uow.merchant_id
    assert merchant_id is not None
    conditions = []
    if request.customer_ref:
        conditions.append(Customer.external_id == request.customer_ref)
    if request.email:
        conditions.append(Customer.email_bidx == uow.vault.email_index(merchant_id, request.email))
    if request.phone:
        conditions.append(Customer.phone_bidx == uow.vault.phone_index(merchant_id, request.phone))
    if not conditions:
        return []
    return list(uow.session.execute(select(Customer.id).where(or_(*conditions)).order_by(Customer.id)).scalars())


def _open_requests(sera: Sera, event: Event, kind: str) -> list[str]:
    request = parse_customer_request(event.payload, default_region=event.region)
    now = sera.clock()
    with sera.uow(event.merchant_id) as uow:
        row = uow.session.execute(
            select(ShopifyEvent).where(ShopifyEvent.id == event.id).with_for_update()
        ).scalar_one_or_none()
        if row is None:
            raise _GoneError
        if row.request_ids is not None:  # another run opened them meanwhile
            return list(row.request_ids)
        if kind == "erasure":
            redact_orders(uow, request.orders)
            delete_checkouts_for_orders(uow, source=SOURCE, order_refs=request.orders)
        details = f"Shopify {event.topic}" + (f" (data request {request.request_ref})" if request.request_ref else "")
        customers: list[str | None] = [*_matching_customers(uow, request)] or [None]
        opened = [
            record_privacy_request(
                uow, request_type=kind, customer_id=customer_id, source=SOURCE, now=now, actor=ACTOR, details=details
            ).id
            for customer_id in customers
        ]
        row.request_ids = opened
        uow.commit()
    return opened


def _complete(sera: Sera, merchant_id: str, request_id: str) -> None:
    """Complete the request; if an earlier run completed an erasure but died before erasing, erase."""
    try:
        complete_privacy_request(sera, merchant_id, request_id, actor=ACTOR)
        return
    except PrivacyRequestError:
        pass  # completed by an earlier run
    with sera.uow(merchant_id, readonly=True) as uow:
        request = load_request(uow, request_id)
        unfinished = request.type == "erasure" and request.customer_id is not None
        customer_id = request.customer_id
    if unfinished and customer_id is not None:
        redact_customer(sera, merchant_id, customer_id, actor=ACTOR)


_HANDLERS: dict[str, Callable[[Sera, Event], str]] = {
    "app/uninstalled": _uninstalled,
    "checkouts/create": _checkout,
    "checkouts/update": _checkout,
    "orders/create": _order,
    "orders/updated": _order,
    "products/create": _product,
    "products/update": _product,
    "products/delete": _product,
    "customers/data_request": _customer_request,
    "customers/redact": _customer_request,
    "shop/redact": _shop_redact,
}
