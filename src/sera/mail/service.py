"""Queue, build and send the business's email (invariants in ``sera.mail``)."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import SMTP, default
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Protocol

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import or_, select, update

from sera.bootstrap import Sera
from sera.crypto.envelope import DecryptionError
from sera.storage import attempts
from sera.storage.database import UnitOfWork, conflict_insert, rows
from sera.storage.models import MailMessage, new_id
from sera.storage.paging import Page, PageRequest, keyset, page_of

log = logging.getLogger("sera.mail")

SEND_JOB = "mail.send"  # one mail id
RETRY_FOR = timedelta(days=3)
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)
CLAIM = timedelta(minutes=2)
HANDED_OVER = attempts.HandOver("mail")
TEMPLATES = Path(__file__).parent / "templates"
# An address a person would type: one @, no spaces or angle brackets, a dotted domain.
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+[A-Za-z]{2,63}$")

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


class MailError(ValueError):
    """A mail cannot be built as asked (the message says why)."""


class MailDeferredError(Exception):
    """The server is down, timed out, dropped the line or answered 4xx: try again later."""


class MailRejectedError(Exception):
    """The server refused the mail for good (5xx)."""


class Sender(Protocol):
    """Hands one message to the mail system; raises ``MailDeferredError`` or ``MailRejectedError``."""

    def send(self, message: bytes, sender: str, recipients: list[str]) -> None: ...


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


def check_address(address: str) -> str:
    """The address, trimmed; ``MailError`` if it is not one."""
    cleaned = address.strip()
    if not _ADDRESS.match(cleaned) or ".." in cleaned:
        raise MailError("not an email address")  # the value is not repeated: errors are logged and stored
    return cleaned


def render_text(template: str, context: Mapping[str, Any]) -> str:
    """One plain-text template (an SMS, say), rendered as the mail templates are."""
    return _env.get_template(template).render(context).strip()


def _one_line(text: str) -> str:
    """A header value from template output: whitespace (newlines included) collapsed, so
    nothing a customer said can start a header of its own."""
    return " ".join(text.split())[:250]


def build_message(
    *,
    message_id: str,
    to: Sequence[str],
    template: str,
    context: Mapping[str, Any],
    attachments: Sequence[Attachment] = (),
    now: datetime,
) -> EmailMessage:
    """A plain-text and an HTML part from ``<template>.txt`` and ``<template>.html``, the subject
    from ``<template>.subject.txt``."""
    recipients = [check_address(a) for a in to]
    if not recipients:
        raise MailError("a mail needs at least one recipient")
    try:
        subject = _env.get_template(f"{template}.subject.txt").render(context)
        text = _env.get_template(f"{template}.txt").render(context)
        html = _env.get_template(f"{template}.html").render(context)
    except Exception as exc:  # a missing template or value is a programming error, named
        raise MailError(f"template {template!r} could not be rendered: {exc}") from exc
    message = EmailMessage()
    message["Subject"] = _one_line(subject)
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<{message_id}@sera.mail>"  # the same on every attempt
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a machine
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    for attachment in attachments:
        main, _, sub = attachment.content_type.partition("/")
        message.add_attachment(attachment.data, maintype=main, subtype=sub, filename=attachment.filename)
    return message


def queue_mail(
    uow: UnitOfWork,
    *,
    key: str,
    to: Sequence[str],
    template: str,
    context: Mapping[str, Any],
    now: datetime,
    attachments: Sequence[Attachment] = (),
    customer_id: str | None = None,
) -> str | None:
    """Build a mail and queue it, sent after the transaction commits. None (and nothing
    queued) when this shop already queued ``key``."""
    if uow.merchant_id is None:
        raise RuntimeError("mail needs a merchant-scoped unit of work")
    known = select(MailMessage.id).where(MailMessage.merchant_id == uow.merchant_id, MailMessage.key == key[:200])
    if uow.session.execute(known).first() is not None:
        return None
    mail_id = new_id("mail")
    message = build_message(
        message_id=mail_id, to=to, template=template, context=context, attachments=attachments, now=now
    )
    row = MailMessage(
        id=mail_id,
        merchant_id=uow.merchant_id,
        key=key[:200],
        template=template,
        customer_id=customer_id,
        recipients=len(to),
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    uow.vault.seal(row, message=message.as_string())
    values = {column.name: getattr(row, column.name) for column in MailMessage.__table__.columns}
    connection = uow.session.connection()
    inserted = rows(
        connection.execute(
            conflict_insert(connection)(MailMessage)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["merchant_id", "key"])
        )
    )
    if not inserted:
        return None
    HANDED_OVER.after_commit(uow, [mail_id])
    return mail_id


# -- sending ---------------------------------------------------------------------------------


BATCH = 50  # mails one job claims, sends over one connection, and settles together


@dataclass(frozen=True)
class _Claimed:
    id: str
    merchant_id: str
    message: bytes
    created_at: datetime


def take_due(sera: Sera, now: datetime, limit: int = 2000) -> list[str]:
    """Pending mail due now that no worker holds."""
    with sera.uow() as uow:
        ids = attempts.take_due(uow, MailMessage, now, CLAIM, limit)
        uow.commit()
    return ids


def send(sera: Sera, sender: Sender, mail_id: str) -> dict[str, str]:
    """One attempt at ``mail_id`` and at whatever else is due (up to ``BATCH``): each mail's
    outcome, ``sent``, ``retry`` or ``failed``; a mail that is not due, is held by another
    worker, or whose customer was erased is left out. A busy queue thus takes two database
    transactions per batch, not per mail."""
    now = sera.clock()
    claimed = _claim(sera, mail_id, now)
    outcomes: dict[str, str] = {}
    errors: dict[str, str | None] = {}
    for mail in claimed:
        headers = BytesHeaderParser(policy=default).parsebytes(mail.message)
        recipients = [a.strip() for a in str(headers["To"]).split(",")]
        wire = _from_line(sera.settings.mail_from) + mail.message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        outcomes[mail.id], errors[mail.id] = "sent", None
        try:
            sender.send(wire, _envelope_sender(sera.settings.mail_from), recipients)
        except MailDeferredError as exc:
            outcomes[mail.id], errors[mail.id] = "retry", str(exc)[:200]
        except MailRejectedError as exc:
            outcomes[mail.id], errors[mail.id] = "failed", str(exc)[:200]
    if claimed:
        _settle(sera, claimed, outcomes, errors)
    return outcomes


@functools.cache
def _from_line(mail_from: str) -> bytes:
    """The deployment's sender as it is when the mail is sent, as an encoded header line."""
    header = EmailMessage(policy=SMTP)
    header["From"] = mail_from
    return bytes(header).split(b"\r\n\r\n", 1)[0] + b"\r\n"


