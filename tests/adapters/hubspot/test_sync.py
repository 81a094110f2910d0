"""Calls and bookings reach HubSpot: the contact found or created by phone or email, the call
logged as a call engagement associated with it, a booking as a meeting that moves and is
cancelled with it; the minimum contact data, the summary only when the shop shares it, and
nothing of an erased customer."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from sera.booking.service import cancel_appointment, reschedule_appointment
from sera.bootstrap import Sera
from sera.integrations.hubspot import connect, drain, status
from sera.integrations.sharing import set_sharing
from sera.privacy.copies import copies_of
from sera.privacy.erasure import redact_customer
from sera.storage.models import HubspotSync
from tests.adapters.hubspot.conftest import HARRIET, a_booking, a_call, a_customer, tuesday_at
from tests.conftest import FakeClock, Personas
from tests.fakes.hubspot_server import FakeHubspot


def test_a_completed_call_creates_the_contact_and_the_call_associated(
    sera: Sera, connected: str, fake_hubspot: FakeHubspot, clock: FakeClock, jobs: Any
) -> None:
    harriet = a_customer(sera, connected)
    a_call(sera, connected, clock, customer_id=harriet, outcome="booked", minutes=4)
    jobs.run_pending()  # queued when the call ended, sent by the job

    [contact] = fake_hubspot.objects["contacts"].values()
    assert contact["properties"]["phone"] == HARRIET["phone"] and contact["properties"]["email"] == HARRIET["email"]
    assert (contact["properties"]["firstname"], contact["properties"]["lastname"]) == ("Harriet", "Vane")
    [call] = fake_hubspot.objects["calls"].values()
    properties = call["properties"]
    assert properties["hs_call_direction"] == "INBOUND" and properties["hs_call_status"] == "COMPLETED"
    assert properties["hs_call_duration"] == str(4 * 60 * 1000)
    assert properties["hs_timestamp"] == "2026-11-27T15:56:00.000Z"
    assert "booked" in properties["hs_call_title"]
    assert fake_hubspot.associated("calls", call["id"]) == [contact["id"]]
    sent = [r.body["properties"] for r in fake_hubspot.requests if r.path == "/crm/v3/objects/contacts"]
    assert set(sent[0]) == {"phone", "email", "firstname", "lastname"}  # the minimum, nothing else


def test_a_second_call_of_the_same_caller_finds_the_contact(
    sera: Sera, connected: str, fake_hubspot: FakeHubspot, clock: FakeClock
) -> None:
    harriet = a_customer(sera, connected)
    a_call(sera, connected, clock, customer_id=harriet)
    drain(sera, connected)
    clock.advance(hours=2)
    a_call(sera, connected, clock, customer_id=harriet, outcome="message")
    drain(sera, connected)

    assert len(fake_hubspot.objects["contacts"]) == 1
    [contact_id] = fake_hubspot.objects["contacts"]
    calls = list(fake_hubspot.objects["calls"])
    assert len(calls) == 2 and all(fake_hubspot.associated("calls", c) == [contact_id] for c in calls)
    assert fake_hubspot.count("POST", "/crm/v3/objects/contacts") == 1


def test_an_unknown_caller_is_found_or_created_by_number(
    sera: Sera, connected: str, fake_hubspot: FakeHubspot, clock: FakeClock
) -> None:
    a_call(sera, connected, clock, customer_id=None, caller="+13125550188", outcome="message")
    drain(sera, connected)

    [contact] = fake_hubspot.objects["contacts"].values()
    assert contact["properties"]["phone"] == "+13125550188" and "email" not in contact["properties"]
    search = next(r.body for r in fake_hubspot.requests if r.path == "/crm/v3/objects/contacts/search")
    assert search["filterGroups"] == [
        {"filters": [{"propertyName": "phone", "operator": "EQ", "value": "+13125550188"}]}
    ]


def test_a_booking_creates_a_meeting_a_move_patches_it_and_a_cancellation_cancels_it(
    sera: Sera, connected: str, fake_hubspot: FakeHubspot, clock: FakeClock
) -> None:
    harriet = a_customer(sera, connected)
    booked = a_booking(sera, connected, clock, harriet)
    drain(sera, connected)

    [meeting] = fake_hubspot.objects["meetings"].values()
    assert meeting["properties"]["hs_meeting_outcome"] == "SCHEDULED"
    assert "Tune-up" in meeting["properties"]["hs_meeting_title"]
    start = meeting["properties"]["hs_meeting_start_time"]
    [contact_id] = fake_hubspot.objects["contacts"]
    assert fake_hubspot.associated("meetings", meeting["id"]) == [contact_id]

    with sera.uow(connected) as uow:
        reschedule_appointment(uow, booked, new_start=tuesday_at(clock, hour_utc=18), now=clock())
        uow.commit()
    drain(sera, connected)
    patch = fake_hubspot.requests[-1]
    assert (patch.method, patch.path) == ("PATCH", f"/crm/v3/objects/meetings/{meeting['id']}")
    assert meeting["properties"]["hs_meeting_start_time"] != start
    assert meeting["properties"]["hs_meeting_start_time"].startswith(tuesday_at(clock, 18).strftime("%Y-%m-%dT18:00"))

    with sera.uow(connected) as uow:
        cancel_appointment(uow, booked, now=clock())
        uow.commit()
    drain(sera, connected)
    assert meeting["properties"]["hs_meeting_outcome"] == "CANCELED"
    assert len(fake_hubspot.objects["meetings"]) == 1 and fake_hubspot.count("POST", "/crm/v3/objects/meetings") == 1


def test_with_sharing_off_no_summary_is_sent_and_with_it_on_the_summary_is(
    sera: Sera, connected: str, fake_hubspot: FakeHubspot, clock: FakeClock
) -> None:
    harriet = a_customer(sera, connected)
    summary = "Harriet's gravel bike clicks near the bottom bracket; booked a tune-up."
    a_call(sera, connected, clock, customer_id=harriet, summary=summary)
    drain(sera, connected)
    assert "clicks" not in json.dumps([r.body for r in fake_hubspot.requests])
    assert all("hs_call_body" not in c["properties"] for c in fake_hubspot.objects["calls"].values())

    with sera.uow(connected) as uow:
        set_sharing(uow, share=True, actor="test", now=clock())
        uow.commit()
    a_call(sera, connected, clock, customer_id=harriet, summary=summary)
    drain(sera, connected)
    bodies = [c["properties"].get("hs_call_body") for c in fake_hubspot.objects["calls"].values()]
    assert bodies == [None, summary]


def test_an_erased_customer_is_never_sent(
    sera: Sera, connected: str, personas: Personas, fake_hubspot: FakeHubspot, clock: FakeClock
) -> None:
    harriet = a_customer(sera, connected)
    a_call(sera, connected, clock, customer_id=harriet)
    a_booking(sera, connected, clock, harriet)
    redact_customer(sera, connected, harriet, actor="test")

    drain(sera, connected)

    assert fake_hubspot.requests == []
    with sera.uow(connected, readonly=True) as uow:
        found = uow.session.execute(select(HubspotSync.status, HubspotSync.customer_id)).all()
    assert sorted(found) == [("erased", None), ("erased", None)]  # and no deletion queued
    assert copies_of(sera, connected, customer_id=harriet) == []  # nor owed in the ledger


def test_a_shop_not_connected_keeps_nothing_for_hubspot(
    sera: Sera, personas: Personas, fake_hubspot: FakeHubspot, clock: FakeClock
) -> None:
    harriet = a_customer(sera, personas.northside_id)
    a_call(sera, personas.northside_id, clock, customer_id=harriet)

    with sera.uow(personas.northside_id, readonly=True) as uow:
        assert uow.session.execute(select(HubspotSync)).first() is None
    assert fake_hubspot.requests == []


def test_each_shop_has_its_own_account_and_queue(
    sera: Sera, connected: str, personas: Personas, fake_hubspot: FakeHubspot, clock: FakeClock
) -> None:
    other = FakeHubspot(token="pat-na1-southside", portal_id=77001).start()
    try:
        sera.settings = sera.settings.model_copy(update={"hubspot_api_url": other.base_url})
        connect(sera, personas.southside_id, other.token, actor="test")
        sera.settings = sera.settings.model_copy(update={"hubspot_api_url": fake_hubspot.base_url})
        a_call(sera, connected, clock, customer_id=a_customer(sera, connected))
        theirs = a_call(sera, personas.southside_id, clock, customer_id=a_customer(sera, personas.southside_id))

        assert drain(sera, connected).sent == 1  # Northside's queue only, with Northside's token
        assert all(r.headers["Authorization"] == f"Bearer {fake_hubspot.token}" for r in fake_hubspot.requests)
        with sera.uow(personas.southside_id, readonly=True) as uow:
            assert status(uow).pending == 1 and status(uow).last_sync_at is None
            row = uow.session.execute(select(HubspotSync)).scalar_one()
        assert row.object_id == theirs and row.status == "pending"
    finally:
        other.stop()


def test_a_move_made_while_the_booking_is_being_sent_is_sent_after(
    sera: Sera, connected: str, fake_hubspot: FakeHubspot, clock: FakeClock
) -> None:
    booked = a_booking(sera, connected, clock, a_customer(sera, connected))

    def moved_meanwhile(kind: str) -> bool:
        with sera.uow(connected) as uow:
            reschedule_appointment(uow, booked, new_start=tuesday_at(clock, hour_utc=19), now=clock())
            uow.commit()
        return True

    fake_hubspot.on_create = moved_meanwhile
    assert drain(sera, connected).sent == 2  # created with the old time, then changed to the new one
    fake_hubspot.on_create = None

    [meeting] = fake_hubspot.objects["meetings"].values()
    assert meeting["properties"]["hs_meeting_start_time"].startswith(tuesday_at(clock, 19).strftime("%Y-%m-%dT19:00"))
    assert fake_hubspot.count("PATCH", f"/crm/v3/objects/meetings/{meeting['id']}") == 1
