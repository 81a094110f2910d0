"""Online-store checkouts: what a shopper left in a checkout, so it can be recovered.

Invariants:
- A checkout is keyed by (source, the provider's checkout id); recording the same
  delivery twice changes nothing, and an update older than the stored one is ignored
  (providers deliver out of order).
- Contact fields and the recovery URL are sealed under the shopper's own customer key
  (the merchant's when the shopper cannot be identified), so erasing the customer
  removes them; the row is deleted with the customer.
- Once completed, a checkout stays completed: an older "not completed" update cannot
  reopen it, so recovery never chases a paid order.
- Marketing consent is recorded as a Consent row only when the provider states it and
  it differs from the latest one recorded for that customer and channel.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select

from sera.customers.service import find_or_create_customer
from sera.storage.database import UnitOfWork, rows
from sera.storage.models import Checkout, Consent, Customer, new_id

CONSENT_SOURCE = "checkout"


@dataclass(frozen=True)
class CheckoutItem:
    title: str
    quantity: int
    price_cents: int | None


@dataclass(frozen=True)
class CheckoutData:
    """A checkout as a provider described it, already translated out of its wire format.

    ``phone`` is E.164 or None; ``sms_consent``/``email_consent`` are None when the
    provider did not say. ``customer_ref`` is the provider's id for the shopper.
    """

    source: str
    external_id: str
    updated_at: datetime
    token: str | None = None
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    recovery_url: str | None = None
    items: tuple[CheckoutItem, ...] = ()
    total_cents: int | None = None
    currency: str | None = None
    completed_at: datetime | None = None
    sms_consent: bool | None = None
    email_consent: bool | None = None
    customer_ref: str | None = None


@dataclass(frozen=True)
class CheckoutRecorded:
    checkout_id: str
    created: bool
    stale: bool  # an older update than the stored one: nothing changed
    customer_id: str | None = None
    consents: tuple[str, ...] = field(default=())  # channels whose consent was recorded


def _merchant(uow: UnitOfWork) -> str:
    if uow.merchant_id is None:
        raise RuntimeError("checkouts need a merchant-scoped unit of work")
    return uow.merchant_id


def find_checkout(
    uow: UnitOfWork, *, source: str, external_id: str | None, token: str | None = None
) -> Checkout | None:
    """By the provider's checkout id, else by its token."""
    conditions = []
    if external_id:
        conditions.append(Checkout.external_id == external_id)
    if token:
        conditions.append(Checkout.token == token)
    if not conditions:
        return None
    found = uow.session.execute(
        select(Checkout).where(Checkout.source == source, or_(*conditions)).order_by(Checkout.created_at)
    ).scalars()
    return next(iter(found), None)


def record_checkout(uow: UnitOfWork, data: CheckoutData, *, now: datetime) -> CheckoutRecorded:
    """Create or update the checkout from the provider's latest description of it."""
    merchant_id = _merchant(uow)
    row = find_checkout(uow, source=data.source, external_id=data.external_id, token=data.token)
    if row is not None and row.provider_updated_at is not None and data.updated_at < row.provider_updated_at:
        return CheckoutRecorded(row.id, created=False, stale=True, customer_id=row.customer_id)
    customer = _shopper(uow, data)
    created = row is None
    if row is None:
        row = Checkout(
            id=new_id("chk"), merchant_id=merchant_id, source=data.source, external_id=data.external_id, created_at=now
        )
        uow.session.add(row)
    row.external_id = data.external_id
    row.token = data.token or row.token
    row.customer_id = customer.id if customer else None
    uow.vault.seal(row, name=data.name, phone=data.phone, email=data.email, recovery_url=data.recovery_url)
    row.phone_bidx = uow.vault.phone_index(merchant_id, data.phone) if data.phone else None
    row.items = [{"title": i.title, "quantity": i.quantity, "price_cents": i.price_cents} for i in data.items]
    row.total_cents = data.total_cents
    row.currency = data.currency
    row.provider_updated_at = data.updated_at
    row.completed_at = row.completed_at or data.completed_at
    row.updated_at = now
    consents = _record_consents(uow, customer, data) if customer else ()
    uow.session.flush()
    return CheckoutRecorded(row.id, created, stale=False, customer_id=row.customer_id, consents=consents)


