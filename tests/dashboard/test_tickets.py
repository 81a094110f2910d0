"""The tickets page: open, in progress and resolved; the call each came from, its assignee and
internal notes (sealed), every change audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from sera.bootstrap import Sera
from sera.privacy.erasure import redact_customer
from sera.privacy.export import export_customer_data
from sera.storage.models import AuditEntry, TicketNote
from sera.support.service import create_ticket, get_ticket
from tests.conftest import Personas
from tests.dashboard.conftest import Browser, Team, check_accessibility, no_csp_violations
from tests.seed import TICKET_PHRASE, Seeded, seed_activity

if TYPE_CHECKING:
    from playwright.sync_api import Page

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
NOTE = "Called back: the clamp is on order, ready Thursday"


@pytest.fixture
def seeded(sera: Sera, personas: Personas, team: Team) -> Seeded:
    """Northside's repair ticket from a call, and a ticket whose subject and words are a script."""
    made = seed_activity(sera, personas.northside_id)
    with sera.uow(personas.northside_id) as uow:
        create_ticket(uow, subject=SCRIPT, description=SCRIPT, tags=[], customer_id=None, now=sera.clock())
        uow.commit()
    return made


def _audit(sera: Sera, merchant_id: str, action: str) -> list[AuditEntry]:
    with sera.uow(merchant_id, readonly=True) as reader:
        return list(reader.session.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars())


def test_the_open_tab_lists_tickets_with_their_customer_escaped(
    as_role: Callable[[str], Browser], seeded: Seeded
) -> None:
    page = as_role("viewer").get("/dashboard/tickets")
    assert page.status_code == 200
    assert "Repair question" in page.text and "Bartholomew Quigley" in page.text and TICKET_PHRASE in page.text
    assert SCRIPT not in page.text and ESCAPED in page.text
    assert '<a href="/dashboard/tickets?status=open" aria-current="page">Open <span class="badge">2</span>' in page.text
    resolved = as_role("viewer").get("/dashboard/tickets?status=resolved")
    assert "Repair question" not in resolved.text and "No resolved tickets." in resolved.text


def test_a_ticket_shows_the_call_it_came_from(as_role: Callable[[str], Browser], seeded: Seeded) -> None:
    page = as_role("viewer").get(f"/dashboard/tickets/{seeded.ticket_id}")
    assert page.status_code == 200
    assert f'href="/dashboard/calls/{seeded.call_id}"' in page.text and TICKET_PHRASE in page.text
    assert "Change status" not in page.text and "Add note" not in page.text  # a viewer only reads


def test_changing_status_and_assignee_moves_the_ticket_and_is_audited(
    sera: Sera, team: Team, as_role: Callable[[str], Browser], seeded: Seeded
) -> None:
    client = as_role("agent")
    url = f"/dashboard/tickets/{seeded.ticket_id}"
    assert client.act("POST", f"{url}/status", data={"status": "in_progress"}).status_code == 303  # type: ignore[attr-defined]
    assert client.act("POST", f"{url}/assignee", data={"assignee": team.admin.member_id}).status_code == 303  # type: ignore[attr-defined]
    working = client.get("/dashboard/tickets?status=in_progress")
    assert "Repair question" in working.text and "admin@northside.example" in working.text
    assert "Repair question" not in client.get("/dashboard/tickets").text
    [status] = _audit(sera, team.owner.merchant_id, "ticket.status_changed")
    assert status.actor == f"team_member:{team.agent.member_id}" and status.details == {
        "from": "open",
        "to": "in_progress",
    }
    [assigned] = _audit(sera, team.owner.merchant_id, "ticket.assigned")
    assert assigned.details == {"from": None, "to": team.admin.member_id}
    assert client.act("POST", f"{url}/assignee", data={"assignee": ""}).status_code == 303  # type: ignore[attr-defined]
    with sera.uow(team.owner.merchant_id, readonly=True) as reader:
        assert get_ticket(reader, seeded.ticket_id).assignee_id is None


def test_a_status_or_assignee_that_does_not_exist_is_refused(
    team: Team, as_role: Callable[[str], Browser], seeded: Seeded
) -> None:
    client = as_role("owner")
    url = f"/dashboard/tickets/{seeded.ticket_id}"
    wrong = client.act("POST", f"{url}/status", data={"status": "closed"})
    assert wrong.status_code == 422 and 'role="alert"' in wrong.text  # type: ignore[attr-defined]
    outsider = client.act("POST", f"{url}/assignee", data={"assignee": team.outsider.member_id})
    assert outsider.status_code == 422 and "Choose a member of the team" in outsider.text  # type: ignore[attr-defined]


