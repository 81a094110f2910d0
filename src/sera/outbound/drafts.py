"""What an intended message says, rendered at send time from sealed data, or why it
must not go (a skip) or not yet (a wait).

Rendering is deterministic: the same action, rendered again after a crash, gives the
same text, which is what reconciliation compares against the provider's message list.
What a batch of actions is about (checkouts, appointments, customers, consents, the
do-not-contact list) is loaded with a few queries, not a few per action.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy import select

from sera.agent.phrasing import say_when
from sera.feedback.asking import FEEDBACK, render_feedback
from sera.outbound.confirmations import BOOKED, CANCELLED, MOVED
from sera.outbound.settings import ShopOutbound
from sera.storage.database import UnitOfWork
from sera.storage.models import (
    Appointment,
    Checkout,
    Consent,
    Customer,
    DoNotContact,
    Merchant,
    MerchantPhoneNumber,
    OutboundAction,
    Service,
)

RECOVERY = "abandoned_checkout"
REMINDER = "reminder"
OPT_OUT = "Reply STOP to opt out."


@dataclass(frozen=True)
class Draft:
    """A message (or a call) ready to go. A call's ``body`` is the message it leaves on an
    answering machine; what it says to a person is written when the call is answered
    (``sera.outbound.calls``)."""

    to: str
    from_: str
    body: str
    customer_id: str | None
    channel: str = "sms"


@dataclass(frozen=True)
class Skip:
    reason: str


@dataclass(frozen=True)
class Wait:
    until: datetime
    reason: str


def recovery_key(checkout_id: str, attempt: int) -> str:
    return f"checkout:{checkout_id}:{attempt}"


def reminder_key(appointment_id: str, start: datetime) -> str:
    return f"reminder:{appointment_id}:{int(start.timestamp())}"


def shop_number(uow: UnitOfWork) -> str | None:
    """The number the shop's messages come from (its first, so a customer always sees the same one)."""
    return uow.session.execute(
        select(MerchantPhoneNumber.number).order_by(MerchantPhoneNumber.number).limit(1)
    ).scalar_one_or_none()


@dataclass(frozen=True)
class Subjects:
    """Everything the actions of one batch are about."""

    merchant: Merchant
    shop: ShopOutbound
    sender: str | None
    checkouts: dict[str, Checkout]
    appointments: dict[str, tuple[Appointment, str]]  # with the service's name
    customers: dict[str, Customer]
    consented: set[str]  # customers whose latest SMS marketing consent says yes
    call_consented: dict[str, set[str]]  # purpose -> customers whose latest written consent to calls says yes
    listed: set[str]  # blind indexes of numbers on the do-not-contact list

    @classmethod
    def load(cls, uow: UnitOfWork, merchant: Merchant, actions: Iterable[OutboundAction]) -> Subjects:
        subject_ids = {a.subject_id for a in actions if a.subject_id}
        checkouts = _by_id(uow, Checkout, subject_ids)
        appointments = {
            row.id: (row, service)
            for row, service in uow.session.execute(
                select(Appointment, Service.name)
                .join(Service, Service.id == Appointment.service_id)
                .where(Appointment.id.in_(subject_ids))
            )
        }
        customers = _by_id(uow, Customer, {a.customer_id for a, _ in appointments.values() if a.customer_id})
        owners = {c.customer_id for c in checkouts.values() if c.customer_id} | set(customers)
        uow.vault.prefetch(merchant.id, owners)
        numbers = {c.phone_bidx for c in checkouts.values()} | {c.phone_bidx for c in customers.values()}
        return cls(
            merchant=merchant,
            shop=ShopOutbound.parse(merchant.settings),
            sender=shop_number(uow),
            checkouts=checkouts,
            appointments=appointments,
            customers=customers,
            consented=_consented(uow, {c.customer_id for c in checkouts.values() if c.customer_id}),
            call_consented={
                purpose: _consented(uow, owners, channel="voice", purpose=purpose)
                for purpose in ("marketing", "transactional")
            },
            listed=_listed(uow, {n for n in numbers if n}),
        )


Row = TypeVar("Row", Checkout, Customer)


def _by_id(uow: UnitOfWork, model: type[Row], ids: set[str]) -> dict[str, Row]:
    if not ids:
        return {}
    return {row.id: row for row in uow.session.execute(select(model).where(model.id.in_(ids))).scalars()}


def _consented(
    uow: UnitOfWork, customer_ids: set[str], *, channel: str = "sms", purpose: str = "marketing"
) -> set[str]:
    """Customers whose latest consent recorded for this channel and purpose is a yes."""
    latest: dict[str, bool] = {}
    if customer_ids:
        for customer_id, granted in uow.session.execute(
            select(Consent.customer_id, Consent.granted)
            .where(Consent.customer_id.in_(customer_ids), Consent.channel == channel, Consent.purpose == purpose)
            .order_by(Consent.recorded_at, Consent.id)
        ):
            latest[customer_id] = granted
    return {customer_id for customer_id, granted in latest.items() if granted}


