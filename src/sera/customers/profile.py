"""A customer as the dashboard shows them: found by name, phone or email, with their history.

- Phone and email are found exactly, through the blind indexes, as the API finds them.
- A name cannot be looked up by index (it is sealed and has none): a search decrypts the
  names of at most ``NAME_SCAN`` customers a page, newest first, and pages on from where
  it stopped. Nothing decrypted is stored or logged.
- The history is bounded (``HISTORY`` of each kind, newest first); the full record is the
  access export (``sera.privacy.export``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from sera import audit
from sera.booking.service import AppointmentView, appointment_query, appointment_views
from sera.calls.service import CallView, call_view
from sera.customers.service import CustomerView, correct_customer, get_customer, list_customers, view
from sera.orders.ports import OrderInfo, OrdersUnavailableError
from sera.orders.source import orders_for
from sera.storage.database import UnitOfWork
from sera.storage.models import Appointment, Call, Consent, Customer, Message, Ticket
from sera.storage.paging import Page, PageRequest, encode_cursor, keyset

NAME_SCAN = 2000  # customers whose names one search page decrypts, at most
SCAN_BATCH = 200
HISTORY = 50
PHONE_SHAPE = re.compile(r"^\+?[\d\s().-]{6,}$")


def search_customers(uow: UnitOfWork, text: str, request: PageRequest) -> Page[CustomerView]:
    """Customers matching ``text``: an email or a phone number exactly, else a part of the name
    (case-insensitive). Raises ``InvalidPhoneError`` for a number that is none."""
    text = text.strip()
    if not text:
        return list_customers(uow, request)
    if "@" in text:
        return _by_email(uow, text)
    if PHONE_SHAPE.fullmatch(text):
        return list_customers(uow, request, phone=text)
    return _by_name(uow, text.casefold(), request)


def _by_email(uow: UnitOfWork, email: str) -> Page[CustomerView]:
    assert uow.merchant_id is not None
    index = uow.vault.email_index(uow.merchant_id, email)
    rows = uow.session.execute(select(Customer).where(Customer.email_bidx == index)).scalars().all()
    return Page([view(uow, c) for c in rows], None)


def _by_name(uow: UnitOfWork, needle: str, request: PageRequest) -> Page[CustomerView]:
    assert uow.merchant_id is not None
    limit = max(1, min(request.limit, HISTORY))
    found: list[Customer] = []
    cursor, scanned, last = request.cursor, 0, None
    while scanned < NAME_SCAN and len(found) < limit:
        size = min(SCAN_BATCH, NAME_SCAN - scanned)
        query = keyset(select(Customer), Customer.created_at, Customer.id, PageRequest(limit=size, cursor=cursor))
        rows = uow.session.execute(query).scalars().all()
        batch = rows[:size]
        uow.vault.prefetch(uow.merchant_id, [c.id for c in batch])
        full = False
        for customer in batch:
            scanned += 1
            last = customer
            name = uow.vault.open(customer, "name")
            if name and needle in name.casefold():
                found.append(customer)
                if len(found) == limit:
                    full = True
                    break
        if last is None or (len(rows) <= size and not full):
            return Page([view(uow, c) for c in found], None)  # every customer looked at
        cursor = encode_cursor(last.created_at, last.id)
    assert last is not None
    return Page([view(uow, c) for c in found], encode_cursor(last.created_at, last.id))


@dataclass(frozen=True)
class MessageLine:
    direction: str
    body: str | None
    at: datetime


@dataclass(frozen=True)
class ConsentState:
    channel: str
    purpose: str
    granted: bool
    source: str
    recorded_at: datetime


@dataclass(frozen=True)
class CustomerProfile:
    customer: CustomerView
    calls: list[CallView]
    messages: list[MessageLine]
    appointments: list[AppointmentView]
    orders: list[OrderInfo]
    orders_unavailable: bool  # the shop's order system could not be reached
    consents: list[ConsentState]  # the one that counts per channel and purpose


def customer_profile(uow: UnitOfWork, customer_id: str) -> CustomerProfile:
    """The customer and the newest of their calls, messages, appointments and orders, with the
    consent that counts for each channel and purpose. Raises ``CustomerNotFoundError``."""
    customer = get_customer(uow, customer_id)
    messages = uow.session.execute(
        select(Message).where(Message.customer_id == customer_id).order_by(Message.created_at.desc()).limit(HISTORY)
    ).scalars()
    appointments = uow.session.execute(
        appointment_query()
        .where(Appointment.customer_id == customer_id)
        .order_by(Appointment.start_at.desc())
        .limit(HISTORY)
    ).all()
    orders: list[OrderInfo] = []
    unavailable = False
    if customer.phone:
        try:
            orders = orders_for(uow).by_phone(customer.phone)[:HISTORY]
        except OrdersUnavailableError:
            unavailable = True
    return CustomerProfile(
        customer=customer,
        calls=_calls(uow, customer_id),
        messages=[MessageLine(m.direction, uow.vault.open(m, "body"), m.created_at) for m in messages],
        appointments=appointment_views(uow, [(r[0], r[1], r[2]) for r in appointments]),
        orders=orders,
        orders_unavailable=unavailable,
        consents=_consents(uow, customer_id),
    )


def _calls(uow: UnitOfWork, customer_id: str) -> list[CallView]:
    rows = uow.session.execute(
        select(Call).where(Call.customer_id == customer_id).order_by(Call.started_at.desc()).limit(HISTORY)
    ).scalars()
    return [call_view(uow, call) for call in rows]


def _consents(uow: UnitOfWork, customer_id: str) -> list[ConsentState]:
    rows = uow.session.execute(
        select(Consent).where(Consent.customer_id == customer_id).order_by(Consent.recorded_at, Consent.id)
    ).scalars()
    latest = {(c.channel, c.purpose): c for c in rows}  # the latest record counts
    return [
        ConsentState(c.channel, c.purpose, c.granted, c.source, c.recorded_at)
        for _, c in sorted(latest.items(), key=lambda item: item[0])
    ]


@dataclass(frozen=True)
class HeldData:
    """What erasing a customer takes away, counted."""

    calls: int
    messages: int
    appointments: int
    tickets: int
    consents: int


def held_data(uow: UnitOfWork, customer_id: str) -> HeldData:
    def count(model: type[Call] | type[Message] | type[Appointment] | type[Ticket] | type[Consent]) -> int:
        query = select(func.count()).select_from(model).where(model.customer_id == customer_id)
        return int(uow.session.execute(query).scalar_one())

    return HeldData(count(Call), count(Message), count(Appointment), count(Ticket), count(Consent))


def correct_details(
    uow: UnitOfWork,
    customer_id: str,
    *,
    actor: str,
    name: str | None = None,
    phone: str | None = None,
    email: str | None = None,
) -> CustomerView:
    """The right to rectification for ``actor``, audited with the fields' names only.
    Raises ``CustomerNotFoundError``."""
    corrected = correct_customer(uow, customer_id, name=name, phone=phone, email=email)
    fields = sorted(field for field, value in (("name", name), ("phone", phone), ("email", email)) if value)
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action="customer.corrected",
        target_type="customer",
        target_id=customer_id,
        details={"fields": fields},
    )
    return corrected
