"""Checkouts as Shopify really sends them, through ``record_checkout``, planning and sending:
no phone, no consent, malformed numbers, other currencies, duplicates, out of order. Each
gets the right skip reason or exactly one text, and never a crash."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sera.bootstrap import Sera
from sera.outbound.report import outbound_report
from tests.adapters.shopify.conftest import load
from tests.conftest import FakeClock
from tests.fakes.twilio_server import TwilioServer
from tests.outbound.conftest import Queue, actions, at, order_placed, record, sent_texts
from tests.outbound.shoppers import checkout

LATE_ENOUGH = datetime(2026, 11, 27, 16, 50, tzinfo=UTC)  # every fixture checkout is due by then


def no_phone(p: dict[str, Any]) -> None:
    p["phone"] = p["sms_marketing_phone"] = p["customer"]["phone"] = p["shipping_address"]["phone"] = None


def nobody(p: dict[str, Any]) -> None:
    for key in ("phone", "sms_marketing_phone", "email", "customer", "shipping_address", "billing_address"):
        p[key] = None


def consent_not_stated(p: dict[str, Any]) -> None:
    p.pop("buyer_accepts_sms_marketing")
    p["customer"].pop("sms_marketing_consent")


def consent_refused(p: dict[str, Any]) -> None:
    p["customer"]["sms_marketing_consent"]["state"] = "not_subscribed"


def malformed_numbers(p: dict[str, Any]) -> None:
    p["phone"], p["sms_marketing_phone"], p["customer"]["phone"] = "12345", "not a number", None
    p["shipping_address"]["phone"] = "555-555-SHIP"


def no_link(p: dict[str, Any]) -> None:
    p["abandoned_checkout_url"] = None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (no_phone, "no-phone"),
        (nobody, "no-phone"),
        (consent_not_stated, "no-consent"),
        (consent_refused, "no-consent"),
        (malformed_numbers, "no-phone"),
        (no_link, "no-link"),
    ],
)
def test_a_checkout_that_cannot_be_recovered_is_skipped_with_its_reason(
    sera: Sera,
    shop: str,
    queue: Queue,
    fake_twilio: TwilioServer,
    clock: FakeClock,
    change: Callable[[dict[str, Any]], None],
    reason: str,
) -> None:
    payload = checkout()
    change(payload)
    record(sera, shop, payload)
    at(clock, LATE_ENOUGH)
    queue.tick()
    assert sent_texts(fake_twilio) == []
    assert [(a.status, a.reason) for a in actions(sera, shop)] == [("skipped", reason)]


def test_another_currency_is_recovered_and_reported_in_that_currency(
    sera: Sera, shop: str, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    record(sera, shop, checkout(presentment_currency="EUR", total_price="1089.50"))
    at(clock, LATE_ENOUGH)
    queue.tick()
    assert len(sent_texts(fake_twilio)) == 1
    clock.advance(hours=2)
    order_placed(sera, shop)
    with sera.uow(shop, readonly=True) as uow:
        report = outbound_report(uow)
    assert (report.recoveries, report.revenue) == (1, {"EUR": 108950})


def test_an_unusable_currency_is_still_recovered_and_counted_in_the_shops(
    sera: Sera, shop: str, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    record(sera, shop, checkout(presentment_currency="dollars", currency="dollars", total_price="lots"))
    at(clock, LATE_ENOUGH)
    queue.tick()
    clock.advance(hours=2)
    order_placed(sera, shop)
    with sera.uow(shop, readonly=True) as uow:
        report = outbound_report(uow)
    assert len(sent_texts(fake_twilio)) == 1 and (report.recoveries, report.revenue) == (1, {"USD": 0})


def test_a_delivery_received_twice_is_one_text(
    sera: Sera, shop: str, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    record(sera, shop, load("checkouts/create"))
    record(sera, shop, load("checkouts/create"))
    at(clock, LATE_ENOUGH)
    queue.tick()
    queue.tick()
    assert len(sent_texts(fake_twilio)) == 1 and len(actions(sera, shop)) == 1


def test_updates_out_of_order_time_the_text_from_the_newest(
    sera: Sera, shop: str, queue: Queue, fake_twilio: TwilioServer, clock: FakeClock
) -> None:
    record(sera, shop, load("checkouts/update"))  # 09:44:30 in Chicago
    assert record(sera, shop, load("checkouts/create")).stale  # 09:41:07, delivered late
    newest_due = datetime(2026, 11, 27, 16, 44, 30, tzinfo=UTC)
    at(clock, newest_due - timedelta(seconds=1))
    queue.tick()
    at(clock, newest_due)
    queue.tick()
    [action] = actions(sera, shop)
    assert (action.due_at, action.sent_at) == (newest_due, newest_due)
    assert len(sent_texts(fake_twilio)) == 1
