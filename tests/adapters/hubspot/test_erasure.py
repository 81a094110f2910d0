"""Erasure reaches HubSpot: the calls and meetings Sera logged for the customer are archived and
the contact Sera made or matched for them is deleted with HubSpot's GDPR delete, through the
shop's queue (in order, once, waiting out a 429), recorded in the deletion ledger; nothing of
another customer is touched, and a customer who never reached HubSpot costs no request (tests/adapters/hubspot/test_sync.py)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from sera.booking.service import cancel_appointment
from sera.bootstrap import Sera
from sera.integrations.hubspot import connect, drain
from sera.privacy.copies import copies_of, delete_copy, pending_copies
from sera.privacy.erasure import delete_shop, redact_customer
from sera.privacy.report import privacy_report, render_report
from sera.storage.models import AuditEntry, HubspotConnection, HubspotSync
from tests.adapters.hubspot.conftest import HARRIET, a_booking, a_call, a_customer
from tests.adapters.hubspot.test_failures import drain_until_done
from tests.conftest import FakeClock
from tests.fakes.hubspot_server import FakeHubspot

PETER = {"name": "Peter Wimsey", "phone": "+13125550188", "email": "peter@example.com"}
GDPR_DELETE = "/crm/v3/objects/contacts/gdpr-delete"


def synced_harriet(sera: Sera, shop: str, fake: FakeHubspot, clock: FakeClock) -> tuple[str, str, str, str]:
    """Harriet, her call and her booking, in HubSpot: her id, and HubSpot's contact, call, meeting."""
    before = {kind: set(objects) for kind, objects in fake.objects.items()}
    harriet = a_customer(sera, shop)
    a_call(sera, shop, clock, customer_id=harriet)
    a_booking(sera, shop, clock, harriet)
    drain(sera, shop)
    new = {kind: sorted(set(objects) - before[kind]) for kind, objects in fake.objects.items()}
    [contact], [call], [meeting] = new["contacts"], new["calls"], new["meetings"]
    fake.requests.clear()
    return harriet, contact, call, meeting


def erasure_requests(fake: FakeHubspot) -> list[tuple[str, str, object]]:
    return [(r.method, r.path, r.body) for r in fake.requests if r.method == "DELETE" or r.path == GDPR_DELETE]


def test_erasing_a_synced_customer_deletes_their_call_meeting_and_contact_at_hubspot(
    sera: Sera, connected: str, fake_hubspot: FakeHubspot, clock: FakeClock
) -> None:
    harriet, contact, call, meeting = synced_harriet(sera, connected, fake_hubspot, clock)

    redact_customer(sera, connected, harriet, actor="test")
    assert drain(sera, connected).sent == 3

    assert fake_hubspot.objects == {"contacts": {}, "calls": {}, "meetings": {}}
    assert fake_hubspot.associations == []
    assert erasure_requests(fake_hubspot) == [  # what was logged first, the contact last
        ("DELETE", f"/crm/v3/objects/calls/{call}", None),
        ("DELETE", f"/crm/v3/objects/meetings/{meeting}", None),
        ("POST", GDPR_DELETE, {"objectId": contact}),
    ]
    ledger = copies_of(sera, connected, customer_id=harriet)
    portal = fake_hubspot.portal_id
    assert sorted((c.provider, c.kind, c.provider_id, c.status, c.result) for c in ledger) == sorted(
        [
            ("hubspot", "call", f"{portal}/{call}", "deleted", "deleted"),
            ("hubspot", "meeting", f"{portal}/{meeting}", "deleted", "deleted"),
            ("hubspot", "contact", f"{portal}/{contact}", "deleted", "deleted"),
        ]
    )
    with sera.uow(connected, readonly=True) as uow:
        ordered = uow.session.execute(
            select(AuditEntry.details).where(AuditEntry.action == "hubspot.erasure_ordered")
        ).scalar_one()
        deleted = uow.session.execute(
            select(AuditEntry.details).where(AuditEntry.action == "provider_copy.deleted")
        ).scalars()
        assert sorted(d["kind"] for d in deleted) == ["call", "contact", "meeting"]
    assert ordered == {"portal_id": str(portal), "calls": 1, "meetings": 1, "contacts": 1, "contacts_shared_kept": 0}
    report = render_report(privacy_report(sera, connected, customer_id=harriet), "Northside Cycles")
    assert "At providers: 3 copies, all deleted" in report and f"{portal}/{contact}" in report
    assert drain(sera, connected).sent == 0  # once


