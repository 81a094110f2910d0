"""Support tickets: messages the agent takes and problems callers report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from sera.customers.service import PersonRef, person_refs
from sera.integrations.webhooks import emit
from sera.notifications.service import notify
from sera.storage.database import UnitOfWork
from sera.storage.models import Ticket, new_id
from sera.storage.paging import Page, PageRequest, keyset, page_of


class TicketNotFoundError(LookupError):
    pass


@dataclass(frozen=True)
class Callback:
    """A caller who wants to be called back: what the team needs to do it."""

    name: str | None
    phone: str | None
    message: str
    recipient: str = "the team"
    asked_for_person: bool = False  # asked for a person while the shop was closed


@dataclass(frozen=True)
class TicketView:
    id: str
    subject: str
    description: str | None
    tags: list[str]
    status: str
    created_at: datetime
    customer: PersonRef | None


def create_ticket(
    uow: UnitOfWork,
    *,
    subject: str,
    description: str | None,
    tags: list[str],
    customer_id: str | None,
    now: datetime,
    source: str = "agent",
    call_id: str | None = None,
    callback: Callback | None = None,
) -> Ticket:
    """A ticket, its ``ticket.created`` event, and the business told: of a message taken (the
    caller's name, number and words, to call back) or of a new ticket (its subject and words)."""
    if uow.merchant_id is None:
        raise RuntimeError("tickets need a merchant-scoped unit of work")
    ticket = Ticket(
        id=new_id("tkt"),
        merchant_id=uow.merchant_id,
        customer_id=customer_id,
        call_id=call_id,
        subject=subject[:300],
        tags=tags,
        source=source,
        created_at=now,
        updated_at=now,
    )
    uow.vault.seal(ticket, description=description)
    uow.session.add(ticket)
    uow.session.flush()
    data = {"id": ticket.id, "subject": ticket.subject, "tags": tags, "customer_id": customer_id, "call_id": call_id}
    emit(uow, "ticket.created", data, customer_id=customer_id)
    if callback is not None:
        event = "person_requested" if callback.asked_for_person else "message_taken"
        context = {
            "ticket_id": ticket.id,
            "caller_name": callback.name,
            "caller_phone": callback.phone,
            "message": callback.message,
            "recipient": callback.recipient,
        }
    else:
        event, context = (
            "ticket_created",
            {"ticket_id": ticket.id, "subject": ticket.subject, "description": description},
        )
    notify(uow, event, key=f"ticket:{ticket.id}", context=context, now=now, customer_id=customer_id)
    return ticket


def _views(uow: UnitOfWork, tickets: list[Ticket]) -> list[TicketView]:
    people = person_refs(uow, [t.customer_id for t in tickets])
    return [_view(uow, t, people.get(t.customer_id or "")) for t in tickets]


def _view(uow: UnitOfWork, ticket: Ticket, person: PersonRef | None) -> TicketView:
    return TicketView(
        id=ticket.id,
        subject=ticket.subject,
        description=uow.vault.open(ticket, "description"),
        tags=list(ticket.tags),
        status=ticket.status,
        created_at=ticket.created_at,
        customer=person,
    )


def list_tickets(uow: UnitOfWork, request: PageRequest) -> Page[TicketView]:
    rows = uow.session.execute(keyset(select(Ticket), Ticket.created_at, Ticket.id, request)).scalars().all()
    kept, cursor = page_of(rows, request, lambda t: (t.created_at, t.id))
    return Page(_views(uow, kept), cursor)


def get_ticket(uow: UnitOfWork, ticket_id: str) -> TicketView:
    ticket = uow.session.execute(select(Ticket).where(Ticket.id == ticket_id)).scalar_one_or_none()
    if ticket is None:
        raise TicketNotFoundError(ticket_id)
    return _views(uow, [ticket])[0]
