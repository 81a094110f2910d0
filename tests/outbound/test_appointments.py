"""Transactional texts: a confirmation when an appointment is booked, moved or cancelled, and a
reminder the shop's hours before it; do-not-contact honoured here too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sera.booking.service import book_appointment, cancel_appointment, reschedule_appointment
from sera.bootstrap import Sera
from sera.customers.service import add_do_not_contact, create_customer
from tests.conftest import FakeClock
from tests.fakes.twilio_server import TwilioServer
from tests.outbound.conftest import Queue, actions, at, sent_texts
from tests.outbound.shoppers import set_outbound

CHICAGO = ZoneInfo("America/Chicago")
CUSTOMER = "+13125550177"
MONDAY_11 = datetime(2026, 11, 30, 11, 0, tzinfo=CHICAGO)


def book(sera: Sera, shop: str, start: datetime, phone: str = CUSTOMER) -> str:
    with sera.uow(shop) as uow:
        customer = create_customer(uow, name="Priya Shah", phone=phone)
        appointment = book_appointment(
            uow, service_name="Tune-up", start=start, customer_id=customer.id, now=sera.clock()
        )
        uow.commit()
        return appointment.id


def bodies(fake: TwilioServer) -> list[str]:
    return [m["body"] for m in sent_texts(fake)]


def test_a_booking_is_confirmed_and_reminded_the_day_before(
    sera: Sera, shop: str, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    book(sera, shop, MONDAY_11)
    queue.tick()
    assert bodies(fake_twilio) == [
        "You're booked: Tune-up at Northside Cycles, Monday, November 30 at 11 am. Reply STOP to opt out."
    ]
    at(clock, MONDAY_11 - timedelta(hours=24, minutes=1))
    queue.tick()
    assert len(bodies(fake_twilio)) == 1
    at(clock, MONDAY_11 - timedelta(hours=24))
    queue.tick()
    assert bodies(fake_twilio)[1] == (
        "Reminder: your Tune-up at Northside Cycles is Monday, November 30 at 11 am. Reply STOP to opt out."
    )
    assert [m["to"] for m in sent_texts(fake_twilio)] == [CUSTOMER, CUSTOMER]


def test_a_move_is_confirmed_and_the_reminder_follows_the_new_time(
    sera: Sera, shop: str, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    appointment = book(sera, shop, MONDAY_11)
    queue.tick()
    clock.advance(minutes=10)
    tuesday_2 = datetime(2026, 12, 1, 14, 0, tzinfo=CHICAGO)
    with sera.uow(shop) as uow:
        reschedule_appointment(uow, appointment, new_start=tuesday_2, now=clock())
        uow.commit()
    queue.tick()
    assert (
        bodies(fake_twilio)[1]
        == "Your Tune-up at Northside Cycles is now Tuesday, December 1 at 2 pm. Reply STOP to opt out."
    )
    at(clock, MONDAY_11 - timedelta(hours=24))
    queue.tick()
    assert len(bodies(fake_twilio)) == 2  # no reminder for the old time
    at(clock, tuesday_2 - timedelta(hours=24))
    queue.tick()
    assert bodies(fake_twilio)[2].startswith(
        "Reminder: your Tune-up at Northside Cycles is Tuesday, December 1 at 2 pm."
    )


def test_a_cancellation_is_confirmed_and_nothing_more_is_sent(
    sera: Sera, shop: str, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    appointment = book(sera, shop, MONDAY_11)
    queue.tick()
    clock.advance(minutes=10)
    with sera.uow(shop) as uow:
        cancel_appointment(uow, appointment, now=clock())
        uow.commit()
    queue.tick()
    at(clock, MONDAY_11 - timedelta(hours=24))
    queue.tick()
    assert bodies(fake_twilio)[1:] == [
        "Your Tune-up at Northside Cycles on Monday, November 30 at 11 am is cancelled. Reply STOP to opt out."
    ]


def test_a_booking_made_inside_the_reminder_window_gets_no_reminder(
    sera: Sera, shop: str, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    tomorrow_9 = datetime(2026, 11, 28, 9, 0, tzinfo=CHICAGO)  # 23 hours from now
    book(sera, shop, tomorrow_9)
    for hour in range(23):
        at(clock, datetime(2026, 11, 27, 16, 1, tzinfo=UTC) + timedelta(hours=hour))
        queue.tick()
    assert [a.kind for a in actions(sera, shop)] == ["confirmation_booked"]


def test_do_not_contact_is_honoured_for_confirmations(
    sera: Sera, shop: str, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    with sera.uow(shop) as uow:
        add_do_not_contact(uow, CUSTOMER, source="sms", now=clock())
        uow.commit()
    book(sera, shop, MONDAY_11)
    queue.tick()
    at(clock, MONDAY_11 - timedelta(hours=24))
    queue.tick()
    assert bodies(fake_twilio) == []
    assert [(a.kind, a.reason) for a in actions(sera, shop)] == [
        ("confirmation_booked", "do-not-contact"),
        ("reminder", "do-not-contact"),
    ]


def test_nothing_is_sent_when_the_shop_has_not_enabled_it(
    sera: Sera, shop: str, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    set_outbound(sera, shop, booking_confirmations={"enabled": False}, appointment_reminders={"enabled": False})
    book(sera, shop, MONDAY_11)
    queue.tick()
    at(clock, MONDAY_11 - timedelta(hours=24))
    queue.tick()
    assert bodies(fake_twilio) == [] and actions(sera, shop) == []
