"""Erasure (the right to be forgotten) by crypto-shredding.

Invariants:
- The customer's data key is destroyed first, in the separate key store: from that
  moment every copy of their sealed fields, in this database and in every backup of
  it, is unreadable. The database clean-up that follows is tidiness, not the guarantee.
- What is left afterwards carries no personal data: rows that only describe the person
  are deleted (customer, feedback, transcripts, messages, conversations, consents, ticket notes); rows that
  count for the business (calls, appointments, tickets, orders, privacy requests) lose
  their sealed fields and their link to the person, so aggregates keep anonymous counts.
- The do-not-contact entry stays as a keyed hash of the number (its sealed number and
  reason are cleared): an objection must outlive erasure, or the number could be
  contacted again.
- The audit entry records ids and counts only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, or_, select, update

from sera import audit
from sera.bootstrap import Sera
from sera.calendars import events as calendar_events
from sera.integrations.events import emit, forget_customer
from sera.integrations.hubspot import hand_deletions_to_the_ledger
from sera.mail import service as mail
from sera.notifications import service as notifications
from sera.privacy.copies import keep_shop_credentials, order_for_customer, order_for_shop, start_deletions
from sera.storage.database import rows
from sera.storage.models import (
    Appointment,
    Call,
    Consent,
    Conversation,
    Customer,
    DoNotContact,
    Feedback,
    Message,
    Order,
    PrivacyRequest,
    Ticket,
    TicketNote,
    Transcript,
    UnansweredQuestion,
)


@dataclass(frozen=True)
class ErasureResult:
    customer_id: str
    found: bool
    deleted: dict[str, int]
    anonymised: dict[str, int]
    provider_copies: int  # copies at providers ordered deleted


def redact_customer(sera: Sera, merchant_id: str, customer_id: str, *, actor: str) -> ErasureResult:
    """Erase one customer of one shop. Unknown customers complete as an audited no-op."""
    sera.keystore.destroy_customer_key(merchant_id, customer_id)
    deleted: dict[str, int] = {}
    anonymised: dict[str, int] = {}
    with sera.uow(merchant_id) as uow:
        session = uow.session
        person = session.execute(select(Customer.phone_bidx).where(Customer.id == customer_id)).first()
        found = person is not None
        phone_bidx = person.phone_bidx if person is not None else None
        calls = list(session.execute(select(Call.id).where(Call.customer_id == customer_id)).scalars())
        messages = session.execute(
            select(Message.id).where(or_(Message.customer_id == customer_id, Message.call_id.in_(calls)))
        ).scalars()
        copies = order_for_customer(uow, customer_id, [*calls, *messages], sera.clock())
        removable: tuple[type[Any], ...] = (Feedback, Transcript, Message, Conversation, Consent, TicketNote)
        for model in removable:
            deleted[model.__tablename__] = rows(session.execute(delete(model).where(model.customer_id == customer_id)))
        deleted["unanswered_questions"] = rows(  # the questions they asked, also before they were known
            session.execute(
                delete(UnansweredQuestion).where(
                    or_(UnansweredQuestion.customer_id == customer_id, UnansweredQuestion.call_id.in_(calls))
                )
            )
        )
        calendar_events.forget_customer(uow, customer_id)  # their first name leaves the staff calendars
        scrub: dict[type[Any], dict[str, None]] = {
            Call: {"from_number": None, "to_number": None, "recording_url": None, "summary": None},
            Appointment: {"notes": None},
            Ticket: {"description": None},
            Order: {"customer_name": None, "customer_phone": None, "customer_email": None},
            PrivacyRequest: {"details": None, "result": None},
            DoNotContact: {"phone": None, "reason": None},
        }
        for model, fields in scrub.items():
            anonymised[model.__tablename__] = rows(
                session.execute(
                    update(model).where(model.customer_id == customer_id).values(customer_id=None, **fields)
                )
            )
        if phone_bidx is not None:  # an entry made before they were a customer holds their number too
            session.execute(
                update(DoNotContact).where(DoNotContact.phone_bidx == phone_bidx).values(phone=None, reason=None)
            )
        deleted["customers"] = rows(session.execute(delete(Customer).where(Customer.id == customer_id)))
        forget_customer(uow, customer_id)  # their events not yet sent to an integration are never sent
        mail.forget_customer(uow, customer_id)  # nor the business's mail and texts that carry their details
        notifications.forget_customer(uow, customer_id)
        emit(uow, "customer.erased", {"customer_id": customer_id})  # so a CRM deletes too
        audit.record(
            session,
            merchant_id=merchant_id,
            actor=actor,
            action="customer.erased",
            target_type="customer",
            target_id=customer_id,
            details={"found": found, "deleted": deleted, "anonymised": anonymised, "provider_copies": len(copies)},
            at=sera.clock(),
        )
        uow.commit()
    start_deletions(sera, copies)
    return ErasureResult(customer_id, found, deleted, anonymised, len(copies))


SHOP_BATCH = 5000
# The proof outlives the shop, and so do the operator's invoices (business records); merchants go last.
KEPT_TABLES = ("audit_entries", "provider_copies", "invoices", "merchants")


@dataclass(frozen=True)
class ShopDeletion:
    merchant_id: str
    deleted: dict[str, int]


def delete_shop(sera: Sera, merchant_id: str, *, actor: str) -> ShopDeletion:
    """Delete a whole shop: its key first (every backup becomes unreadable), then its rows.

    Its copies at providers are ordered deleted before that (with its own provider secret
    kept until they are). Rows go in bounded batches, children before parents; the audit
    chain of the shop and its deletion ledger stay (ids and counts only), and the deletion
    is recorded in the system chain.
    """
    from sera.storage.models import Base, Merchant

    copies = order_for_shop(sera, merchant_id, sera.clock())
    keep_shop_credentials(sera, merchant_id)
    copies += hand_deletions_to_the_ledger(sera, merchant_id)  # owed to customers erased before
    sera.keystore.destroy_merchant_key(merchant_id)
    deleted: dict[str, int] = {}
    for table in reversed(Base.metadata.sorted_tables):
        if "merchant_id" not in table.c or table.name in KEPT_TABLES:
            continue
        total = 0
        while True:
            with sera.db.engine.begin() as conn:
                ids = select(table.c[_pk(table)]).where(table.c.merchant_id == merchant_id).limit(SHOP_BATCH)
                count = rows(conn.execute(delete(table).where(table.c[_pk(table)].in_(ids.scalar_subquery()))))
            total += count
            if count < SHOP_BATCH:
                break
        deleted[table.name] = total
    with sera.uow() as uow:
        deleted["merchants"] = rows(uow.session.execute(delete(Merchant).where(Merchant.id == merchant_id)))
        audit.record(
            uow.session,
            merchant_id=None,
            actor=actor,
            action="shop.deleted",
            target_type="merchant",
            target_id=merchant_id,
            details={"deleted": {k: v for k, v in deleted.items() if v}, "provider_copies": len(copies)},
            at=sera.clock(),
        )
        uow.commit()
    sera.lookups.clear()  # its numbers answer no shop now
    start_deletions(sera, copies)
    return ShopDeletion(merchant_id, deleted)


def _pk(table: Any) -> str:
    return str(next(iter(table.primary_key.columns)).name)
