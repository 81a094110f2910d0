"""Every booking confirmation is planned, however quickly the changes follow each other: a caller
who books, moves and cancels within a minute (between two dispatcher runs) has three messages
in ``GET /api/v1/outbound/actions``, each sent or skipped with its reason. Planning them from the
appointment as the dispatcher found it used to keep only the cancellation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from sera.booking.service import book_appointment, cancel_appointment, reschedule_appointment
from sera.bootstrap import Sera
from sera.customers.service import create_customer
from sera.web.app import create_app
from tests.conftest import FakeClock, Personas
from tests.fakes.twilio_server import TwilioServer
from tests.outbound.conftest import Queue, at, sent_texts

CHICAGO = ZoneInfo("America/Chicago")
CUSTOMER = "+13125550177"
CANCELLED_TEXT = (
    "Your Tune-up at Northside Cycles on Wednesday, December 2 at 3 pm is cancelled. Reply STOP to opt out."
)


@pytest.fixture
def http(sera: Sera, personas: Personas) -> Iterator[TestClient]:
    with TestClient(create_app(sera)) as client:
        yield client


def listed(http: TestClient, key: str) -> list[tuple[str, str, str | None]]:
    """The outbound actions list, oldest first: kind, status, reason."""
    response = http.get("/api/v1/outbound/actions", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return [(a["kind"], a["status"], a["reason"]) for a in reversed(response.json()["data"])]


def book_move_and_cancel_on_the_try_page(http: TestClient, clock: FakeClock) -> None:
    started = http.post("/try/conversations", json={"caller_phone": CUSTOMER})
    conversation = started.json()["conversation_id"]
    replies = []
    for line in [
        "book a tune-up next tuesday at 2 pm",
        "Priya Shah",
        "yes",
        "can I move my tune-up to wednesday at 3",
        "yes",
        "cancel my appointment",
        "yes",
    ]:
        clock.advance(seconds=5)
        response = http.post(f"/try/conversations/{conversation}/messages", json={"text": line})
        replies.append(response.json()["reply"])
    assert "You're booked" in replies[2] and "Done: your Tune-up is moved" in replies[4]
    assert "is cancelled" in replies[6]


def test_booking_moving_and_cancelling_within_a_minute_lists_all_three_confirmations(
    http: TestClient, personas: Personas, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    book_move_and_cancel_on_the_try_page(http, clock)
    queue.tick()
    assert listed(http, personas.owner_key) == [
        ("confirmation_booked", "skipped", "appointment-changed"),
        ("confirmation_moved", "skipped", "appointment-changed"),
        ("confirmation_cancelled", "sent", "sent"),
    ]
    assert [m["body"] for m in sent_texts(fake_twilio)] == [CANCELLED_TEXT]  # only what still holds


def test_without_twilio_each_confirmation_is_listed_as_skipped_with_its_reason(
    sera: Sera, http: TestClient, personas: Personas, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    """The demo: no Twilio account configured."""
    sera.settings = sera.settings.model_copy(update={"twilio_account_sid": None, "twilio_auth_token": None})
    book_move_and_cancel_on_the_try_page(http, clock)
    queue.tick()
    assert listed(http, personas.owner_key) == [
        ("confirmation_booked", "skipped", "appointment-changed"),
        ("confirmation_moved", "skipped", "appointment-changed"),
        ("confirmation_cancelled", "skipped", "channel-unavailable"),
    ]
    assert sent_texts(fake_twilio) == []


def test_every_message_of_an_appointment_is_listed_with_its_outcome(
    sera: Sera, http: TestClient, personas: Personas, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    shop = personas.northside_id
    monday_11 = datetime(2026, 11, 30, 11, 0, tzinfo=CHICAGO)
    tuesday_2 = datetime(2026, 12, 1, 14, 0, tzinfo=CHICAGO)
    with sera.uow(shop) as uow:
        customer = create_customer(uow, name="Priya Shah", phone=CUSTOMER)
        appointment = book_appointment(
            uow, service_name="Tune-up", start=monday_11, customer_id=customer.id, now=clock()
        )
        uow.commit()
    clock.advance(seconds=20)
    with sera.uow(shop) as uow:
        reschedule_appointment(uow, appointment.id, new_start=tuesday_2, now=clock())
        uow.commit()
    queue.tick()
    at(clock, tuesday_2 - timedelta(hours=24))
    queue.tick()
    clock.advance(hours=1)
    with sera.uow(shop) as uow:
        cancel_appointment(uow, appointment.id, now=clock())
        uow.commit()
    queue.tick()

    assert listed(http, personas.owner_key) == [
        ("confirmation_booked", "skipped", "appointment-changed"),
        ("confirmation_moved", "sent", "sent"),
        ("reminder", "sent", "sent"),
        ("confirmation_cancelled", "sent", "sent"),
    ]
    assert [m["body"].split(" at Northside")[0] for m in sent_texts(fake_twilio)] == [
        "Your Tune-up",
        "Reminder: your Tune-up",
        "Your Tune-up",
    ]