def test_nothing_of_another_customer_is_touched(
    sera: Sera, connected: str, fake_hubspot: FakeHubspot, clock: FakeClock
) -> None:
    peter = a_customer(sera, connected, **PETER)
    a_call(sera, connected, clock, customer_id=peter, caller=PETER["phone"])
    drain(sera, connected)
    [peters_contact], [peters_call] = list(fake_hubspot.objects["contacts"]), list(fake_hubspot.objects["calls"])
    harriet, *_ = synced_harriet(sera, connected, fake_hubspot, clock)

    redact_customer(sera, connected, harriet, actor="test")
    drain(sera, connected)

    assert list(fake_hubspot.objects["contacts"]) == [peters_contact]
    assert list(fake_hubspot.objects["calls"]) == [peters_call]
    assert fake_hubspot.objects["meetings"] == {}
    touched = " ".join(f"{path} {body}" for _, path, body in erasure_requests(fake_hubspot))
    assert peters_contact not in touched and peters_call not in touched


def test_a_contact_another_customer_also_went_to_is_kept(
    sera: Sera, connected: str, fake_hubspot: FakeHubspot, clock: FakeClock
) -> None:
    harriet, contact, call, _ = synced_harriet(sera, connected, fake_hubspot, clock)
    # the shop gave Harriet's contact in HubSpot another address, which is another customer's at Sera
    fake_hubspot.objects["contacts"][contact]["properties"]["email"] = "h.vane@example.com"
    namesake = a_customer(sera, connected, name="H. Vane", phone="+13125550199", email="h.vane@example.com")
    a_call(sera, connected, clock, customer_id=namesake, caller="+13125550199")
    drain(sera, connected)
    assert list(fake_hubspot.objects["contacts"]) == [contact]

    redact_customer(sera, connected, harriet, actor="test")
    drain(sera, connected)

    assert list(fake_hubspot.objects["contacts"]) == [contact]  # it is the other customer's too
    assert call not in fake_hubspot.objects["calls"] and len(fake_hubspot.objects["calls"]) == 1
    assert fake_hubspot.count("POST", GDPR_DELETE) == 0
    with sera.uow(connected, readonly=True) as uow:
        ordered = uow.session.execute(
            select(AuditEntry.details).where(AuditEntry.action == "hubspot.erasure_ordered")
        ).scalar_one()
    assert (ordered["contacts"], ordered["contacts_shared_kept"]) == (0, 1)


def test_a_429_during_erasure_is_waited_out_and_completes(
    sera: Sera, connected: str, fake_hubspot: FakeHubspot, clock: FakeClock
) -> None:
    harriet, _contact, call, meeting = synced_harriet(sera, connected, fake_hubspot, clock)
    redact_customer(sera, connected, harriet, actor="test")

    fake_hubspot.rate_limit(2, retry_after=3)
    seen = drain_until_done(sera, connected, clock)

    assert [d.outcome for d in seen][:2] == ["paused", "paused"] and seen[-1].outcome == "idle"
    assert fake_hubspot.objects == {"contacts": {}, "calls": {}, "meetings": {}}
    paths = [path for _, path, _ in erasure_requests(fake_hubspot)]
    wanted = [f"/crm/v3/objects/calls/{call}", f"/crm/v3/objects/meetings/{meeting}", GDPR_DELETE]
    assert paths == [wanted[0], wanted[0], *wanted]  # the head asked again until HubSpot took it, in order
    assert all(c.status == "deleted" for c in copies_of(sera, connected, customer_id=harriet))


def test_an_object_already_gone_at_hubspot_counts_as_deleted(
    sera: Sera, connected: str, fake_hubspot: FakeHubspot, clock: FakeClock
) -> None:
    harriet, contact, _, _ = synced_harriet(sera, connected, fake_hubspot, clock)
    del fake_hubspot.objects["contacts"][contact]  # the shop deleted it by hand

    redact_customer(sera, connected, harriet, actor="test")
    assert drain(sera, connected).sent == 3

    results = {c.kind: (c.status, c.result) for c in copies_of(sera, connected, customer_id=harriet)}
    assert results == {
        "call": ("deleted", "deleted"),
        "meeting": ("deleted", "deleted"),
        "contact": ("deleted", "gone"),
    }
    with sera.uow(connected, readonly=True) as uow:
        queued = select(HubspotSync.status).where(HubspotSync.kind.like("erase%"))
        assert list(uow.session.execute(queued).scalars()) == ["synced"] * 3