def test_a_note_is_shown_to_the_team_sealed_at_rest_and_erased_with_the_customer(
    sera: Sera, team: Team, as_role: Callable[[str], Browser], seeded: Seeded
) -> None:
    client = as_role("agent")
    url = f"/dashboard/tickets/{seeded.ticket_id}"
    assert client.act("POST", f"{url}/notes", data={"note": NOTE}).status_code == 303  # type: ignore[attr-defined]
    assert client.act("POST", f"{url}/notes", data={"note": SCRIPT}).status_code == 303  # type: ignore[attr-defined]
    page = client.get(url)
    assert NOTE in page.text and "agent@northside.example" in page.text
    assert SCRIPT not in page.text and ESCAPED in page.text
    assert client.act("POST", f"{url}/notes", data={"note": "   "}).status_code == 422  # type: ignore[attr-defined]
    with sera.db.engine.connect() as conn:
        stored = conn.execute(select(TicketNote.__table__.c.body)).scalars().all()
    assert len(stored) == 2 and all(NOTE.encode() not in body for body in stored)
    [added, _] = _audit(sera, team.owner.merchant_id, "ticket.note_added")
    assert "Called back" not in str(added.details)
    with sera.uow(team.owner.merchant_id, readonly=True) as reader:  # the customer's access export has them
        exported = export_customer_data(reader, seeded.customer_id)
    [ticket] = [t for t in exported["tickets"] if t["notes"]]
    assert [n["note"] for n in ticket["notes"]] == [NOTE, SCRIPT]
    redact_customer(sera, team.owner.merchant_id, seeded.customer_id, actor="test")
    assert NOTE not in client.get(url).text


@pytest.mark.parametrize("role", ["owner", "admin", "agent", "viewer"])
def test_every_role_reads_and_only_the_viewer_cannot_change(
    role: str, as_role: Callable[[str], Browser], seeded: Seeded
) -> None:
    client = as_role(role)
    url = f"/dashboard/tickets/{seeded.ticket_id}"
    assert client.get("/dashboard/tickets").status_code == 200
    assert client.get(url).status_code == 200
    writes = (
        client.act("POST", f"{url}/status", data={"status": "resolved"}).status_code,  # type: ignore[attr-defined]
        client.act("POST", f"{url}/assignee", data={"assignee": ""}).status_code,  # type: ignore[attr-defined]
        client.act("POST", f"{url}/notes", data={"note": "seen"}).status_code,  # type: ignore[attr-defined]
    )
    assert writes == ((403, 403, 403) if role == "viewer" else (303, 303, 303))


def test_the_outsider_finds_none_of_northsides_tickets(
    sera: Sera, team: Team, as_role: Callable[[str], Browser], seeded: Seeded
) -> None:
    client = as_role("outsider")
    url = f"/dashboard/tickets/{seeded.ticket_id}"
    assert client.get(url).status_code == 404
    for path, data in (("status", {"status": "resolved"}), ("assignee", {"assignee": ""}), ("notes", {"note": "x"})):
        assert client.act("POST", f"{url}/{path}", data=data).status_code == 404  # type: ignore[attr-defined]
    listing = client.get("/dashboard/tickets")
    assert "Repair question" not in listing.text and "Bartholomew" not in listing.text
    with sera.uow(team.owner.merchant_id, readonly=True) as reader:
        assert get_ticket(reader, seeded.ticket_id).status == "open"


# -- in Chromium --------------------------------------------------------------------------------


def test_changing_a_tickets_status_and_adding_a_note(owner_page: Page, server: str, seeded: Seeded) -> None:
    page = owner_page
    violations = no_csp_violations(page)
    page.goto(f"{server}/dashboard/tickets")
    check_accessibility(page, "tickets")
    page.get_by_role("link", name="Repair question").click()
    check_accessibility(page, "tickets-detail")
    page.get_by_label("Status").select_option(label="In progress")
    page.get_by_role("button", name="Change status").click()
    assert page.get_by_role("status").inner_text() == "Status changed."
    page.get_by_label("Add a note").fill(NOTE)
    page.get_by_role("button", name="Add note").click()
    assert page.get_by_role("status").inner_text() == "Note added."
    assert NOTE in page.locator("ol.notes").inner_text()
    page.get_by_role("link", name="Back to the tickets").click()
    assert page.url.endswith("status=in_progress")
    assert "Repair question" in page.inner_text("main")
    assert not violations, violations
