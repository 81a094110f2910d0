"""Exactly one text per intended message when the provider's answer is lost, when it fails
in ways that leave the outcome unknown, and when it refuses; reconciliation against the
provider's message list never mistakes one message for another with the same words."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from sera.adapters.http import HttpClient
from sera.adapters.twilio.client import TwilioClient
from sera.adapters.twilio.outbound import TwilioSms
from sera.adapters.twilio.sms import status_url
from sera.bootstrap import Sera
from sera.customers.service import is_do_not_contact
from sera.outbound.service import Senders
from sera.outbound.settings import ShopOutbound
from tests.adapters.twilio.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.conftest import FakeClock
from tests.outbound.conftest import SHOPPER, Queue, actions, at, make_outbox, record, sent_texts
from tests.outbound.paced_twilio import Pace, PacedTwilioServer
from tests.outbound.shoppers import checkout

DUE = datetime(2026, 11, 27, 16, 41, 7, tzinfo=UTC)
SETTLE = timedelta(seconds=15)  # the default SERA_OUTBOUND_SETTLE_SECONDS


@pytest.fixture
def pace() -> Pace:
    return Pace()


@pytest.fixture
def fake_twilio(pace: Pace) -> Iterator[PacedTwilioServer]:
    with PacedTwilioServer(pace) as fake:
        fake.add_account(ACCOUNT_SID, AUTH_TOKEN)
        yield fake


@pytest.fixture
def queue(sera: Sera, fake_twilio: PacedTwilioServer) -> Queue:
    """Sends through a client that gives up on an answer after 0.3 s (and never retries by itself)."""
    http = HttpClient(timeout=0.3, retries=0)

    def senders(merchant_id: str, _shop: ShopOutbound) -> Senders:
        client = TwilioClient(ACCOUNT_SID, AUTH_TOKEN, api_base=fake_twilio.url, http=http)
        return Senders(sms=TwilioSms(client, status_url(sera, merchant_id)))

    return Queue(sera, replace(make_outbox(sera), senders_for=senders))


def test_a_lost_answer_is_reconciled_not_resent(
    sera: Sera, shop: str, queue: Queue, pace: Pace, fake_twilio: PacedTwilioServer, clock: FakeClock
) -> None:
    record(sera, shop, checkout())
    pace.after = lambda: 1.0  # Twilio stores the text, the answer comes after the client gave up
    at(clock, DUE)
    assert [(o.status, o.reason) for o in queue.tick()] == [("sending", "unknown-outcome")]
    pace.after = lambda: 0.0
    [action] = actions(sera, shop)
    assert action.status == "sending"
    clock.advance(seconds=10)  # another job for it: too soon to ask Twilio, the request may be in flight
    queue.enqueue(shop, [action.id], 0)
    assert [(o.status, o.reason) for o in queue.run_due()] == [("sending", "settling")]
    at(clock, DUE + SETTLE)
    done = [(o.status, o.reason) for o in queue.run_due()]
    assert done == [("sent", "reconciled"), ("noop", None)]  # both jobs came back: the second finds it done
    [text] = sent_texts(fake_twilio)
    [action] = actions(sera, shop)
    assert (action.status, action.provider_ref, action.sent_at) == ("sent", text["sid"], DUE + SETTLE)


def test_an_unknown_failure_is_checked_then_sent_once(
    sera: Sera, shop: str, queue: Queue, fake_twilio: PacedTwilioServer, clock: FakeClock
) -> None:
    record(sera, shop, checkout())
    fake_twilio.state.fail_next(500)  # a 500 may or may not have created the message
    at(clock, DUE)
    assert [(o.status, o.reason) for o in queue.tick()] == [("sending", "unknown-outcome")]
    assert sent_texts(fake_twilio) == []
    at(clock, DUE + SETTLE)
    queue.tick()
    assert len(sent_texts(fake_twilio)) == 1
    assert [(a.status, a.reason) for a in actions(sera, shop)] == [("sent", "sent")]
    assert len(fake_twilio.state.requests_to("/Messages.json", "GET")) >= 1  # it asked before sending again


def test_the_same_words_sent_before_are_not_taken_for_this_message(
    sera: Sera, shop: str, queue: Queue, fake_twilio: PacedTwilioServer, clock: FakeClock
) -> None:
    record(sera, shop, checkout())
    at(clock, DUE)
    queue.tick()
    fake_twilio.state.fail_next(500)
    at(clock, DUE + timedelta(hours=24))
    queue.tick()  # attempt 2, same text as attempt 1: the outcome is unknown
    at(clock, DUE + timedelta(hours=24) + SETTLE)
    queue.tick()
    first, second = sent_texts(fake_twilio)
    assert first["body"] == second["body"]
    assert [a.provider_ref for a in actions(sera, shop)] == [first["sid"], second["sid"]]


def test_a_busy_provider_is_tried_again_later(
    sera: Sera, shop: str, queue: Queue, fake_twilio: PacedTwilioServer, clock: FakeClock
) -> None:
    record(sera, shop, checkout())
    fake_twilio.state.fail_next(429)  # Twilio took nothing
    at(clock, DUE)
    assert [(o.status, o.reason) for o in queue.tick()] == [("scheduled", "provider-busy")]
    at(clock, DUE + timedelta(seconds=30))
    assert [o.status for o in queue.run_due()] == ["sent"]
    assert len(sent_texts(fake_twilio)) == 1
    assert len(fake_twilio.state.requests_to("/Messages.json", "GET")) == 0  # no doubt, nothing to reconcile


def test_a_refused_message_is_failed_for_good(
    sera: Sera, shop: str, queue: Queue, fake_twilio: PacedTwilioServer, clock: FakeClock
) -> None:
    record(sera, shop, checkout())
    fake_twilio.state.fail_next(400)
    at(clock, DUE)
    queue.tick()
    at(clock, DUE + timedelta(hours=1))
    queue.tick()
    assert sent_texts(fake_twilio) == []
    assert [(a.status, a.reason) for a in actions(sera, shop)] == [("failed", "provider-refused")]


def test_a_carrier_opt_out_is_honoured_from_then_on(
    sera: Sera, shop: str, queue: Queue, pace: Pace, fake_twilio: PacedTwilioServer, clock: FakeClock
) -> None:
    pace.refuse[SHOPPER] = 21610
    record(sera, shop, checkout())
    at(clock, DUE)
    queue.tick()
    assert [(a.status, a.reason) for a in actions(sera, shop)] == [("skipped", "do-not-contact")]
    with sera.uow(shop, readonly=True) as uow:
        assert is_do_not_contact(uow, SHOPPER)
