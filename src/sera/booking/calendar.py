"""Calendars: an .ics invite per appointment, and a secret-URL feed per shop.

The feed is for the merchant's own calendar app. It carries what a mechanic needs on
the day (service, staff, the customer's first name) and nothing more; the URL's token
is an HMAC of the merchant id under the server secret, so it cannot be guessed and
changes when the secret is rotated.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event
from sqlalchemy import select

from sera.booking.service import AppointmentView, appointment_query, appointment_views
from sera.storage.database import UnitOfWork
from sera.storage.models import Appointment, Merchant

FEED_PAST_DAYS = 30


def feed_token(secret: str, merchant_id: str) -> str:
    return hmac.new(secret.encode(), f"calendar-feed:{merchant_id}".encode(), hashlib.sha256).hexdigest()[:40]


def feed_token_valid(secret: str, merchant_id: str, token: str) -> bool:
    """Whether ``token`` is the feed's; any text at all is only ever a yes or a no."""
    if not (merchant_id.isascii() and token.isascii()):  # compare_digest refuses other text
        return False
    return hmac.compare_digest(feed_token(secret, merchant_id), token)


def _calendar(merchant: Merchant, method: str | None = None) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", "-//Sera//Appointments//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", f"{merchant.name} appointments")
    if method:
        calendar.add("method", method)
    return calendar


def _event(view: AppointmentView, merchant: Merchant, summary: str, now: datetime) -> Event:
    event = Event()
    event.add("uid", f"{view.id}@{merchant.domain}")
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", view.start.astimezone(UTC))
    event.add("dtend", view.end.astimezone(UTC))
    event.add("summary", summary)
    event.add("status", "CANCELLED" if view.status == "cancelled" else "CONFIRMED")
    if merchant.address:
        event.add("location", merchant.address)
    return event


def _merchant(uow: UnitOfWork) -> Merchant:
    return uow.session.execute(select(Merchant).where(Merchant.id == uow.merchant_id)).scalar_one()


def appointment_invite(uow: UnitOfWork, view: AppointmentView, now: datetime) -> bytes:
    """The customer's invite: their appointment at the shop."""
    merchant = _merchant(uow)
    calendar = _calendar(merchant, method="PUBLISH")
    with_staff = f" with {view.staff}" if view.staff else ""
    calendar.add_component(_event(view, merchant, f"{view.service}{with_staff} at {merchant.name}", now))
    return bytes(calendar.to_ical())


def _feed_summary(view: AppointmentView) -> str:
    first = view.customer.name.split()[0] if view.customer and view.customer.name else "customer"
    return f"{view.service} – {first}" + (f" ({view.staff})" if view.staff else "")


def shop_feed(uow: UnitOfWork, now: datetime) -> bytes:
    """The shop's calendar: booked and cancelled appointments from a month back on."""
    merchant = _merchant(uow)
    stmt = (
        appointment_query()
        .where(Appointment.start_at >= now - timedelta(days=FEED_PAST_DAYS))
        .order_by(Appointment.start_at)
    )
    views: Iterable[AppointmentView] = appointment_views(
        uow, [(r[0], r[1], r[2]) for r in uow.session.execute(stmt).all()]
    )
    calendar = _calendar(merchant)
    for view in views:
        calendar.add_component(_event(view, merchant, _feed_summary(view), now))
    return bytes(calendar.to_ical())
