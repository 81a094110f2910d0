"""Support tickets: messages the agent takes and problems callers report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from sera import audit
from sera.customers.service import PersonRef, person_refs
from sera.integrations.events import emit
from sera.notifications.service import notify
from sera.storage.database import UnitOfWork
from sera.storage.models import Ticket, TicketNote, new_id
from sera.storage.paging import Page, PageRequest, keyset, page_of
from sera.team.members import get_member

STATUSES = ("open", "in_progress", "resolved")
NOTE_MAX = 5000


class TicketNotFoundError(LookupError):
    pass


class TicketError(ValueError):
    """A change the ticket rules refuse; the message is safe to show to the member."""


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
    call_id: str | None = None
    assignee_id: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class TicketNoteView:
    id: str
    body: str
    author_id: str | None
    created_at: datetime


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
        call_id=ticket.call_id,
        assignee_id=ticket.assignee_id,
        updated_at=ticket.updated_at,
    )


def list_tickets(uow: UnitOfWork, request: PageRequest, *, status: str | None = None) -> Page[TicketView]:
    """Newest first; only those with ``status`` when given."""
    stmt = select(Ticket) if status is None else select(Ticket).where(Ticket.status == status)
    rows = uow.session.execute(keyset(stmt, Ticket.created_at, Ticket.id, request)).scalars().all()
    kept, cursor = page_of(rows, request, lambda t: (t.created_at, t.id))
    return Page(_views(uow, kept), cursor)


def get_ticket(uow: UnitOfWork, ticket_id: str) -> TicketView:
    ticket = uow.session.execute(select(Ticket).where(Ticket.id == ticket_id)).scalar_one_or_none()
    if ticket is None:
        raise TicketNotFoundError(ticket_id)
    return _views(uow, [ticket])[0]


def count_by_status(uow: UnitOfWork) -> dict[str, int]:
    """How many tickets have each status (every status named, zero included)."""
    counts = dict.fromkeys(STATUSES, 0)
    rows = uow.session.execute(select(Ticket.status, func.count()).group_by(Ticket.status)).all()
    counts.update({status: int(count) for status, count in rows})
    return counts


def _ticket(uow: UnitOfWork, ticket_id: str) -> Ticket:
    ticket = uow.session.execute(select(Ticket).where(Ticket.id == ticket_id)).scalar_one_or_none()
    if ticket is None:
        raise TicketNotFoundError(ticket_id)
    return ticket


def _changed(uow: UnitOfWork, ticket: Ticket, *, actor: str, action: str, details: dict[str, object]) -> None:
    """Every change: audited (ids and statuses, never the words) and told to the shop's systems."""
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action=action,
        target_type="ticket",
        target_id=ticket.id,
        details=details,
        at=ticket.updated_at,
    )
    data = {
        "id": ticket.id,
        "status": ticket.status,
        "assignee_id": ticket.assignee_id,
        "customer_id": ticket.customer_id,
    }
    emit(uow, "ticket.updated", data, customer_id=ticket.customer_id)


def set_ticket_status(uow: UnitOfWork, ticket_id: str, status: str, *, actor: str, now: datetime) -> TicketView:
    if status not in STATUSES:
        raise TicketError("choose open, in progress or resolved")
    ticket = _ticket(uow, ticket_id)
    if ticket.status != status:
        before, ticket.status, ticket.updated_at = ticket.status, status, now
        uow.session.flush()
        _changed(uow, ticket, actor=actor, action="ticket.status_changed", details={"from": before, "to": status})
    return get_ticket(uow, ticket_id)


def assign_ticket(uow: UnitOfWork, ticket_id: str, member_id: str | None, *, actor: str, now: datetime) -> TicketView:
    """Give the ticket to a member of the team (``None``: to nobody). Raises ``MemberNotFoundError``
    for someone who is not (or no longer) on this shop's team."""
    ticket = _ticket(uow, ticket_id)
    if member_id is not None:
        get_member(uow, member_id)
    if ticket.assignee_id != member_id:
        before, ticket.assignee_id, ticket.updated_at = ticket.assignee_id, member_id, now
        uow.session.flush()
        _changed(uow, ticket, actor=actor, action="ticket.assigned", details={"from": before, "to": member_id})
    return get_ticket(uow, ticket_id)


def add_ticket_note(
    uow: UnitOfWork, ticket_id: str, body: str, *, author_id: str, actor: str, now: datetime
) -> TicketNoteView:
    """An internal note, sealed like the ticket's own words."""
    text = body.strip()
    if not text:
        raise TicketError("write the note first")
    if len(text) > NOTE_MAX:
        raise TicketError(f"a note holds at most {NOTE_MAX} characters")
    if uow.merchant_id is None:
        raise RuntimeError("tickets need a merchant-scoped unit of work")
    ticket = _ticket(uow, ticket_id)
    note = TicketNote(
        id=new_id("note"),
        merchant_id=uow.merchant_id,
        ticket_id=ticket.id,
        customer_id=ticket.customer_id,
        author_id=author_id,
        created_at=now,
    )
    uow.vault.seal(note, body=text)
    uow.session.add(note)
    ticket.updated_at = now
    uow.session.flush()
    _changed(uow, ticket, actor=actor, action="ticket.note_added", details={"note_id": note.id})
    return TicketNoteView(note.id, text, author_id, now)


def ticket_notes(uow: UnitOfWork, ticket_id: str) -> list[TicketNoteView]:
    """A ticket's notes, oldest first."""
    rows = uow.session.execute(
        select(TicketNote).where(TicketNote.ticket_id == ticket_id).order_by(TicketNote.created_at, TicketNote.id)
    ).scalars()
    return [TicketNoteView(n.id, uow.vault.open(n, "body") or "", n.author_id, n.created_at) for n in rows]
