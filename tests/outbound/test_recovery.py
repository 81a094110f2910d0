"""Abandoned-checkout recovery: the right message at the right time, stopped at once by an
order, a STOP or a withdrawn consent, and never more than the shop's attempts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sera.bootstrap import Sera
from sera.customers.service import add_do_not_contact
from tests.conftest import FakeClock
from tests.fakes.twilio_server import TwilioServer
from tests.outbound.conftest import SHOP_NUMBER, SHOPPER, Queue, actions, at, order_placed, record, sent_texts
from tests.outbound.shoppers import checkout

UPDATED = datetime(2026, 11, 27, 15, 41, 7, tzinfo=UTC)  # the fixture's updated_at, 09:41 in Chicago
DUE = UPDATED + timedelta(minutes=60)  # the demo shop's delay


def test_a_recovery_text_goes_out_when_the_checkout_has_waited_the_shops_delay(
    sera: Sera, shop: str, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    record(sera, shop, checkout())
    at(clock, DUE - timedelta(minutes=5))
    assert queue.tick() == [] and actions(sera, shop) == []
    at(clock, DUE - timedelta(seconds=30))
    assert queue.tick() == []  # planned and queued for its due time, not sent early
    [action] = actions(sera, shop)
    assert (action.status, action.due_at) == ("scheduled", DUE)
    at(clock, DUE)
    [outcome] = queue.run_due()
    assert outcome.status == "sent"
    [text] = sent_texts(fake_twilio)
    assert (text["to"], text["from"]) == (SHOPPER, SHOP_NUMBER)
    assert text["body"].startswith("Hi Harriet, you left something in your cart at Northside Cycles.")
    assert "https://lakeside-bikes.myshopify.com/60817342000/checkouts/ac/" in text["body"]
    [action] = actions(sera, shop)
    assert (action.status, action.reason, action.provider_ref, action.sent_at) == ("sent", "sent", text["sid"], DUE)


def test_an_order_cancels_the_pending_send(
    sera: Sera, shop: str, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    record(sera, shop, checkout())
    at(clock, DUE - timedelta(seconds=30))
    queue.tick()
    order_placed(sera, shop)
    at(clock, DUE)
    queue.run_due()
    assert sent_texts(fake_twilio) == []
    [action] = actions(sera, shop)
    assert (action.status, action.reason) == ("skipped", "order-completed")


def test_the_dispatcher_cancels_at_once_on_an_order(
    sera: Sera, shop: str, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    record(sera, shop, checkout())
    at(clock, DUE - timedelta(seconds=30))
    queue.tick()
    order_placed(sera, shop)
    queue.tick()
    [action] = actions(sera, shop)
    assert (action.status, action.reason) == ("skipped", "order-completed")
    assert queue.dispatched.cancelled == 1


def test_stop_stops_the_recovery(
    sera: Sera, shop: str, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    record(sera, shop, checkout())
    with sera.uow(shop) as uow:
        add_do_not_contact(uow, SHOPPER, source="sms", now=clock())
        uow.commit()
    at(clock, DUE)
    queue.tick()
    assert sent_texts(fake_twilio) == []
    assert [(a.status, a.reason) for a in actions(sera, shop)] == [("skipped", "do-not-contact")]


def test_a_withdrawn_consent_stops_the_recovery(
    sera: Sera, shop: str, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    record(sera, shop, checkout())
    withdrawn = checkout(updated_at="2026-11-27T09:45:00-06:00")
    withdrawn["customer"]["sms_marketing_consent"]["state"] = "unsubscribed"
    record(sera, shop, withdrawn)
    at(clock, DUE + timedelta(minutes=4))
    queue.tick()
    assert sent_texts(fake_twilio) == []
    assert [(a.status, a.reason) for a in actions(sera, shop)] == [("skipped", "no-consent")]


def test_two_attempts_a_day_apart_and_no_more(
    sera: Sera, shop: str, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    record(sera, shop, checkout())
    at(clock, DUE)
    queue.tick()
    at(clock, DUE + timedelta(hours=24))
    queue.tick()
    at(clock, DUE + timedelta(hours=48))
    queue.tick()
    texts = sent_texts(fake_twilio)
    assert len(texts) == 2 and texts[0]["body"] == texts[1]["body"]
    assert [(a.attempt, a.status, a.sent_at) for a in actions(sera, shop)] == [
        (1, "sent", DUE),
        (2, "sent", DUE + timedelta(hours=24)),
    ]


def test_an_update_after_planning_moves_the_send_to_the_new_delay(
    sera: Sera, shop: str, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    record(sera, shop, checkout())
    at(clock, DUE - timedelta(seconds=30))
    queue.tick()
    record(sera, shop, checkout(updated_at="2026-11-27T10:40:00-06:00"))  # the shopper came back
    at(clock, DUE)
    queue.run_due()
    [action] = actions(sera, shop)
    assert (action.status, action.reason) == ("scheduled", "checkout-updated")
    assert action.due_at == datetime(2026, 11, 27, 17, 40, tzinfo=UTC)
    assert sent_texts(fake_twilio) == []
    at(clock, datetime(2026, 11, 27, 17, 40, tzinfo=UTC))
    queue.tick()
    assert len(sent_texts(fake_twilio)) == 1


def test_a_checkout_found_a_day_late_is_not_chased(
    sera: Sera, shop: str, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    record(sera, shop, checkout())
    at(clock, DUE + timedelta(hours=25))
    queue.tick()
    assert actions(sera, shop) == [] and sent_texts(fake_twilio) == []