def test_the_queued_erasure_rows_carry_no_personal_data(
    sera: Sera, connected: str, fake_hubspot: FakeHubspot, clock: FakeClock
) -> None:
    harriet, contact, call, meeting = synced_harriet(sera, connected, fake_hubspot, clock)

    redact_customer(sera, connected, harriet, actor="test")

    with sera.uow(connected, readonly=True) as uow:
        queued = uow.session.execute(
            select(HubspotSync).where(HubspotSync.kind.like("erase%")).order_by(HubspotSync.position)
        ).scalars()
        found = [
            {c.name: getattr(row, c.name) for c in HubspotSync.__table__.columns if c.name != "merchant_id"}
            for row in queued
        ]
    assert [(r["kind"], r["object_id"], r["hubspot_id"]) for r in found] == [
        ("erase_call", call, call),
        ("erase_meeting", meeting, meeting),
        ("erase_contact", contact, contact),
    ]
    assert all(r["customer_id"] is None and r["contact_id"] is None for r in found)
    held = " ".join(str(value) for row in found for value in row.values())
    for personal in (harriet, *HARRIET.values(), "Harriet", "Vane", re.sub(r"\D", "", HARRIET["phone"])):
        assert personal not in held


def test_a_customer_erased_while_their_call_is_being_sent_is_deleted_at_hubspot_too(
    sera: Sera, connected: str, fake_hubspot: FakeHubspot, clock: FakeClock
) -> None:
    harriet = a_customer(sera, connected)
    a_call(sera, connected, clock, customer_id=harriet)

    def erase_now(kind: str) -> bool:  # HubSpot has made the call; its answer is not back yet
        fake_hubspot.on_create = None
        redact_customer(sera, connected, harriet, actor="test")
        return True

    fake_hubspot.on_create = erase_now
    drain(sera, connected)

    assert fake_hubspot.objects == {"contacts": {}, "calls": {}, "meetings": {}}
    assert fake_hubspot.count("POST", GDPR_DELETE) == 1


def test_deletions_queued_for_one_account_are_never_sent_to_another(
    sera: Sera, connected: str, fake_hubspot: FakeHubspot, clock: FakeClock
) -> None:
    harriet, *_ = synced_harriet(sera, connected, fake_hubspot, clock)
    redact_customer(sera, connected, harriet, actor="test")

    fake_hubspot.portal_id = 99001  # the shop connects another HubSpot account before the queue ran
    connect(sera, connected, fake_hubspot.token, actor="test")
    drain(sera, connected)

    assert erasure_requests(fake_hubspot) == []  # the same ids there are other people
    with sera.uow(connected, readonly=True) as uow:
        left = uow.session.execute(
            select(HubspotSync.status, HubspotSync.last_error).where(HubspotSync.kind.like("erase%"))
        )
        assert {(s, e) for s, e in left} == {
            ("failed", "left in the previous HubSpot account (62515): delete it there")
        }
    assert all(c.status == "pending" for c in copies_of(sera, connected, customer_id=harriet))


def test_a_change_to_an_erased_customers_booking_is_not_written_to_hubspot(
    sera: Sera, connected: str, fake_hubspot: FakeHubspot, clock: FakeClock
) -> None:
    harriet, *_ = synced_harriet(sera, connected, fake_hubspot, clock)
    with sera.uow(connected, readonly=True) as uow:
        booked = uow.session.execute(select(HubspotSync.object_id).where(HubspotSync.kind == "appointment")).scalar()
    redact_customer(sera, connected, harriet, actor="test")

    with sera.uow(connected) as uow:  # the booking stays, anonymous, and the shop cancels it
        cancel_appointment(uow, str(booked), now=clock())
        uow.commit()
    drain(sera, connected)

    assert [(r.method, r.path.rsplit("/", 1)[0]) for r in fake_hubspot.requests] == [
        ("DELETE", "/crm/v3/objects/calls"),
        ("DELETE", "/crm/v3/objects/meetings"),
        ("POST", "/crm/v3/objects/contacts"),  # gdpr-delete; no PATCH of the archived meeting
    ]


