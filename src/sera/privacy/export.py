"""The access right: everything Sera holds on one customer of one shop, as JSON."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from sera.calls.service import get_call
from sera.checkouts.service import customer_checkouts
from sera.customers.service import CustomerNotFoundError, get_customer
from sera.feedback.report import customer_feedback
from sera.outbound.report import customer_outbound_history
from sera.storage.database import UnitOfWork
from sera.storage.models import (
    Appointment,
    Call,
    Consent,
    Message,
    PrivacyRequest,
    Service,
    Ticket,
    TicketNote,
    UnansweredQuestion,
)


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def export_customer_data(uow: UnitOfWork, customer_id: str) -> dict[str, Any]:
    """Customer record, calls with transcripts, messages, appointments, tickets, consents,
    checkouts, outbound messages, feedback, requests. Raises CustomerNotFoundError for an unknown (or erased)
    customer."""
    customer = get_customer(uow, customer_id)
    session, vault = uow.session, uow.vault
    calls = [
        get_call(uow, call_id)
        for call_id in session.execute(
            select(Call.id).where(Call.customer_id == customer_id).order_by(Call.started_at)
        ).scalars()
    ]
    messages = session.execute(select(Message).where(Message.customer_id == customer_id).order_by(Message.created_at))
    appointments = session.execute(
        select(Appointment, Service.name)
        .join(Service, Service.id == Appointment.service_id)
        .where(Appointment.customer_id == customer_id)
        .order_by(Appointment.start_at)
    )
    tickets = session.execute(select(Ticket).where(Ticket.customer_id == customer_id).order_by(Ticket.created_at))
    notes: dict[str, list[dict[str, str | None]]] = {}
    for note in session.execute(
        select(TicketNote).where(TicketNote.customer_id == customer_id).order_by(TicketNote.created_at)
    ).scalars():
        notes.setdefault(note.ticket_id, []).append({"note": vault.open(note, "body"), "at": _iso(note.created_at)})
    consents = session.execute(select(Consent).where(Consent.customer_id == customer_id))
    requests = session.execute(select(PrivacyRequest).where(PrivacyRequest.customer_id == customer_id))
    questions = session.execute(
        select(UnansweredQuestion)
        .where(UnansweredQuestion.customer_id == customer_id)
        .order_by(UnansweredQuestion.asked_at)
    )
    return {
        "customer": {
            "id": customer.id,
            "name": customer.name,
            "phone": customer.phone,
            "email": customer.email,
            "do_not_contact": customer.do_not_contact,
            "created_at": _iso(customer.created_at),
        },
        "calls": [
            {
                "id": c.id,
                "channel": c.channel,
                "direction": c.direction,
                "started_at": _iso(c.started_at),
                "ended_at": _iso(c.ended_at),
                "outcome": c.outcome,
                "transcript": [{"role": t.role, "text": t.text} for t in c.transcript or []],
            }
            for c in calls
        ],
        "messages": [
            {"direction": m.direction, "body": vault.open(m, "body"), "at": _iso(m.created_at)}
            for m in messages.scalars()
        ],
        "appointments": [
            {"service": name, "start": _iso(a.start_at), "status": a.status} for a, name in appointments.all()
        ],
        "tickets": [
            {
                "subject": t.subject,
                "description": vault.open(t, "description"),
                "created_at": _iso(t.created_at),
                "notes": notes.get(t.id, []),  # the team's notes about them are theirs to see too
            }
            for t in tickets.scalars()
        ],
        "consents": [
            {"channel": c.channel, "purpose": c.purpose, "granted": c.granted, "at": _iso(c.recorded_at)}
            for c in consents.scalars()
        ],
        "checkouts": customer_checkouts(uow, customer_id),
        "outbound": customer_outbound_history(uow, customer_id),
        "feedback": customer_feedback(uow, customer_id),
        "unanswered_questions": [  # questions they asked that the agent could not answer
            {"question": vault.open(q, "question"), "channel": q.channel, "at": _iso(q.asked_at)}
            for q in questions.scalars()
        ],
        "privacy_requests": [
            {"type": r.type, "status": r.status, "received_at": _iso(r.received_at)} for r in requests.scalars()
        ],
    }


def export_json(uow: UnitOfWork, customer_id: str) -> str:
    return json.dumps(export_customer_data(uow, customer_id), indent=2, ensure_ascii=False)


__all__ = ["CustomerNotFoundError", "export_customer_data", "export_json"]
