"""Tickets: open, in progress, resolved; assignee and internal notes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from sera.storage.paging import InvalidCursorError, PageRequest
from sera.support.service import (
    NOTE_MAX,
    STATUSES,
    TicketError,
    TicketNotFoundError,
    add_ticket_note,
    assign_ticket,
    count_by_status,
    get_ticket,
    list_tickets,
    set_ticket_status,
    ticket_notes,
)
from sera.team.members import Member, MemberNotFoundError, list_members
from sera.web.api.deps import SeraDep
from sera.web.dashboard.access import PREFIX, DashboardUser, PageNotFoundError, audit_read, requires
from sera.web.dashboard.render import render

router = APIRouter()
Reader = Annotated[DashboardUser, Depends(requires("tickets.read"))]
Writer = Annotated[DashboardUser, Depends(requires("tickets.write"))]
LABELS = {"open": "Open", "in_progress": "In progress", "resolved": "Resolved"}
BADGES = {"open": "warn", "in_progress": "", "resolved": "ok"}


def _names(members: list[Member]) -> dict[str, str]:
    return {m.id: m.name or m.email for m in members}


@router.get("/tickets")
def tickets(
    request: Request,
    sera: SeraDep,
    user: Reader,
    status: Annotated[str, Query(max_length=12)] = "open",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    status = status if status in STATUSES else "open"
    with sera.uow(user.merchant_id, readonly=True) as reader:
        try:
            page = list_tickets(reader, PageRequest(limit=50, cursor=cursor), status=status)
        except InvalidCursorError:
            page = list_tickets(reader, PageRequest(limit=50), status=status)
        counts = count_by_status(reader)
        names = _names(list_members(reader))
    return render(
        request,
        "dashboard/tickets.html",
        user=user,
        title="Tickets",
        zone=user.session.timezone,
        partial="dashboard/_tickets_rows.html",
        status=status,
        page=page,
        counts=counts,
        names=names,
        labels=LABELS,
        badges=BADGES,
    )


def _detail(
    request: Request,
    sera: SeraDep,
    user: DashboardUser,
    ticket_id: str,
    *,
    error: str | None = None,
    status_code: int = 200,
    done: str | None = None,
) -> Response:
    with sera.uow(user.merchant_id, readonly=True) as reader:
        try:
            ticket = get_ticket(reader, ticket_id)
        except TicketNotFoundError:
            raise PageNotFoundError from None
        notes = ticket_notes(reader, ticket_id)
        members = list_members(reader)
    audit_read(sera, user, "ticket", [ticket.id])
    names = _names(members)
    return render(
        request,
        "dashboard/tickets_detail.html",
        user=user,
        title=ticket.subject,
        zone=user.session.timezone,
        status_code=status_code,
        ticket=ticket,
        notes=notes,
        members=members,
        names=names,
        labels=LABELS,
        badges=BADGES,
        error=error,
        done=done,
        note_max=NOTE_MAX,
    )


@router.get("/tickets/{ticket_id}")
def ticket_detail(
    request: Request,
    sera: SeraDep,
    user: Reader,
    ticket_id: str,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    return _detail(request, sera, user, ticket_id, done=done)


def _back(ticket_id: str, done: str) -> Response:
    return RedirectResponse(f"{PREFIX}/tickets/{ticket_id}?done={done}", status_code=303)


@router.post("/tickets/{ticket_id}/status")
def change_status(
    request: Request,
    sera: SeraDep,
    user: Writer,
    ticket_id: str,
    status: Annotated[str, Form(max_length=12)],
) -> Response:
    try:
        with sera.uow(user.merchant_id) as uow:
            set_ticket_status(uow, ticket_id, status, actor=user.actor, now=sera.clock())
            uow.commit()
    except TicketNotFoundError:
        raise PageNotFoundError from None
    except TicketError as exc:
        return _detail(request, sera, user, ticket_id, error=str(exc), status_code=422)
    return _back(ticket_id, "status")


@router.post("/tickets/{ticket_id}/assignee")
def change_assignee(
    request: Request,
    sera: SeraDep,
    user: Writer,
    ticket_id: str,
    assignee: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    try:
        with sera.uow(user.merchant_id) as uow:
            assign_ticket(uow, ticket_id, assignee or None, actor=user.actor, now=sera.clock())
            uow.commit()
    except TicketNotFoundError:
        raise PageNotFoundError from None
    except MemberNotFoundError:
        return _detail(request, sera, user, ticket_id, error="Choose a member of the team.", status_code=422)
    return _back(ticket_id, "assigned")


@router.post("/tickets/{ticket_id}/notes")
def add_note(
    request: Request,
    sera: SeraDep,
    user: Writer,
    ticket_id: str,
    note: Annotated[str, Form(max_length=NOTE_MAX + 100)] = "",
) -> Response:
    try:
        with sera.uow(user.merchant_id) as uow:
            add_ticket_note(uow, ticket_id, note, author_id=user.member_id, actor=user.actor, now=sera.clock())
            uow.commit()
    except TicketNotFoundError:
        raise PageNotFoundError from None
    except TicketError as exc:
        return _detail(request, sera, user, ticket_id, error=f"The note was not added: {exc}.", status_code=422)
    return _back(ticket_id, "noted")