def _shopper(uow: UnitOfWork, data: CheckoutData) -> Customer | None:
    """The customer behind the checkout, by phone or email (created on first sight)."""
    if not data.phone and not data.email:
        return None
    customer = find_or_create_customer(uow, name=data.name, phone=data.phone, email=data.email)
    if data.customer_ref and not customer.external_id:
        customer.external_id = data.customer_ref
    return customer


def _record_consents(uow: UnitOfWork, customer: Customer, data: CheckoutData) -> tuple[str, ...]:
    recorded = []
    for channel, granted in (("sms", data.sms_consent), ("email", data.email_consent)):
        if granted is None or _latest_consent(uow, customer.id, channel) == granted:
            continue
        uow.session.add(
            Consent(
                id=new_id("con"),
                merchant_id=customer.merchant_id,
                customer_id=customer.id,
                channel=channel,
                purpose="marketing",
                granted=granted,
                source=f"{data.source}:{CONSENT_SOURCE}",
                recorded_at=data.updated_at,
            )
        )
        recorded.append(channel)
    return tuple(recorded)


def _latest_consent(uow: UnitOfWork, customer_id: str, channel: str) -> bool | None:
    uow.session.flush()
    return uow.session.execute(
        select(Consent.granted)
        .where(Consent.customer_id == customer_id, Consent.channel == channel, Consent.purpose == "marketing")
        .order_by(Consent.recorded_at.desc())
        .limit(1)
    ).scalar_one_or_none()


@dataclass(frozen=True)
class Completed:
    checkout_id: str
    newly: bool  # this order completed it (not an update of an order that already had)


def complete_checkout(
    uow: UnitOfWork,
    *,
    source: str,
    external_id: str | None,
    token: str | None,
    order_ref: str,
    completed_at: datetime,
    now: datetime,
) -> Completed | None:
    """Mark the checkout an order came from as completed (recovery stops on it).

    An order can arrive before its checkout does: then a completed placeholder is kept,
    and the checkout's own (older) updates fill it in without reopening it. Returns the
    checkout and whether this order completed it (an order's later updates do not), or None
    when the order names no checkout.
    """
    if not external_id and not token:
        return None
    row = find_checkout(uow, source=source, external_id=external_id, token=token)
    if row is None:
        row = Checkout(
            id=new_id("chk"),
            merchant_id=_merchant(uow),
            source=source,
            external_id=external_id or f"token:{token}",
            token=token,
            items=[],
            created_at=now,
            updated_at=now,
        )
        uow.session.add(row)
    newly = row.completed_at is None
    row.completed_at = row.completed_at or completed_at
    row.order_ref = row.order_ref or order_ref
    row.updated_at = now
    uow.session.flush()
    return Completed(row.id, newly)


def delete_checkouts_for_orders(uow: UnitOfWork, *, source: str, order_refs: Iterable[str]) -> int:
    """Delete the checkouts that became the named orders (a store's erasure request names them)."""
    refs = {str(ref) for ref in order_refs}
    if not refs:
        return 0
    return rows(uow.session.execute(delete(Checkout).where(Checkout.source == source, Checkout.order_ref.in_(refs))))


def customer_checkouts(uow: UnitOfWork, customer_id: str) -> list[dict[str, Any]]:
    """A customer's checkouts as plain data, for their access export."""
    found = uow.session.execute(
        select(Checkout).where(Checkout.customer_id == customer_id).order_by(Checkout.created_at)
    ).scalars()
    return [
        {
            **uow.vault.open_many(row, "name", "phone", "email", "recovery_url"),
            "items": row.items,
            "total_cents": row.total_cents,
            "currency": row.currency,
            "completed_at": row.completed_at.isoformat() if row.completed_at else None,
            "created_at": row.created_at.isoformat(),
        }
        for row in found
    ]


def open_checkouts(uow: UnitOfWork, *, older_than: timedelta, now: datetime) -> list[str]:
    """Ids of checkouts still not completed after ``older_than`` (what recovery acts on)."""
    cutoff = now - older_than
    return list(
        uow.session.execute(
            select(Checkout.id)
            .where(Checkout.completed_at.is_(None), Checkout.provider_updated_at < cutoff)
            .order_by(Checkout.provider_updated_at)
        ).scalars()
    )