def _listed(uow: UnitOfWork, indexes: set[str]) -> set[str]:
    if not indexes:
        return set()
    return set(
        uow.session.execute(select(DoNotContact.phone_bidx).where(DoNotContact.phone_bidx.in_(indexes))).scalars()
    )


def render(uow: UnitOfWork, subjects: Subjects, action: OutboundAction, now: datetime) -> Draft | Skip | Wait:
    if action.kind == RECOVERY:
        return _recovery(uow, subjects, action, now)
    if action.kind == FEEDBACK:
        return render_feedback(uow, subjects, action, now)
    return _appointment(uow, subjects, action, now)


def _recovery(uow: UnitOfWork, subjects: Subjects, action: OutboundAction, now: datetime) -> Draft | Skip | Wait:
    recovery = subjects.shop.recovery
    if not recovery.enabled:
        return Skip("disabled")
    checkout = subjects.checkouts.get(action.subject_id or "")
    if checkout is None:
        return Skip("checkout-gone")  # erased with its customer, or past retention
    if checkout.completed_at is not None:
        return Skip("order-completed")
    if checkout.provider_updated_at is not None and checkout.provider_updated_at + recovery.delay > now:
        return Wait(checkout.provider_updated_at + recovery.delay, "checkout-updated")
    fields = uow.vault.open_many(checkout, "name", "phone", "recovery_url")
    if not fields["phone"]:
        return Skip("no-phone")
    if subjects.sender is None:
        return Skip("channel-unavailable")
    if checkout.phone_bidx in subjects.listed:
        return Skip("do-not-contact")
    if action.channel == "call":
        if checkout.customer_id not in subjects.call_consented["marketing"]:
            return Skip("no-call-consent")
        return Draft(
            fields["phone"],
            subjects.sender,
            voicemail(subjects.merchant, subjects.sender),
            checkout.customer_id,
            "call",
        )
    if checkout.customer_id not in subjects.consented:
        return Skip("no-consent")
    if not fields["recovery_url"]:
        return Skip("no-link")
    first = (fields["name"] or "").strip().split(" ")[0] or "there"
    body = (
        f"Hi {first}, you left something in your cart at {subjects.merchant.name}. "
        f"Finish your order here: {fields['recovery_url']} {OPT_OUT}"
    )
    return Draft(fields["phone"], subjects.sender, body, checkout.customer_id)


def _key_start(action: OutboundAction) -> int | None:
    """The appointment start an appointment message was meant for (the last part of its key)."""
    tail = action.idempotency_key.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _appointment(uow: UnitOfWork, subjects: Subjects, action: OutboundAction, now: datetime) -> Draft | Skip | Wait:
    shop = subjects.shop
    if not (shop.reminders.enabled if action.kind == REMINDER else shop.confirmations):
        return Skip("disabled")
    found = subjects.appointments.get(action.subject_id or "")
    if found is None:
        return Skip("appointment-changed")
    appointment, service = found
    if action.kind == CANCELLED:
        if appointment.status != "cancelled":
            return Skip("appointment-changed")
    elif appointment.status != "booked" or _key_start(action) != int(appointment.start_at.timestamp()):
        return Skip("appointment-changed")  # a newer message (moved, cancelled) supersedes this one
    elif appointment.start_at <= now:
        return Skip("expired")
    customer = subjects.customers.get(appointment.customer_id or "")
    phone = uow.vault.open(customer, "phone") if customer is not None else None
    if not phone or customer is None:
        return Skip("no-phone")
    if subjects.sender is None:
        return Skip("channel-unavailable")
    if customer.phone_bidx in subjects.listed:
        return Skip("do-not-contact")
    if action.channel == "call":  # a reminder: the customer's appointment, either purpose of consent will do
        if not any(customer.id in ids for ids in subjects.call_consented.values()):
            return Skip("no-call-consent")
        return Draft(phone, subjects.sender, voicemail(subjects.merchant, subjects.sender), customer.id, "call")
    name = subjects.merchant.name
    when = say_when(appointment.start_at.astimezone(ZoneInfo(subjects.merchant.timezone)))
    texts = {
        REMINDER: f"Reminder: your {service} at {name} is {when}.",
        BOOKED: f"You're booked: {service} at {name}, {when}.",
        MOVED: f"Your {service} at {name} is now {when}.",
        CANCELLED: f"Your {service} at {name} on {when} is cancelled.",
    }
    return Draft(phone, subjects.sender, f"{texts[action.kind]} {OPT_OUT}", appointment.customer_id)


def voicemail(merchant: Merchant, sender: str | None) -> str:
    """What a call leaves on an answering machine: who called and the number to call back,
    nothing about the customer or why (anyone may play the message back)."""
    number = sender or ""
    try:
        spoken = phonenumbers.format_number(phonenumbers.parse(number), phonenumbers.PhoneNumberFormat.NATIONAL)
    except phonenumbers.NumberParseException:
        spoken = number
    return f"Hello, this is {merchant.name} calling. Please call us back at {spoken}. Thank you, goodbye."