def test_disconnecting_with_deletions_owed_sends_them_first_then_forgets_the_token(
    sera: Sera, connected: str, fake_hubspot: FakeHubspot, clock: FakeClock, api: TestClient
) -> None:
    harriet, contact, call, meeting = synced_harriet(sera, connected, fake_hubspot, clock)
    peter = a_customer(sera, connected, **PETER)
    a_call(sera, connected, clock, customer_id=peter, caller=PETER["phone"])  # waiting: never sent now
    redact_customer(sera, connected, harriet, actor="test")

    assert api.delete("/api/v1/integrations/hubspot").status_code == 204
    shown = api.get("/api/v1/integrations/hubspot").json()
    assert (shown["status"], shown["connected"], shown["pending"]) == ("closing", False, 3)
    a_call(sera, connected, clock, customer_id=peter, caller=PETER["phone"])  # after: nothing is queued

    assert drain(sera, connected).sent == 3
    assert [path for _, path, _ in erasure_requests(fake_hubspot)] == [
        f"/crm/v3/objects/calls/{call}",
        f"/crm/v3/objects/meetings/{meeting}",
        GDPR_DELETE,
    ]
    assert fake_hubspot.objects["calls"] == {} and contact not in fake_hubspot.objects["contacts"]
    assert {c.status for c in copies_of(sera, connected, customer_id=harriet)} == {"deleted"}
    assert api.get("/api/v1/integrations/hubspot").json()["status"] == "not_connected"
    with sera.uow(connected, readonly=True) as uow:
        assert uow.session.execute(select(HubspotConnection)).first() is None  # the token is gone
        assert uow.session.execute(select(HubspotSync)).first() is None
        actions = uow.session.execute(select(AuditEntry.action, AuditEntry.details)).all()
    assert ("hubspot.disconnected", 3) in [(a, d.get("deletions_still_to_send")) for a, d in actions if d]
    assert "hubspot.token_forgotten" in [a for a, _ in actions]
    assert drain(sera, connected).sent == 0


def test_disconnecting_with_nothing_owed_forgets_the_token_at_once(
    sera: Sera, connected: str, fake_hubspot: FakeHubspot, clock: FakeClock, api: TestClient
) -> None:
    a_call(sera, connected, clock, customer_id=a_customer(sera, connected))
    assert api.delete("/api/v1/integrations/hubspot").status_code == 204
    assert api.get("/api/v1/integrations/hubspot").json()["status"] == "not_connected"
    assert drain(sera, connected).outcome == "held" and fake_hubspot.requests == []


def test_a_shop_deleted_with_deletions_owed_still_sends_them_then_forgets_the_token(
    sera: Sera, connected: str, fake_hubspot: FakeHubspot, clock: FakeClock
) -> None:
    from sera.jobs.wiring import deleter

    harriet, contact, call, meeting = synced_harriet(sera, connected, fake_hubspot, clock)
    redact_customer(sera, connected, harriet, actor="test")  # owed, not sent yet, when the shop goes

    delete_shop(sera, connected, actor="test")
    assert sera.keystore.kept_for_deletion(connected, "hubspot") == (str(fake_hubspot.portal_id), fake_hubspot.token)
    owed = pending_copies(sera)
    assert sorted(c.kind for c in owed) == ["call", "contact", "meeting"]
    fake_hubspot.fail_next(503)  # a refusal is tried again by the ledger
    outcomes = [delete_copy(sera, lambda m, p: deleter(sera, m, p), copy.id) for copy in owed]
    assert sorted(str(o) for o in outcomes) == ["deleted", "deleted", "retry"]
    clock.advance(minutes=5)
    for copy in pending_copies(sera):
        delete_copy(sera, lambda m, p: deleter(sera, m, p), copy.id)

    assert fake_hubspot.objects == {"contacts": {}, "calls": {}, "meetings": {}}
    sent = erasure_requests(fake_hubspot)
    assert {path for _, path, _ in sent} == {
        f"/crm/v3/objects/calls/{call}",
        f"/crm/v3/objects/meetings/{meeting}",
        GDPR_DELETE,
    }
    assert ("POST", GDPR_DELETE, {"objectId": contact}) in sent and pending_copies(sera) == []
    assert {(c.kind, c.status) for c in copies_of(sera, connected)} == {
        ("call", "deleted"),
        ("meeting", "deleted"),
        ("contact", "deleted"),
    }
    assert sera.keystore.kept_for_deletion(connected, "hubspot") is None  # forgotten once done