def _envelope_sender(header: str) -> str:
    return header.rsplit("<", 1)[-1].rstrip(">").strip()


def _claim(sera: Sera, mail_id: str, now: datetime) -> list[_Claimed]:
    unheld = or_(MailMessage.claimed_until.is_(None), MailMessage.claimed_until < now)
    due = select(MailMessage.id).where(MailMessage.status == "pending", unheld)
    with sera.uow(readonly=True) as uow:  # a read first: a job whose mail went in a batch writes nothing
        ids = list(uow.session.execute(due.where(MailMessage.id == mail_id)).scalars())
        if ids:
            others = due.where(MailMessage.next_attempt_at <= now, MailMessage.id != mail_id)
            ids += uow.session.execute(others.order_by(MailMessage.next_attempt_at).limit(BATCH - 1)).scalars()
    if not ids:
        return []
    with sera.uow() as uow:
        held = attempts.claim_many(uow, MailMessage, ids, now, CLAIM)
        found = list(uow.session.execute(select(MailMessage).where(MailMessage.id.in_(held))).scalars())
        uow.commit()
        claimed, erased = [], []
        for row in found:
            try:
                text = uow.vault.open(row, "message")
            except DecryptionError:  # the customer was erased: their key is gone
                text = None
            if text is None:
                erased.append(row.id)
            else:
                claimed.append(_Claimed(row.id, row.merchant_id, text.encode(), row.created_at))
    if erased:
        with sera.uow() as uow:
            uow.session.execute(
                update(MailMessage)
                .where(MailMessage.id.in_(erased))
                .values(status="erased", message=None, claimed_until=None, next_attempt_at=None)
            )
            uow.commit()
    return claimed


def _settle(sera: Sera, claimed: list[_Claimed], outcomes: dict[str, str], errors: dict[str, str | None]) -> None:
    now = sera.clock()
    with sera.uow() as uow:
        held = {
            row.id: row
            for row in uow.session.execute(
                select(MailMessage).where(MailMessage.id.in_([m.id for m in claimed]), MailMessage.status == "pending")
            ).scalars()
        }
        for mail in claimed:
            row = held.get(mail.id)
            if row is None:
                continue
            row.claimed_until, row.last_error = None, errors[mail.id]
            if outcomes[mail.id] == "sent":
                row.status, row.sent_at, row.message, row.next_attempt_at = "sent", now, None, None
            elif outcomes[mail.id] == "retry" and now - mail.created_at < RETRY_FOR:
                row.next_attempt_at = now + attempts.backoff(row.attempts, FIRST_RETRY, LONGEST_RETRY)
            else:
                outcomes[mail.id] = "failed"
                row.status, row.message, row.next_attempt_at = "failed", None, None
        uow.commit()
    for mail_id, outcome in outcomes.items():
        if outcome != "sent":
            log.warning("mail not sent", extra={"mail": mail_id, "outcome": outcome, "error": errors[mail_id]})


def send_pending(sera: Sera, sender: Sender | None = None) -> int:
    """Send everything due now in this thread (for the CLI and tests); how many were sent."""
    chosen = sender or sera.mail_sender
    if chosen is None:
        raise RuntimeError("no mail sender is connected")
    outcomes: dict[str, str] = {}
    for mail_id in take_due(sera, sera.clock()):
        if mail_id not in outcomes:
            outcomes |= send(sera, chosen, mail_id)
    return sum(outcome == "sent" for outcome in outcomes.values())


def forget_customer(uow: UnitOfWork, customer_id: str) -> int:
    """An erased customer's unsent mail is never sent: its bodies go, and no row keeps their id."""
    return attempts.forget_customer(uow, MailMessage, "message", customer_id)


# -- the mail log ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MailView:
    id: str
    template: str
    recipients: int
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


def list_mail(uow: UnitOfWork, request: PageRequest) -> Page[MailView]:
    stmt = keyset(select(MailMessage), MailMessage.created_at, MailMessage.id, request)
    found = uow.session.execute(stmt).scalars().all()
    kept, cursor = page_of(found, request, lambda r: (r.created_at, r.id))
    return Page(
        [
            MailView(r.id, r.template, r.recipients, r.status, r.attempts, r.last_error, r.created_at, r.sent_at)
            for r in kept
        ],
        cursor,
    )


def display_address(name: str, address: str) -> str:
    """``Name <address>``, quoted as headers need."""
    return str(Address(display_name=_one_line(name), addr_spec=check_address(address)))
