"""Contacts, the events they hear of, and the notification log (invariants in ``sera.notifications``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from sera import audit
from sera.bootstrap import Sera
from sera.crypto.envelope import DecryptionError
from sera.customers.phones import InvalidPhoneError, normalize_phone
from sera.mail.service import MailError, check_address, queue_mail, render_text
from sera.storage import attempts
from sera.storage.database import UnitOfWork, conflict_insert, rows
from sera.storage.models import MailMessage, Merchant, Notification, NotificationContact, new_id
from sera.storage.paging import Page, PageRequest, keyset, page_of

log = logging.getLogger("sera.notifications")

# What the business can be told of, in the words a settings page shows.
EVENTS: dict[str, str] = {
    "message_taken": "A caller left a message",
    "ticket_created": "A ticket was created",
    "person_requested": "A caller asked for a person while the shop was closed",
    "privacy_request_received": "A privacy request arrived",
    "privacy_request_due_soon": "A privacy request is 24 hours, then 6 hours, from its deadline",
    "privacy_request_overdue": "A privacy request is overdue",
    "outbound_failed": "Outbound sending failed",
    "outbound_paused": "Outbound sending was paused by a cap",
    "shopify_disconnected": "The Shopify connection stopped working",
    "webhook_endpoint_disabled": "A webhook endpoint was turned off after a day of failures",
    "hubspot_disconnected": "HubSpot refused Sera's token: calls and bookings are not reaching it",
    "weekly_report": "The weekly report",
}
CHANNELS = ("email", "sms")
SMS_JOB = "notifications.sms"  # one notification id
CLAIM = timedelta(minutes=2)
RETRY_FOR = timedelta(days=1)
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)
HANDED_OVER = attempts.HandOver("notification text")
INTERNATIONAL_ONLY = "ZZ"  # phonenumbers' unknown region: a number must carry its country code
OWNER = "owner"  # the contact id of the shop's own email, when the shop has named no contacts


class ContactError(ValueError):
    """A contact cannot be saved as given (the message says why)."""


class ContactNotFoundError(LookupError):
    pass


@dataclass(frozen=True)
class ContactView:
    id: str
    name: str | None
    email: str | None
    phone: str | None
    events: dict[str, list[str]]
    quiet_start: str | None
    quiet_end: str | None
    created_at: datetime


@dataclass(frozen=True)
class ContactInput:
    name: str | None
    email: str | None
    phone: str | None
    events: dict[str, list[str]]
    quiet_start: str | None = None
    quiet_end: str | None = None


def _checked(given: ContactInput) -> ContactInput:
    email = check_address(given.email) if given.email else None
    phone = None
    if given.phone:
        try:
            phone = normalize_phone(given.phone, INTERNATIONAL_ONLY)
        except InvalidPhoneError:
            raise ContactError("phone must be a valid number in international form, like +13125550123") from None
    events: dict[str, list[str]] = {}
    for event, channels in given.events.items():
        if event not in EVENTS:
            raise ContactError(f"unknown event {event!r}; known: {', '.join(EVENTS)}")
        unknown = [c for c in channels if c not in CHANNELS]
        if unknown:
            raise ContactError(f"unknown channel {unknown[0]!r} for {event}; channels: email, sms")
        if "email" in channels and email is None:
            raise ContactError(f"{event} by email needs an email address")
        if "sms" in channels and phone is None:
            raise ContactError(f"{event} by SMS needs a phone number")
        if channels:
            events[event] = sorted(set(channels), key=CHANNELS.index)
    if (given.quiet_start is None) != (given.quiet_end is None):
        raise ContactError("quiet hours need both a start and an end")
    for value in (given.quiet_start, given.quiet_end):
        if value is not None:
            _clock_time(value)
    name = " ".join(given.name.split())[:120] if given.name else None
    return ContactInput(name, email, phone, events, given.quiet_start, given.quiet_end)


def _clock_time(value: str) -> time:
    try:
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ContactError(f"quiet hours are HH:MM, like 21:00 (got {value[:20]!r})") from None


def add_contact(uow: UnitOfWork, given: ContactInput, *, actor: str) -> ContactView:
    if uow.merchant_id is None:
        raise RuntimeError("contacts need a merchant-scoped unit of work")
    checked = _checked(given)
    row = NotificationContact(
        id=new_id("cnt"),
        merchant_id=uow.merchant_id,
        events=checked.events,
        quiet_start=checked.quiet_start,
        quiet_end=checked.quiet_end,
    )
    uow.vault.seal(row, name=checked.name, email=checked.email, phone=checked.phone)
    uow.session.add(row)
    uow.session.flush()
    _audit(uow, actor, "notification_contact.added", row.id, checked.events)
    return _view(uow, row)


def update_contact(uow: UnitOfWork, contact_id: str, given: ContactInput, *, actor: str, now: datetime) -> ContactView:
    row = _contact(uow, contact_id)
    checked = _checked(given)
    row.events, row.quiet_start, row.quiet_end, row.updated_at = (
        checked.events,
        checked.quiet_start,
        checked.quiet_end,
        now,
    )
    uow.vault.seal(row, name=checked.name, email=checked.email, phone=checked.phone)
    _audit(uow, actor, "notification_contact.updated", row.id, checked.events)
    return _view(uow, row)


def remove_contact(uow: UnitOfWork, contact_id: str, *, actor: str) -> None:
    row = _contact(uow, contact_id)
    uow.session.delete(row)
    _audit(uow, actor, "notification_contact.removed", contact_id, None)


def list_contacts(uow: UnitOfWork) -> list[ContactView]:
    found = uow.session.execute(
        select(NotificationContact).order_by(NotificationContact.created_at, NotificationContact.id)
    ).scalars()
    return [_view(uow, row) for row in found]


def get_contact(uow: UnitOfWork, contact_id: str) -> ContactView:
    return _view(uow, _contact(uow, contact_id))


def _contact(uow: UnitOfWork, contact_id: str) -> NotificationContact:
    row = uow.session.get(NotificationContact, contact_id)
    if row is None or row.merchant_id != uow.merchant_id:
        raise ContactNotFoundError(contact_id)
    return row


def _view(uow: UnitOfWork, row: NotificationContact) -> ContactView:
    opened = uow.vault.open_many(row, "name", "email", "phone")
    return ContactView(
        row.id,
        opened["name"],
        opened["email"],
        opened["phone"],
        dict(row.events),
        row.quiet_start,
        row.quiet_end,
        row.created_at,
    )


def _audit(uow: UnitOfWork, actor: str, action: str, contact_id: str, events: dict[str, list[str]] | None) -> None:
    details = {"events": sorted(events)} if events is not None else None
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action=action,
        target_type="notification_contact",
        target_id=contact_id,
        details=details,
    )


# -- telling ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Recipient:
    contact_id: str
    channel: str
    address: str  # an email address or an E.164 number
    quiet: tuple[time, time] | None


def _recipients(uow: UnitOfWork, event: str) -> list[_Recipient]:
    contacts = list_contacts(uow)
    if not contacts:
        owner = uow.session.execute(select(Merchant.email).where(Merchant.id == uow.merchant_id)).scalar()
        return [_Recipient(OWNER, "email", owner, None)] if owner else []
    found = []
    for contact in contacts:
        quiet = (
            (_clock_time(contact.quiet_start), _clock_time(contact.quiet_end))
            if contact.quiet_start and contact.quiet_end
            else None
        )
        for channel in contact.events.get(event, []):
            address = contact.email if channel == "email" else contact.phone
            if address:
                found.append(_Recipient(contact.id, channel, address, quiet))
    return found


def recipients(uow: UnitOfWork, event: str) -> list[str]:
    """The email addresses told of ``event`` (the shop's own email when it named no contacts)."""
    return sorted({r.address for r in _recipients(uow, event) if r.channel == "email"})


def notify(
    uow: UnitOfWork,
    event: str,
    *,
    key: str,
    context: Mapping[str, Any],
    now: datetime,
    customer_id: str | None = None,
) -> int:
    """Tell everyone who hears of ``event``, once per ``key``; how many were newly told."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    merchant = uow.session.get(Merchant, uow.merchant_id)
    if merchant is None:
        return 0
    zone = ZoneInfo(merchant.timezone)
    values = {
        "event": event,
        "title": EVENTS[event],
        "shop_name": merchant.name,
        **context,
    }
    told, texts = 0, []
    for recipient in _recipients(uow, event):
        row = Notification(
            id=new_id("ntf"),
            merchant_id=uow.merchant_id,
            event=event,
            event_key=key[:200],
            contact_id=recipient.contact_id,
            channel=recipient.channel,
            customer_id=customer_id,
            status="pending",
            attempts=0,
            created_at=now,
        )
        if recipient.channel == "email":
            try:
                row.mail_id = queue_mail(
                    uow,
                    key=f"notify:{key}:{recipient.contact_id}",  # the same event to the same contact: one mail
                    to=[recipient.address],
                    template="notification",
                    context=values,
                    customer_id=customer_id,
                    now=now,
                )
            except MailError as exc:  # a bad address on file: the event itself still stands
                row.status, row.last_error = "failed", str(exc)[:200]
                log.warning("notification not mailed", extra={"event": event, "error": row.last_error})
            else:
                if row.mail_id is None:
                    continue  # told already
                row.status = "mailed"
        else:
            row.next_attempt_at = after_quiet_hours(now, zone, recipient.quiet)
            uow.vault.seal(row, body=render_text("notification.sms.txt", values)[:600])
        if not _record(uow, row):
            continue
        told += 1
        if row.next_attempt_at is not None and row.next_attempt_at <= now:
            texts.append(row.id)
    if texts:
        HANDED_OVER.after_commit(uow, texts)
    return told


def _record(uow: UnitOfWork, row: Notification) -> bool:
    """The log row for this event, contact and channel; False when it was told already."""
    values = {column.name: getattr(row, column.name) for column in Notification.__table__.columns}
    connection = uow.session.connection()
    once = ["merchant_id", "event_key", "contact_id", "channel"]
    insert = conflict_insert(connection)(Notification).values(**values).on_conflict_do_nothing(index_elements=once)
    return bool(rows(connection.execute(insert)))


def after_quiet_hours(now: datetime, zone: ZoneInfo, quiet: tuple[time, time] | None) -> datetime:
    """``now``, or the end of the quiet hours ``now`` falls in (they may span midnight)."""
    if quiet is None:
        return now
    start, end = quiet
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    inside = start <= clock < end if start <= end else (clock >= start or clock < end)
    if not inside:
        return now
    day = local.date() if clock < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone).astimezone(now.tzinfo)


# -- texts ---------------------------------------------------------------------------------------

TextSender = Callable[[str, str, str], str]  # merchant id, to, body -> the provider's message id; raises on failure


def take_due(sera: Sera, now: datetime, limit: int = 1000) -> list[str]:
    """Texts due now (quiet hours over, or a retry) that no worker holds."""
    with sera.uow() as uow:
        ids = attempts.take_due(uow, Notification, now, CLAIM, limit)
        uow.commit()
    return ids


def send_text(sera: Sera, send: TextSender, notification_id: str) -> str | None:
    """One attempt at a notification by SMS: ``sent``, ``retry``, ``failed``, or None."""
    now = sera.clock()
    with sera.uow() as uow:
        claimed = attempts.claim(uow, Notification, notification_id, now, CLAIM)
        row = uow.session.get(Notification, notification_id)
        uow.commit()
        if not claimed or row is None:
            return None
        merchant_id, created_at, contact_id = row.merchant_id, row.created_at, row.contact_id
        try:
            body = uow.vault.open(row, "body")
        except DecryptionError:
            body = None
    with sera.uow(merchant_id, readonly=True) as uow:
        contact = uow.session.get(NotificationContact, contact_id or "")
        phone = uow.vault.open(contact, "phone") if contact is not None else None
    outcome, error, sid = "sent", None, None
    if body is None or phone is None:  # erased, or the contact was removed since
        outcome, error = "failed", "nothing to send or nobody to send it to"
    else:
        try:
            sid = send(merchant_id, phone, body)
        except Exception as exc:  # whatever went wrong, it is tried again
            outcome, error = "retry", (str(exc) or type(exc).__name__)[:200]
    with sera.uow(merchant_id) as uow:
        row = uow.session.get(Notification, notification_id)
        if row is None or row.status != "pending":
            return "settled"
        row.claimed_until, row.last_error = None, error
        if outcome == "sent":
            row.status, row.sent_at, row.body, row.next_attempt_at = "sent", now, None, None
            if sid is not None:  # Twilio keeps the text: deleted with the customer's data
                from sera.privacy.copies import note_copy  # here: privacy tells the business too

                note_copy(uow, provider="twilio", kind="message", provider_id=sid, customer_id=row.customer_id)
        elif outcome == "retry" and now - created_at < RETRY_FOR:
            row.next_attempt_at = now + attempts.backoff(row.attempts, FIRST_RETRY, LONGEST_RETRY)
        else:
            outcome = "failed"
            row.status, row.body, row.next_attempt_at = "failed", None, None
        uow.commit()
    if outcome != "sent":
        log.warning("notification text not sent", extra={"notification": notification_id, "outcome": outcome})
    return outcome


def forget_customer(uow: UnitOfWork, customer_id: str) -> int:
    """An erased customer's unsent texts are never sent, and no row keeps their id."""
    return attempts.forget_customer(uow, Notification, "body", customer_id)


# -- the log -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotificationView:
    id: str
    event: str
    channel: str
    contact_id: str | None
    status: str  # pending | sent | failed | erased (an email's status is its mail's)
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


def list_notifications(uow: UnitOfWork, request: PageRequest) -> Page[NotificationView]:
    stmt = keyset(select(Notification), Notification.created_at, Notification.id, request)
    found = uow.session.execute(stmt).scalars().all()
    kept, cursor = page_of(found, request, lambda r: (r.created_at, r.id))
    mail_ids = [r.mail_id for r in kept if r.mail_id]
    mails = (
        {m.id: m for m in uow.session.execute(select(MailMessage).where(MailMessage.id.in_(mail_ids))).scalars()}
        if mail_ids
        else {}
    )
    views = []
    for row in kept:
        mail = mails.get(row.mail_id or "")
        status, error, sent_at = row.status, row.last_error, row.sent_at
        if row.status == "mailed":
            status = mail.status if mail is not None else "sent"
            error, sent_at = (mail.last_error, mail.sent_at) if mail is not None else (None, None)
        views.append(
            NotificationView(row.id, row.event, row.channel, row.contact_id, status, error, row.created_at, sent_at)
        )
    return Page(views, cursor)
